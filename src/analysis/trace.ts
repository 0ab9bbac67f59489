// A recorded canary (per-window integer counts of both arms) and its replay through the judge,
// window by window, as the live promoter would have judged it. No Prometheus, no Git.
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { createAnalysisState, judgeWithState, updateAnalysisState } from './judge.js';
import { ENVOY_BUCKETS_MS, type AnalysisSettings, type StepSpec } from './settings.js';
import type { Decision, Evidence, Window } from './types.js';

const count = z.number().int().nonnegative();

const latencySchema = z.object({
  le: z.array(count).describe('cumulative requests <= each latencyBucketsMs edge, within the window'),
  count: count.describe('all requests the histogram saw in the window (the +Inf bucket)'),
});

const armSchema = z
  .object({
    requests: count,
    errors: count.describe('5xx responses'),
    latency: latencySchema.optional(),
  })
  .superRefine((arm, ctx) => {
    if (arm.errors > arm.requests) {
      ctx.addIssue({ code: 'custom', path: ['errors'], message: `${arm.errors} errors exceed ${arm.requests} requests` });
    }
    const le = arm.latency?.le ?? [];
    for (let i = 1; i < le.length; i++) {
      if ((le[i] ?? 0) < (le[i - 1] ?? 0)) {
        ctx.addIssue({ code: 'custom', path: ['latency', 'le', i], message: 'bucket counts must be cumulative (non-decreasing)' });
        break;
      }
    }
    const lastLe = le.at(-1);
    if (arm.latency !== undefined && lastLe !== undefined && lastLe > arm.latency.count) {
      ctx.addIssue({ code: 'custom', path: ['latency', 'count'], message: `count ${arm.latency.count} is below the last bucket's ${lastLe}` });
    }
  });

const windowSchema = z.object({
  t: z.number().nonnegative().describe('seconds since the canary started, at the window start'),
  canaryWeight: z.number().min(0).max(100),
  stable: armSchema,
  canary: armSchema,
});

export const traceSchema = z
  .object({
    name: z.string().min(1).describe('the canary (policy) name'),
    startedAt: z.number().optional().describe('unix seconds of the first window start, when recorded from Prometheus'),
    intervalSeconds: z.number().positive().describe('length of every window'),
    latencyBucketsMs: z
      .array(z.number().positive())
      .min(1)
      .default([...ENVOY_BUCKETS_MS])
      .refine((edges) => edges.every((e, i) => i === 0 || e > (edges[i - 1] ?? 0)), 'edges must increase'),
    baseline: z
      .object({
        seconds: z.number().positive().optional().describe('how much history before the canary the histogram covers'),
        stable: latencySchema.describe("stable's latency histogram before the canary started: it chooses the slow-request edges"),
      })
      .optional(),
    windows: z.array(windowSchema).describe('non-overlapping windows, oldest first'),
  })
  .superRefine((trace, ctx) => {
    const edges = trace.latencyBucketsMs.length;
    const baselineLe = trace.baseline?.stable.le;
    if (baselineLe !== undefined && baselineLe.length !== edges) {
      ctx.addIssue({ code: 'custom', path: ['baseline', 'stable', 'le'], message: `has ${baselineLe.length} counts but latencyBucketsMs has ${edges} edges` });
    }
    trace.windows.forEach((window, i) => {
      if (i > 0 && window.t <= (trace.windows[i - 1]?.t ?? 0)) {
        ctx.addIssue({ code: 'custom', path: ['windows', i, 't'], message: 'windows must be in time order without repeats' });
      }
      for (const arm of ['stable', 'canary'] as const) {
        const le = window[arm].latency?.le;
        if (le !== undefined && le.length !== edges) {
          ctx.addIssue({
            code: 'custom',
            path: ['windows', i, arm, 'latency', 'le'],
            message: `has ${le.length} counts but latencyBucketsMs has ${edges} edges`,
          });
        }
      }
    });
  });

export type Trace = z.output<typeof traceSchema>;

function issuePath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

/** Parses a trace file's text; bad JSON or a bad field is a ConfigError naming the file and field. */
export function parseTrace(text: string, file: string): Trace {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [`not JSON: ${(error as Error).message}`], { cause: error });
  }
  const result = traceSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(file, result.error.issues.map((issue) => `${issuePath(issue.path)}: ${issue.message}`));
  }
  return result.data;
}

export interface ReplayDecision {
  t: number;
  canaryWeight: number;
  decision: Decision;
  reason: string;
  evidence?: Evidence;
}

export interface ReplayResult {
  name: string;
  decisions: ReplayDecision[];
  firstRollback: number | null;
  firstPromote: number | null;
  final: Decision | null;
}

/**
 * Judges every window with the history up to it, as the live promoter would at that step. The
 * weights come from the trace, so the replay goes on after a promote (or a rollback) and the
 * whole trace is judged; the trace's interval replaces the settings' one.
 */
export function replayTrace(trace: Trace, settings: AnalysisSettings, steps: StepSpec[]): ReplayResult {
  const effective: AnalysisSettings = { ...settings, interval: trace.intervalSeconds };
  const state = createAnalysisState(effective, trace.latencyBucketsMs, trace.baseline?.stable);
  const seen: Window[] = [];
  const decisions: ReplayDecision[] = [];
  for (const window of trace.windows) {
    seen.push(window);
    updateAnalysisState(state, window);
    const verdict = judgeWithState(
      { windows: seen, settings: effective, steps, latencyBucketsMs: trace.latencyBucketsMs, ...(trace.baseline ? { baseline: trace.baseline.stable } : {}) },
      state,
    );
    decisions.push({ t: window.t, canaryWeight: window.canaryWeight, decision: verdict.decision, reason: verdict.reason, evidence: verdict.evidence });
  }
  return {
    name: trace.name,
    decisions,
    firstRollback: decisions.find((d) => d.decision === 'rollback')?.t ?? null,
    firstPromote: decisions.find((d) => d.decision === 'promote')?.t ?? null,
    final: decisions.at(-1)?.decision ?? null,
  };
}

/**
 * Steps for a trace replayed without a policy: the default step for each weight the trace uses
 * (5 min at 5 % and 10 %, 10 min at 50 %, 5 min at 100 %), and for any other weight a minimum
 * dwell of 5 intervals and a maximum of 30.
 */
export function stepsForTrace(trace: Trace, defaults: readonly StepSpec[]): StepSpec[] {
  const weights = [...new Set(trace.windows.map((w) => w.canaryWeight))].sort((a, b) => a - b);
  return weights.map(
    (weight) =>
      defaults.find((s) => s.weight === weight) ?? { weight, minDwell: 5 * trace.intervalSeconds, maxDwell: 30 * trace.intervalSeconds },
  );
}
