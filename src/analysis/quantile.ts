// PromQL's histogram_quantile (classic buckets, Prometheus 2.x) over per-window bucket counts, so
// the replay, the benchmark and the live path report the same p99 that Prometheus would.

interface Bucket {
  upperBound: number;
  count: number;
}

/**
 * The q-quantile of a cumulative histogram, computed exactly as PromQL does: linear interpolation
 * inside the bucket holding the rank, the lower bound of the first bucket taken as 0, and the
 * highest finite edge returned when the rank falls in +Inf. `le[i]` counts observations
 * <= `edges[i]`; `count` is the +Inf bucket. NaN when there are no observations.
 */
export function histogramQuantile(
  q: number,
  edges: readonly number[],
  le: readonly number[],
  count: number,
): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  const buckets: Bucket[] = [];
  const n = Math.min(edges.length, le.length);
  for (let i = 0; i < n; i++) {
    buckets.push({ upperBound: edges[i] ?? 0, count: le[i] ?? 0 });
  }
  buckets.sort((a, b) => a.upperBound - b.upperBound);
  buckets.push({ upperBound: Number.POSITIVE_INFINITY, count });
  if (buckets.length < 2) return Number.NaN;
  // Prometheus forces the cumulative counts to be monotone (scrapes race with increments).
  let max = 0;
  for (const bucket of buckets) {
    if (bucket.count < max) bucket.count = max;
    max = bucket.count;
  }
  const observations = buckets[buckets.length - 1]?.count ?? 0;
  if (observations === 0) return Number.NaN;
  let rank = q * observations;
  const b = buckets.findIndex((bucket) => bucket.count >= rank);
  if (b === buckets.length - 1) return buckets[buckets.length - 2]?.upperBound ?? Number.NaN;
  const hit = buckets[b];
  if (hit === undefined) return Number.NaN;
  if (b === 0 && hit.upperBound <= 0) return hit.upperBound;
  let bucketStart = 0;
  let bucketCount = hit.count;
  const previous = b > 0 ? buckets[b - 1] : undefined;
  if (previous !== undefined) {
    bucketStart = previous.upperBound;
    bucketCount -= previous.count;
    rank -= previous.count;
  }
  return bucketStart + (hit.upperBound - bucketStart) * (rank / bucketCount);
}

/** Element-wise sum of cumulative bucket counts of several windows (all with the same edges). */
export function addLatencyCounts(
  into: { le: number[]; count: number },
  add: { le: readonly number[]; count: number },
): void {
  for (let i = 0; i < add.le.length; i++) into.le[i] = (into.le[i] ?? 0) + (add.le[i] ?? 0);
  into.count += add.count;
}
