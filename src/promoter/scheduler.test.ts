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

describe('a tick that outlasts its interval', () => {
  it('skips the next slots quietly: counted, nothing on stderr or stdout', async () => {
    const written: string[] = [];
    const originalError = process.stderr.write.bind(process.stderr);
    const originalOut = process.stdout.write.bind(process.stdout);
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    const originals = { warn: console.warn, error: console.error, info: console.info, debug: console.debug };
    console.warn = console.error = console.info = console.debug = (...args: unknown[]) => void written.push(args.map(String).join(' '));
    process.stderr.write = capture;
    process.stdout.write = capture;
    const skips: string[] = [];
    try {
      let ticks = 0;
      const scheduler = startScheduler({
        schedule: '* * * * * *',
        logger: silentLogger(),
        handleSignals: false,
        onSkip: (reason) => skips.push(reason),
        tick: async () => {
          ticks += 1;
          if (ticks === 1) await new Promise((resolve) => setTimeout(resolve, 2600));
        },
      });
      await new Promise((resolve) => setTimeout(resolve, 3200));
      await scheduler.stop();
    } finally {
      process.stderr.write = originalError;
      process.stdout.write = originalOut;
      Object.assign(console, originals);
    }
    expect(skips.filter((s) => s === 'overlap').length).toBeGreaterThanOrEqual(1);
    expect(written.join('')).not.toMatch(/NODE-CRON|still running/);
  });

  it('does nothing on a standby replica but count the slot', async () => {
    const skips: string[] = [];
    let ticks = 0;
    const scheduler = startScheduler({
      schedule: '* * * * * *',
      logger: silentLogger(),
      handleSignals: false,
      shouldTick: () => false,
      onSkip: (reason) => skips.push(reason),
      tick: () => {
        ticks += 1;
        return Promise.resolve();
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await scheduler.stop();
    expect(ticks).toBe(0);
    expect(skips).toContain('not-leader');
  });
});
