// Stable's latency histogram before a canary started: the arm-blind distribution the judge
// chooses its slow-request edges from. Raw counters differenced over the span, like a window, so
// Prometheus and VictoriaMetrics give the same counts; two instant queries for every start time.
import { clusterLabelOf, groupExactnessQuery, groupKeyLabels, groupTargets, histogramWitnessQuery, latencyBucketsQuery, parseLe, summedBucketsQuery, type CanaryTarget, type TargetGroup } from './istio-queries.js';
import type { InstantSample, PrometheusClient, RangeSeries } from './prometheus.js';
import type { LatencyCounts } from './types.js';
import { fetchWindowsPerSeries, groupKeyOf, inexactGroups, summedPerWindow } from './windows.js';

export interface BaselineRequest {
  target: CanaryTarget;
  /** unix seconds: the canary's start (the first window's start); the histogram ends here. */
  at: number;
}

/** Added by label_replace: which start time and which end of the span an answer belongs to. */
const POINT_LABEL = 'promoter_point';

/** A PromQL `@` time: milliseconds are Prometheus' resolution. */
function atTime(seconds: number): string {
  return (Math.round(seconds * 1000) / 1000).toFixed(3);
}

interface Batch {
  group: TargetGroup;
  at: number;
}

/**
 * The stable buckets of every batch summed per service, namespace (cluster) and le, at both ends
 * of each batch's span, as one instant query: one `@` per end, told apart by POINT_LABEL "i:0" / "i:1".
 */
function spanQuery(batches: readonly Batch[], seconds: number, latencyBucketsMs: readonly number[], check: boolean): string {
  const parts: string[] = [];
  batches.forEach(({ group, at }, i) => {
    const stable = stableOnly(group);
    if (check) {
      // One check at the span's end covers its one "window" (at - seconds, at].
      const query = groupExactnessQuery(latencyBucketsQuery(stable, latencyBucketsMs), groupKeyLabels(stable), seconds, { vanishSelector: histogramWitnessQuery(stable), at: atTime(at) });
      parts.push(`label_replace(${query}, "${POINT_LABEL}", "${i}:1", "", "")`);
      return;
    }
    [at - seconds, at].forEach((time, end) => {
      parts.push(`label_replace(${summedBucketsQuery(stable, latencyBucketsMs, atTime(time))}, "${POINT_LABEL}", "${i}:${end}", "", "")`);
    });
  });
  return parts.join(' or ');
}

/** The group restricted to stable: the canary arm has no place in a baseline. */
function stableOnly(group: TargetGroup): TargetGroup {
  return { selector: { ...group.selector, canaryValue: group.selector.stableValue }, targets: group.targets };
}

/** The query for one group's stable histograms over the `seconds` before `at` (for a person to read; fetchBaselines batches it). */
export function baselineQuery(targets: readonly CanaryTarget[], seconds: number, latencyBucketsMs: readonly number[], at = 0): string {
  const [group] = groupTargets(targets);
  if (group === undefined) throw new RangeError('baselineQuery needs at least one target');
  return spanQuery([{ group, at }], seconds, latencyBucketsMs, false);
}

function toCounts(le: number[], count: number): LatencyCounts | undefined {
  if (count === 0) return undefined;
  // Rounding and scrape races can break monotonicity, as histogram_quantile also repairs.
  for (let i = 1; i < le.length; i++) le[i] = Math.max(le[i] ?? 0, le[i - 1] ?? 0);
  const top = le.at(-1) ?? 0;
  return { le: le.map((v) => Math.min(v, Math.max(count, top))), count: Math.max(count, top) };
}

/** Instant samples labelled "i:end" as per-batch range series over the grid [at - seconds, at]. */
function perBatch(samples: readonly InstantSample[], batches: readonly Batch[], seconds: number): RangeSeries[][] {
  const out = batches.map(() => new Map<string, RangeSeries>());
  for (const sample of samples) {
    const [i, end] = (sample.labels[POINT_LABEL] ?? '').split(':').map(Number);
    const batch = i !== undefined ? batches[i] : undefined;
    if (!batch || (end !== 0 && end !== 1)) continue;
    const { [POINT_LABEL]: _, ...labels } = sample.labels;
    const key = JSON.stringify(Object.entries(labels).sort());
    const series = out[i!]!.get(key) ?? { labels, points: [] };
    series.points.push({ time: end === 0 ? batch.at - seconds : batch.at, value: sample.value });
    out[i!]!.set(key, series);
  }
  return out.map((m) => [...m.values()]);
}

/**
 * Stable's cumulative bucket counts over `seconds` before each canary's start, keyed by canary
 * name: the raw counters at both ends summed per service, namespace (cluster) and le, differenced
 * here, for every start time at once (two instant queries per selector group: the sums and their
 * integrity check, as the windows read them). A service whose sums are not provably exact (a pod
 * gone or restarted during the span) is read per series instead. A canary whose service had no
 * stable traffic then is absent (the judge then pools both arms of the first windows instead).
 */
export async function fetchBaselines(
  client: PrometheusClient,
  requests: readonly BaselineRequest[],
  options: { seconds: number; latencyBucketsMs: readonly number[] },
): Promise<Map<string, LatencyCounts>> {
  const result = new Map<string, LatencyCounts>();
  const seconds = Math.max(1, Math.round(options.seconds));
  const edges = options.latencyBucketsMs;
  for (const group of groupTargets(requests.map((r) => r.target))) {
    const byAt = new Map<number, CanaryTarget[]>();
    const members = new Set(group.targets);
    for (const r of requests) {
      if (!members.has(r.target)) continue;
      const same = byAt.get(r.at);
      if (same) same.push(r.target);
      else byAt.set(r.at, [r.target]);
    }
    const batches: Batch[] = [...byAt].map(([at, targets]) => ({ group: { selector: group.selector, targets }, at }));
    const [sums, checks] = await Promise.all([
      client.instant(spanQuery(batches, seconds, edges, false), { time: Math.max(...batches.map((b) => b.at)) }),
      client.instant(spanQuery(batches, seconds, edges, true), { time: Math.max(...batches.map((b) => b.at)) }),
    ]);
    const sumsOf = perBatch(sums, batches, seconds);
    const checksOf = perBatch(checks, batches, seconds);
    const again: BaselineRequest[] = [];
    batches.forEach((batch, i) => {
      const grid = [batch.at - seconds, batch.at];
      const keyLabels = groupKeyLabels(batch.group).filter((l) => l !== batch.group.selector.armLabel);
      const inexact = new Set(inexactGroups(sumsOf[i]!, checksOf[i]!, keyLabels, grid, seconds).map((g) => g.key));
      const { serviceLabel, namespaceLabel } = batch.group.selector;
      const clusterLabel = batch.group.targets[0] ? clusterLabelOf(batch.group.targets[0]) : undefined;
      // Indexed once: matching every target against every summed series took 30 s of CPU at N = 1000.
      const sumsByKey = new Map<string, RangeSeries[]>();
      for (const series of sumsOf[i]!) {
        const key = groupKeyOf(keyLabels.map((l) => series.labels[l] ?? ''));
        sumsByKey.set(key, [...(sumsByKey.get(key) ?? []), series]);
      }
      for (const target of batch.group.targets) {
        const key = groupKeyOf(keyLabels.map((l) => (l === serviceLabel ? target.service : l === namespaceLabel ? target.namespace : l === clusterLabel ? (target.cluster?.name ?? '') : '')));
        if (inexact.has(key)) {
          again.push({ target, at: batch.at });
          continue;
        }
        const le = edges.map(() => 0);
        let count = 0;
        for (const series of sumsByKey.get(key) ?? []) {
          const value = summedPerWindow(series, grid, seconds).counts[0] ?? 0;
          const edge = parseLe(series.labels.le);
          if (edge === Number.POSITIVE_INFINITY) count += value;
          else {
            const index = edges.indexOf(edge);
            if (index >= 0) le[index] = (le[index] ?? 0) + value;
          }
        }
        const counts = toCounts(le, count);
        if (counts) result.set(target.name, counts);
      }
    });
    // Per series, one span per start: as rare as a pod going away during a baseline hour.
    const againByAt = new Map<number, CanaryTarget[]>();
    for (const r of again) againByAt.set(r.at, [...(againByAt.get(r.at) ?? []), r.target]);
    for (const [at, targets] of againByAt) {
      const windows = await fetchWindowsPerSeries(client, targets, { start: at - seconds, end: at, intervalSeconds: seconds, latencyBucketsMs: edges });
      for (const target of targets) {
        const latency = windows.get(target.name)?.[0]?.stable.latency;
        const counts = latency ? toCounts([...latency.le], latency.count) : undefined;
        if (counts) result.set(target.name, counts);
      }
    }
  }
  return result;
}
