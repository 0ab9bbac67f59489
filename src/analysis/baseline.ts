// Stable's latency histogram before a canary started: the arm-blind distribution the judge
// chooses its slow-request edges from. One instant query per selector group and start time.
import { DURATION_BUCKET_METRIC, clusterLabelOf, groupMatchers, groupTargets, leLabelSpellings, matchAny, parseLe, type CanaryTarget } from './istio-queries.js';
import type { PrometheusClient } from './prometheus.js';
import type { LatencyCounts } from './types.js';

export interface BaselineRequest {
  target: CanaryTarget;
  /** unix seconds: the canary's start (the first window's start); the histogram ends here. */
  at: number;
}

/**
 * The query for a group's stable histograms over the `seconds` before the evaluation time, summed
 * over pods per service and namespace. increase() extrapolates to fractions; the edges only
 * need the shape, and the counts are rounded.
 */
export function baselineQuery(targets: readonly CanaryTarget[], seconds: number, latencyBucketsMs: readonly number[]): string {
  const [group] = groupTargets(targets);
  if (group === undefined) throw new RangeError('baselineQuery needs at least one target');
  const { serviceLabel, namespaceLabel } = group.selector;
  const les = [...latencyBucketsMs.flatMap(leLabelSpellings), '+Inf'];
  const selector = [...groupMatchers(group, ['stable']), matchAny('le', les)].join(', ');
  // A multi-cluster canary's clusters each choose their own edges: the cluster label stays in the sum.
  const clusterLabel = clusterLabelOf(targets[0]!);
  const by = [serviceLabel, namespaceLabel, ...(clusterLabel !== undefined ? [clusterLabel] : []), 'le'].join(', ');
  return `sum by (${by}) (increase(${DURATION_BUCKET_METRIC}{${selector}}[${Math.max(1, Math.round(seconds))}s]))`;
}

/**
 * Stable's cumulative bucket counts over `seconds` before each canary's start, keyed by canary
 * name. A canary whose service had no stable traffic then is absent (the judge then pools both
 * arms of the first windows instead).
 */
export async function fetchBaselines(
  client: PrometheusClient,
  requests: readonly BaselineRequest[],
  options: { seconds: number; latencyBucketsMs: readonly number[] },
): Promise<Map<string, LatencyCounts>> {
  const result = new Map<string, LatencyCounts>();
  const batches = new Map<string, BaselineRequest[]>();
  for (const request of requests) {
    const [group] = groupTargets([request.target]);
    const key = JSON.stringify([request.at, group?.selector]);
    batches.set(key, [...(batches.get(key) ?? []), request]);
  }
  for (const batch of batches.values()) {
    for (const group of groupTargets(batch.map((b) => b.target))) {
      const at = batch[0]?.at ?? 0;
      const samples = await client.instant(baselineQuery(group.targets, options.seconds, options.latencyBucketsMs), { time: at });
      const { serviceLabel, namespaceLabel } = group.selector;
      for (const target of group.targets) {
        const le = options.latencyBucketsMs.map(() => 0);
        let count = 0;
        let seen = false;
        for (const sample of samples) {
          if (sample.labels[serviceLabel] !== target.service || sample.labels[namespaceLabel] !== target.namespace) continue;
          if (target.cluster?.label !== undefined && sample.labels[target.cluster.label] !== target.cluster.name) continue;
          if (!Number.isFinite(sample.value)) continue;
          const edge = parseLe(sample.labels.le);
          const value = Math.max(0, Math.round(sample.value));
          if (edge === Number.POSITIVE_INFINITY) {
            count = value;
            seen = true;
            continue;
          }
          const index = options.latencyBucketsMs.indexOf(edge);
          if (index >= 0) le[index] = value;
        }
        if (!seen || count === 0) continue;
        // Rounding and scrape races can break monotonicity, as histogram_quantile also repairs.
        for (let i = 1; i < le.length; i++) le[i] = Math.max(le[i] ?? 0, le[i - 1] ?? 0);
        const top = le.at(-1) ?? 0;
        result.set(target.name, { le: le.map((v) => Math.min(v, Math.max(count, top))), count: Math.max(count, top) });
      }
    }
  }
  return result;
}
