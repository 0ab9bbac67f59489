// `promoter analyze`: replay a recorded trace (no Prometheus, no Git), or judge a live canary now
// without writing anything — "what would the promoter do right now, and why".
import type { Command } from 'commander';
import { parseDurationSeconds } from '../analysis/duration.js';
import { errorMessage } from '../errors.js';
import { createPromoter } from '../promoter/app.js';
import { describePause, formatPause, type PauseInfo } from '../promoter/pause-info.js';
import { formatTickReport } from '../promoter/report.js';
import { analyzeTraceCommand } from './analyze-trace.js';
import { commandLogger, EXIT, loadConfigOrExit } from './common.js';

interface AnalyzeOptions {
  trace?: string;
  canary?: string;
  config?: string;
  policy?: string;
  format: 'text' | 'json';
  since?: string;
}

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description('judge a canary against stable: replay a recorded trace (--trace), or the live canary (--canary) without writing to Git')
    .option('-t, --trace <file>', 'a recorded canary trace (JSON); see docs in the README')
    .option('-p, --policy <file>', 'with --trace: a CanaryPolicy YAML whose analysis settings and steps to use')
    .option('--canary <name>', 'judge this live canary from Prometheus now (needs --config)')
    .option('-c, --config <file>', 'promoter config YAML (or PROMOTER_CONFIG), for --canary')
    .option('--since <duration>', 'with --canary: judge only this much history (e.g. 30m) instead of everything since the canary started')
    .option('-f, --format <format>', 'text or json', 'text')
    .addHelpText(
      'after',
      `
Examples:
  promoter analyze --trace test/fixtures/traces/example.json
  promoter analyze --trace recorded.json --policy gitops/apps/backend/canary.yaml --format json
  promoter analyze --canary backend --config promoter.yaml
  promoter analyze --canary backend --config promoter.yaml --since 30m --format json
  promoter record --canary backend --since 2h --config promoter.yaml > trace.json && promoter analyze --trace trace.json

Exit codes with --trace: 0 replayed and the final decision is not a rollback; 3 the final decision
(the last window's) is a rollback, so CI can gate on a recorded trace; 1 the trace or policy file
is unreadable or invalid; 2 usage. With --canary: 0 judged, 2 usage or config error, 3 failure.`,
    )
    .action(async (options: AnalyzeOptions) => {
      if (options.format !== 'text' && options.format !== 'json') {
        process.stderr.write(`promoter analyze: --format must be text or json, not "${String(options.format)}"\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      if (Boolean(options.trace) === Boolean(options.canary)) {
        process.stderr.write('promoter analyze: give exactly one of --trace FILE or --canary NAME\n');
        process.exitCode = EXIT.usage;
        return;
      }
      if (options.trace) {
        process.exitCode = await analyzeTraceCommand({ trace: options.trace, format: options.format, ...(options.policy ? { policy: options.policy } : {}) });
        return;
      }
      let historySeconds: number | undefined;
      if (options.since !== undefined) {
        try {
          historySeconds = parseDurationSeconds(options.since);
        } catch (error) {
          process.stderr.write(`promoter analyze: --since: ${errorMessage(error)}\n`);
          process.exitCode = EXIT.usage;
          return;
        }
      }
      const config = loadConfigOrExit(options.config);
      if (!config) return;
      try {
        const promoter = await createPromoter(config, commandLogger(config, 'warn'), { purpose: 'status' });
        const report = await promoter.tick({ dryRun: true, ...(historySeconds !== undefined ? { historySeconds } : {}) });
        const mine = report.canaries.filter((c) => c.canary === options.canary);
        if (mine.length === 0) {
          process.stderr.write(`promoter analyze: no canary named "${options.canary}" (found: ${report.canaries.map((c) => c.canary).join(', ') || 'none'})\n`);
          process.exitCode = EXIT.usage;
          return;
        }
        const filtered = { ...report, canaries: mine };
        // A paused canary is not judged: say which pause holds it, who set it and why.
        const pauses: PauseInfo[] = [];
        for (const c of mine) {
          const by = c.snapshot?.pausedBy;
          if (!by || !c.snapshot) continue;
          const files = { virtualService: c.snapshot.file, policy: c.file };
          for (const source of by === 'both' ? (['annotation', 'spec'] as const) : [by]) {
            const commits = await promoter.workspace.log({ max: 200, paths: [source === 'annotation' ? files.virtualService : files.policy] });
            pauses.push(describePause(source, c.canary, files, commits));
          }
        }
        if (options.format === 'json') {
          process.stdout.write(`${JSON.stringify(pauses.length > 0 ? { ...filtered, pauses } : filtered, null, 2)}\n`);
        } else {
          process.stdout.write(`${formatTickReport(filtered, { verbose: true })}\n${pauses.map((p) => `  ${formatPause(p)}\n`).join('')}`);
        }
      } catch (error) {
        process.stderr.write(`promoter analyze: ${errorMessage(error)}\n`);
        process.exitCode = EXIT.failure;
      }
    });
}
