// The soak's promoter process (forked by bench/soak.ts): the real composition root, ticking as fast
// as asked, and after each tick its memory and what it committed, sent to the parent. Alone in its
// process, so the RSS and heap it reports are the promoter's, not the simulator's or Prometheus'.
import { createWriteStream } from 'node:fs';
import { createLogger, silentLogger } from '../src/logger.js';
import { createPromoter } from '../src/promoter/app.js';
import { parsePromoterConfig } from '../src/promoter/config.js';

export interface SoakWorkerStart {
  config: Record<string, unknown>;
  kubeConfigYaml: string;
  env: Record<string, string>;
  ticks: number;
  gapMs: number;
  /** wall-clock ms (Date.now) after which no further tick starts: a run that must fit a time budget. */
  stopAt?: number;
}

export interface SoakTickMessage {
  kind: 'tick';
  tick: number;
  ms: number;
  memory: NodeJS.MemoryUsage;
  /** committed decisions this tick: canary and action. */
  committed: { canary: string; action: string; subject: string }[];
  held: number;
  errors: number;
  /** the distinct reasons of this tick's canary errors (a few), so a slow or failing soak says why. */
  errorReasons: string[];
  tickError?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

process.once('message', (raw) => {
  void (async () => {
    const start = raw as SoakWorkerStart;
    const config = parsePromoterConfig(start.config, 'soak config');
    // SOAK_LOG=FILE: the promoter's JSON log (debug) in a file, to see where a slow tick waits.
    const logger = process.env.SOAK_LOG ? createLogger({ level: 'debug', destination: createWriteStream(process.env.SOAK_LOG) }) : silentLogger();
    const promoter = await createPromoter(config, logger, { kubeConfigYaml: start.kubeConfigYaml, env: start.env });
    for (let tick = 1; tick <= start.ticks && (start.stopAt === undefined || Date.now() < start.stopAt); tick += 1) {
      const began = performance.now();
      const report = await promoter.tick();
      const ms = performance.now() - began;
      const message: SoakTickMessage = {
        kind: 'tick',
        tick,
        ms,
        memory: process.memoryUsage(),
        committed: report.canaries
          .filter((c) => c.outcome === 'committed')
          .map((c) => ({ canary: c.canary, action: c.action ?? '', subject: c.commit?.subject ?? c.reason })),
        held: report.canaries.filter((c) => c.outcome === 'held').length,
        errors: report.canaries.filter((c) => c.outcome === 'error').length,
        errorReasons: [...new Set(report.canaries.filter((c) => c.outcome === 'error').map((c) => `${c.reason}: ${c.error ?? ''}`.slice(0, 300)))].slice(0, 3),
        ...(report.error !== undefined ? { tickError: report.error } : {}),
      };
      process.send?.(message);
      if (start.gapMs > 0) await sleep(start.gapMs);
    }
    process.send?.({ kind: 'done' }, () => process.exit(0));
  })().catch((error: unknown) => {
    process.send?.({ kind: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.exit(1));
  });
});
