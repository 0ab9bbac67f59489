// `promoter run`: the service (ticks on a schedule, serves the status page and /metrics).
import type { Command } from 'commander';
import { errorMessage } from '../errors.js';
import { createLeaderElectorFor, createPromoter } from '../promoter/app.js';
import { canaryHistory } from '../promoter/history.js';
import { formatTickReport } from '../promoter/report.js';
import { startScheduler } from '../promoter/scheduler.js';
import { newRunRecord, parseListen, recordTick, startStatusServer } from '../promoter/status-server.js';
import { commandLogger, EXIT, loadConfigOrExit } from './common.js';

interface RunOptions {
  config?: string;
  once?: boolean;
  dryRun?: boolean;
  logLevel?: string;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('reconcile every canary on a schedule: read Prometheus and Argo CD, commit the next step, a finalization or a rollback')
    .option('-c, --config <file>', 'promoter config YAML (or PROMOTER_CONFIG)')
    .option('--once', 'run one tick, print what happened, and exit')
    .option('--dry-run', 'decide but write nothing to Git')
    .option('--log-level <level>', 'trace|debug|info|warn|error (default from the config)')
    .addHelpText(
      'after',
      `
Examples:
  promoter run --config /etc/promoter/promoter.yaml
  promoter run --config promoter.yaml --once --dry-run

Ticks never overlap; SIGTERM finishes the tick in flight, then exits.
Logs are JSON lines (pino) on stdout; tokens are redacted. While running it serves /healthz,
/readyz, /metrics (Prometheus) and /status (the last tick as JSON) on http.listen (default :8080).`,
    )
    .action(async (options: RunOptions) => {
      const config = loadConfigOrExit(options.config);
      if (!config) return;
      const logger = commandLogger(config, options.logLevel);
      try {
        const record = newRunRecord();
        const promoter = await createPromoter(config, logger, { onBackend: (backend, ok) => (backend === 'prometheus' ? record.metrics.prometheusQuery(ok) : undefined) });
        if (options.once) {
          const report = await promoter.tick({ dryRun: options.dryRun ?? false });
          process.stderr.write(`${formatTickReport(report, { verbose: true })}\n`);
          process.exitCode = report.error || report.canaries.some((c) => c.outcome === 'error') ? EXIT.findings : EXIT.ok;
          return;
        }
        const server = config.http.listen
          ? await startStatusServer(record, parseListen(config.http.listen), {
              history: async () => canaryHistory(await promoter.workspace.log({ max: 500 })),
              ...(config.http.commitUrl ? { commitUrl: config.http.commitUrl } : {}),
            })
          : undefined;
        if (server) logger.info({ url: server.url }, 'serving the status page at /, /healthz, /readyz, /metrics and /status');
        // Only `run` as a service takes the Lease; --once, status, analyze and the person commands never do.
        const elector = config.leaderElection.enabled ? createLeaderElectorFor(config, logger) : undefined;
        if (elector) {
          record.leadership = { identity: elector.identity, isLeader: () => elector.isLeader() };
          record.metrics.leadership(elector.identity, false, false);
        }
        const mayWrite = elector ? () => elector.isLeader() : undefined;
        const scheduler = startScheduler({
          schedule: config.schedule,
          logger,
          ...(mayWrite ? { shouldTick: mayWrite } : {}),
          onSkip: (reason) => record.metrics.ticksSkipped.inc({ reason }),
          tick: async () => {
            const started = performance.now();
            const report = await promoter.tick({ dryRun: options.dryRun ?? false, ...(mayWrite ? { mayWrite } : {}) });
            recordTick(record, report, (performance.now() - started) / 1000);
          },
        });
        elector?.start((leader) => {
          record.metrics.leadership(elector.identity, leader, true);
          if (leader) scheduler.runNow();
        });
        await scheduler.stopped;
        await elector?.stop();
        await server?.close();
      } catch (error) {
        logger.fatal({ error: errorMessage(error) }, 'promoter cannot start');
        process.exitCode = EXIT.failure;
      }
    });
}
