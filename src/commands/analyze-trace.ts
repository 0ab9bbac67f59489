// `promoter analyze --trace FILE`: replays a recorded canary through the judge and prints each
// window's decision, with no Prometheus and no Git. Users tune policies with it.
import { readFile } from 'node:fs/promises';
import { DEFAULT_ANALYSIS, DEFAULT_STEPS, type AnalysisSettings, type StepSpec } from '../analysis/settings.js';
import { parseTrace, replayTrace, stepsForTrace, type ReplayResult } from '../analysis/trace.js';
import { errorMessage } from '../errors.js';
import { parseCanaryPolicy } from '../promoter/policy.js';

export interface AnalyzeTraceOptions {
  trace: string;
  format: 'text' | 'json';
  /** a CanaryPolicy YAML file whose spec.analysis and spec.steps are used. */
  policy?: string;
}

/** What the command writes; injectable so tests read the output without touching process streams. */
export interface CommandOutput {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processOutput: CommandOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Exit codes of `analyze --trace`, so CI can gate on a recorded trace. */
export const TRACE_EXIT = { replayed: 0, invalid: 1, rollback: 3 } as const;

/**
 * 0 when the trace was replayed and its final decision is not a rollback, 3 when the final
 * decision (the last window's) is a rollback, 1 when a file is unreadable or invalid.
 */
export async function analyzeTraceCommand(options: AnalyzeTraceOptions, output: CommandOutput = processOutput): Promise<number> {
  try {
    const trace = parseTrace(await readFile(options.trace, 'utf8'), options.trace);
    let settings: AnalysisSettings = DEFAULT_ANALYSIS;
    let steps: StepSpec[];
    if (options.policy !== undefined) {
      const policy = parseCanaryPolicy(await readFile(options.policy, 'utf8'), options.policy);
      settings = policy.spec.analysis;
      steps = policy.spec.steps;
    } else {
      steps = stepsForTrace(trace, DEFAULT_STEPS);
    }
    const result = replayTrace(trace, settings, steps);
    output.out(options.format === 'json' ? formatReplayJson(result) : formatReplayText(result));
    return result.final === 'rollback' ? TRACE_EXIT.rollback : TRACE_EXIT.replayed;
  } catch (error) {
    output.err(`promoter analyze: ${errorMessage(error)}\n`);
    return TRACE_EXIT.invalid;
  }
}

/** The JSON the issue specifies: decisions {t, decision, reason}, firstRollback, firstPromote, final. */
export function formatReplayJson(result: ReplayResult): string {
  const body = {
    decisions: result.decisions.map(({ t, decision, reason }) => ({ t, decision, reason })),
    firstRollback: result.firstRollback,
    firstPromote: result.firstPromote,
    final: result.final,
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

/** A compact table: t, weight, decision, reason; then the summary line. */
export function formatReplayText(result: ReplayResult): string {
  const lines = [`trace ${result.name}: ${result.decisions.length} window(s)`, `${'t'.padStart(7)}  ${'weight'.padStart(6)}  ${'decision'.padEnd(8)}  reason`];
  for (const d of result.decisions) {
    lines.push(`${String(d.t).padStart(7)}  ${`${d.canaryWeight}%`.padStart(6)}  ${d.decision.padEnd(8)}  ${d.reason}`);
  }
  const at = (t: number | null): string => (t === null ? 'never' : `t=${t}`);
  lines.push(`first promote: ${at(result.firstPromote)}; first rollback: ${at(result.firstRollback)}; final: ${result.final ?? 'none'}`);
  return `${lines.join('\n')}\n`;
}
