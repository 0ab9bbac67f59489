// A live canary's history recorded as a trace: the windows the live judge sees, stable's baseline
// histogram that chose its latency edges, and each window's weight, so `analyze --trace` replays
// it to the same decisions. Prometheus is the only input.
import { z } from 'zod';
import { fetchBaselines } from './baseline.js';
import type { CanaryTarget } from './istio-queries.js';
import type { PrometheusClient } from './prometheus.js';
import { traceSchema, type Trace } from './trace.js';
import type { Window } from './types.js';
import { fetchWindows } from './windows.js';

export interface RecordOptions {
  /** unix seconds: the first window's start (the canary's start, or now minus --since). */
  start: number;
  /** unix seconds: usually now; only complete windows are recorded. */
  end: number;
  intervalSeconds: number;
  settleSeconds?: number;
  latencyBucketsMs: readonly number[];
  /** how much of stable's history before `start` the baseline covers (the policy's baselineSeconds). */
  baselineSeconds: number;
  /** the policy's step weights; each window's observed canary share is snapped to the nearest (or 0). */
  stepWeights: readonly number[];
}

/**
 * The weight in force during each window, from the traffic itself: the canary's share of requests
 * snapped to the nearest policy weight (0 included). A window without requests keeps the previous
 * window's weight. Prometheus does not know the VirtualService, but the split it routes does.
 */
export function inferWeights(windows: readonly Window[], stepWeights: readonly number[]): number[] {
  const candidates = [...new Set([0, ...stepWeights])].sort((a, b) => a - b);
  let previous = 0;
  return windows.map((w) => {
    const total = w.canary.requests + w.stable.requests;
    if (total === 0) return previous;
    const share = (100 * w.canary.requests) / total;
    let best = candidates[0] ?? 0;
    for (const c of candidates) if (Math.abs(c - share) < Math.abs(best - share)) best = c;
    previous = best;
    return best;
  });
}

/** Records one canary's windows since `start` as a trace (validated against the trace schema). */
export async function recordTrace(client: PrometheusClient, target: CanaryTarget, options: RecordOptions): Promise<Trace> {
  const [byName, baselines] = await Promise.all([
    fetchWindows(client, [target], {
      start: options.start,
      end: options.end,
      intervalSeconds: options.intervalSeconds,
      latencyBucketsMs: options.latencyBucketsMs,
      ...(options.settleSeconds !== undefined ? { settleSeconds: options.settleSeconds } : {}),
    }),
    fetchBaselines(client, [{ target, at: options.start }], { seconds: options.baselineSeconds, latencyBucketsMs: options.latencyBucketsMs }),
  ]);
  const windows = byName.get(target.name) ?? [];
  const weights = inferWeights(windows, options.stepWeights);
  const baseline = baselines.get(target.name);
  return traceSchema.parse({
    name: target.name,
    startedAt: options.start,
    intervalSeconds: options.intervalSeconds,
    latencyBucketsMs: [...options.latencyBucketsMs],
    ...(baseline ? { baseline: { seconds: options.baselineSeconds, stable: baseline } } : {}),
    windows: windows.map((w, i) => ({ ...w, canaryWeight: weights[i] ?? 0 })),
  });
}

/** The JSON Schema of the trace format (`promoter schema --trace`), generated from the zod schema. */
export function traceJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(traceSchema, { io: 'input', unrepresentable: 'any' });
}
