// Plays Istio (and the Argo CD controller) on loopback: follows a bare Git remote, applies the
// committed route weights and images after a delay, and serves synthetic istio_* counters on /metrics.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { ENVOY_BUCKETS_MS } from '../../src/analysis/settings.js';
import { errorMessage } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import type { CanaryPolicy } from '../../src/promoter/policy.js';
import type { FakeArgoCd } from './fake-argocd.js';
import { readFilesAt } from './git-remote.js';
import { poisson, recordRequests, seededRandom, splitByWeight, type ArmBehaviour, type ArmCounters, type Random } from './traffic.js';

export type { ArmBehaviour } from './traffic.js';

const run = promisify(execFile);

export interface MeshSimulatorOptions {
  /** a bare git repository on disk to follow */
  remoteDir: string;
  /** default main */
  branch?: string;
  /** which VirtualService route/subsets and Deployment files to read per service */
  policies: CanaryPolicy[];
  /** per service, split between arms by the applied weights */
  requestsPerSecond: number;
  /** how a given image behaves */
  behaviour: (service: string, image: string) => ArmBehaviour;
  /**
   * when given: after applying a commit, reportSynced(application, sha, 'Healthy') for each Application
   * that applied it; with `application` too, a sync operation requested for a commit already applied
   * is run as well (the real controller runs an operation whether or not HEAD moved).
   */
  argo?: Pick<FakeArgoCd, 'reportSynced'> & Partial<Pick<FakeArgoCd, 'application'>>;
  /** delay between seeing a new HEAD and applying it; default 500 */
  syncDelayMs?: number;
  /** traffic generation step; default 100 */
  tickMs?: number;
  /** remote polling; default 250 */
  pollMs?: number;
  seed?: number;
  logger?: Logger;
  /**
   * the cluster this simulator plays, for a multi-cluster policy (spec.argocd.clusters): it applies
   * and reports synced that cluster's Applications only.
   */
  cluster?: string;
  /** labels on every series, e.g. { cluster: 'east' } as a Thanos or Mimir external label would add. */
  extraLabels?: Record<string, string>;
}

export interface AppliedService {
  stableWeight: number;
  canaryWeight: number;
  stableImage: string;
  canaryImage: string;
}

export interface ArmTotals {
  requests: number;
  errors: number;
}

export interface MeshSimulator {
  /** "127.0.0.1:<port>" for Prometheus to scrape (/metrics) */
  target: string;
  applied(): { sha: string; services: Record<string, AppliedService> };
  setBehaviour(fn: MeshSimulatorOptions['behaviour']): void;
  /** Beyond the brief's contract: 0 stops traffic (a quiet service), for tests and the demo. */
  setRequestsPerSecond(rps: number): void;
  /** Beyond the brief's contract: requests and 5xx per service and arm since start, across pod restarts. */
  totals(): Record<string, { stable: ArmTotals; canary: ArmTotals }>;
  close(): Promise<void>;
}

/** A manifest the simulator cannot apply; like Argo CD, it then keeps what it had. */
export class MeshApplyError extends Error {
  override name = 'MeshApplyError';
}

type Manifest = Record<string, unknown>;

function record(value: unknown): Manifest | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Manifest) : undefined;
}

function manifests(text: string, file: string): Manifest[] {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: Manifest[] = [];
  for (const doc of list) {
    const first = doc.errors[0];
    if (first) throw new MeshApplyError(`${file}: YAML error: ${first.message.split('\n')[0] ?? ''}`);
    const value = record(doc.toJS());
    if (value) out.push(value);
  }
  return out;
}

function nameOf(manifest: Manifest): unknown {
  return record(manifest.metadata)?.name;
}

/** The weights of the policy's named HTTP route (header, cookie and mirror routes are not the split). */
export function readRouteWeights(text: string, policy: CanaryPolicy): { stableWeight: number; canaryWeight: number } {
  const { file, name, route } = policy.spec.virtualService;
  const vs = manifests(text, file).find((m) => m.kind === 'VirtualService' && nameOf(m) === name);
  if (!vs) throw new MeshApplyError(`${file}: no VirtualService named "${name}"`);
  const http = record(vs.spec)?.http;
  const routes = Array.isArray(http) ? http.map(record) : [];
  const named = routes.find((r) => r?.name === route);
  if (!named) throw new MeshApplyError(`${file}: VirtualService ${name} has no http route named "${route}"`);
  const destinations = Array.isArray(named.route) ? named.route.map(record) : [];
  const weights = { stableWeight: 0, canaryWeight: 0 };
  for (const destination of destinations) {
    const subset = record(destination?.destination)?.subset;
    // Istio: a single destination takes all traffic whatever its weight.
    const weight = destinations.length === 1 ? 100 : Number(destination?.weight ?? 0);
    if (!Number.isFinite(weight) || weight < 0) throw new MeshApplyError(`${file}: route "${route}" has a bad weight for subset ${String(subset)}`);
    if (subset === policy.spec.subsets.stable) weights.stableWeight += weight;
    else if (subset === policy.spec.subsets.canary) weights.canaryWeight += weight;
  }
  if (weights.stableWeight + weights.canaryWeight <= 0) throw new MeshApplyError(`${file}: route "${route}" sends no traffic to either subset`);
  return weights;
}

/** The image of the arm's container; with several Deployments in the file, the one named <service>-<subset>. */
export function readArmImage(text: string, policy: CanaryPolicy, arm: 'stable' | 'canary'): string {
  const { file, container } = policy.spec.deployments[arm];
  const candidates = manifests(text, file)
    .filter((m) => m.kind === 'Deployment')
    .map((m) => {
      const podSpec = record(record(record(m.spec)?.template)?.spec);
      const containers = Array.isArray(podSpec?.containers) ? podSpec.containers.map(record) : [];
      return { name: nameOf(m), image: containers.find((c) => c?.name === container)?.image };
    })
    .filter((c): c is { name: unknown; image: string } => typeof c.image === 'string');
  const chosen =
    candidates.length === 1 ? candidates[0] : candidates.find((c) => c.name === `${policy.spec.service}-${policy.spec.subsets[arm]}`);
  if (!chosen) throw new MeshApplyError(`${file}: no Deployment with a container "${container}" for the ${arm} arm`);
  return chosen.image;
}

/** Label values of one arm's series, named as Istio's destination-side sidecar reports them. */
export function seriesLabels(policy: CanaryPolicy, arm: 'stable' | 'canary', responseCode: string): [string, string][] {
  const { service, namespace } = policy.spec;
  const armValue = arm === 'stable' ? policy.spec.analysis.prometheus.stableValue : policy.spec.analysis.prometheus.canaryValue;
  return [
    ['reporter', 'destination'],
    ['source_workload', 'istio-ingressgateway'],
    ['source_workload_namespace', 'istio-system'],
    ['source_principal', 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account'],
    ['source_app', 'istio-ingressgateway'],
    ['source_version', 'unknown'],
    ['source_canonical_service', 'istio-ingressgateway'],
    ['source_canonical_revision', 'latest'],
    ['source_cluster', 'Kubernetes'],
    ['destination_workload', `${service}-${policy.spec.subsets[arm]}`],
    ['destination_workload_namespace', namespace],
    ['destination_principal', `spiffe://cluster.local/ns/${namespace}/sa/${service}`],
    ['destination_app', service],
    ['destination_version', armValue],
    ['destination_service', `${service}.${namespace}.svc.cluster.local`],
    ['destination_service_name', service],
    ['destination_service_namespace', namespace],
    ['destination_canonical_service', service],
    ['destination_canonical_revision', armValue],
    ['destination_cluster', 'Kubernetes'],
    ['request_protocol', 'http'],
    ['response_flags', '-'],
    ['connection_security_policy', 'mutual_tls'],
    ['response_code', responseCode],
    ['grpc_response_status', ''],
  ];
}

function escapeExposition(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatLabels(labels: readonly [string, string][]): string {
  return labels.map(([k, v]) => `${k}="${escapeExposition(v)}"`).join(',');
}

export interface ServiceCounters {
  policy: CanaryPolicy;
  stable: ArmCounters;
  canary: ArmCounters;
}

/** Prometheus text exposition (0.0.4) of the counters; Envoy's `le` spelling ("0.5", "1800000"). */
export function renderMetrics(services: readonly ServiceCounters[], edges: readonly number[] = ENVOY_BUCKETS_MS, extraLabels: Record<string, string> = {}): string {
  const requests: string[] = [];
  const histogram: string[] = [];
  for (const { policy, stable, canary } of services) {
    for (const [arm, counters] of [
      ['stable', stable],
      ['canary', canary],
    ] as const) {
      for (const [code, entry] of [...counters.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        const labels = [...seriesLabels(policy, arm, code), ...Object.entries(extraLabels)];
        const base = formatLabels(labels);
        requests.push(`istio_requests_total{${base}} ${entry.requests}`);
        let cumulative = 0;
        for (let i = 0; i < edges.length; i++) {
          cumulative += entry.buckets[i] ?? 0;
          histogram.push(`istio_request_duration_milliseconds_bucket{${base},le="${String(edges[i])}"} ${cumulative}`);
        }
        cumulative += entry.buckets[edges.length] ?? 0;
        histogram.push(`istio_request_duration_milliseconds_bucket{${base},le="+Inf"} ${cumulative}`);
        histogram.push(`istio_request_duration_milliseconds_sum{${base}} ${entry.sumMs.toFixed(3)}`);
        histogram.push(`istio_request_duration_milliseconds_count{${base}} ${cumulative}`);
      }
    }
  }
  return [
    '# HELP istio_requests_total Total requests.',
    '# TYPE istio_requests_total counter',
    ...requests,
    '# HELP istio_request_duration_milliseconds Request duration in milliseconds.',
    '# TYPE istio_request_duration_milliseconds histogram',
    ...histogram,
    '',
  ].join('\n');
}

/** The Applications that apply a policy's route and Deployments in `cluster` (or the policy's own, single-cluster). */
function applicationsOf(policy: CanaryPolicy, cluster: string | undefined): { application: string; workloadsApplication?: string } {
  const { application, workloadsApplication, clusters } = policy.spec.argocd;
  if (clusters) {
    const entry = clusters.find((c) => c.name === cluster) ?? clusters[0];
    if (!entry) throw new MeshApplyError(`${policy.metadata.name}: no cluster ${cluster ?? ''} in spec.argocd.clusters`);
    return { application: entry.application, ...(entry.workloadsApplication ? { workloadsApplication: entry.workloadsApplication } : {}) };
  }
  return { application: application ?? '', ...(workloadsApplication ? { workloadsApplication } : {}) };
}

interface ServiceState extends ServiceCounters {
  applied: AppliedService | undefined;
  totals: { stable: ArmTotals; canary: ArmTotals };
}

export async function startMeshSimulator(options: MeshSimulatorOptions): Promise<MeshSimulator> {
  const branch = options.branch ?? 'main';
  const syncDelayMs = options.syncDelayMs ?? 500;
  const tickMs = options.tickMs ?? 100;
  const pollMs = options.pollMs ?? 250;
  const logger = options.logger;
  const random: Random = seededRandom(options.seed ?? 1);
  const gitEnv = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0' };
  let behaviour = options.behaviour;
  let requestsPerSecond = options.requestsPerSecond;
  let appliedSha = '';
  let seenSha = '';
  let pending: { sha: string; due: number } | undefined;
  let closed = false;

  const services = new Map<string, ServiceState>();
  for (const policy of options.policies) {
    services.set(policy.spec.service, {
      policy,
      stable: new Map(),
      canary: new Map(),
      applied: undefined,
      totals: { stable: { requests: 0, errors: 0 }, canary: { requests: 0, errors: 0 } },
    });
  }

  async function git(args: string[]): Promise<string> {
    const { stdout } = await run('git', ['--git-dir', options.remoteDir, ...args], { env: gitEnv, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }

  async function head(): Promise<string | undefined> {
    try {
      return (await git(['rev-parse', '--verify', '-q', `refs/heads/${branch}^{commit}`])).trim() || undefined;
    } catch {
      return undefined; // no branch yet
    }
  }

  /** Every file the policies name, at `sha`, in one git process (a fleet has hundreds). */
  async function readAll(sha: string): Promise<Map<string, string>> {
    const paths = [...services.values()].flatMap(({ policy }) => [policy.spec.virtualService.file, policy.spec.deployments.stable.file, policy.spec.deployments.canary.file]);
    try {
      return await readFilesAt(options.remoteDir, sha, paths, gitEnv);
    } catch (error) {
      logger?.warn({ sha, err: errorMessage(error) }, 'mesh could not read the commit');
      return new Map();
    }
  }

  function readAt(files: Map<string, string>, sha: string, path: string): string {
    const text = files.get(path);
    if (text === undefined) throw new MeshApplyError(`${path}: not readable at ${sha.slice(0, 12)} in ${options.remoteDir}`);
    return text;
  }

  type Part = 'route' | 'images';
  type PartState = Pick<AppliedService, 'stableWeight' | 'canaryWeight'> | Pick<AppliedService, 'stableImage' | 'canaryImage'>;

  function readPart(files: Map<string, string>, sha: string, policy: CanaryPolicy, part: Part): PartState {
    const { virtualService, deployments } = policy.spec;
    if (part === 'route') return readRouteWeights(readAt(files, sha, virtualService.file), policy);
    const [stableText, canaryText] = [readAt(files, sha, deployments.stable.file), readAt(files, sha, deployments.canary.file)];
    return { stableImage: readArmImage(stableText, policy, 'stable'), canaryImage: readArmImage(canaryText, policy, 'canary') };
  }

  /**
   * Applies `sha` per Argo CD Application, each with the files it owns: the policy's `application`
   * applies the VirtualService, `workloadsApplication` (when set) the Deployments. An Application
   * whose files do not all parse keeps what it had and reports no sync, as Argo CD would.
   */
  async function apply(sha: string): Promise<void> {
    const byApplication = new Map<string, { state: ServiceState; part: Part }[]>();
    const add = (application: string, state: ServiceState, part: Part): void => {
      byApplication.set(application, [...(byApplication.get(application) ?? []), { state, part }]);
    };
    for (const state of services.values()) {
      const { application, workloadsApplication } = applicationsOf(state.policy, options.cluster);
      add(application, state, 'route');
      add(workloadsApplication ?? application, state, 'images');
    }
    const fresh = new Map<ServiceState, Partial<AppliedService>>();
    const synced: string[] = [];
    let everything = true;
    const files = await readAll(sha);
    for (const [application, parts] of byApplication) {
      try {
        const read = parts.map(({ state, part }) => readPart(files, sha, state.policy, part));
        parts.forEach(({ state }, i) => fresh.set(state, { ...fresh.get(state), ...read[i] }));
        synced.push(application);
      } catch (error) {
        everything = false;
        logger?.warn({ application, sha, err: errorMessage(error) }, 'mesh kept the previous state: manifests at HEAD do not apply');
      }
    }
    for (const [state, next] of fresh) {
      const merged = { ...state.applied, ...next };
      // Nothing runs until both the route and the Deployments have been applied once.
      if (merged.stableImage === undefined || merged.canaryImage === undefined || merged.stableWeight === undefined || merged.canaryWeight === undefined) {
        continue;
      }
      const applied: AppliedService = {
        stableWeight: merged.stableWeight,
        canaryWeight: merged.canaryWeight,
        stableImage: merged.stableImage,
        canaryImage: merged.canaryImage,
      };
      // New pods for a new image: their Envoy counters start from zero.
      if (state.applied && state.applied.stableImage !== applied.stableImage) state.stable = new Map();
      if (state.applied && state.applied.canaryImage !== applied.canaryImage) state.canary = new Map();
      state.applied = applied;
    }
    for (const application of synced) {
      options.argo?.reportSynced(application, sha, 'Healthy');
      logger?.info({ application, sha }, 'mesh applied commit');
    }
    if (everything) appliedSha = sha;
  }

  /** An Application this simulator applies has a sync operation waiting for the controller. */
  function operationRequested(): boolean {
    const application = options.argo?.application;
    if (!application) return false;
    const names = new Set<string>();
    for (const state of services.values()) {
      const apps = applicationsOf(state.policy, options.cluster);
      names.add(apps.application);
      if (apps.workloadsApplication) names.add(apps.workloadsApplication);
    }
    for (const name of names) {
      try {
        if (name && application(name).operation !== undefined) return true;
      } catch {
        // not an Application of this fake Argo CD
      }
    }
    return false;
  }

  async function poll(): Promise<void> {
    const sha = await head();
    if (sha && sha !== seenSha) {
      seenSha = sha;
      // A newer HEAD during the delay replaces the commit to apply but keeps the deadline.
      pending = { sha, due: pending?.due ?? Date.now() + syncDelayMs };
    } else if (!pending && seenSha && operationRequested()) {
      // A sync requested after the commit was applied (a slow promoter, one restarted after a kill):
      // the controller runs it anyway. Waiting for the next HEAD instead left the operation "Running"
      // and every gate on the Application closed until some other commit landed.
      pending = { sha: seenSha, due: Date.now() + syncDelayMs };
    }
    if (pending && Date.now() >= pending.due) {
      const { sha: due } = pending;
      pending = undefined;
      await apply(due);
    }
  }

  function tick(): void {
    const expected = (requestsPerSecond * tickMs) / 1000;
    for (const [service, state] of services) {
      if (!state.applied) continue;
      const split = splitByWeight(random, poisson(random, expected), state.applied.stableWeight, state.applied.canaryWeight);
      for (const arm of ['stable', 'canary'] as const) {
        const requests = split[arm];
        if (requests === 0) continue;
        const image = arm === 'stable' ? state.applied.stableImage : state.applied.canaryImage;
        const errors = recordRequests(state[arm], random, requests, behaviour(service, image), ENVOY_BUCKETS_MS);
        state.totals[arm].requests += requests;
        state.totals[arm].errors += errors;
      }
    }
  }

  // The initial HEAD is what Argo CD had already applied before the simulator started.
  const initial = await head();
  if (initial) {
    seenSha = initial;
    await apply(initial);
  }

  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(renderMetrics([...services.values()], ENVOY_BUCKETS_MS, options.extraLabels));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  const ticker = setInterval(tick, tickMs);
  let polling: Promise<void> = Promise.resolve();
  let pollTimer: NodeJS.Timeout | undefined;
  const schedulePoll = (): void => {
    if (closed) return;
    pollTimer = setTimeout(() => {
      polling = poll()
        .catch((error: unknown) => logger?.warn({ err: errorMessage(error) }, 'mesh poll failed'))
        .finally(schedulePoll);
    }, pollMs);
  };
  schedulePoll();
  logger?.info({ target: `127.0.0.1:${port}`, sha: appliedSha }, 'mesh simulator started');

  return {
    target: `127.0.0.1:${port}`,
    applied() {
      const out: Record<string, AppliedService> = {};
      for (const [service, state] of services) if (state.applied) out[service] = { ...state.applied };
      return { sha: appliedSha, services: out };
    },
    setBehaviour(fn) {
      behaviour = fn;
    },
    setRequestsPerSecond(rps) {
      requestsPerSecond = Math.max(0, rps);
    },
    totals() {
      const out: Record<string, { stable: ArmTotals; canary: ArmTotals }> = {};
      for (const [service, state] of services) out[service] = { stable: { ...state.totals.stable }, canary: { ...state.totals.canary } };
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(ticker);
      clearTimeout(pollTimer);
      await polling;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
