// `promoter status` (every canary now: step, weights, images, phase, reason, time in step; live
// with --watch) and `promoter history <canary>` (its decisions, read back from the Git trailers).
import { Option, type Command } from 'commander';
import { errorMessage } from '../errors.js';
import { createPromoter, type Promoter } from '../promoter/app.js';
import { canaryHistory } from '../promoter/history.js';
import { withoutQuery } from '../promoter/reconcile.js';
import { formatStatus, statusExitCode, statusView, type BackendProblem, type StatusView } from '../promoter/status-view.js';
import { commandLogger, EXIT, loadConfigOrExit } from './common.js';

interface StatusOptions {
  config?: string;
  format: string;
  watch?: boolean;
  interval: string;
  /** hidden: stop --watch after this many redraws (tests). */
  iterations?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One dry-run tick, with the backends that failed during it. */
async function observe(promoter: Promoter, problems: BackendProblem[]): Promise<StatusView> {
  problems.length = 0;
  const report = await promoter.tick({ dryRun: true });
  const seen = new Set<string>();
  const unique = problems.filter((p) => (seen.has(p.backend) ? false : (seen.add(p.backend), true)));
  return statusView(report, Date.now() / 1000, unique);
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show every canary: step, both weights and images, phase, the reason for a hold, time in step (writes nothing)')
    .option('-c, --config <file>', 'promoter config YAML (or PROMOTER_CONFIG)')
    .option('-f, --format <format>', 'text or json (the same data)', 'text')
    .option('-w, --watch', 'redraw live until interrupted')
    .option('--interval <seconds>', 'with --watch: seconds between redraws', '5')
    .addOption(new Option('--iterations <n>').hideHelp())
    .addHelpText(
      'after',
      `
Examples:
  promoter status --config promoter.yaml
  promoter status --config promoter.yaml --watch
  promoter status --config promoter.yaml --format json | jq '.canaries[] | {canary, step, phase}'

Exit codes:
  0  every canary was read, and Git, Argo CD and Prometheus answered
  1  a canary policy is invalid or a canary's manifests cannot be read (named in the output)
  2  usage: a bad option or an unreadable or invalid promoter config
  3  a backend is unreachable (Git, the Kubernetes API / Argo CD, or Prometheus), or no kubeconfig
With --watch the exit code is that of the last redraw.`,
    )
    .action(async (options: StatusOptions) => {
      if (options.format !== 'text' && options.format !== 'json') {
        process.stderr.write(`promoter status: --format must be text or json, not "${options.format}"\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      const interval = Number(options.interval);
      if (!Number.isFinite(interval) || interval <= 0) {
        process.stderr.write(`promoter status: --interval must be a positive number of seconds, not "${options.interval}"\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      const config = loadConfigOrExit(options.config);
      if (!config) return;
      const problems: BackendProblem[] = [];
      let promoter: Promoter;
      try {
        promoter = await createPromoter(config, commandLogger(config, 'error'), {
          purpose: 'status',
          onBackend: (backend, ok, error) => {
            if (!ok) problems.push({ backend, error: withoutQuery(errorMessage(error)) });
          },
        });
      } catch (error) {
        process.stderr.write(`promoter status: ${errorMessage(error)}\n`);
        process.exitCode = EXIT.failure;
        return;
      }
      const print = (view: StatusView) => (options.format === 'json' ? `${JSON.stringify(view, null, 2)}\n` : `${formatStatus(view)}\n`);
      if (!options.watch) {
        const view = await observe(promoter, problems);
        process.stdout.write(print(view));
        process.exitCode = statusExitCode(view);
        return;
      }
      let stop = false;
      const onSignal = () => {
        stop = true;
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const limit = options.iterations !== undefined ? Number(options.iterations) : Number.POSITIVE_INFINITY;
      const clear = process.stdout.isTTY ? '\x1b[H\x1b[2J' : '';
      for (let i = 0; i < limit && !stop; i++) {
        const view = await observe(promoter, problems);
        // On a terminal the screen is redrawn in place; piped, frames are separated by a form feed.
        process.stdout.write(`${clear || (i > 0 ? '\f\n' : '')}${print(view)}${options.format === 'text' ? `\n(every ${interval}s; Ctrl-C to stop)\n` : ''}`);
        process.exitCode = statusExitCode(view);
        for (let waited = 0; waited < interval * 1000 && !stop && i + 1 < limit; waited += 200) await sleep(200);
      }
    });

  program
    .command('history <canary>')
    .description("list a canary's decisions with their evidence, read back from the Promoter-* trailers of the GitOps commits")
    .option('-c, --config <file>', 'promoter config YAML (or PROMOTER_CONFIG)')
    .option('-n, --max <commits>', 'look at this many commits back', '500')
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (canary: string, options: { config?: string; max: string; format: string }) => {
      if (options.format !== 'text' && options.format !== 'json') {
        process.stderr.write(`promoter history: --format must be text or json, not "${options.format}"\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      const config = loadConfigOrExit(options.config);
      if (!config) return;
      try {
        const promoter = await createPromoter(config, commandLogger(config, 'error'), { purpose: 'status' });
        await promoter.workspace.refresh();
        const entries = canaryHistory(await promoter.workspace.log({ max: Number(options.max) || 500 }), canary);
        if (options.format === 'json') {
          process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
          return;
        }
        if (entries.length === 0) {
          process.stdout.write(`no commit with "Promoter-Canary: ${canary}" in the last ${options.max} commits\n`);
          return;
        }
        for (const e of entries) {
          process.stdout.write(`${e.date}  ${e.sha.slice(0, 10)}  ${(e.decision ?? '?').padEnd(18)} step ${(e.step ?? '-').padEnd(16)} ${e.author}\n    ${e.subject}\n`);
          if (e.image) process.stdout.write(`    image: ${e.image}\n`);
          if (e.evidence) process.stdout.write(`    evidence: ${e.evidence}\n`);
        }
      } catch (error) {
        process.stderr.write(`promoter history: ${errorMessage(error)}\n`);
        process.exitCode = EXIT.failure;
      }
    });
}
