// Which latency bucket edges the sequential test counts "slower than", chosen from the service's
// own latency: stable's histogram before the canary started, or both arms pooled. Pure.
import type { LatencyCounts, Window } from './types.js';

/** How the slow-request edges of a rollout were chosen; recorded in the evidence. */
export interface EdgeChoice {
  /** indices into latencyBucketsMs, increasing, without repeats. */
  indices: number[];
  /** 'fixed': the policy's latencyEdgesMs; 'baseline': stable before the canary; 'pooled': both arms of the first windows. */
  source: 'fixed' | 'baseline' | 'pooled';
  /** requests in the distribution the edges were chosen from (0 for fixed edges). */
  requests: number;
  /**
   * windows spent choosing (pooled only): their counts chose the edges, so the latency tests
   * start after them and never see the data that chose what they test.
   */
  windowsUsed: number;
}

const EDGE_TOLERANCE = 1e-9;

/** The fixed override: each wanted edge maps to the largest bucket edge at or below it. */
export function fixedEdgeIndices(wantedMs: readonly number[], latencyBucketsMs: readonly number[]): number[] {
  const indices = new Set<number>();
  for (const wanted of wantedMs) {
    let index = -1;
    for (let i = 0; i < latencyBucketsMs.length; i++) {
      if ((latencyBucketsMs[i] ?? Number.POSITIVE_INFINITY) <= wanted + EDGE_TOLERANCE) index = i;
    }
    if (index >= 0) indices.add(index);
  }
  return [...indices].sort((a, b) => a - b);
}

/**
 * For each quantile q, the bucket edge whose share of slower requests in `dist` is nearest to
 * 1 - q on a log scale (so p95 picks an edge with about 5 % slower, whether that is 4 % or 7 %).
 * Edges with no request above or none below are skipped: they cannot tell two arms apart.
 * Deduplicated and sorted; empty when the histogram is empty.
 */
export function edgesForQuantiles(dist: LatencyCounts, quantiles: readonly number[]): number[] {
  const total = dist.count;
  if (total <= 0) return [];
  const chosen = new Set<number>();
  for (const q of quantiles) {
    const target = Math.log(1 - q);
    let best = -1;
    let bestDistance = Number.POSITIVE_INFINITY;
    dist.le.forEach((within, i) => {
      const slow = (total - within) / total;
      if (!(slow > 0) || within <= 0) return;
      const distance = Math.abs(Math.log(slow) - target);
      if (distance < bestDistance - EDGE_TOLERANCE) {
        best = i;
        bestDistance = distance;
      }
    });
    if (best >= 0) chosen.add(best);
  }
  return [...chosen].sort((a, b) => a - b);
}

/** Both arms of one window added into `into` (cumulative counts per edge). */
export function addPooled(into: LatencyCounts, window: Window): void {
  for (const arm of [window.stable, window.canary]) {
    const latency = arm.latency;
    if (latency === undefined) continue;
    for (let i = 0; i < latency.le.length; i++) into.le[i] = (into.le[i] ?? 0) + (latency.le[i] ?? 0);
    into.count += latency.count;
  }
}
