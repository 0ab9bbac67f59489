// `promoter record --canary NAME --since 2h > trace.json`: a live canary's windows from Prometheus
// in the trace format, so a real incident can be replayed with `promoter analyze --trace`.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseDurationSeconds } from '../analysis/duration.js';
import { createPrometheusClient } from '../analysis/prometheus.js';
import { recordTrace } from '../analysis/record.js';
import { ENVOY_BUCKETS_MS } from '../analysis/settings.js';
import { errorMessage } from '../errors.js';
import { createPromoter } from '../promoter/app.js';
import { findPolicy } from '../promoter/operations.js';
import { parseCanaryPolicy, type CanaryPolicy } from '../promoter/policy.js';
import { commandLogger, EXIT, loadConfigOrExit } from './common.js';

export interface RecordOptions {
  canary: string;
  since: string;
  config?: string;
  policy?: string;
  prometheus?: string;
  end?: string;
}

export function registerRecord(program: Command): void {
  program
    .command('record')
    .description("write a live canary's windows from Prometheus as a trace (JSON on stdout), for analyze --trace")
    .requiredOption('--canary <name>', 'the canary policy name')
    .option('--since <duration>', 'how much history to record, e.g. 2h', '2h')
    .option('-c, --config <file>', 'promoter config YAML (or PROMOTER_CONFIG): the Prometheus URL and, without --policy, the GitOps repo holding the policy')
    .option('-p, --policy <file>', "a CanaryPolicy YAML: its service, selector, interval and steps (no Git needed)")
    .option('--prometheus <url>', 'Prometheus base URL, instead of the config one')
    .option('--end <unix-seconds>', 'record up to this time instead of now (reproducible recordings)')
    .addHelpText(
      'after',
      `
Examples:
  promoter record --canary backend --since 2h --config promoter.yaml > trace.json
  promoter record --canary backend --since 30m --policy gitops/apps/backend/canary.yaml --prometheus http://127.0.0.1:9090 > trace.json
  promoter analyze --trace trace.json --policy gitops/apps/backend/canary.yaml   # exits 3 if it ends in a rollback

Each window's weight is the observed canary share snapped to the nearest step weight of the
policy. The trace format is in docs/trace-format.md; its JSON Schema: promoter schema --trace.
Exit codes: 0 written, 2 usage or config error, 3 Prometheus or Git failed.`,
    )
    .action(async (options: RecordOptions) => {
      process.exitCode = await recordCommand(options);
    });
}

/** What the command writes; injectable so tests read the output without touching process streams. */
export interface RecordOutput {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processOutput: RecordOutput = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };

/** Records the trace to `output.out`; returns the exit code (0 written, 2 usage or config, 3 failure). */
export async function recordCommand(options: RecordOptions, output: RecordOutput = processOutput): Promise<number> {
  let since: number;
  try {
    since = parseDurationSeconds(options.since);
  } catch (error) {
    output.err(`promoter record: --since: ${errorMessage(error)}\n`);
    return EXIT.usage;
  }
  const needsConfig = options.prometheus === undefined || options.policy === undefined;
  const config = needsConfig ? loadConfigOrExit(options.config) : undefined;
  if (needsConfig && !config) return EXIT.usage;
  try {
    let policy: CanaryPolicy;
    if (options.policy !== undefined) {
      policy = parseCanaryPolicy(await readFile(options.policy, 'utf8'), options.policy);
      if (policy.metadata.name !== options.canary) throw new Error(`${options.policy} is the policy of "${policy.metadata.name}", not "${options.canary}"`);
    } else {
      const promoter = await createPromoter(config!, commandLogger(config!, 'warn'));
      await promoter.deps.git.refresh();
      policy = await findPolicy(promoter.deps.git, config!.policies, options.canary);
    }
    const client = createPrometheusClient({
      baseUrl: options.prometheus ?? config!.prometheus.url,
      timeoutMs: (config?.prometheus.timeout ?? 10) * 1000,
    });
    const end = options.end !== undefined ? Number(options.end) : Date.now() / 1000;
    if (!Number.isFinite(end)) throw new Error(`--end must be unix seconds, not "${options.end}"`);
    const analysis = policy.spec.analysis;
    const trace = await recordTrace(
      client,
      { name: policy.metadata.name, service: policy.spec.service, namespace: policy.spec.namespace, selector: analysis.prometheus },
      {
        start: end - since,
        end,
        intervalSeconds: analysis.interval,
        settleSeconds: config?.prometheus.settle ?? 0,
        latencyBucketsMs: ENVOY_BUCKETS_MS,
        baselineSeconds: analysis.baselineSeconds,
        stepWeights: policy.spec.steps.map((s) => s.weight),
      },
    );
    output.out(`${JSON.stringify(trace)}\n`);
    return EXIT.ok;
  } catch (error) {
    output.err(`promoter record: ${errorMessage(error)}\n`);
    return EXIT.failure;
  }
}
