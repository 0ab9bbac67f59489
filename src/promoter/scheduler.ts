// Runs reconcile ticks on a node-cron schedule, never two at once; SIGTERM lets the tick in
// flight finish, then stops.
import cron from 'node-cron';
import type { Logger } from '../logger.js';

export interface Scheduler {
  /** resolves once stopped and the tick in flight (if any) has finished. */
  stop(): Promise<void>;
  readonly stopped: Promise<void>;
}

export function startScheduler(options: {
  schedule: string;
  tick: () => Promise<unknown>;
  logger: Logger;
  /** handle SIGTERM/SIGINT (default true). */
  handleSignals?: boolean;
}): Scheduler {
  if (!cron.validate(options.schedule)) throw new Error(`schedule: not a valid cron expression: "${options.schedule}"`);
  let inFlight: Promise<unknown> | undefined;
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping = false;

  const run = async (): Promise<void> => {
    if (stopping || inFlight) {
      options.logger.debug('tick skipped: the previous one is still running');
      return;
    }
    inFlight = options.tick().catch((error: unknown) => options.logger.error({ err: error }, 'tick failed'));
    try {
      await inFlight;
    } finally {
      inFlight = undefined;
    }
  };
  const task = cron.schedule(options.schedule, run, { noOverlap: true, name: 'reconcile' });

  const stop = async (): Promise<void> => {
    if (stopping) return stopped;
    stopping = true;
    await task.stop();
    await inFlight;
    await task.destroy();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    resolveStopped();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    options.logger.info({ signal }, 'stopping after the tick in flight');
    void stop();
  };
  if (options.handleSignals ?? true) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  // First tick right away rather than waiting for the first cron slot.
  void run();
  return { stop, stopped };
}
