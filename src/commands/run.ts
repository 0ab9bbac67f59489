// `promoter run`: the service (ticks on a schedule, serves the status page and /metrics).
import type { Command } from 'commander';
import { errorMessage } from '../errors.js';
import { createLeaderElectorFor, createNotifier, createPromoter } from '../promoter/app.js';
import { canaryHistory } from '../promoter/history.js';
import type { TickReport } from '../promoter/reconcile.js';
import { SentOnce } from '../promoter/notifications.js';
import { formatTickReport } from '../promoter/report.js';
import { startScheduler } from '../promoter/scheduler.js';
import { newRunRecord, parseListen, recordTick, recordTickStart, startStatusServer } from '../promoter/status-server.js';
import { commandLogger, EXIT, loadConfigOrExit } from './common.js';

interface RunOptions {
  config?: string;
  once?: boolean;
  dryRun?: boolean;
  logLevel?: string;
  listen?: string;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('reconcile every canary on a schedule: read Prometheus and Argo CD, commit the next step, a finalization or a rollback')
    .option('-c, --config <file>', 'promoter config YAML (or PROMOTER_CONFIG)')
    .option('--once', 'run one tick, print what happened, and exit')
    .option('--dry-run', 'decide but write nothing to Git')
    .option('--log-level <level>', 'trace|debug|info|warn|error (default from the config)')
    .option('--listen <host:port>', 'address for the HTTP endpoints instead of http.listen (the Deployment passes the pod IP)')
    .addHelpText(
      'after',
      `
Examples:
  promoter run --config /etc/promoter/promoter.yaml
  promoter run --config promoter.yaml --once --dry-run

Ticks never overlap; SIGTERM finishes the tick in flight, then exits.
Logs are JSON lines (pino) on stdout; tokens are redacted. While running it serves /healthz,
/readyz, /metrics (Prometheus) and /status (the last tick as JSON) on http.listen (default 127.0.0.1:8080, loopback).`,
    )
    .action(async (options: RunOptions) => {
      const config = loadConfigOrExit(options.config);
      if (!config) return;
      const logger = commandLogger(config, options.logLevel);
      try {
        const record = newRunRecord();
        const promoter = await createPromoter(config, logger, { onBackend: (backend, ok) => (backend === 'prometheus' ? record.metrics.prometheusQuery(ok) : undefined) });
        // Enqueued after a tick, sent in the background: a webhook never delays a decision. A dry run tells nobody.
        // What was notified once (a hold past max dwell) rides in the Lease, so a failover does not repeat it.
        const sent = new SentOnce();
        const notifier = createNotifier(config, logger, record.metrics, fetch, sent);
        const notify = (report: TickReport): void => {
          if (!options.dryRun) notifier.notifyTick(report, Date.now() / 1000);
        };
        if (options.once) {
          const report = await promoter.tick({ dryRun: options.dryRun ?? false });
          notify(report);
          process.stderr.write(`${formatTickReport(report, { verbose: true })}\n`);
          await notifier.drain();
          process.exitCode = report.error || report.canaries.some((c) => c.outcome === 'error') ? EXIT.findings : EXIT.ok;
          return;
        }
        const listen = options.listen ?? config.http.listen;
        const server = listen
          ? await startStatusServer(record, parseListen(listen), {
              history: async () => canaryHistory(await promoter.workspace.log({ max: 500 })),
              ...(config.http.commitUrl ? { commitUrl: config.http.commitUrl } : {}),
            })
          : undefined;
        if (server) logger.info({ url: server.url }, 'serving the status page at /, /healthz, /readyz, /metrics and /status');
        // Only `run` as a service takes the Lease; --once, status, analyze and the person commands never do.
        const elector = config.leaderElection.enabled ? createLeaderElectorFor(config, logger, {}, sent) : undefined;
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
            recordTickStart(record);
            const started = performance.now();
            const report = await promoter.tick({ dryRun: options.dryRun ?? false, ...(mayWrite ? { mayWrite } : {}) });
            recordTick(record, report, (performance.now() - started) / 1000);
            notify(report);
          },
        });
        // Ready only while ticks keep finishing; alive unless one tick outlived its deadline twice.
        record.staleAfterSeconds = config.http.staleTicks * scheduler.intervalSeconds + config.tickDeadline;
        record.stuckAfterSeconds = 2 * config.tickDeadline + 10;
        elector?.start((leader) => {
          record.metrics.leadership(elector.identity, leader, true);
          if (leader) scheduler.runNow();
        });
        await scheduler.stopped;
        await elector?.stop();
        await notifier.drain();
        await server?.close();
      } catch (error) {
        logger.fatal({ error: errorMessage(error) }, 'promoter cannot start');
        process.exitCode = EXIT.failure;
      }
    });
}
