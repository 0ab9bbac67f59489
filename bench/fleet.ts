// The metrics side of "1000 canaries per tick": a real Prometheus loaded (promtool backfill) with
// Istio series for N canaries, one full dry-run tick over all of them, beside a Flagger-style
// per-canary baseline in the same run. Prints figures; asserts nothing. See bench/README.md.
//   npm run bench:fleet                      # N = 10, 100, 1000 and 1000 policies with 50 progressing
//   node dist/bench/fleet.js --sizes 10,100 --rounds 5 --windows 10 [--no-idle] [--profile DIR]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { CanaryTarget } from '../src/analysis/istio-queries.js';
import { createPrometheusClient } from '../src/analysis/prometheus.js';
import { edgesToRead, unionOfEdges } from '../src/analysis/read-edges.js';
import { analysisSchema, ENVOY_BUCKETS_MS } from '../src/analysis/settings.js';
import { silentLogger } from '../src/logger.js';
import { createPromoter, metricsPort } from '../src/promoter/app.js';
import type { MetricsPort } from '../src/promoter/ports.js';
import { parsePromoterConfig } from '../src/promoter/config.js';
import { repoRoot } from '../src/schemas/registry.js';
import { startFakeArgoCd } from '../test/support/fake-argocd.js';
import { cleanGitEnv, commitToRemote, createSeededRemote } from '../test/support/git-remote.js';
import { startPrometheus } from '../test/support/prometheus.js';
import { Rng } from './random.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,1000' },
    rounds: { type: 'string', default: '5' },
    windows: { type: 'string', default: '10' },
    'no-idle': { type: 'boolean', default: false },
    /** skip the full dry-run tick (Git included); time the metrics side alone. */
    'metrics-only': { type: 'boolean', default: false },
    /** where generated TSDB blocks are kept between runs (the N = 1000 backfill takes minutes). */
    cache: { type: 'string', default: join(tmpdir(), 'fleet-bench-blocks') },
    /** write a V8 CPU profile of the promoter child at the largest N into this directory. */
    profile: { type: 'string' },
    child: { type: 'string' },
    spec: { type: 'string' },
  },
});

const INTERVAL = 60;
const NAMESPACE = 'docuthinker-prod';
const TEMPLATE = {
  policy: 'gitops/apps/backend/canary.yaml',
  vs: 'gitops/istio/traffic-management/virtualservices/backend.yaml',
  stable: 'gitops/apps/backend/base/deployment-stable.yaml',
  canary: 'gitops/apps/backend/base/deployment-canary.yaml',
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** What a child process measures and prints as one JSON line. */
interface ChildResult {
  /** Prometheus HTTP API requests per tick (median), and in the first (cold) tick. */
  queries: number;
  coldQueries: number;
  /** ms, median over the rounds, and the first (cold) tick. */
  wallMs: number;
  coldWallMs: number;
  /** ms of wall time with at least one Prometheus request in flight (median). */
  promMs: number;
  /** ms of wall time inside the MetricsPort (queries, parsing, splitting), median. */
  metricsMs: number;
  /** CPU ms (user + system) of this process per tick, median. */
  cpuMs: number;
  /** the child's peak resident set, MB (whole process life, cold tick included). */
  peakRssMb: number;
  judged: number;
  /** git processes one warm dry-run tick spawns (promoter only; counted in a tick of its own). */
  gitProcesses?: number;
}

interface ChildSpec {
  remoteDir: string;
  workdir: string;
  prometheusUrl: string;
  kubeConfigYaml: string;
  /** unix seconds the promoter's clock reads. */
  now: number;
  rounds: number;
  canaries: { service: string }[];
  /** unix seconds: when the canaries started (the first window's start). */
  t0: number;
  profileDir?: string;
}

// ---------------------------------------------------------------- the series

/** Istio's label set for one destination-reported series of `service`'s `arm` workload. */
function istioLabels(service: string, arm: string, code: string): string {
  const workload = `${service}-${arm}`;
  const labels: [string, string][] = [
    ['reporter', 'destination'],
    ['source_workload', 'istio-ingressgateway'],
    ['source_workload_namespace', 'istio-system'],
    ['source_principal', 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account'],
    ['source_app', 'istio-ingressgateway'],
    ['source_version', 'unknown'],
    ['source_canonical_service', 'istio-ingressgateway'],
    ['source_canonical_revision', 'latest'],
    ['source_cluster', 'Kubernetes'],
    ['destination_workload', workload],
    ['destination_workload_namespace', NAMESPACE],
    ['destination_principal', `spiffe://cluster.local/ns/${NAMESPACE}/sa/${service}`],
    ['destination_app', service],
    ['destination_version', arm],
    ['destination_service', `${service}.${NAMESPACE}.svc.cluster.local`],
    ['destination_service_name', service],
    ['destination_service_namespace', NAMESPACE],
    ['destination_canonical_service', service],
    ['destination_canonical_revision', arm],
    ['destination_cluster', 'Kubernetes'],
    ['request_protocol', 'http'],
    ['response_flags', '-'],
    ['connection_security_policy', 'mutual_tls'],
    ['response_code', code],
    ['grpc_response_status', ''],
    // what the scrape adds (kubernetes-pods job)
    ['job', 'kubernetes-pods'],
    ['namespace', NAMESPACE],
    ['pod', `${workload}-7c9d8f6b5-x2k4p`],
    ['instance', `10.${arm === 'stable' ? 1 : 2}.${service.length}.${service.charCodeAt(service.length - 1)}:15020`],
  ];
  return labels.map(([k, v]) => `${k}="${v}"`).join(',');
}

/** Share of requests at or below each Envoy edge: log-normal, median 60 ms, sigma 0.9. */
function latencyShares(medianMs: number): number[] {
  const erf = (x: number): number => {
    // Abramowitz-Stegun 7.1.26, plenty for a synthetic histogram
    const t = 1 / (1 + 0.3275911 * Math.abs(x));
    const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
    return x >= 0 ? y : -y;
  };
  return ENVOY_BUCKETS_MS.map((edge) => 0.5 * (1 + erf(Math.log(edge / medianMs) / (0.9 * Math.SQRT2))));
}

/**
 * OpenMetrics for `services`: the stable workload alone over the baseline hour (a sample every
 * 10 min), then both arms, scraped every interval for `windows` windows. Returns the canary start.
 */
async function writeOpenMetrics(file: string, services: { service: string; progressing: boolean }[], t0: number, windows: number): Promise<void> {
  const baselineTimes = Array.from({ length: 6 }, (_, k) => t0 - 3600 + 30 + k * 600);
  const windowTimes = Array.from({ length: windows + 1 }, (_, k) => t0 + k * INTERVAL);
  const shares = latencyShares(60);
  const rng = new Rng(12);
  interface Series {
    labels: string;
    /** requests per interval of this series at each time, cumulative (per bucket index, then +Inf). */
    times: number[];
    counts: number[][];
  }
  const requests: Series[] = [];
  const buckets: Series[] = [];
  for (const { service, progressing } of services) {
    for (const arm of progressing ? ['stable', 'canary'] : ['stable']) {
      const times = arm === 'stable' ? [...baselineTimes, ...windowTimes] : windowTimes;
      for (const code of ['200', '503']) {
        const base = istioLabels(service, arm, code);
        const totals: number[] = [];
        const le: number[][] = ENVOY_BUCKETS_MS.map(() => []);
        let total = 0;
        let previous = times[0]! - INTERVAL;
        const within = ENVOY_BUCKETS_MS.map(() => 0);
        for (const time of times) {
          const rps = (arm === 'stable' ? 45 : 5) * (code === '200' ? 0.995 : 0.005);
          const n = rng.poisson(rps * (time - previous));
          previous = time;
          total += n;
          // each request lands in one bucket; cumulative counts per edge
          let left = n;
          let below = 0;
          shares.forEach((share, i) => {
            const wanted = Math.round(n * share);
            const add = Math.min(left, Math.max(0, wanted - below));
            below += add;
            left -= add;
            within[i] = (within[i] ?? 0) + below;
          });
          totals.push(total);
          within.forEach((w, i) => le[i]!.push(w));
        }
        requests.push({ labels: base, times, counts: [totals] });
        buckets.push({ labels: base, times, counts: [...le, totals] });
      }
    }
  }
  const out = createWriteStream(file);
  let chunk = '';
  const flush = async (force = false): Promise<void> => {
    if (chunk.length < 1 << 20 && !force) return;
    if (!out.write(chunk)) await once(out, 'drain');
    chunk = '';
  };
  chunk += '# TYPE istio_requests counter\n';
  for (const s of requests) {
    for (let k = 0; k < s.times.length; k++) chunk += `istio_requests_total{${s.labels}} ${s.counts[0]![k]} ${s.times[k]}\n`;
    await flush();
  }
  chunk += '# TYPE istio_request_duration_milliseconds histogram\n';
  const les = [...ENVOY_BUCKETS_MS.map(String), '+Inf'];
  for (const s of buckets) {
    for (let k = 0; k < s.times.length; k++) {
      les.forEach((le, i) => {
        chunk += `istio_request_duration_milliseconds_bucket{${s.labels},le="${le}"} ${s.counts[i]![k]} ${s.times[k]}\n`;
      });
    }
    await flush();
  }
  chunk += '# EOF\n';
  await flush(true);
  out.end();
  await once(out, 'finish');
}

async function run(command: string, args: string[]): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${output.slice(-2000)}`);
  return output;
}

/**
 * TSDB blocks for N canaries, from the cache when a run within the retention made them (the data
 * is seeded, so the same N and windows give the same series), else generated and backfilled.
 */
async function cachedBlocks(n: number, windows: number, services: { service: string; progressing: boolean }[]): Promise<{ blocks: string; end: number }> {
  const dir = join(values.cache ?? join(tmpdir(), 'fleet-bench-blocks'), `n${n}-w${windows}-v1`);
  const meta = join(dir, 'meta.json');
  try {
    const { end } = JSON.parse(await readFile(meta, 'utf8')) as { end: number };
    // Prometheus keeps 1 d (startPrometheus): reuse blocks well inside it.
    if (Date.now() / 1000 - end < 18 * 3600) return { blocks: join(dir, 'blocks'), end };
  } catch {
    // not cached yet
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // Old enough that the TSDB head (now) never overlaps the backfilled blocks.
  const end = Math.floor(Date.now() / 1000 / 3600) * 3600 - 3 * 3600;
  const om = join(dir, 'istio.om');
  let started = performance.now();
  await writeOpenMetrics(om, services, end - windows * INTERVAL, windows);
  console.error(`fleet: N=${n}: OpenMetrics written in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  started = performance.now();
  await run('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', om, join(dir, 'blocks')]);
  console.error(`fleet: N=${n}: promtool backfill in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  await rm(om);
  await writeFile(meta, JSON.stringify({ end }));
  return { blocks: join(dir, 'blocks'), end };
}

// ---------------------------------------------------------------- the GitOps tree

/** N copies of the backend canary (svc1..svcN); the progressing ones at 10 %, started at t0. */
async function writeTree(root: string, services: { service: string; progressing: boolean }[], t0: number): Promise<void> {
  const source = repoRoot();
  const template = Object.fromEntries(
    await Promise.all(Object.entries(TEMPLATE).map(async ([k, p]) => [k, await readFile(join(source, p), 'utf8')] as const)),
  ) as Record<keyof typeof TEMPLATE, string>;
  const iso = (t: number): string => new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  for (const { service, progressing } of services) {
    const rename = (text: string): string => text.replaceAll('backend', service);
    let vs = rename(template.vs);
    let canary = rename(template.canary);
    if (progressing) {
      vs = vs
        .replace(/weight: 100\b/, 'weight: 90')
        .replace(/weight: 0\b/, 'weight: 10')
        .replace(
          /metadata:\n/,
          `metadata:\n  annotations:\n    delivery.docuthinker.io/canary-started-at: "${iso(t0)}"\n    delivery.docuthinker.io/step-started-at: "${iso(t0 + 300)}"\n`,
        );
      canary = canary.replace(/(image: \S+:)\S+/, '$19.9.9');
    }
    const files: Record<string, string> = {
      [TEMPLATE.policy.replaceAll('backend', service)]: rename(template.policy),
      [TEMPLATE.vs.replaceAll('backend', service)]: vs,
      [TEMPLATE.stable.replaceAll('backend', service)]: rename(template.stable),
      [TEMPLATE.canary.replaceAll('backend', service)]: canary,
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    }
  }
}

// ---------------------------------------------------------------- the children

/** Counts Prometheus API requests and the wall time during which one was in flight. */
function countingFetch(): { fetch: typeof fetch; reset(): { queries: number; busyMs: number } } {
  let queries = 0;
  let inFlight = 0;
  let busySince = 0;
  let busyMs = 0;
  const wrapped: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const counted = url.includes('/api/v1/');
    if (counted) {
      queries += 1;
      if (inFlight++ === 0) busySince = performance.now();
    }
    try {
      const response = await fetch(input, init);
      // the body is read by the caller; count until it is (a clone would double the memory)
      return response;
    } finally {
      if (counted && --inFlight === 0) busyMs += performance.now() - busySince;
    }
  };
  return {
    fetch: wrapped,
    reset() {
      const figures = { queries, busyMs };
      queries = 0;
      busyMs = 0;
      return figures;
    },
  };
}

/** Wraps every method of a MetricsPort to add the wall time spent inside it (overlaps counted once). */
function timedPort(port: MetricsPort): { port: MetricsPort; take(): number } {
  let inside = 0;
  let since = 0;
  let total = 0;
  const time = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (inside++ === 0) since = performance.now();
      try {
        return await fn(...args);
      } finally {
        if (--inside === 0) total += performance.now() - since;
      }
    };
  const wrapped: MetricsPort = {
    windows: time(port.windows.bind(port)),
    guards: time(port.guards.bind(port)),
    ...(port.baselines ? { baselines: time(port.baselines.bind(port)) } : {}),
  };
  return {
    port: wrapped,
    take() {
      const t = total;
      total = 0;
      return t;
    },
  };
}

function benchConfig(spec: ChildSpec) {
  return parsePromoterConfig(
    {
      git: { url: spec.remoteDir, workdir: spec.workdir },
      // the limit is raised so that the figures measure the work, not the refusal of a big answer
      prometheus: { url: spec.prometheusUrl, timeout: '120s', settle: '0s', maxResponseBytes: 2 ** 31 - 1 },
      policies: ['gitops/apps/*/canary.yaml'],
    },
    'bench',
  );
}

interface Round {
  wallMs: number;
  cpuMs: number;
  queries: number;
  busyMs: number;
  metricsMs: number;
  judged: number;
}

function summary(cold: Round, warm: Round[]): ChildResult {
  return {
    queries: median(warm.map((w) => w.queries)),
    coldQueries: cold.queries,
    wallMs: median(warm.map((w) => w.wallMs)),
    coldWallMs: cold.wallMs,
    promMs: median(warm.map((w) => w.busyMs)),
    metricsMs: median(warm.map((w) => w.metricsMs)),
    cpuMs: median(warm.map((w) => w.cpuMs)),
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    judged: median(warm.map((w) => w.judged)),
  };
}

/**
 * The metrics side of a tick alone, without Git: the MetricsPort calls reconcile's analyse()
 * makes for N progressing canaries (one windows call, one baselines call, guards per canary).
 */
async function metricsChild(spec: ChildSpec): Promise<ChildResult> {
  const counter = countingFetch();
  const config = benchConfig(spec);
  const timed = timedPort(metricsPort(config, silentLogger(), counter.fetch));
  const port = timed.port;
  const settings = analysisSchema.parse({ interval: '1m', successRate: { min: 0.99 }, latencyP99: { maxMs: 500 } });
  const targets: CanaryTarget[] = spec.canaries.map(({ service }) => ({ name: service, service, namespace: NAMESPACE, selector: settings.prometheus }));
  const round = async (): Promise<Round> => {
    counter.reset();
    const cpu = process.cpuUsage();
    const started = performance.now();
    // As reconcile asks: the baselines (cached per start), then only the bucket edges they call for.
    const baselines = await port.baselines?.(targets.map((target) => ({ target, at: spec.t0 })), { seconds: settings.baselineSeconds, latencyBucketsMs: ENVOY_BUCKETS_MS });
    const edges = unionOfEdges(targets.map((target) => edgesToRead(settings, ENVOY_BUCKETS_MS, baselines?.get(target.name))));
    const windows = await port.windows(targets, { start: spec.t0, end: spec.now, intervalSeconds: INTERVAL, latencyBucketsMs: edges });
    for (const target of targets) await port.guards(target, settings, { stepStart: spec.t0 + 300, now: spec.now });
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const judged = [...windows.values()].filter((w) => w.length > 0).length;
    return { wallMs, cpuMs: (used.user + used.system) / 1000, judged, metricsMs: timed.take(), ...counter.reset() };
  };
  const cold = await round();
  const warm = [];
  for (let r = 0; r < spec.rounds; r++) warm.push(await round());
  return summary(cold, warm);
}

async function promoterChild(spec: ChildSpec): Promise<ChildResult> {
  const counter = countingFetch();
  const config = benchConfig(spec);
  const promoter = await createPromoter(config, silentLogger(), {
    kubeConfigYaml: spec.kubeConfigYaml,
    env: cleanGitEnv(spec.workdir),
    clock: () => new Date(spec.now * 1000),
    fetch: counter.fetch,
  });
  const timed = timedPort(promoter.deps.metrics);
  (promoter.deps as { metrics: MetricsPort }).metrics = timed.port;
  const tick = async (): Promise<Round> => {
    counter.reset();
    const cpu = process.cpuUsage();
    const started = performance.now();
    const report = await promoter.tick({ dryRun: true });
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const judged = report.canaries.filter((c) => c.verdict !== undefined).length;
    return { wallMs, cpuMs: (used.user + used.system) / 1000, judged, metricsMs: timed.take(), ...counter.reset() };
  };
  const cold = await tick();
  const warm = [];
  for (let r = 0; r < spec.rounds; r++) warm.push(await tick());
  const result = summary(cold, warm);
  return { ...result, gitProcesses: await countGitProcesses(spec, config, counter.fetch) };
}

/**
 * Git processes one warm dry-run tick spawns: a second promoter (its own clone) whose PATH puts a
 * `git` first that logs its subcommand and hands over; one tick warms it, the next is counted.
 * Apart from the timed ticks, so the shim's own cost is not in their figures.
 */
async function countGitProcesses(spec: ChildSpec, config: ReturnType<typeof benchConfig>, fetchImpl: typeof fetch): Promise<number> {
  const shimDir = join(dirname(spec.workdir), 'git-shim');
  await mkdir(shimDir, { recursive: true });
  const log = join(shimDir, 'spawns.log');
  const real = (await run('git', ['--exec-path'])).trim();
  await writeFile(join(shimDir, 'git'), `#!/bin/sh\necho "$1" >> '${log}'\nexec '${real}/git' "$@"\n`, { mode: 0o755 });
  const workdir = `${spec.workdir}-counted`;
  const env = { ...cleanGitEnv(workdir), PATH: `${shimDir}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  const counted = await createPromoter({ ...config, git: { ...config.git, workdir } }, silentLogger(), {
    kubeConfigYaml: spec.kubeConfigYaml,
    env,
    clock: () => new Date(spec.now * 1000),
    fetch: fetchImpl,
  });
  await counted.tick({ dryRun: true });
  await writeFile(log, '');
  await counted.tick({ dryRun: true });
  return (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '').length;
}

/**
 * Flagger's model: per canary, its request-success-rate and request-duration queries
 * (Flagger's Istio templates), one canary after another. Over [2m], not the interval's [1m]:
 * the backfill has one sample a minute and rate() needs two.
 */
async function baselineChild(spec: ChildSpec): Promise<ChildResult> {
  const counter = countingFetch();
  const client = createPrometheusClient({ baseUrl: spec.prometheusUrl, timeoutMs: 120_000, fetch: counter.fetch });
  const round = async (): Promise<Round> => {
    counter.reset();
    const cpu = process.cpuUsage();
    const started = performance.now();
    let judged = 0;
    for (const { service } of spec.canaries) {
      const target = `destination_workload_namespace="${NAMESPACE}",destination_workload=~"${service}-canary"`;
      const success = await client.instant(
        `sum(rate(istio_requests_total{reporter="destination",${target},response_code!~"5.*"}[2m])) / sum(rate(istio_requests_total{reporter="destination",${target}}[2m])) * 100`,
        { time: spec.now },
      );
      const p99 = await client.instant(
        `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",${target}}[2m])) by (le))`,
        { time: spec.now },
      );
      if (success.length > 0 && p99.length > 0) judged += 1;
    }
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const busy = counter.reset();
    return { wallMs, cpuMs: (used.user + used.system) / 1000, judged, metricsMs: busy.busyMs, ...busy };
  };
  const cold = await round();
  const warm = [];
  for (let r = 0; r < spec.rounds; r++) warm.push(await round());
  return summary(cold, warm);
}

type ChildKind = 'promoter' | 'metrics' | 'baseline';

async function spawnChild(kind: ChildKind, spec: ChildSpec): Promise<ChildResult> {
  const specFile = join(dirname(spec.workdir), `${kind}-spec.json`);
  await writeFile(specFile, JSON.stringify(spec));
  const profile = kind !== 'baseline' && spec.profileDir ? [`--cpu-prof`, `--cpu-prof-dir=${join(spec.profileDir, kind)}`] : [];
  const output = await run(process.execPath, [...profile, fileURLToPath(import.meta.url), '--child', kind, '--spec', specFile]);
  const line = output.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as ChildResult;
}

// ---------------------------------------------------------------- one case

interface CaseResult {
  label: string;
  policies: number;
  progressing: number;
  series: number;
  promoter?: ChildResult;
  metrics: ChildResult;
  baseline: ChildResult;
}

async function runCases(n: number, withIdle: boolean, windows: number, rounds: number, profileDir: string | undefined, metricsOnly: boolean): Promise<CaseResult[]> {
  const dir = await mkdtemp(join(tmpdir(), `fleet-bench-${n}-`));
  const cleanup: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const services = Array.from({ length: n }, (_, i) => ({ service: `svc${i + 1}`, progressing: true }));
    const started = performance.now();
    const { blocks, end } = await cachedBlocks(n, windows, services);
    const t0 = end - windows * INTERVAL;
    const prometheus = await startPrometheus({ targets: [], blocksFrom: blocks, readyTimeoutMs: 120_000 });
    cleanup.push(() => prometheus.stop());
    const loadSeconds = (performance.now() - started) / 1000;
    const client = createPrometheusClient({ baseUrl: prometheus.url, timeoutMs: 60_000 });
    const series = (await client.instant('count({__name__=~"istio_.*"})', { time: end }))[0]?.value ?? 0;
    console.error(`fleet: N=${n}: ${series} Istio series loaded in ${loadSeconds.toFixed(0)} s`);

    const argoApps = (remoteDir: string) => [
      { name: 'docuthinker-mesh', repoURL: remoteDir, path: 'gitops/istio' },
      { name: 'docuthinker-apps', repoURL: remoteDir, path: 'gitops/apps' },
    ];
    const cases: { label: string; tree: { service: string; progressing: boolean }[] }[] = [{ label: `${n} progressing`, tree: services }];
    if (withIdle) {
      const progressing = Math.min(50, n);
      cases.push({ label: `${n} policies, ${progressing} progressing`, tree: services.map((s, i) => ({ ...s, progressing: i < progressing })) });
    }
    const results: CaseResult[] = [];
    for (const [index, c] of cases.entries()) {
      const caseDir = join(dir, `case${index}`);
      await writeTree(join(caseDir, 'tree'), c.tree, t0);
      const { remoteDir } = await createSeededRemote({ dir: caseDir, seedFrom: ['gitops'], sourceRoot: join(caseDir, 'tree') });
      await commitToRemote(remoteDir, { 'README.md': 'bench\n' }, 'bench: marker');
      const argo = await startFakeArgoCd({ applications: argoApps(remoteDir) });
      cleanup.push(() => argo.close());
      const progressing = c.tree.filter((s) => s.progressing);
      const spec = (workdir: string, profile?: string): ChildSpec => ({
        remoteDir,
        workdir: join(caseDir, workdir),
        prometheusUrl: prometheus.url,
        kubeConfigYaml: argo.kubeConfigYaml(),
        now: end + 1,
        rounds,
        canaries: progressing.map((s) => ({ service: s.service })),
        t0,
        ...(profile ? { profileDir: profile } : {}),
      });
      const profile = index === 0 ? profileDir : undefined;
      const promoter = metricsOnly ? undefined : await spawnChild('promoter', spec('clone', profile));
      const metrics = await spawnChild('metrics', spec('metrics', profile));
      const baseline = await spawnChild('baseline', spec('baseline'));
      results.push({ label: c.label, policies: c.tree.length, progressing: progressing.length, series, ...(promoter ? { promoter } : {}), metrics, baseline });
      await argo.close();
    }
    return results;
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  }
}

const WHO: Record<ChildKind, string> = {
  promoter: 'promoter: dry-run tick',
  metrics: 'promoter: metrics side alone',
  baseline: 'flagger-style, 2 queries/canary',
};

function row(r: CaseResult, who: ChildKind): string {
  const m = r[who];
  if (m === undefined) return '';
  return [
    r.label.padEnd(34),
    WHO[who].padEnd(32),
    String(m.queries).padStart(7),
    m.wallMs.toFixed(0).padStart(9),
    m.promMs.toFixed(0).padStart(10),
    m.metricsMs.toFixed(0).padStart(12),
    m.cpuMs.toFixed(0).padStart(8),
    m.peakRssMb.toFixed(0).padStart(8),
    `${m.coldQueries} q, ${m.coldWallMs.toFixed(0)} ms`.padStart(20),
    String(m.judged).padStart(7),
    m.gitProcesses === undefined ? '' : String(m.gitProcesses).padStart(4),
  ].join('  ');
}

// ---------------------------------------------------------------- main

if (values.child !== undefined) {
  const spec = JSON.parse(await readFile(values.spec ?? '', 'utf8')) as ChildSpec;
  const result = values.child === 'promoter' ? await promoterChild(spec) : values.child === 'metrics' ? await metricsChild(spec) : await baselineChild(spec);
  console.log(JSON.stringify(result));
} else {
  const sizes = (values.sizes ?? '10,100,1000').split(',').map(Number);
  const rounds = Number(values.rounds ?? 5);
  const windows = Number(values.windows ?? 10);
  const largest = Math.max(...sizes);
  console.log(
    `fleet: real Prometheus (promtool backfill), ${windows} one-minute windows since each canary started plus stable's baseline hour; ` +
      `dry-run ticks through createPromoter; median of ${rounds} ticks after one cold tick; each side in its own process`,
  );
  console.log(
    ['case'.padEnd(34), 'who'.padEnd(32), 'queries', 'wall (ms)', 'prom. (ms)', 'metrics (ms)', 'CPU (ms)', 'RSS (MB)', 'cold tick'.padStart(20), 'judged', 'git'].join('  '),
  );
  for (const n of sizes) {
    const results = await runCases(n, n === largest && !values['no-idle'], windows, rounds, n === largest ? values.profile : undefined, values['metrics-only'] ?? false);
    for (const r of results) {
      for (const who of ['promoter', 'metrics', 'baseline'] as const) if (r[who]) console.log(row(r, who));
      const tick = r.promoter ? `dry-run tick / baseline: ${(r.promoter.wallMs / r.baseline.wallMs).toFixed(2)}x; ` : '';
      console.log(`${''.padEnd(34)}  ${r.series} Istio series; ${tick}metrics side / baseline: ${(r.metrics.wallMs / r.baseline.wallMs).toFixed(2)}x`);
    }
  }
  console.log(
    'queries = Prometheus API requests per tick; prom. = wall time with a Prometheus request in flight; metrics = wall time inside the MetricsPort ' +
      '(queries, parsing, splitting); CPU = user + system of the process; RSS = peak of the process (cold tick included); cold tick = the first, with empty caches; ' +
      'git = git processes one warm dry-run tick spawns (counted by a git on PATH that logs and hands over, in a tick apart from the timed ones)',
  );
}
