// Which histogram bucket edges a tick reads for a canary: the few the judgement depends on, not
// all of Envoy's, since the bucket series are most of what Prometheus reads. Pure.
import { sequentialEdgesMs } from './judge.js';
import { histogramQuantile } from './quantile.js';
import type { AnalysisSettings } from './settings.js';
import type { LatencyCounts } from './types.js';

/** The edge at or below `ms` and the one above it (the bucket `ms` falls in), as far as they exist. */
function bracket(edgesMs: readonly number[], ms: number): number[] {
  if (!Number.isFinite(ms)) return [];
  let below = -1;
  edgesMs.forEach((edge, i) => {
    if (edge <= ms + 1e-9) below = i;
  });
  return [edgesMs[below], edgesMs[below + 1]].filter((edge): edge is number => edge !== undefined);
}

/** A histogram over `fromMs` restricted to the edges `toMs` (each of which is one of `fromMs`). */
export function projectLatency(counts: LatencyCounts, fromMs: readonly number[], toMs: readonly number[]): LatencyCounts {
  return { le: toMs.map((edge) => counts.le[fromMs.indexOf(edge)] ?? 0), count: counts.count };
}

/**
 * The bucket edges (a sorted subset of `allEdgesMs`) whose counts give the same judgement as all
 * of them, for a canary with these settings and stable's histogram before it started:
 * - the slow-request edges the sequential test counts, chosen from the baseline; choosing from
 *   the subset picks the same ones, which is checked here;
 * - the edges around the p99 ceiling: with those two adjacent edges, the interpolated p99 is above
 *   the ceiling exactly when it is with every edge, and the guard's noise test uses the lower one;
 * - the edges around stable's p99 in the baseline, so that the p99 shown in the evidence and the
 *   charts is the one every edge gives while it stays in that bucket (elsewhere it is interpolated
 *   over wider buckets; the guard's verdict is unaffected).
 * Without a baseline the edges are still to be chosen from the pooled first windows: every edge.
 */
export function edgesToRead(settings: AnalysisSettings, allEdgesMs: readonly number[], baseline?: LatencyCounts): number[] {
  const chosen = sequentialEdgesMs(settings, allEdgesMs, baseline);
  if (chosen === undefined) return [...allEdgesMs];
  const wanted = new Set<number>(chosen);
  for (const edge of bracket(allEdgesMs, settings.latencyP99.maxMs)) wanted.add(edge);
  if (baseline !== undefined && baseline.count > 0) {
    for (const edge of bracket(allEdgesMs, histogramQuantile(0.99, allEdgesMs, baseline.le, baseline.count))) wanted.add(edge);
  }
  const subset = allEdgesMs.filter((edge) => wanted.has(edge));
  const again = sequentialEdgesMs(settings, subset, baseline ? projectLatency(baseline, allEdgesMs, subset) : undefined);
  // Choosing among fewer edges could only differ on a tie within float tolerance; then read them all.
  if (again === undefined || again.length !== chosen.length || again.some((edge, i) => edge !== chosen[i])) return [...allEdgesMs];
  return subset;
}

/** The sorted union of several canaries' edges: what one batched query reads for all of them. */
export function unionOfEdges(lists: readonly (readonly number[])[]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}
