// Integration: against a real Prometheus scraping a loopback exporter (several pods per arm,
// response codes, Envoy buckets, a pod restart, a series born late, NaN, +Inf, a vanishing, a
// returning, a reset-after-NaN and a flat canary), the summed read of every canary at once gives
// exactly the windows the per-series reader gives for each canary alone, and reads raw series
// only for the canaries whose sums are not provably exact.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanaryTarget } from '../src/analysis/istio-queries.js';
import { createPrometheusClient, type PrometheusClient } from '../src/analysis/prometheus.js';
import { prometheusSelectorSchema } from '../src/analysis/settings.js';
import type { Window } from '../src/analysis/types.js';
import { fetchBaselines } from '../src/analysis/baseline.js';
import { fetchWindows, fetchWindowsPerSeries, type WindowRange } from '../src/analysis/windows.js';
import { startPrometheus, type PrometheusProcess } from './support/prometheus.js';

const EDGES = [25, 100, 500];

/** The counter of one series at scrape n; undefined leaves it out of that scrape. */
type Value = (n: number) => number | undefined;
interface Series {
  service: string;
  arm: 'stable' | 'canary';
  pod: string;
  code: string;
  value: Value;
}

const steady = (rate: number): Value => (n) => rate * (n + 1);
const healthy = (service: string): Series[] =>
  (['stable', 'canary'] as const).flatMap((arm) =>
    ['p1', 'p2'].flatMap((pod) => [
      { service, arm, pod, code: '200', value: steady(arm === 'stable' ? 9 : 2) },
      { service, arm, pod, code: '503', value: (n: number) => Math.floor((n + 1) / 3) },
    ]),
  );
const stableOnly = (service: string): Series[] => healthy(service).filter((s) => s.arm === 'stable');
const canary = (service: string, value: Value, code = '200'): Series => ({ service, arm: 'canary', pod: 'p1', code, value });

const SERIES: Series[] = [
  ...healthy('alpha'),
  ...healthy('beta'),
  // canary pod p2 restarts at scrape 5: its counters start from zero again
  ...healthy('restart').map((s) => (s.arm === 'canary' && s.pod === 'p2' ? { ...s, value: (n: number) => (n < 5 ? s.value(n) : s.value(n - 5)) } : s)),
  // a stable pod restarts at scrape 5 (the baselines' case)
  ...healthy('reboot').map((s) => (s.arm === 'stable' && s.pod === 'p1' ? { ...s, value: (n: number) => (n < 5 ? s.value(n) : s.value(n - 5)) } : s)),
  // a 504 series appears at scrape 4, counted in full in the window it was born in
  ...healthy('born'),
  canary('born', (n) => (n < 4 ? undefined : n - 3), '504'),
  ...stableOnly('nan'),
  canary('nan', (n) => (n < 4 ? 3 * n : Number.NaN)),
  ...stableOnly('inf'),
  canary('inf', () => Number.POSITIVE_INFINITY),
  ...stableOnly('vanishes'),
  canary('vanishes', (n) => (n < 4 ? 3 * n : undefined)),
  // a pod missing from scrapes 4 and 5 (a staleness marker), then back where it was
  ...stableOnly('gap'),
  canary('gap', (n) => (n === 4 || n === 5 ? undefined : 4 * n)),
  // NaN once, then a restarted (lower) counter
  ...stableOnly('dip'),
  canary('dip', (n) => (n < 4 ? 5 * n + 5 : n === 4 ? Number.NaN : n - 4)),
  ...stableOnly('silent'),
  canary('silent', () => 7),
  ...stableOnly('missing'),
];
const SERVICES = [...new Set(SERIES.map((s) => s.service))];

function format(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  return String(value);
}

/** Istio's request counter and duration histogram for every series at scrape n. */
function exposition(n: number): string {
  const requests = ['# TYPE istio_requests_total counter'];
  const buckets = ['# TYPE istio_request_duration_milliseconds histogram'];
  for (const s of SERIES) {
    const value = s.value(n);
    if (value === undefined) continue;
    const labels = [
      'reporter="destination"',
      'source_workload="istio-ingressgateway"',
      `destination_workload="${s.service}-${s.arm}"`,
      `destination_service_name="${s.service}"`,
      'destination_workload_namespace="prod"',
      `destination_canonical_revision="${s.arm}"`,
      'request_protocol="http"',
      'response_flags="-"',
      `response_code="${s.code}"`,
      `pod="${s.service}-${s.arm}-${s.pod}"`,
    ].join(',');
    requests.push(`istio_requests_total{${labels}} ${format(value)}`);
    const finite = Number.isFinite(value);
    EDGES.forEach((edge, i) => {
      const within = finite ? Math.floor((value * (i + 1)) / (EDGES.length + 1)) : value;
      buckets.push(`istio_request_duration_milliseconds_bucket{${labels},le="${edge}"} ${format(within)}`);
    });
    buckets.push(`istio_request_duration_milliseconds_bucket{${labels},le="+Inf"} ${format(value)}`);
    buckets.push(`istio_request_duration_milliseconds_count{${labels}} ${format(value)}`);
    buckets.push(`istio_request_duration_milliseconds_sum{${labels}} ${format(finite ? value * 40 : value)}`);
  }
  return `${[...requests, ...buckets].join('\n')}\n`;
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const selector = prometheusSelectorSchema.parse({});
const targets: CanaryTarget[] = SERVICES.map((service) => ({ name: service, service, namespace: 'prod', selector }));

describe('summed windows against a real Prometheus', () => {
  let server: Server;
  let scrapes = 0;
  let prometheus: PrometheusProcess;
  let client: PrometheusClient;
  let range: WindowRange;

  beforeAll(async () => {
    server = createServer((request, response) => {
      request.resume();
      const body = exposition(scrapes++);
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      response.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${(server.address() as AddressInfo).port}`], scrapeIntervalSeconds: 1 });
    client = createPrometheusClient({ baseUrl: prometheus.url, timeoutMs: 5_000 });
    // Bounded wait for the first scrape; the range starts before it, so every series is born inside it.
    const start = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 100 && scrapes === 0; i++) await delay(100);
    await delay(10_000);
    range = { start, end: Math.floor(Date.now() / 1000), intervalSeconds: 1, latencyBucketsMs: EDGES, settleSeconds: 2 };
    await delay(2_500); // every sample up to the range's end is stored before either reader asks
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('gives every canary the windows the per-series reader gives it alone', async () => {
    const asked: string[] = [];
    const recording: PrometheusClient = { ...client, range: (query, ...rest) => (asked.push(query), client.range(query, ...rest)) };
    const batched = await fetchWindows(recording, targets, range);
    const perCanary = new Map<string, Window[]>();
    for (const target of targets) perCanary.set(target.name, (await fetchWindowsPerSeries(client, [target], range)).get(target.name)!);
    expect(perCanary.get('alpha')!.length).toBeGreaterThanOrEqual(6);
    for (const target of targets) expect(batched.get(target.name), target.name).toEqual(perCanary.get(target.name));

    // and the cases are what they claim to be
    const canaryOf = (name: string) => batched.get(name)!.map((w) => w.canary);
    // 1 s windows under a loaded machine may miss a scrape: counts, not every window, are the check
    expect(canaryOf('alpha').reduce((sum, c) => sum + c.requests, 0)).toBeGreaterThan(0);
    expect(canaryOf('alpha').at(-1)?.noData).toBeUndefined();
    expect(canaryOf('born').reduce((sum, c) => sum + c.errors, 0)).toBeGreaterThan(canaryOf('alpha').reduce((sum, c) => sum + c.errors, 0));
    for (const name of ['nan', 'vanishes', 'inf', 'missing']) expect(canaryOf(name).at(-1)?.noData, name).toBe(true);
    // flat from its first sample on (born inside the range, so its first value counts once)
    const silent = canaryOf('silent').filter((c) => c.noData !== true);
    expect(silent.length).toBeGreaterThan(3);
    expect(silent.slice(1).every((c) => c.requests === 0)).toBe(true);
    for (const w of batched.get('alpha')!) expect(w.stable.latency?.count).toBe(w.stable.requests);
    // the healthy canaries came from the sums alone; the odd ones (and only they) were read per series
    const perSeries = asked.filter((q) => !/^(sum|count) by/.test(q));
    expect(perSeries).toHaveLength(2);
    for (const name of ['alpha', 'beta', 'born', 'silent', 'missing']) expect(perSeries.some((q) => new RegExp(`[="|]${name}[|"]`).test(q)), name).toBe(false);
    for (const name of ['restart', 'reboot', 'nan', 'inf', 'vanishes', 'gap', 'dip']) expect(perSeries.every((q) => new RegExp(`[="|]${name}[|"]`).test(q)), name).toBe(true);
  });

  it('gives the same windows whether a canary is read with the others or alone', async () => {
    const batched = await fetchWindows(client, targets, range);
    for (const target of targets) {
      expect((await fetchWindows(client, [target], range)).get(target.name), target.name).toEqual(batched.get(target.name));
    }
  });

  it('reads the baselines of canaries started at different times in two queries, equal to the per-series span', async () => {
    const asked: string[] = [];
    const recording: PrometheusClient = { ...client, instant: (query, ...rest) => (asked.push(query), client.instant(query, ...rest)), range: (query, ...rest) => (asked.push(query), client.range(query, ...rest)) };
    const seconds = 4;
    const starts = [range.end - 2, range.end - 3, range.end - 4];
    const requests = targets.map((target, i) => ({ target, at: starts[i % starts.length]! }));
    const batched = await fetchBaselines(recording, requests, { seconds, latencyBucketsMs: EDGES });
    // two instant queries for every start; then per series only for the canary whose stable pod restarted
    expect(asked.filter((q) => !q.startsWith('istio_'))).toHaveLength(2);
    expect(asked.filter((q) => q.startsWith('istio_')).every((q) => q.includes('"reboot"'))).toBe(true);
    for (const { target, at } of requests) {
      const reference = (await fetchWindowsPerSeries(client, [target], { start: at - seconds, end: at, intervalSeconds: seconds, latencyBucketsMs: EDGES })).get(target.name)?.[0]?.stable.latency;
      expect(batched.get(target.name), target.name).toEqual(reference && reference.count > 0 ? reference : undefined);
    }
    expect(batched.get('alpha')?.count).toBeGreaterThan(0);
  });
});
