// The composition root: builds every adapter from the validated config and hands them to the
// reconcile loop. Nothing else constructs an adapter; there are no module-level singletons.
import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { fetchBaselines } from '../analysis/baseline.js';
import { judge } from '../analysis/judge.js';
import { evaluateLiveGuards } from '../analysis/live-guards.js';
import { createPrometheusClient, type PrometheusClient, type PrometheusClientOptions } from '../analysis/prometheus.js';
import { fetchWindows } from '../analysis/windows.js';
import type { LatencyCounts } from '../analysis/types.js';
import type { Logger } from '../logger.js';
import { createArgoCdClient, syncGate } from './argocd.js';
import { remoteUrlWithToken, type EndpointConfig, type PromoterConfig } from './config.js';
import type { KubernetesSource } from './kubernetes.js';
import { createLeaderElector, kubernetesLeasePort, type LeaderElector, type LeaseHandover } from './leader.js';
import { processCloneDir, pushDelivery, removeStaleClones, type ClonePurpose } from './delivery.js';
import { ConfigError, errorMessage } from '../errors.js';
import { createGitHub, pullRequestDelivery, type GitHubAuth } from './github.js';
import { PartialMetricsError, type ArgoPort, type CanaryTarget, type DeliveryPort, type MetricsPort } from './ports.js';
import { reconcileOnce, type ReconcileDeps, type TickReport } from './reconcile.js';
import { ParseCache } from './parse-cache.js';
import { GitWorkspace } from './workspace.js';
import type { PromoterMetrics } from './metrics.js';
import { Notifier, type SentOnce } from './notifications.js';

export interface Promoter {
  tick(options?: { dryRun?: boolean; historySeconds?: number; mayWrite?: () => boolean }): Promise<TickReport>;
  readonly workspace: GitWorkspace;
  readonly deps: ReconcileDeps;
}

export interface PromoterOverrides {
  clock?: () => Date;
  fetch?: typeof fetch;
  /** kubeconfig YAML instead of config.argocd (the demo's loopback Argo CD). */
  kubeConfigYaml?: string;
  env?: NodeJS.ProcessEnv;
  /** told after each call to a backend: promoter_prometheus_up, and `promoter status`'s exit code. */
  onBackend?: (backend: Backend, ok: boolean, error?: unknown) => void;
  /** what this process's clone is for (default run); every process gets its own clone. */
  purpose?: ClonePurpose;
}

export type Backend = 'prometheus' | 'argocd';

/** The delivery the config asks for, over this process's workspace. */
export function createDelivery(config: PromoterConfig, workspace: GitWorkspace, logger: Logger, env: NodeJS.ProcessEnv = process.env, fetchImpl?: typeof fetch): DeliveryPort {
  const { delivery } = config;
  if (delivery.mode === 'push') return pushDelivery(workspace);
  const github = delivery.github;
  if (!github) throw new ConfigError('promoter config', ['delivery.github: required for pull-request delivery']);
  let auth: GitHubAuth;
  if (github.app) {
    auth = { kind: 'app', appId: github.app.appId, installationId: github.app.installationId, privateKey: readFileSync(github.app.privateKeyFile, 'utf8') };
  } else {
    const token = env[github.tokenEnv];
    if (!token) throw new ConfigError('promoter config', [`delivery.github: set ${github.tokenEnv} to a token (or configure delivery.github.app)`]);
    auth = { kind: 'token', token };
  }
  const client = createGitHub({ apiUrl: github.apiUrl, owner: github.owner, repo: github.repo, auth, logger, ...(fetchImpl ? { fetch: fetchImpl } : {}) });
  return pullRequestDelivery(
    workspace,
    client,
    {
      base: config.git.branch,
      merge: delivery.merge,
      rollbacks: delivery.rollbacks,
      links: delivery.links,
      identity: config.git.author,
      ...(github.requiredChecks ? { requiredChecks: github.requiredChecks } : {}),
    },
    logger,
  );
}

/** A secret file's trimmed content, re-read only when its mtime or size changes (a rotated token). */
export function fileSecret(path: string): () => string {
  let seen = '';
  let value = '';
  return () => {
    const info = statSync(path);
    const stamp = `${info.mtimeMs}:${info.size}:${info.ino}`;
    if (stamp !== seen) {
      value = readFileSync(path, 'utf8').trim();
      seen = stamp;
    }
    return value;
  };
}

/** Headers, credentials and CA for a Prometheus-compatible backend (Thanos Querier, Mimir, VictoriaMetrics). */
export function backendAccess(prometheus: Pick<EndpointConfig, 'headers' | 'bearerTokenFile' | 'basicAuth' | 'tls'>): Pick<PrometheusClientOptions, 'headers' | 'authorization' | 'caPem'> {
  const access: Pick<PrometheusClientOptions, 'headers' | 'authorization' | 'caPem'> = {};
  if (Object.keys(prometheus.headers).length > 0) access.headers = prometheus.headers;
  if (prometheus.bearerTokenFile !== undefined) {
    const token = fileSecret(prometheus.bearerTokenFile);
    access.authorization = () => `Bearer ${token()}`;
  } else if (prometheus.basicAuth !== undefined) {
    const { username } = prometheus.basicAuth;
    const password = fileSecret(prometheus.basicAuth.passwordFile);
    access.authorization = () => `Basic ${Buffer.from(`${username}:${password()}`).toString('base64')}`;
  }
  if (prometheus.tls !== undefined) access.caPem = readFileSync(prometheus.tls.caFile, 'utf8');
  return access;
}

/** Where a target's metrics come from: the main endpoint, or its cluster's own (which needs no cluster label). */
interface Route {
  /** '' for the main endpoint, else the cluster's name. */
  endpoint: string;
  client: PrometheusClient;
  target: CanaryTarget;
}

/**
 * Runs `work` once per endpoint with that endpoint's targets and merges the results by target name.
 * When some endpoints fail and others answer, a PartialMetricsError carries what did answer.
 */
async function perEndpoint<T>(routes: Route[], work: (client: PrometheusClient, routes: Route[]) => Promise<Map<string, T>>): Promise<Map<string, T>> {
  const byEndpoint = new Map<string, Route[]>();
  for (const route of routes) byEndpoint.set(route.endpoint, [...(byEndpoint.get(route.endpoint) ?? []), route]);
  if (byEndpoint.size <= 1) {
    const [group] = byEndpoint.values();
    return group && group[0] ? work(group[0].client, group) : new Map();
  }
  const groups = [...byEndpoint.values()];
  const settled = await Promise.allSettled(groups.map((group) => work(group[0]!.client, group)));
  const merged = new Map<string, T>();
  const failures = new Map<string, string>();
  let firstError: unknown;
  settled.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') {
      for (const [name, value] of outcome.value) merged.set(name, value);
      return;
    }
    firstError ??= outcome.reason;
    const where = groups[i]![0]!.endpoint;
    const message = `${where === '' ? 'the query endpoint' : `the endpoint of cluster ${where}`}: ${errorMessage(outcome.reason)}`;
    for (const route of groups[i]!) failures.set(route.target.name, message);
  });
  if (failures.size === 0) return merged;
  if (merged.size === 0 && failures.size === routes.length && settled.every((o) => o.status === 'rejected')) throw firstError;
  throw new PartialMetricsError(merged, failures, { cause: firstError });
}

export function metricsPort(config: PromoterConfig, logger: Logger, fetchImpl?: typeof fetch, onQuery?: (ok: boolean, error?: unknown) => void): MetricsPort {
  const clientFor = (endpoint: EndpointConfig, log: Logger) =>
    createPrometheusClient({
      baseUrl: endpoint.url,
      timeoutMs: config.prometheus.timeout * 1000,
      maxResponseBytes: config.prometheus.maxResponseBytes,
      logger: log,
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
      ...backendAccess(endpoint),
    });
  const client = clientFor(config.prometheus, logger);
  const clusterClients = new Map(Object.entries(config.prometheus.clusters).map(([name, endpoint]) => [name, clientFor(endpoint, logger.child({ cluster: name }))]));
  const route = (target: CanaryTarget): Route => {
    const cluster = target.cluster?.name;
    const own = cluster !== undefined ? clusterClients.get(cluster) : undefined;
    // The cluster's own endpoint serves that cluster alone: no cluster matcher, whatever its labels.
    return own && cluster !== undefined ? { endpoint: cluster, client: own, target: { ...target, cluster: { name: cluster } } } : { endpoint: '', client, target };
  };
  const observed = async <T>(work: Promise<T>): Promise<T> => {
    try {
      const result = await work;
      onQuery?.(true);
      return result;
    } catch (error) {
      onQuery?.(false, error);
      throw error;
    }
  };
  // A canary's baseline ends at its start and never changes: fetched once per canary start.
  const baselineCache = new Map<string, LatencyCounts | null>();
  return {
    windows: (targets, range) =>
      observed(
        perEndpoint(
          targets.map(route),
          (c, routes) => fetchWindows(c, routes.map((r) => r.target), { ...range, settleSeconds: config.prometheus.settle }, { logger }),
        ),
      ),
    baselines: async (requests, options) => {
      const key = (r: { target: { name: string }; at: number }): string => JSON.stringify([r.target.name, r.at, options.seconds, options.latencyBucketsMs]);
      const missing = requests.filter((r) => !baselineCache.has(key(r)));
      if (missing.length > 0) {
        const at = new Map(missing.map((r) => [r.target.name, r.at]));
        const fetched = await observed(
          perEndpoint(missing.map((r) => route(r.target)), (c, routes) => fetchBaselines(c, routes.map((r) => ({ target: r.target, at: at.get(r.target.name) ?? 0 })), options)),
        );
        for (const r of missing) baselineCache.set(key(r), fetched.get(r.target.name) ?? null);
      }
      const result = new Map<string, LatencyCounts>();
      for (const r of requests) {
        const baseline = baselineCache.get(key(r));
        if (baseline) result.set(r.target.name, baseline);
      }
      return result;
    },
    guards: (target, settings, span) => {
      const routed = route(target);
      return evaluateLiveGuards(routed.client, routed.target, settings, span);
    },
  };
}

/** Where the Kubernetes API is (Applications and the Lease live in the same cluster). */
export function kubernetesSource(config: PromoterConfig, overrides: PromoterOverrides = {}): KubernetesSource {
  if (overrides.kubeConfigYaml !== undefined) return { kubeConfigYaml: overrides.kubeConfigYaml };
  if (config.argocd.kubeconfig !== undefined) return { kubeConfigYaml: readFileSync(config.argocd.kubeconfig, 'utf8') };
  return { inCluster: config.argocd.inCluster };
}

/** The Lease elector `promoter run` uses when leaderElection.enabled; never built by --once or the other commands. */
export function createLeaderElectorFor(config: PromoterConfig, logger: Logger, overrides: PromoterOverrides = {}, handover?: LeaseHandover): LeaderElector {
  const election = config.leaderElection;
  const identity = election.identity ?? overrides.env?.POD_NAME ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
  // A Lease call must end before the next renewal is due.
  const timeoutMs = Math.min(config.argocd.timeout, election.renewPeriod) * 1000;
  return createLeaderElector({
    leases: kubernetesLeasePort(kubernetesSource(config, overrides), { namespace: election.namespace, name: election.name }, timeoutMs),
    settings: {
      namespace: election.namespace,
      name: election.name,
      identity,
      leaseDurationSeconds: election.leaseDuration,
      renewPeriodSeconds: election.renewPeriod,
    },
    logger,
    ...(handover ? { handover } : {}),
  });
}

/** The webhook notifier from config.notifications (sends nothing when no webhook is set). */
export function createNotifier(config: PromoterConfig, logger: Logger, metrics?: PromoterMetrics, fetchImpl: typeof fetch = fetch, sent?: SentOnce): Notifier {
  const n = config.notifications;
  return new Notifier({
    webhooks: n.webhooks,
    fetch: fetchImpl,
    logger: logger.child({ component: 'notifications' }),
    ...(metrics ? { metrics } : {}),
    queueLimit: n.queueLimit,
    attempts: n.attempts,
    backoffMs: n.backoff * 1000,
    ...(sent ? { sent } : {}),
  });
}

export async function createPromoter(config: PromoterConfig, logger: Logger, overrides: PromoterOverrides = {}): Promise<Promoter> {
  removeStaleClones(config.git.workdir);
  const workspace = await GitWorkspace.open({
    remoteUrl: remoteUrlWithToken(config, overrides.env),
    branch: config.git.branch,
    dir: processCloneDir(config.git.workdir, overrides.purpose ?? 'run'),
    identity: config.git.author,
    maxFileBytes: config.git.maxManifestBytes,
    // git.ts and argocd.ts bind their own component (and remote or server): binding it here too
    // would print "component" twice on every line.
    logger,
    ...(overrides.env ? { env: overrides.env } : {}),
  });
  const argoClient = createArgoCdClient({
    logger,
    timeoutMs: config.argocd.timeout * 1000,
    ...kubernetesSource(config, overrides),
  });
  const argo: ArgoPort = {
    getApplication: async (name, namespace) => {
      try {
        const status = await argoClient.getApplication(name, namespace);
        overrides.onBackend?.('argocd', true);
        return status;
      } catch (error) {
        overrides.onBackend?.('argocd', false, error);
        throw error;
      }
    },
    requestSync: (name, namespace, revision, info) => argoClient.requestSync(name, namespace, revision, info),
    syncGate,
  };
  const deps: ReconcileDeps = {
    git: workspace,
    delivery: createDelivery(config, workspace, logger, overrides.env ?? process.env),
    argo,
    metrics: metricsPort(config, logger.child({ component: 'prometheus' }), overrides.fetch, (ok, error) => overrides.onBackend?.('prometheus', ok, error)),
    judge,
    clock: overrides.clock ?? (() => new Date()),
    logger,
    policyGlobs: config.policies,
    maxPushAttempts: config.maxPushAttempts,
    gateTimeoutMs: config.argocd.timeout * 1000,
    parseCache: new ParseCache(),
  };
  const deadlineMs = config.tickDeadline * 1000;
  return {
    workspace,
    deps,
    tick: (options) => {
      const at = deps.clock().toISOString();
      const tick = reconcileOnce({
        ...deps,
        deadlineAt: Date.now() + deadlineMs,
        ...(options?.dryRun ? { dryRun: true } : {}),
        ...(options?.historySeconds !== undefined ? { historySeconds: options.historySeconds } : {}),
        ...(options?.mayWrite ? { mayWrite: options.mayWrite } : {}),
      });
      // The backstop: reconcile bounds every external call by the deadline, but a local step
      // queued behind a stuck git process could still wait; the tick report comes back regardless.
      let timer: NodeJS.Timeout | undefined;
      const backstop = new Promise<TickReport>((resolve) => {
        timer = setTimeout(() => {
          logger.error({ deadlineSeconds: config.tickDeadline }, 'tick deadline passed; the tick is abandoned and the next one starts over');
          resolve({ at, canaries: [], error: `tick deadline of ${config.tickDeadline} s passed` });
        }, deadlineMs + 1000);
      });
      return Promise.race([tick, backstop]).finally(() => clearTimeout(timer));
    },
  };
}
