// Batched, aggregated window queries: the PromQL they send (grouping labels, edges, the exact
// per-window increase) and the in-memory split of their answers into per-canary, per-arm windows.
import { describe, expect, it } from 'vitest';
import {
  batchedBucketsQuery,
  batchedRequestsQuery,
  CLASS_LABEL,
  groupingLabels,
  groupTargets,
  windowIncrease,
  type CanaryTarget,
} from './istio-queries.js';
import type { InstantSample, PrometheusClient, RangeSeries } from './prometheus.js';
import { prometheusSelectorSchema } from './settings.js';
import { fetchWindowsAggregated } from './windows.js';

const selector = prometheusSelectorSchema.parse({});
const backend: CanaryTarget = { name: 'backend', service: 'backend', namespace: 'prod', selector };
const frontend: CanaryTarget = { name: 'frontend', service: 'frontend', namespace: 'prod', selector };
const quiet: CanaryTarget = { name: 'quiet', service: 'quiet', namespace: 'prod', selector };

describe('batched queries', () => {
  const group = groupTargets([backend, frontend])[0]!;

  it('group by service, namespace and arm, a list a cluster label can join', () => {
    expect(groupingLabels(selector)).toEqual(['destination_service_name', 'destination_workload_namespace', 'destination_canonical_revision']);
    expect(groupingLabels(selector, ['cluster'])).toEqual([...groupingLabels(selector), 'cluster']);
    expect(() => groupingLabels(selector, ['no good'])).toThrow(/not a Prometheus label name/);
    expect(batchedRequestsQuery(group, 60, ['cluster'])).toMatch(/^sum by \(destination_service_name, destination_workload_namespace, destination_canonical_revision, cluster, promoter_class\) /);
  });

  it('ask for every canary of the group in one selector, 5xx told apart by label_replace', () => {
    const query = batchedRequestsQuery(group, 60);
    expect(query).toMatch(/^sum by \(destination_service_name, destination_workload_namespace, destination_canonical_revision, promoter_class\) \(label_replace\(/);
    expect(query).toContain('destination_service_name=~"backend|frontend"');
    expect(query).toContain('destination_canonical_revision=~"canary|stable"');
    expect(query).toContain(`"${CLASS_LABEL}", "5xx", "response_code", "5[0-9][0-9]")`);
  });

  it('ask only for the edges given, every spelling of them, and +Inf', () => {
    const query = batchedBucketsQuery(group, [50, 1800000], 30);
    expect(query).toMatch(/^sum by \(destination_service_name, destination_workload_namespace, destination_canonical_revision, le\) /);
    expect(query).toContain('le=~"\\\\+Inf|1\\\\.8e\\\\+06|1800000|1800000\\\\.0|50|50\\\\.0"');
    expect(query).toContain('offset 30s');
  });

  it('difference each series against its last finite value: growth, restart, birth', () => {
    expect(windowIncrease('m{a="b"}', 60)).toBe(
      '(((m{a="b"} > -Inf < Inf) - (last_over_time(m{a="b"}[3600s] offset 60s) > -Inf < Inf)) >= 0)' +
        ' or ((m{a="b"} > -Inf < Inf) < (last_over_time(m{a="b"}[3600s] offset 60s) > -Inf < Inf))' +
        ' or ((m{a="b"} > -Inf < Inf) unless (last_over_time(m{a="b"}[3600s] offset 60s) > -Inf < Inf))',
    );
    // the memory never ends inside the window itself
    expect(windowIncrease('m', 7200, 600)).toContain('[7200s] offset 7200s');
  });
});

/** Answers range queries from fixed, already aggregated series and records what was asked. */
function recordedClient(answer: (query: string) => RangeSeries[]): PrometheusClient & { queries: { query: string; start: number; end: number; step: number }[] } {
  const queries: { query: string; start: number; end: number; step: number }[] = [];
  return {
    queries,
    instant: (): Promise<InstantSample[]> => Promise.resolve([]),
    range: (query, start, end, step) => {
      queries.push({ query, start, end, step });
      return Promise.resolve(answer(query).map((s) => ({ labels: s.labels, points: s.points.filter((p) => p.time >= start && p.time <= end) })));
    },
    ready: () => Promise.resolve(true),
  };
}

function summed(service: string, arm: string, extra: Record<string, string>, values: (number | undefined)[]): RangeSeries {
  return {
    labels: { destination_service_name: service, destination_workload_namespace: 'prod', destination_canonical_revision: arm, ...extra },
    // evaluated at each window's end: 1060, 1120, 1180
    points: values.flatMap((value, k) => (value === undefined ? [] : [{ time: 1060 + k * 60, value }])),
  };
}

describe('fetchWindowsAggregated', () => {
  const requests = [
    summed('backend', 'stable', {}, [90, 90, 89]),
    summed('backend', 'stable', { [CLASS_LABEL]: '5xx' }, [1, 0, 1]),
    summed('backend', 'canary', {}, [10, 3, undefined]),
    summed('backend', 'canary', { [CLASS_LABEL]: '5xx' }, [0, 0, Number.NaN]),
    summed('frontend', 'stable', {}, [1, 1, 1]),
    summed('frontend', 'latest', {}, [45, 450, 4500]), // neither arm
    summed('other', 'stable', {}, [7, 7, 7]), // no canary of ours
  ];
  const buckets = [
    summed('backend', 'stable', { le: '500' }, [85, 85, 85]),
    summed('backend', 'stable', { le: '+Inf' }, [91, 90, 90]),
    summed('backend', 'canary', { le: '500.0' }, [8, 3, 10]),
    summed('backend', 'canary', { le: '+Inf' }, [10, 3, 10]),
    summed('backend', 'canary', { le: '1000' }, [99, 99, 99]), // an edge not asked for
  ];
  const client = recordedClient((q) => (q.includes('istio_requests_total') ? requests : buckets));

  it('splits one answer per metric into every canary and arm, window by window', async () => {
    const result = await fetchWindowsAggregated(client, [backend, frontend, quiet], { start: 1000, end: 1200, intervalSeconds: 60, latencyBucketsMs: [500] });
    expect(client.queries).toHaveLength(2);
    // evaluated at the window ends: the first window (1000, 1060] ends at 1060
    expect(client.queries[0]).toMatchObject({ start: 1060, end: 1180, step: 60 });
    expect(result.get('backend')).toEqual([
      { t: 0, canaryWeight: 0, stable: { requests: 91, errors: 1, latency: { le: [85], count: 91 } }, canary: { requests: 10, errors: 0, latency: { le: [8], count: 10 } } },
      { t: 60, canaryWeight: 0, stable: { requests: 90, errors: 0, latency: { le: [85], count: 90 } }, canary: { requests: 3, errors: 0, latency: { le: [3], count: 3 } } },
      // no finite canary request series at the third window's end: unknown, not zero
      { t: 120, canaryWeight: 0, stable: { requests: 90, errors: 1, latency: { le: [85], count: 90 } }, canary: { requests: 0, errors: 0, noData: true, latency: { le: [10], count: 10 } } },
    ]);
    expect(result.get('frontend')?.map((w) => [w.stable.requests, w.canary.requests, w.canary.noData])).toEqual([
      [1, 0, true],
      [1, 0, true],
      [1, 0, true],
    ]);
    expect(result.get('quiet')?.every((w) => w.stable.noData === true && w.canary.noData === true && w.stable.requests === 0)).toBe(true);
  });

  it('sends one pair of queries for many canaries with the same selector, a pair per other selector', async () => {
    const local = recordedClient(() => []);
    const others = Array.from({ length: 50 }, (_, i): CanaryTarget => ({ name: `svc${i}`, service: `svc${i}`, namespace: 'prod', selector }));
    const armed = { ...backend, name: 'armed', selector: { ...selector, armLabel: 'destination_version' } };
    await fetchWindowsAggregated(local, [...others, armed], { start: 1000, end: 1200, intervalSeconds: 60, latencyBucketsMs: [500] });
    expect(local.queries).toHaveLength(4);
    expect(local.queries.filter((q) => q.query.includes('destination_version')).length).toBe(2);
  });

  it('asks nothing before the first window completes, and no bucket query without edges', async () => {
    const local = recordedClient(() => requests);
    expect((await fetchWindowsAggregated(local, [backend], { start: 1000, end: 1059, intervalSeconds: 60, latencyBucketsMs: [500] })).get('backend')).toEqual([]);
    expect(local.queries).toHaveLength(0);
    const result = await fetchWindowsAggregated(local, [backend], { start: 1000, end: 1060, intervalSeconds: 60, latencyBucketsMs: [] });
    expect(local.queries).toHaveLength(1);
    expect(result.get('backend')?.[0]?.stable).toEqual({ requests: 91, errors: 1 });
  });

  it('splits long histories into range queries Prometheus accepts, without a point twice', async () => {
    const long: RangeSeries = {
      labels: { destination_service_name: 'backend', destination_workload_namespace: 'prod', destination_canonical_revision: 'stable' },
      points: Array.from({ length: 25_000 }, (_, k) => ({ time: k + 1, value: 1 })),
    };
    const local = recordedClient(() => [long]);
    const windows = (await fetchWindowsAggregated(local, [backend], { start: 0, end: 25_000, intervalSeconds: 1, latencyBucketsMs: [] })).get('backend')!;
    expect(local.queries.map((q) => [q.start, q.end])).toEqual([
      [1, 10_000],
      [10_001, 20_000],
      [20_001, 25_000],
    ]);
    expect(windows).toHaveLength(25_000);
    expect(windows.every((w) => w.stable.requests === 1)).toBe(true);
  });
});

describe('a multi-cluster canary on one endpoint', () => {
  it('keeps the cluster label in the sum and splits on it', async () => {
    const east: CanaryTarget = { ...backend, name: 'backend@east', cluster: { name: 'east', label: 'cluster' } };
    const west: CanaryTarget = { ...backend, name: 'backend@west', cluster: { name: 'west', label: 'cluster' } };
    const group = groupTargets([east, west])[0]!;
    expect(batchedRequestsQuery(group, 60)).toMatch(/^sum by \(destination_service_name, destination_workload_namespace, destination_canonical_revision, cluster, promoter_class\) /);
    expect(batchedBucketsQuery(group, [500], 60)).toContain('cluster=~"east|west"');
    const local = recordedClient(() => [summed('backend', 'canary', { cluster: 'east' }, [5, 5, 5]), summed('backend', 'canary', { cluster: 'west' }, [7, 7, 7])]);
    const result = await fetchWindowsAggregated(local, [east, west], { start: 1000, end: 1200, intervalSeconds: 60, latencyBucketsMs: [] });
    expect(result.get('backend@east')?.map((w) => w.canary.requests)).toEqual([5, 5, 5]);
    expect(result.get('backend@west')?.map((w) => w.canary.requests)).toEqual([7, 7, 7]);
  });
});
