// Window counts: counter differencing with resets, births and gaps (table), and the batched fetch
// over an in-memory PrometheusClient that answers range queries from recorded series.
import { describe, expect, it } from 'vitest';
import type { CanaryTarget } from './istio-queries.js';
import type { InstantSample, PrometheusClient, RangeSeries } from './prometheus.js';
import { prometheusSelectorSchema } from './settings.js';
import { countsPerWindow, fetchWindowsPerSeries, windowGrid } from './windows.js';

function series(points: [number, number][]): RangeSeries {
  return { labels: {}, points: points.map(([time, value]) => ({ time, value })) };
}

describe('windowGrid', () => {
  it.each([
    [{ start: 100, end: 100, intervalSeconds: 60 }, []],
    [{ start: 100, end: 159, intervalSeconds: 60 }, []],
    [{ start: 100, end: 160, intervalSeconds: 60 }, [100, 160]],
    [{ start: 100, end: 279, intervalSeconds: 60 }, [100, 160, 220]],
    [{ start: 0, end: 0.3, intervalSeconds: 0.1 }, [0, 0.1, 0.2, 0.30000000000000004]],
    [{ start: 100, end: 235, intervalSeconds: 60, settleSeconds: 10 }, [100, 160, 220]],
    [{ start: 100, end: 235, intervalSeconds: 60, settleSeconds: 16 }, [100, 160]],
  ])('%j -> only complete windows', (range, grid) => {
    expect(windowGrid(range)).toEqual(grid);
  });
});

describe('countsPerWindow', () => {
  const grid = [0, 60, 120, 180];
  it.each<[string, [number, number][], number[]]>([
    ['steady growth', [[0, 10], [60, 15], [120, 25], [180, 25]], [5, 10, 0]],
    ['born inside the first window counts from zero', [[60, 4], [120, 9], [180, 9]], [4, 5, 0]],
    ['born inside a later window', [[180, 7]], [0, 0, 7]],
    ['a reset counts from zero', [[0, 100], [60, 130], [120, 20], [180, 50]], [30, 20, 30]],
    ['a gap differences against the last value seen', [[0, 10], [60, 20], [180, 50]], [10, 0, 30]],
    ['a gap then a reset', [[0, 10], [60, 20], [180, 5]], [10, 0, 5]],
    ['raw samples between grid points catch a reset that grows past the old value', [[0, 10], [30, 40], [45, 2], [60, 60]], [90, 0, 0]],
    ['NaN samples are skipped', [[0, 10], [60, Number.NaN], [120, 30]], [0, 20, 0]],
    ['float noise is rounded to integers', [[0, 0.1], [60, 5.1], [120, 9.1]], [5, 4, 0]],
    ['no samples', [], [0, 0, 0]],
    ['samples before the first grid point set the baseline only', [[-30, 3], [-10, 8], [60, 12]], [4, 0, 0]],
  ])('%s', (_name, points, expected) => {
    const counts = countsPerWindow(series(points), grid);
    expect(counts).toEqual(expected);
    for (const c of counts) expect(Number.isInteger(c) && c >= 0).toBe(true);
  });

  it('treats a sample exactly on a grid point as inside the window that ends there', () => {
    expect(countsPerWindow(series([[0, 0], [60, 6], [60.001, 7]]), [0, 60, 120])).toEqual([6, 1]);
  });
});

/** Answers range queries from fixed series and records what was asked. */
function recordedClient(answer: (query: string) => RangeSeries[]): PrometheusClient & { queries: { query: string; start: number; end: number; step: number }[] } {
  const queries: { query: string; start: number; end: number; step: number }[] = [];
  return {
    queries,
    instant: (): Promise<InstantSample[]> => Promise.resolve([]),
    range: (query, start, end, step) => {
      queries.push({ query, start, end, step });
      return Promise.resolve(
        answer(query).map((s) => ({ labels: s.labels, points: s.points.filter((p) => p.time >= start && p.time <= end) })),
      );
    },
    ready: () => Promise.resolve(true),
  };
}

const selector = prometheusSelectorSchema.parse({});
const backend: CanaryTarget = { name: 'backend', service: 'backend', namespace: 'prod', selector };
const frontend: CanaryTarget = { name: 'frontend', service: 'frontend', namespace: 'prod', selector };

function istio(service: string, arm: string, extra: Record<string, string>, values: number[]): RangeSeries {
  return {
    labels: {
      reporter: 'destination',
      destination_service_name: service,
      destination_workload_namespace: 'prod',
      destination_canonical_revision: arm,
      instance: '10.0.0.1:15020',
      ...extra,
    },
    points: values.map((value, k) => ({ time: 1000 + k * 60, value })),
  };
}

describe('fetchWindowsPerSeries (the reference and the fallback)', () => {
  const requests = [
    istio('backend', 'stable', { response_code: '200' }, [100, 190, 280, 370]),
    istio('backend', 'stable', { response_code: '503' }, [1, 2, 2, 3]),
    istio('backend', 'canary', { response_code: '200' }, [0, 10, 3, 13]), // reset in window 1
    istio('frontend', 'stable', { response_code: '200' }, [5, 6, 7, 8]),
    istio('frontend', 'latest', { response_code: '200' }, [5, 50, 500, 5000]), // neither arm
  ];
  const buckets = [
    istio('backend', 'stable', { response_code: '200', le: '500' }, [100, 185, 270, 355]),
    istio('backend', 'stable', { response_code: '200', le: '+Inf' }, [100, 190, 280, 370]),
    istio('backend', 'canary', { response_code: '200', le: '500.0' }, [0, 8, 3, 13]),
    istio('backend', 'canary', { response_code: '200', le: '+Inf' }, [0, 10, 3, 13]),
    istio('backend', 'canary', { response_code: '200', le: '1000' }, [0, 99, 99, 99]), // edge not asked for
  ];
  const client = recordedClient((q) => (q.startsWith('istio_requests_total') ? requests : buckets));

  it('returns complete integer windows per canary from one query per metric', async () => {
    const result = await fetchWindowsPerSeries(client, [backend, frontend], { start: 1000, end: 1200, intervalSeconds: 60, latencyBucketsMs: [500] });
    expect(client.queries).toHaveLength(2);
    expect(client.queries[0]).toMatchObject({ start: 1000, end: 1180, step: 60 });
    expect(result.get('backend')).toEqual([
      { t: 0, canaryWeight: 0, stable: { requests: 91, errors: 1, latency: { le: [85], count: 90 } }, canary: { requests: 10, errors: 0, latency: { le: [8], count: 10 } } },
      { t: 60, canaryWeight: 0, stable: { requests: 90, errors: 0, latency: { le: [85], count: 90 } }, canary: { requests: 3, errors: 0, latency: { le: [3], count: 3 } } },
      { t: 120, canaryWeight: 0, stable: { requests: 91, errors: 1, latency: { le: [85], count: 90 } }, canary: { requests: 10, errors: 0, latency: { le: [10], count: 10 } } },
    ]);
    expect(result.get('frontend')?.map((w) => [w.stable.requests, w.canary.requests])).toEqual([
      [1, 0],
      [1, 0],
      [1, 0],
    ]);
  });

  it('gives every canary an empty list before the first window completes', async () => {
    const result = await fetchWindowsPerSeries(client, [backend], { start: 1000, end: 1059, intervalSeconds: 60, latencyBucketsMs: [500] });
    expect(result.get('backend')).toEqual([]);
  });

  it('skips the latency query when no edges are asked for', async () => {
    const local = recordedClient(() => requests);
    const result = await fetchWindowsPerSeries(local, [backend], { start: 1000, end: 1060, intervalSeconds: 60, latencyBucketsMs: [] });
    expect(local.queries).toHaveLength(1);
    expect(result.get('backend')?.[0]?.stable.latency).toBeUndefined();
  });

  it('splits long histories into range queries Prometheus accepts', async () => {
    const long = { ...istio('backend', 'stable', { response_code: '200' }, []), points: Array.from({ length: 25_001 }, (_, k) => ({ time: k, value: k })) };
    const local = recordedClient(() => [long]);
    const result = await fetchWindowsPerSeries(local, [backend], { start: 0, end: 25_000, intervalSeconds: 1, latencyBucketsMs: [] });
    expect(local.queries.map((q) => [q.start, q.end])).toEqual([
      [0, 9999],
      [9999, 19998],
      [19998, 25000],
    ]);
    const windows = result.get('backend')!;
    expect(windows).toHaveLength(25_000);
    expect(windows.every((w) => w.stable.requests === 1)).toBe(true);
  });
});
