// The demo environment with the status server in front of it: a canary landed and promoted for a
// few steps, every tick recorded as `promoter run` records it. Used by the status-page test and
// by scripts/screenshot.sh.
import type { Logger } from '../../src/logger.js';
import { canaryHistory } from '../../src/promoter/history.js';
import type { TickReport } from '../../src/promoter/reconcile.js';
import { newRunRecord, recordTick, startStatusServer, type RunRecord, type StatusServer } from '../../src/promoter/status-server.js';
import { DEMO_CANARY, Environment } from './environment.js';

export interface StatusDemo {
  env: Environment;
  record: RunRecord;
  server: StatusServer;
  /** one promoter tick, recorded. */
  tick(): Promise<TickReport>;
  /** ticks once a second until the demo canary reaches `weight` (at most `maxTicks`). */
  tickUntilWeight(weight: number, maxTicks: number): Promise<void>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `stopAt10`: the 10 % step dwells an hour, for the page tests, which tick again after reaching it:
 * on a loaded machine a 6 s dwell let one of those ticks promote to 50 % between two reads of the page.
 */
export async function startStatusDemo(options: { logger: Logger; image?: string; stopAt10?: boolean }): Promise<StatusDemo> {
  const env = await Environment.start({ logger: options.logger, intervalSeconds: 2, minDwellSeconds: options.stopAt10 ? [6, 3600, 6, 6] : 6 });
  try {
    const record = newRunRecord();
    const server = await startStatusServer(
      record,
      { host: '127.0.0.1', port: 0 },
      { history: async () => canaryHistory(await env.log(200)), commitUrl: 'https://github.com/docuthinker/gitops/commit/{sha}' },
    );
    const tick = async () => {
      const started = performance.now();
      const report = await env.tick();
      recordTick(record, report, (performance.now() - started) / 1000);
      return report;
    };
    await env.landCanaryImage(options.image ?? 'ghcr.io/docuthinker/backend:1.5.0');
    return {
      env,
      record,
      server,
      tick,
      tickUntilWeight: async (weight, maxTicks) => {
        for (let i = 0; i < maxTicks; i++) {
          const report = await tick();
          if (report.canaries.find((c) => c.canary === DEMO_CANARY)?.canaryWeight === weight) return;
          await sleep(1000);
        }
        throw new Error(`${DEMO_CANARY} did not reach ${weight}% in ${maxTicks} ticks`);
      },
      close: async () => {
        await server.close();
        await env.close();
      },
    };
  } catch (error) {
    await env.close();
    throw error;
  }
}
