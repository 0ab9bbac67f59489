// The analysis against a real VictoriaMetrics gives the same windows and the same verdict as
// against a real Prometheus holding the same samples (issue 12: Prometheus-compatible backends).
// The samples are generated once with their timestamps and loaded into both: Prometheus through
// `promtool tsdb create-blocks-from openmetrics`, VictoriaMetrics through /api/v1/import/prometheus.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judge } from '../src/analysis/judge.js';
import { fetchWindows } from '../src/analysis/windows.js';
import { createPrometheusClient } from '../src/analysis/prometheus.js';
import { ENVOY_BUCKETS_MS } from '../src/analysis/settings.js';
import type { CanaryTarget } from '../src/analysis/istio-queries.js';
import type { LatencyCounts, Verdict, Window } from '../src/analysis/types.js';
import { metricsPort } from '../src/promoter/app.js';
import { parsePromoterConfig } from '../src/promoter/config.js';
import { canaryPolicySchema, type CanaryPolicy } from '../src/promoter/policy.js';
import { createLogger } from '../src/logger.js';
import { startPrometheus, type PrometheusProcess } from './support/prometheus.js';
import { startVictoriaMetrics, VICTORIA_METRICS_PROMETHEUS_LOOKBACK, type VictoriaMetricsProcess } from './support/victoria-metrics.js';

const run = promisify(execFile);

const NAMESPACE = 'docuthinker-prod';
const INTERVAL = 60;
const SCRAPE = 15;
const BASELINE_SECONDS = 600;
const WINDOWS = 20;

/** Deterministic pseudo-random numbers (mulberry32), so both backends and every run see the same data. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function policyFor(service: string): CanaryPolicy {
  return canaryPolicySchema.parse({
    apiVersion: 'delivery.docuthinker.io/v1alpha1',
    kind: 'CanaryPolicy',
    metadata: { name: service },
    spec: {
      service,
      namespace: NAMESPACE,
      virtualService: { file: `mesh/${service}-vs.yaml`, name: service, route: 'primary' },
      deployments: { stable: { file: `apps/${service}/stable.yaml`, container: service }, canary: { file: `apps/${service}/canary.yaml`, container: service } },
      argocd: { application: 'docuthinker-mesh' },
      analysis: { interval: `${INTERVAL}s`, baselineSeconds: `${BASELINE_SECONDS}s` },
    },
  });
}

interface Behaviour {
  /** requests per second per pod. */
  rps: number;
  errorRate: number;
  /** median latency in ms (log-normal). */
  medianMs: number;
}

interface Pod {
  service: string;
  arm: 'stable' | 'canary';
  pod: string;
  behaviour: Behaviour;
  /** unix seconds: first and last scrape with samples (a pod that is not yet or no longer there). */
  from: number;
  until: number;
  /** scrape phase within the interval, seconds: pods are not scraped at the same instant. */
  phase: number;
  /** scrapes in [start, end) are missing (a failed scrape, a network partition). */
  gap?: [number, number];
  /** the process restarts here: its counters begin again at 0. */
  restartAt?: number;
}

/** One series' samples, as `[unix seconds, value]`. */
type Samples = [number, number][];

interface Series {
  labels: [string, string][];
  samples: Samples;
}

/** Istio's destination-side label set (the ones the queries select on, plus a few it carries). */
function labels(pod: Pod, code: string): [string, string][] {
  return [
    ['reporter', 'destination'],
    ['source_workload', 'istio-ingressgateway'],
    ['destination_workload', `${pod.service}-${pod.arm}`],
    ['destination_workload_namespace', NAMESPACE],
    ['destination_service_name', pod.service],
    ['destination_service_namespace', NAMESPACE],
    ['destination_canonical_revision', pod.arm],
    ['pod', pod.pod],
    ['request_protocol', 'http'],
    ['response_flags', '-'],
    ['response_code', code],
  ];
}

/** Counters per pod and response code, sampled every scrape, with Envoy's bucket edges. */
function generate(pods: Pod[], seed: number): Series[] {
  const next = random(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const out: Series[] = [];
  for (const pod of pods) {
    const codes = ['200', '503'];
    const counters = codes.map(() => ({ requests: 0, buckets: new Array<number>(ENVOY_BUCKETS_MS.length + 1).fill(0) }));
    const series = codes.map((code) => ({
      requests: { labels: [...labels(pod, code)], samples: [] as Samples },
      buckets: [...ENVOY_BUCKETS_MS.map(String), '+Inf'].map((le) => ({ labels: [...labels(pod, code), ['le', le]] as [string, string][], samples: [] as Samples })),
    }));
    for (let t = pod.from + pod.phase; t <= pod.until; t += SCRAPE) {
      if (pod.restartAt !== undefined && t >= pod.restartAt && t - SCRAPE < pod.restartAt) {
        for (const c of counters) {
          c.requests = 0;
          c.buckets.fill(0);
        }
      }
      const arrivals = Math.max(0, Math.round(pod.behaviour.rps * SCRAPE + normal() * Math.sqrt(pod.behaviour.rps * SCRAPE)));
      for (let r = 0; r < arrivals; r++) {
        const code = next() < pod.behaviour.errorRate ? 1 : 0;
        const ms = pod.behaviour.medianMs * Math.exp(0.6 * normal());
        const edge = ENVOY_BUCKETS_MS.findIndex((e) => ms <= e);
        const c = counters[code]!;
        c.requests++;
        c.buckets[edge < 0 ? ENVOY_BUCKETS_MS.length : edge]! += 1;
      }
      if (pod.gap && t >= pod.gap[0] && t < pod.gap[1]) continue;
      codes.forEach((_, i) => {
        const c = counters[i]!;
        // Envoy creates a series with its first request: no zero-valued 503 series before the first error.
        if (c.requests === 0) return;
        series[i]!.requests.samples.push([t, c.requests]);
        let cumulative = 0;
        series[i]!.buckets.forEach((b, e) => {
          cumulative += c.buckets[e] ?? 0;
          b.samples.push([t, cumulative]);
        });
      });
    }
    for (const s of series) {
      if (s.requests.samples.length === 0) continue;
      out.push({ labels: [['__name__', 'istio_requests_total'], ...s.requests.labels], samples: s.requests.samples });
      for (const b of s.buckets) out.push({ labels: [['__name__', 'istio_request_duration_milliseconds_bucket'], ...b.labels], samples: b.samples });
    }
  }
  return out;
}

function selector(series: Series): string {
  const name = series.labels.find(([k]) => k === '__name__')?.[1] ?? '';
  const rest = series.labels.filter(([k]) => k !== '__name__').map(([k, v]) => `${k}="${v}"`);
  return `${name}{${rest.join(',')}}`;
}

/** OpenMetrics for promtool: timestamps in seconds, one family's lines together, `# EOF` last. */
function openMetrics(series: Series[]): string {
  const lines: string[] = [];
  for (const family of ['istio_requests_total', 'istio_request_duration_milliseconds_bucket']) {
    for (const s of series.filter((x) => x.labels[0]?.[1] === family)) {
      const name = selector(s);
      for (const [t, v] of s.samples) lines.push(`${name} ${v} ${t.toFixed(3)}`);
    }
  }
  lines.push('# EOF', '');
  return lines.join('\n');
}

/** Prometheus text exposition with millisecond timestamps, for VictoriaMetrics' import. */
function exposition(series: Series[]): string {
  const lines: string[] = [];
  for (const s of series) {
    const name = selector(s);
    for (const [t, v] of s.samples) lines.push(`${name} ${v} ${Math.round(t * 1000)}`);
  }
  lines.push('');
  return lines.join('\n');
}

const logger = createLogger({ level: 'silent' });
const backend = policyFor('backend');
const frontend = policyFor('frontend');
const targets: CanaryTarget[] = [backend, frontend].map((p) => ({ name: p.metadata.name, service: p.spec.service, namespace: p.spec.namespace, selector: p.spec.analysis.prometheus }));

// The canary starts on a whole minute, 30 minutes ago; the history runs to 5 minutes ago.
const canaryStart = Math.floor(Date.now() / 1000 / 60) * 60 - 30 * 60;
const historyFrom = canaryStart - BASELINE_SECONDS - 5 * 60;
const end = canaryStart + WINDOWS * INTERVAL + 30;
const healthy: Behaviour = { rps: 6, errorRate: 0.005, medianMs: 40 };
const pods: Pod[] = [
  // backend: stable healthy; the canary returns 8 % 503s, and one canary pod restarts midway.
  { service: 'backend', arm: 'stable', pod: 'backend-stable-a', behaviour: healthy, from: historyFrom, until: end, phase: 0.25 },
  { service: 'backend', arm: 'stable', pod: 'backend-stable-b', behaviour: healthy, from: historyFrom, until: end, phase: 4.5 },
  { service: 'backend', arm: 'canary', pod: 'backend-canary-a', behaviour: { rps: 1, errorRate: 0.08, medianMs: 40 }, from: canaryStart, until: end, phase: 7.125, restartAt: canaryStart + 430 },
  // frontend: a healthy canary, a missed stretch of scrapes, and a stable pod that goes away.
  { service: 'frontend', arm: 'stable', pod: 'frontend-stable-a', behaviour: healthy, from: historyFrom, until: end, phase: 2 },
  { service: 'frontend', arm: 'stable', pod: 'frontend-stable-b', behaviour: healthy, from: historyFrom, until: canaryStart + 900, phase: 11 },
  { service: 'frontend', arm: 'canary', pod: 'frontend-canary-a', behaviour: { ...healthy, rps: 1 }, from: canaryStart, until: end, phase: 9.5, gap: [canaryStart + 600, canaryStart + 700] },
];

let dir: string;
let prometheus: PrometheusProcess;
/** run as the README says: with Prometheus' 5-minute lookback. */
let victoria: VictoriaMetricsProcess;
/** out of the box, to show what the lookback flag changes. */
let victoriaDefault: VictoriaMetricsProcess;
let seriesCount = 0;
let sampleCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vm-vs-prom-'));
  const series = generate(pods, 12);
  seriesCount = series.length;
  sampleCount = series.reduce((n, s) => n + s.samples.length, 0);
  const omFile = join(dir, 'samples.om');
  await writeFile(omFile, openMetrics(series));
  [prometheus, victoria, victoriaDefault] = await Promise.all([
    startPrometheus({ targets: [], logger, readyTimeoutMs: 60_000 }),
    startVictoriaMetrics({ logger, readyTimeoutMs: 60_000, flags: [...VICTORIA_METRICS_PROMETHEUS_LOOKBACK] }),
    startVictoriaMetrics({ logger, readyTimeoutMs: 60_000 }),
  ]);
  // Prometheus loads blocks when it starts: stop it, write the blocks into its TSDB, start it again.
  await prometheus.suspend();
  await run('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', omFile, prometheus.dataDir], { maxBuffer: 16 * 1024 * 1024 });
  await prometheus.resume();
  const text = exposition(series);
  await Promise.all([victoria.importPrometheusText(text), victoriaDefault.importPrometheusText(text)]);
}, 180_000);

afterAll(async () => {
  await Promise.all([prometheus?.stop(), victoria?.stop(), victoriaDefault?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

function port(url: string): ReturnType<typeof metricsPort> {
  // The promoter's own adapter, configured as an operator would (settle 30 s, as the default).
  return metricsPort(parsePromoterConfig({ git: { url: '/nowhere' }, prometheus: { url } }, 'test'), logger);
}

type BaselineForm = 'promoter' | 'raw-counters';

/**
 * Stable's histogram over the baseline span before the start. `promoter`: the promoter's own metrics port
 * (raw counters at both ends of the span, summed per service). `raw-counters`: the same span as one window of raw counters,
 * differenced like every analysis window.
 */
async function baselines(url: string, form: BaselineForm): Promise<Map<string, LatencyCounts>> {
  const requests = targets.map((target) => ({ target, at: canaryStart }));
  if (form === 'promoter') return port(url).baselines!(requests, { seconds: BASELINE_SECONDS, latencyBucketsMs: ENVOY_BUCKETS_MS });
  const client = createPrometheusClient({ baseUrl: url });
  const span = await fetchWindows(client, targets, { start: canaryStart - BASELINE_SECONDS, end: canaryStart, intervalSeconds: BASELINE_SECONDS, latencyBucketsMs: ENVOY_BUCKETS_MS });
  const out = new Map<string, LatencyCounts>();
  for (const [name, [window]] of span) if (window?.stable.latency) out.set(name, window.stable.latency);
  return out;
}

interface Judged {
  windows: Map<string, Window[]>;
  verdicts: Map<string, Verdict>;
}

async function analyse(url: string, form: BaselineForm = 'promoter'): Promise<Judged> {
  const windows = await port(url).windows(targets, { start: canaryStart, end, intervalSeconds: INTERVAL, latencyBucketsMs: ENVOY_BUCKETS_MS });
  const fromBaseline = await baselines(url, form);
  const verdicts = new Map<string, Verdict>();
  for (const policy of [backend, frontend]) {
    const name = policy.metadata.name;
    // Both canaries ran at 5 %, then 10 % from the tenth window on.
    const labelled = (windows.get(name) ?? []).map((w, k) => ({ ...w, canaryWeight: k < 10 ? 5 : 10 }));
    const baseline = fromBaseline.get(name);
    verdicts.set(
      name,
      judge({
        windows: labelled,
        settings: policy.spec.analysis,
        steps: policy.spec.steps,
        latencyBucketsMs: ENVOY_BUCKETS_MS,
        currentWeight: 10,
        stepElapsedSeconds: (WINDOWS - 10) * INTERVAL,
        ...(baseline ? { baseline } : {}),
      }),
    );
  }
  return { windows, verdicts };
}

describe('VictoriaMetrics as the query backend', () => {
  it('gives the same windows as Prometheus, window by window, on the same samples', async () => {
    const [fromPrometheus, fromVictoria] = await Promise.all([analyse(prometheus.url), analyse(victoria.url)]);
    console.log(`loaded ${seriesCount} series, ${sampleCount} samples into each backend`);
    for (const target of targets) {
      const p = fromPrometheus.windows.get(target.name) ?? [];
      expect(p).toHaveLength(WINDOWS);
      // Integer counts from raw counters (no rate/increase): equal, not approximately.
      expect(fromVictoria.windows.get(target.name)).toEqual(p);
      console.log(`${target.name}: ${WINDOWS} windows equal; canary requests ${p.reduce((n, w) => n + w.canary.requests, 0)}, 5xx ${p.reduce((n, w) => n + w.canary.errors, 0)}`);
    }
  }, 120_000);

  it('gives the same verdicts and baselines, exactly: the baseline is raw counters differenced, as the windows are', async () => {
    const [p, v] = await Promise.all([analyse(prometheus.url), analyse(victoria.url)]);
    // The data itself: the bad canary is rolled back, the healthy one is not.
    expect(p.verdicts.get('backend')?.decision).toBe('rollback');
    expect(p.verdicts.get('frontend')?.decision).not.toBe('rollback');
    // The promoter's own baselines (no increase(): it extrapolates in Prometheus and not in
    // VictoriaMetrics, so the counts differed by up to 1 %) equal the one-window raw-counter read.
    const [pBase, vBase] = await Promise.all([baselines(prometheus.url, 'promoter'), baselines(victoria.url, 'promoter')]);
    const [pRawBase, vRawBase] = await Promise.all([baselines(prometheus.url, 'raw-counters'), baselines(victoria.url, 'raw-counters')]);
    expect(vRawBase).toEqual(pRawBase);
    expect(pBase).toEqual(pRawBase);
    expect(vBase).toEqual(pBase);
    for (const target of targets) {
      expect(pBase.get(target.name)?.count).toBeGreaterThan(0);
      expect(v.verdicts.get(target.name)).toEqual(p.verdicts.get(target.name));
      console.log(`${target.name}: baseline count ${pBase.get(target.name)?.count} from both; verdict ${p.verdicts.get(target.name)?.decision}, equal in every field`);
    }
  }, 120_000);

  it('without the 5-minute lookback, VictoriaMetrics reads a few missed scrapes as no data where Prometheus reads no requests', async () => {
    const [p, v] = await Promise.all([analyse(prometheus.url), analyse(victoriaDefault.url)]);
    const differing = (p.windows.get('frontend') ?? []).flatMap((w, k) => {
      const other = v.windows.get('frontend')?.[k];
      return JSON.stringify(other) === JSON.stringify(w) ? [] : [{ k, prometheus: w.canary.noData === true, victoria: other?.canary.noData === true }];
    });
    // The frontend canary's pod missed its scrapes from 600 s to 700 s after the start: the window
    // ending in that gap. Only noData differs; every count is the same.
    expect(differing.length).toBeGreaterThan(0);
    for (const d of differing) {
      expect(d).toEqual({ k: d.k, prometheus: false, victoria: true });
      expect(d.k * INTERVAL).toBeGreaterThanOrEqual(600 - INTERVAL);
      expect(d.k * INTERVAL).toBeLessThan(700);
      const strip = (w: Window | undefined) => (w ? { ...w, canary: { ...w.canary, noData: undefined } } : w);
      expect(strip(v.windows.get('frontend')?.[d.k])).toEqual(strip(p.windows.get('frontend')?.[d.k]));
    }
    expect(v.windows.get('backend')).toEqual(p.windows.get('backend'));
    console.log(`default VictoriaMetrics: windows ${differing.map((d) => d.k).join(', ')} of frontend read as no data (Prometheus: observed, 0 requests)`);
  }, 120_000);

  it('custom checks: rate() differs by extrapolation; differences of raw counters agree exactly', async () => {
    const errors = `istio_requests_total{destination_service_name="backend",destination_canonical_revision="canary",response_code=~"5.."}`;
    const all = `istio_requests_total{destination_service_name="backend",destination_canonical_revision="canary"}`;
    const forms: Record<string, string> = {
      'rate ratio': `sum(rate(${errors}[5m])) / sum(rate(${all}[5m]))`,
      'increase of 5xx': `sum(increase(${errors}[5m]))`,
      'raw difference of 5xx': `sum(${errors} - ${errors} offset 5m)`,
      'raw difference ratio': `sum(${errors} - ${errors} offset 5m) / sum(${all} - ${all} offset 5m)`,
    };
    // A grid point 20 minutes in, with no counter reset in the 5 minutes before it.
    const at = canaryStart + 1200;
    const value = async (url: string, query: string): Promise<number> => (await createPrometheusClient({ baseUrl: url }).instant(query, { time: at }))[0]?.value ?? Number.NaN;
    const figures: Record<string, [number, number]> = {};
    for (const [name, query] of Object.entries(forms)) figures[name] = [await value(prometheus.url, query), await value(victoria.url, query)];
    console.log(Object.entries(figures).map(([name, [p, v]]) => `${name}: prometheus ${p.toFixed(6)}, victoria-metrics ${v.toFixed(6)}`).join('\n'));
    for (const [p, v] of Object.values(figures)) expect(Number.isFinite(p) && Number.isFinite(v)).toBe(true);
    expect(figures['raw difference of 5xx']?.[1]).toBe(figures['raw difference of 5xx']?.[0]);
    expect(figures['raw difference ratio']?.[1]).toBe(figures['raw difference ratio']?.[0]);
    // VictoriaMetrics' increase() is the raw difference (it counts from the sample before the range);
    // Prometheus extrapolates the samples inside the range to its edges.
    expect(figures['increase of 5xx']?.[1]).toBe(figures['raw difference of 5xx']?.[0]);
    expect(figures['increase of 5xx']?.[0]).not.toBe(figures['raw difference of 5xx']?.[0]);
  }, 60_000);

  it('speaks the query API the client expects (a raw counter read at a time agrees exactly)', async () => {
    const query = 'sum by (destination_service_name) (istio_requests_total)';
    const at = canaryStart + 300.5;
    const [p, v] = await Promise.all([
      createPrometheusClient({ baseUrl: prometheus.url }).instant(query, { time: at }),
      createPrometheusClient({ baseUrl: victoria.url }).instant(query, { time: at }),
    ]);
    const byService = (samples: typeof p): Record<string, number> => Object.fromEntries(samples.map((s) => [s.labels.destination_service_name ?? '', s.value]));
    expect(byService(v)).toEqual(byService(p));
  }, 60_000);
});
