// Runs reconcile ticks on a node-cron schedule, never two at once; SIGTERM lets the tick in
// flight finish, then stops. A slot that comes while a tick still runs is skipped quietly: counted
// (onSkip, a metric) and logged at debug through pino. node-cron's own coloured console lines are
// routed into the JSON log instead of stderr, and its overlap handling is not used (ours counts).
import cron from 'node-cron';
import type { Logger } from '../logger.js';

export interface Scheduler {
  /** resolves once stopped and the tick in flight (if any) has finished. */
  stop(): Promise<void>;
  /** runs a tick now unless one is in flight (e.g. on becoming the leader). */
  runNow(): void;
  readonly stopped: Promise<void>;
  /** the longest gap between the schedule's next few runs, in seconds (for /readyz staleness). */
  readonly intervalSeconds: number;
}

/** The longest gap between the next runs of a cron expression, seconds; 60 when it cannot tell. */
export function scheduleIntervalSeconds(runs: readonly Date[]): number {
  let longest = 0;
  for (let i = 1; i < runs.length; i++) longest = Math.max(longest, ((runs[i]?.getTime() ?? 0) - (runs[i - 1]?.getTime() ?? 0)) / 1000);
  return longest > 0 ? longest : 60;
}

export type SkipReason = 'overlap' | 'missed' | 'not-leader';

export function startScheduler(options: {
  schedule: string;
  tick: () => Promise<unknown>;
  logger: Logger;
  /** handle SIGTERM/SIGINT (default true). */
  handleSignals?: boolean;
  /** a slot passed without a tick: the previous one still ran (overlap) or the event loop was blocked (missed). */
  onSkip?: (reason: SkipReason) => void;
  /** false: this slot does nothing (a standby replica); counted as a 'not-leader' skip. */
  shouldTick?: () => boolean;
}): Scheduler {
  if (!cron.validate(options.schedule)) throw new Error(`schedule: not a valid cron expression: "${options.schedule}"`);
  const log = options.logger.child({ component: 'scheduler' });
  let inFlight: Promise<unknown> | undefined;
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping = false;
  const skip = (reason: SkipReason) => {
    log.debug({ reason }, 'tick skipped');
    options.onSkip?.(reason);
  };

  const run = async (): Promise<void> => {
    if (stopping) return;
    if (inFlight) return skip('overlap');
    if (options.shouldTick && !options.shouldTick()) return skip('not-leader');
    inFlight = options.tick().catch((error: unknown) => log.error({ err: error }, 'tick failed'));
    try {
      await inFlight;
    } finally {
      inFlight = undefined;
    }
  };
  const quiet = (level: 'debug' | 'warn' | 'error') => (message: string | Error, err?: Error) =>
    log[level]({ source: 'node-cron', ...(err ? { err } : {}) }, message instanceof Error ? message.message : message);
  const task = cron.schedule(
    options.schedule,
    () => {
      // Not returned: node-cron would then track the tick and warn about overlaps itself.
      void run();
    },
    {
      name: 'reconcile',
      noOverlap: false,
      suppressMissedWarning: true,
      logger: { info: quiet('debug'), warn: quiet('debug'), error: quiet('error'), debug: quiet('debug') },
    },
  );
  task.on('execution:missed', () => skip('missed'));

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
    log.info({ signal }, 'stopping after the tick in flight');
    void stop();
  };
  if (options.handleSignals ?? true) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  // First tick right away rather than waiting for the first cron slot.
  void run();
  return { stop, runNow: () => void run(), stopped, intervalSeconds: scheduleIntervalSeconds(task.getNextRuns(5)) };
}
