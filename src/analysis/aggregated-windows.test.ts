// The summed window read: the PromQL it sends (grouping labels, edges, the integrity check), the
// differencing of the sums in memory, and the fall back to raw series for groups whose sums are not exact.
import { describe, expect, it } from 'vitest';
import { groupExactnessQuery, groupKeyLabels, groupTargets, summedBucketsQuery, summedRequestsQuery, type CanaryTarget } from './istio-queries.js';
import type { InstantSample, PrometheusClient, RangeSeries } from './prometheus.js';
import { prometheusSelectorSchema } from './settings.js';
import { fetchWindows, fetchWindowsPerSeries } from './windows.js';

const selector = prometheusSelectorSchema.parse({});
const backend: CanaryTarget = { name: 'backend', service: 'backend', namespace: 'prod', selector };
const frontend: CanaryTarget = { name: 'frontend', service: 'frontend', namespace: 'prod', selector };
const quiet: CanaryTarget = { name: 'quiet', service: 'quiet', namespace: 'prod', selector };

describe('summed queries', () => {
  const group = groupTargets([backend, frontend])[0]!;

  it('sum every canary of the group by service, namespace, arm and response code', () => {
    expect(groupKeyLabels(group)).toEqual(['destination_service_name', 'destination_workload_namespace', 'destination_canonical_revision']);
    const query = summedRequestsQuery(group);
    expect(query).toMatch(/^sum by \(destination_service_name, destination_workload_namespace, destination_canonical_revision, response_code\) \(istio_requests_total\{/);
    expect(query).toContain('destination_service_name=~"backend|frontend"');
  });

  it('ask only for the edges given, every spelling of them, and +Inf', () => {
    const query = summedBucketsQuery(group, [50, 1800000]);
    expect(query).toMatch(/^sum by \(destination_service_name, destination_workload_namespace, destination_canonical_revision, le\) /);
    expect(query).toContain('le=~"\\\\+Inf|1\\\\.8e\\\\+06|1800000|1800000\\\\.0|50|50\\\\.0"');
  });

  it('check exactness at each window end: series gone since the previous grid point, or lower than there', () => {
    expect(groupExactnessQuery('m{a="b"}', ['s', 'n'], 60)).toBe('count by (s, n) ((m{a="b"} offset 60s unless m{a="b"}) or (m{a="b"} < m{a="b"} offset 60s))');
    expect(groupExactnessQuery('b{le=~"5|+Inf"}', ['s'], 1.5, { vanishSelector: 'b{le="+Inf"}', at: '100.000' })).toBe(
      'count by (s) ((b{le="+Inf"} @ 100.000 offset 1500ms unless b{le="+Inf"} @ 100.000) or (b{le=~"5|+Inf"} @ 100.000 < b{le=~"5|+Inf"} @ 100.000 offset 1500ms))',
    );
  });

  it('keep a multi-cluster canary’s cluster label', () => {
    const east: CanaryTarget = { ...backend, name: 'backend@east', cluster: { name: 'east', label: 'cluster' } };
    const west: CanaryTarget = { ...backend, name: 'backend@west', cluster: { name: 'west', label: 'cluster' } };
    const clustered = groupTargets([east, west])[0]!;
    expect(groupKeyLabels(clustered)).toContain('cluster');
    expect(summedBucketsQuery(clustered, [500])).toContain('cluster=~"east|west"');
  });
});

/** Raw counters of one series at the grid points 1000, 1060, 1120, 1180. */
interface Raw {
  labels: Record<string, string>;
  values: (number | undefined)[];
}
const GRID = [1000, 1060, 1120, 1180];
const raw = (service: string, arm: string, extra: Record<string, string>, values: (number | undefined)[]): Raw => ({
  labels: { destination_service_name: service, destination_workload_namespace: 'prod', destination_canonical_revision: arm, response_code: '200', ...extra },
  values,
});

/**
 * A loopback-free stand-in that evaluates the three query shapes over fixed raw series at the grid
 * points (the real-Prometheus equality is test/aggregated-windows.test.ts): raw selectors, sums by
 * group and class or le, and the integrity check (series at the previous and this grid point, resets between).
 */
function evaluatingClient(series: Raw[]): PrometheusClient & { queries: string[] } {
  const queries: string[] = [];
  const keyOf = (labels: Record<string, string>) => [labels.destination_service_name, labels.destination_canonical_revision].join('/');
  const metricOf = (s: Raw) => (s.labels.le !== undefined ? 'istio_request_duration_milliseconds_bucket' : 'istio_requests_total');
  const matches = (query: string, s: Raw) => query.includes(metricOf(s)) && query.includes(s.labels.destination_service_name!);
  return {
    queries,
    instant: (): Promise<InstantSample[]> => Promise.resolve([]),
    range: (query) => {
      queries.push(query);
      const chosen = series.filter((s) => matches(query, s));
      const at = (s: Raw, j: number) => s.values[j];
      if (query.startsWith('count by') && query.includes(' unless ')) {
        // per group at each window end j >= 1: series with a value at j - 1 and none at j (looked
        // for in +Inf only, for a histogram), or a lower value at j than at j - 1; only non-zero counts
        const groups = new Map<string, RangeSeries>();
        for (const s of chosen) if (!groups.has(keyOf(s.labels))) groups.set(keyOf(s.labels), { labels: { ...s.labels }, points: [] });
        for (const [key, g] of groups) {
          const members = chosen.filter((s) => keyOf(s.labels) === key);
          g.points = GRID.flatMap((time, j) => {
            if (j === 0) return [];
            const bad = members.filter((s) => {
              const before = at(s, j - 1);
              const now = at(s, j);
              const vanished = (s.labels.le === undefined || s.labels.le === '+Inf') && before !== undefined && now === undefined;
              return vanished || (before !== undefined && now !== undefined && now < before);
            }).length;
            return bad === 0 ? [] : [{ time, value: bad }];
          });
        }
        return Promise.resolve([...groups.values()].filter((g) => g.points.length > 0));
      }
      if (query.startsWith('sum by')) {
        const by = (s: Raw) => (s.labels.le !== undefined ? `${keyOf(s.labels)}/${s.labels.le}` : `${keyOf(s.labels)}/${s.labels.response_code ?? ''}`);
        const groups = new Map<string, Raw[]>();
        for (const s of chosen) groups.set(by(s), [...(groups.get(by(s)) ?? []), s]);
        return Promise.resolve(
          [...groups.values()].map((members) => {
            const { pod: _pod, ...labels } = members[0]!.labels;
            return {
              labels,
              points: GRID.flatMap((time, j) => {
                const present = members.filter((s) => at(s, j) !== undefined);
                return present.length === 0 ? [] : [{ time, value: present.reduce((sum, s) => sum + at(s, j)!, 0) }];
              }),
            };
          }),
        );
      }
      return Promise.resolve(chosen.map((s) => ({ labels: s.labels, points: GRID.flatMap((time, j) => (at(s, j) === undefined ? [] : [{ time, value: at(s, j)! }])) })));
    },
    ready: () => Promise.resolve(true),
  };
}

describe('fetchWindows (summed)', () => {
  const range = { start: 1000, end: 1180, intervalSeconds: 60, latencyBucketsMs: [500] };
  const healthy = (service: string): Raw[] =>
    ['stable', 'canary'].flatMap((arm) => [
      raw(service, arm, { pod: 'a' }, [10, 20, 35, 50]),
      raw(service, arm, { pod: 'b' }, [undefined, 4, 9, 9]), // born in the first window
      raw(service, arm, { pod: 'a', response_code: '503' }, [1, 1, 2, 3]),
      raw(service, arm, { pod: 'a', le: '500' }, [9, 18, 30, 44]),
      raw(service, arm, { pod: 'a', le: '+Inf' }, [11, 21, 37, 53]),
    ]);

  it('gives the per-series reader’s windows from the sums alone when every group is exact', async () => {
    const client = evaluatingClient([...healthy('backend'), ...healthy('frontend')]);
    const summed = await fetchWindows(client, [backend, frontend, quiet], range);
    expect(client.queries).toHaveLength(4);
    expect(client.queries.every((q) => /^(sum|count) by/.test(q))).toBe(true);
    const reference = await fetchWindowsPerSeries(evaluatingClient([...healthy('backend'), ...healthy('frontend')]), [backend, frontend, quiet], range);
    expect(summed).toEqual(reference);
    expect(summed.get('backend')?.map((w) => [w.canary.requests, w.canary.errors])).toEqual([
      [14, 0],
      [21, 1],
      [16, 1],
    ]);
    expect(summed.get('quiet')?.every((w) => w.canary.noData === true && w.stable.noData === true)).toBe(true);
  });

  it('reads a group again per series when a pod restarts, vanishes, comes back or reports NaN, and only that canary', async () => {
    const cases: Record<string, Raw> = {
      restart: raw('backend', 'canary', { pod: 'c' }, [30, 40, 5, 12]),
      vanishes: raw('backend', 'canary', { pod: 'c' }, [30, 40, undefined, undefined]),
      gap: raw('backend', 'canary', { pod: 'c' }, [30, undefined, 45, 50]),
      nan: raw('backend', 'canary', { pod: 'c' }, [30, Number.NaN, 45, 50]),
      fraction: raw('backend', 'canary', { pod: 'c' }, [30.5, 40.25, 45, 50]),
    };
    for (const [name, odd] of Object.entries(cases)) {
      const series = [...healthy('backend'), ...healthy('frontend'), odd];
      const client = evaluatingClient(series);
      const summed = await fetchWindows(client, [backend, frontend], range);
      expect(summed, name).toEqual(await fetchWindowsPerSeries(evaluatingClient(series), [backend, frontend], range));
      const perSeries = client.queries.filter((q) => !/^(sum|count) by/.test(q));
      expect(perSeries.length, name).toBeGreaterThan(0);
      expect(perSeries.every((q) => q.includes('destination_service_name="backend"')), name).toBe(true);
    }
  });

  it('asks nothing before the first window completes, and no bucket query without edges', async () => {
    const client = evaluatingClient(healthy('backend'));
    expect((await fetchWindows(client, [backend], { ...range, end: 1059 })).get('backend')).toEqual([]);
    expect(client.queries).toHaveLength(0);
    await fetchWindows(client, [backend], { ...range, latencyBucketsMs: [] });
    expect(client.queries).toHaveLength(2);
  });

  it('sends one set of queries for many canaries with the same selector, a set per other selector', async () => {
    const client = evaluatingClient([]);
    const others = Array.from({ length: 50 }, (_, i): CanaryTarget => ({ name: `svc${i}`, service: `svc${i}`, namespace: 'prod', selector }));
    const armed = { ...backend, name: 'armed', selector: { ...selector, armLabel: 'destination_version' } };
    await fetchWindows(client, [...others, armed], range);
    expect(client.queries).toHaveLength(8);
    expect(client.queries.filter((q) => q.includes('destination_version')).length).toBe(4);
  });
});
