import { describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.js';
import { startScheduler } from './scheduler.js';

describe('startScheduler', () => {
  it('never runs two ticks at once, and stop() waits for the tick in flight', async () => {
    let running = 0;
    let maxRunning = 0;
    let finished = 0;
    let release: () => void = () => undefined;
    const firstTickBlocked = new Promise<void>((resolve) => (release = resolve));
    let startedTicks = 0;
    const scheduler = startScheduler({
      schedule: '* * * * * *',
      logger: silentLogger(),
      handleSignals: false,
      tick: async () => {
        startedTicks += 1;
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        if (startedTicks === 1) await firstTickBlocked;
        running -= 1;
        finished += 1;
      },
    });
    // Let several cron slots pass while the first tick is blocked.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(startedTicks).toBe(1);
    const stopping = scheduler.stop();
    let stoppedEarly = false;
    void stopping.then(() => (stoppedEarly = finished === 0));
    release();
    await stopping;
    expect(stoppedEarly).toBe(false);
    expect(finished).toBe(1);
    expect(maxRunning).toBe(1);
  });

  it('refuses an invalid schedule with the field name', () => {
    expect(() => startScheduler({ schedule: 'every minute', logger: silentLogger(), handleSignals: false, tick: () => Promise.resolve() })).toThrow(
      'schedule: not a valid cron expression',
    );
  });
});
