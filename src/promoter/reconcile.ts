// One reconcile tick: observe (HEAD, Argo CD, Prometheus), decide (the pure plan), act (one
// commit, then a sync request). Level-triggered and idempotent: a lost push race re-reads HEAD
// and decides again; nothing is force-pushed and nothing a decision depends on is kept in memory
// between ticks (only parses of texts that have not changed, see parse-cache.ts).
import { combineClusterVerdicts } from '../analysis/clusters.js';
import { edgesToRead, projectLatency, unionOfEdges } from '../analysis/read-edges.js';
import { ENVOY_BUCKETS_MS } from '../analysis/settings.js';
import type { LatencyCounts, Verdict, Window } from '../analysis/types.js';
import { errorMessage, TransientError } from '../errors.js';
import type { Logger } from '../logger.js';
import { applyAction } from './changes.js';
import { actionImage, commitMessage, stepAfter, verdictSummary } from './commit-message.js';
import { plan, type Action, type Analysis, type Gate } from './plan.js';
import { gatedApplications, parseCanaryPolicy, policyClusters, primaryApplication, policyNameOf, writablePaths, type CanaryPolicy } from './policy.js';
import { PartialMetricsError, type ApplicationStatusView, type ArgoPort, type CanaryTarget, type Change, type DeliveryPort, type JudgeFn, type MetricsPort, type PushOutcome, type RepoReader, type SyncInfo } from './ports.js';
import { mapConcurrent } from './concurrent.js';
import { ParsedManifest } from './manifest-edits.js';
import type { ParseCache } from './parse-cache.js';
import { readCanaryState, type CanaryState, type ManifestTexts } from './state.js';
import { snapshotOf, windowPoints, type CanarySnapshot, type WindowPoint } from './snapshot.js';

export interface ReconcileDeps {
  /** the read side: HEAD of the GitOps branch. */
  git: RepoReader;
  /** the write side: a push, or a pull request. */
  delivery: DeliveryPort;
  argo: ArgoPort;
  metrics: MetricsPort;
  judge: JudgeFn;
  clock: () => Date;
  logger: Logger;
  /** globs of CanaryPolicy files in the repository, e.g. gitops/apps/STAR/canary.yaml */
  policyGlobs: readonly string[];
  /** attempts per canary when a push loses a race (default 3). */
  maxPushAttempts?: number;
  /** decide but write nothing: `promoter analyze --canary` and `promoter run --dry-run`. */
  dryRun?: boolean;
  /** judge only this much history (seconds) instead of everything since the canary started (`analyze --since`). */
  historySeconds?: number;
  /** the leadership fence, asked right before every write (commit, sync request); false holds instead. */
  mayWrite?: () => boolean;
  /** how long one Argo CD status read may take before the gate counts as "not ready" (default 10000 ms). */
  gateTimeoutMs?: number;
  /**
   * wall-clock ms (Date.now) by which the tick must be done: every external call after it is cut off
   * and nothing more is written, so a hanging dependency cannot freeze the loop.
   */
  deadlineAt?: number;
  /** parses kept from tick to tick for files whose text has not changed (one per promoter). */
  parseCache?: ParseCache;
}

/** The tick ran out of time; what was not done is decided again on the next tick. */
export class TickDeadlineError extends TransientError {
  override name = 'TickDeadlineError';
}

const DEFAULT_GATE_TIMEOUT_MS = 10_000;
const DEADLINE_PASSED = 'the tick deadline passed before the decision was written; the next tick decides again';
/** files read at once in a tick: enough to keep the file system busy, few enough to bound memory. */
const READ_CONCURRENCY = 32;

/** `work`, or a rejection with `error()` once `ms` have passed (the work itself goes on unobserved). */
function within<T>(work: Promise<T>, ms: number, error: () => Error): Promise<T> {
  if (!Number.isFinite(ms)) return work;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), Math.max(0, ms));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** `work` bounded by the tick's deadline. */
function beforeDeadline<T>(deps: ReconcileDeps, work: Promise<T>, what: string): Promise<T> {
  if (deps.deadlineAt === undefined) return work;
  return within(work, deps.deadlineAt - Date.now(), () => new TickDeadlineError(`the tick deadline passed while waiting for ${what}`));
}

function pastDeadline(deps: ReconcileDeps): boolean {
  return deps.deadlineAt !== undefined && Date.now() >= deps.deadlineAt;
}

const NOT_LEADER = 'not the leader any more: the replica holding the Lease decides';

/** proposed: the decision waits in a pull request (no sync is requested until it is merged). */
export type CanaryOutcome = 'held' | 'committed' | 'proposed' | 'no-op' | 'error' | 'raced' | 'dry-run';

export interface CanaryReport {
  canary: string;
  file: string;
  outcome: CanaryOutcome;
  phase?: CanaryState['phase'];
  canaryWeight?: number;
  action?: Action['kind'];
  reason: string;
  verdict?: Verdict;
  commit?: { sha: string; subject: string };
  error?: string;
  /** what the status page and `promoter status` show: step, both weights and images, pause, step clock. */
  snapshot?: CanarySnapshot;
  /** the judged windows (5xx rate and p99 per arm), oldest first; only when the canary was analysed. */
  windows?: WindowPoint[];
}

export interface TickReport {
  head?: string;
  at: string;
  canaries: CanaryReport[];
  /** a failure of the whole tick (git unreachable): every canary holds. */
  error?: string;
}

interface Observed {
  policy: CanaryPolicy;
  file: string;
  /** parsed once: the state, the snapshot and the edit all read the same parse. */
  texts: ManifestTexts<ParsedManifest>;
  state: CanaryState;
}

/**
 * The policy's three manifests at HEAD, each parsed at most once per round: `parsed` (path ->
 * manifest) is shared by every canary of the round, so a file two canaries name is parsed once too.
 */
async function readTexts(git: RepoReader, policy: CanaryPolicy, parsed: Map<string, Promise<ParsedManifest>>): Promise<ManifestTexts<ParsedManifest>> {
  const { virtualService, deployments } = policy.spec;
  const read = (path: string): Promise<ParsedManifest> => {
    // The promise is kept, so canaries observed side by side share one read of a file too.
    let manifest = parsed.get(path);
    if (!manifest) {
      manifest = git.readFile(path).then((text) => {
        if (text === undefined) throw new Error(`${path}: file named by the policy does not exist at HEAD`);
        return new ParsedManifest(text, path);
      });
      parsed.set(path, manifest);
    }
    return manifest;
  };
  const [vs, stable, canary] = await Promise.all([read(virtualService.file), read(deployments.stable.file), read(deployments.canary.file)]);
  return { virtualService: vs, stableDeployment: stable, canaryDeployment: canary };
}

/** Loads every policy at HEAD; a bad one is reported and skipped, the others go on. */
async function loadPolicies(deps: ReconcileDeps): Promise<{ policies: { policy: CanaryPolicy; file: string }[]; errors: CanaryReport[] }> {
  const files = new Set<string>();
  for (const glob of deps.policyGlobs) for (const file of await deps.git.listFiles(glob)) files.add(file);
  const policies: { policy: CanaryPolicy; file: string }[] = [];
  const errors: CanaryReport[] = [];
  const sorted = [...files].sort();
  // Read side by side; a policy that cannot be read (a symlink, a read error) skips that canary only.
  const texts = await mapConcurrent(sorted, READ_CONCURRENCY, (file): Promise<{ text: string; error?: Error }> =>
    deps.git.readFile(file).then(
      (text) => ({ text: text ?? '' }),
      (error: unknown) => ({ text: '', error: error instanceof Error ? error : new Error(`cannot read ${file}: ${String(error)}`) }),
    ),
  );
  sorted.forEach((file, i) => {
    const { text, error: readError } = texts[i]!;
    try {
      if (readError !== undefined) throw readError;
      policies.push({ policy: deps.parseCache ? deps.parseCache.get('policy', file, text, () => parseCanaryPolicy(text, file)) : parseCanaryPolicy(text, file), file });
    } catch (error) {
      errors.push({ canary: policyNameOf(text, file), file, outcome: 'error', reason: 'invalid CanaryPolicy; this canary is skipped', error: errorMessage(error) });
    }
  });
  return { policies, errors };
}

/**
 * The Argo CD gate of every policy in one round: one GET per Application, and per policy the commit
 * its current step came from (the newest commit touching its files). A step is judged once every
 * Application it names has synced a revision that CONTAINS that commit: in a busy repository other
 * commits land on top, and waiting for HEAD exactly could wait forever.
 */
class GateCache {
  private readonly statuses = new Map<string, Promise<ApplicationStatusView>>();
  private readonly gates = new Map<string, Promise<Gate>>();
  private readonly containment = new Map<string, Promise<boolean | 'unknown'>>();
  /** revision -> which of the round's required commits it contains (one walk per revision). */
  private readonly containedIn = new Map<string, Promise<Set<string> | 'unknown'>>();
  /** the required commit of every policy of the round, from one history walk (when the reader can). */
  private required: Promise<Map<CanaryPolicy, string>> | undefined;
  constructor(
    private readonly argo: ArgoPort,
    private readonly git: RepoReader,
    private readonly head: string,
    private readonly timeoutMs: number,
    private readonly policies: readonly CanaryPolicy[] = [],
  ) {}

  /** The commit `policy`'s current step came from: batched for the whole round, else one log per policy. */
  private async requiredOf(policy: CanaryPolicy): Promise<string> {
    const { git } = this;
    if (git.lastCommitsTouching && this.policies.includes(policy)) {
      this.required ??= git.lastCommitsTouching(this.policies.map(writablePaths)).then(
        (shas) => new Map(this.policies.map((p, i) => [p, shas[i] ?? this.head])),
      );
      return (await this.required).get(policy) ?? this.head;
    }
    return (await git.lastCommitTouching?.(writablePaths(policy))) ?? this.head;
  }

  async gate(policy: CanaryPolicy): Promise<Gate> {
    const namespace = policy.spec.argocd.namespace;
    const required = await this.requiredOf(policy);
    const gates = await Promise.all(gatedApplications(policy).map((application) => this.one(application, namespace, required)));
    const waiting = gates.filter((g): g is Extract<Gate, { ready: false }> => !g.ready);
    if (waiting.length === 0) {
      // The window starts when the last of them finished applying it.
      const applied = gates.map((g) => (g.ready ? g.appliedAt : undefined)).filter((t): t is number => t !== undefined);
      return applied.length > 0 ? { ready: true, appliedAt: Math.max(...applied) } : { ready: true };
    }
    const degradedResources = waiting.flatMap((g) => g.degradedResources ?? []);
    return {
      ready: false,
      degraded: waiting.some((g) => g.degraded),
      reason: waiting.map((g) => g.reason).join('; '),
      ...(degradedResources.length > 0 ? { degradedResources } : {}),
    };
  }

  private one(application: string, namespace: string, required: string): Promise<Gate> {
    const key = `${namespace}/${application}@${required}`;
    let gate = this.gates.get(key);
    if (!gate) {
      gate = this.fetch(application, namespace, required);
      this.gates.set(key, gate);
    }
    return gate;
  }

  private status(application: string, namespace: string): Promise<ApplicationStatusView> {
    const key = `${namespace}/${application}`;
    let status = this.statuses.get(key);
    if (!status) {
      // A hanging API must not hold the tick: past the timeout the gate is simply "not ready".
      status = within(this.argo.getApplication(application, namespace), this.timeoutMs, () => new TransientError(`no answer within ${this.timeoutMs} ms`));
      this.statuses.set(key, status);
    }
    return status;
  }

  private contains(revision: string, required: string): Promise<boolean | 'unknown'> {
    if (revision === required) return Promise.resolve(true);
    const { git } = this;
    if (git.containsAll && this.required) {
      // Every required commit of the round against this revision in one walk, not two processes per pair.
      const required$ = this.required;
      const containsAll = git.containsAll.bind(git);
      let set = this.containedIn.get(revision);
      if (!set) {
        set = required$.then((all) => containsAll(revision, [...new Set(all.values())])).catch(() => 'unknown' as const);
        this.containedIn.set(revision, set);
      }
      return set.then((seen) => (seen === 'unknown' ? 'unknown' : seen.has(required)));
    }
    if (!git.contains) return Promise.resolve(false);
    const contains = git.contains.bind(git);
    const key = `${revision}..${required}`;
    let answer = this.containment.get(key);
    if (!answer) {
      answer = contains(revision, required).catch(() => 'unknown' as const);
      this.containment.set(key, answer);
    }
    return answer;
  }

  private async fetch(application: string, namespace: string, required: string): Promise<Gate> {
    try {
      const status = await this.status(application, namespace);
      const revisions = [status.syncedRevision, status.operationRevision].filter((r): r is string => r !== undefined);
      const answers = new Map(await Promise.all(revisions.map(async (r) => [r, await this.contains(r, required)] as const)));
      const gate = this.argo.syncGate(status, required, (revision) => answers.get(revision) === true);
      if (!gate.ready) return gate;
      const finished =
        status.operationRevision !== undefined && answers.get(status.operationRevision) === true && status.operationFinishedAt
          ? Date.parse(status.operationFinishedAt) / 1000
          : Number.NaN;
      return Number.isFinite(finished) ? { ready: true, appliedAt: finished } : { ready: true };
    } catch (error) {
      return { ready: false, degraded: false, reason: `Argo CD Application ${namespace}/${application} unavailable: ${errorMessage(error)}` };
    }
  }
}

function targetOf(policy: CanaryPolicy): CanaryTarget {
  return { name: policy.metadata.name, service: policy.spec.service, namespace: policy.spec.namespace, selector: policy.spec.analysis.prometheus };
}

/**
 * What is judged for a policy: the canary itself, or one target per cluster (policy@cluster), each
 * told apart by the cluster label; the metrics port asks a cluster's own endpoint instead when the
 * promoter config has one.
 */
function targetsOf(policy: CanaryPolicy): CanaryTarget[] {
  const clusters = policyClusters(policy);
  if (clusters.length === 0) return [targetOf(policy)];
  const base = targetOf(policy);
  const label = policy.spec.analysis.prometheus.clusterLabel;
  return clusters.map((c) => ({ ...base, name: `${base.name}@${c.name}`, cluster: { name: c.name, label } }));
}

/** Windows relative to the canary's start, each labelled with the weight in force. */
function labelWindows(windows: Window[], offset: number, state: CanaryState, policy: CanaryPolicy, stepStart: number): Window[] {
  const previous = policy.spec.steps[(state.stepIndex ?? 0) - 1]?.weight ?? 0;
  return windows
    .map((w) => ({ ...w, t: w.t - offset }))
    .filter((w) => w.t >= 0)
    .map((w) => ({ ...w, canaryWeight: w.t >= stepStart ? state.canaryWeight : previous }));
}

/** A hold reason names the failure, not the PromQL: the query stays on the error and in the client's log. */
export function withoutQuery(message: string): string {
  return message.replace(/ \(query: [\s\S]*$/, '');
}

/** A statistical rollback (sequential test, critical fast path) needs nothing from Argo CD. */
function isStatisticalRollback(analysis: Analysis | undefined): boolean {
  return analysis !== undefined && 'verdict' in analysis && analysis.verdict.decision === 'rollback' && (analysis.verdict.cause === 'sequential' || analysis.verdict.cause === 'critical');
}

/** An Argo CD gate being read; `settled` is set once it answered (or timed out). */
interface PendingGate {
  promise: Promise<Gate>;
  settled?: Gate;
}

function pendingGate(promise: Promise<Gate>): PendingGate {
  const pending: PendingGate = { promise };
  void promise.then((gate) => (pending.settled = gate));
  return pending;
}

/**
 * Runs the analysis for every progressing canary; one query batch per interval. The Argo CD gate
 * is read at the same time and never waited on for a statistical rollback: it is awaited (bounded)
 * only to place the silence clock when the first verdict is not already a rollback.
 */
/** An analysis, with the windows it judged (a pull request charts them). */
type JudgedAnalysis = Analysis & { windows?: Window[]; latencyBucketsMs?: readonly number[] };

async function analyse(deps: ReconcileDeps, canaries: { observed: Observed; gate: PendingGate }[], judged: Map<string, WindowPoint[]>): Promise<Map<string, JudgedAnalysis>> {
  const results = new Map<string, JudgedAnalysis>();
  // One unit per target: a multi-cluster canary is judged once per cluster, and combined below.
  const items = canaries.flatMap((c) => targetsOf(c.observed.policy).map((target) => ({ ...c, target })));
  const now = deps.clock().getTime() / 1000;
  const byInterval = new Map<number, { observed: Observed; gate: PendingGate; target: CanaryTarget }[]>();
  const historyStart = (state: CanaryState): number | undefined =>
    deps.historySeconds !== undefined ? now - deps.historySeconds : state.canaryStartedAt;
  for (const item of items) {
    const { state, policy } = item.observed;
    if (historyStart(state) === undefined) {
      results.set(item.target.name, {
        unavailable: 'the VirtualService lacks the canary-started-at annotation the promoter writes (was this canary started by hand?); `promoter analyze --since` judges it anyway',
      });
      continue;
    }
    const interval = policy.spec.analysis.interval;
    byInterval.set(interval, [...(byInterval.get(interval) ?? []), item]);
  }
  for (const [interval, group] of byInterval) {
    const start = Math.min(...group.map((g) => historyStart(g.observed.state) ?? now));
    // Targets whose metrics could not be read hold; the others go on (one cluster's endpoint down).
    const failed = new Set<string>();
    const fail = (name: string, message: string): void => {
      failed.add(name);
      results.set(name, { unavailable: withoutQuery(message) });
    };
    // Stable's histogram before each canary started chooses its latency edges; fetched once per
    // canary start. Without it the judge would choose from other data than a replay does, so a
    // failure holds the canary like a failed window query. Read first: it also says which bucket
    // edges the windows need.
    const baselines = new Map<string, LatencyCounts>();
    if (deps.metrics.baselines) {
      try {
        const bySeconds = new Map<number, { target: CanaryTarget; at: number }[]>();
        for (const { observed, target } of group) {
          const seconds = observed.policy.spec.analysis.baselineSeconds;
          bySeconds.set(seconds, [...(bySeconds.get(seconds) ?? []), { target, at: historyStart(observed.state) ?? start }]);
        }
        for (const [seconds, requests] of bySeconds) {
          let fetched: Map<string, LatencyCounts>;
          try {
            fetched = await beforeDeadline(deps, deps.metrics.baselines(requests, { seconds, latencyBucketsMs: ENVOY_BUCKETS_MS }), 'Prometheus');
          } catch (error) {
            if (!(error instanceof PartialMetricsError)) throw error;
            fetched = error.partial as Map<string, LatencyCounts>;
            for (const [name, message] of error.failures) fail(name, message);
          }
          for (const [name, baseline] of fetched) baselines.set(name, baseline);
        }
      } catch (error) {
        for (const g of group) results.set(g.target.name, { unavailable: withoutQuery(errorMessage(error)) });
        continue;
      }
    }
    // Only the bucket edges some canary's judgement depends on (most of the series Prometheus reads
    // are buckets); every canary is judged over the same union, its baseline restricted to it.
    const reading = group.filter((g) => !failed.has(g.target.name));
    const edges = unionOfEdges(reading.map((g) => edgesToRead(g.observed.policy.spec.analysis, ENVOY_BUCKETS_MS, baselines.get(g.target.name))));
    let windows: Map<string, Window[]>;
    try {
      windows = await beforeDeadline(
        deps,
        deps.metrics.windows(reading.map((g) => g.target), { start, end: now, intervalSeconds: interval, latencyBucketsMs: edges }),
        'Prometheus',
      );
    } catch (error) {
      if (!(error instanceof PartialMetricsError)) {
        for (const g of reading) results.set(g.target.name, { unavailable: withoutQuery(errorMessage(error)) });
        continue;
      }
      windows = error.partial as Map<string, Window[]>;
      for (const [name, message] of error.failures) fail(name, message);
    }
    for (const { observed, gate, target } of group) {
      if (failed.has(target.name)) continue;
      const { policy, state } = observed;
      const name = target.name;
      const canaryStart = historyStart(state) ?? start;
      const full = baselines.get(name);
      const baseline = full ? projectLatency(full, ENVOY_BUCKETS_MS, edges) : undefined;
      // The step starts at its commit (the annotation). Not at the Application's last sync: with
      // Applications shared by several canaries, another canary's sync (or CI's) would restart it.
      const stepStart = Math.max(state.stepStartedAt ?? canaryStart, canaryStart) - canaryStart;
      try {
        const guards = await beforeDeadline(deps, deps.metrics.guards(target, policy.spec.analysis, { stepStart: canaryStart + stepStart, now }), 'Prometheus');
        const labelled = labelWindows(windows.get(name) ?? [], canaryStart - start, state, policy, stepStart);
        judged.set(name, windowPoints(labelled, canaryStart, edges));
        const judgeWith = (silenceFrom?: number) =>
          deps.judge({
            windows: labelled,
            settings: policy.spec.analysis,
            steps: policy.spec.steps,
            latencyBucketsMs: edges,
            guards,
            stepElapsedSeconds: Math.max(0, now - canaryStart - stepStart),
            currentWeight: state.canaryWeight,
            ...(baseline ? { baseline } : {}),
            ...(silenceFrom !== undefined ? { silenceFrom } : {}),
          });
        let verdict = judgeWith();
        if (!isStatisticalRollback({ verdict })) {
          const applied = await beforeDeadline(deps, gate.promise, 'Argo CD');
          if (applied.ready && applied.appliedAt !== undefined) verdict = judgeWith(applied.appliedAt - canaryStart);
        }
        results.set(name, { verdict, windows: labelled, latencyBucketsMs: edges });
      } catch (error) {
        results.set(name, { unavailable: withoutQuery(errorMessage(error)) });
      }
    }
  }
  for (const { observed } of canaries) {
    const clusters = policyClusters(observed.policy);
    if (clusters.length === 0) continue;
    combineClusters(observed.policy.metadata.name, clusters.map((c) => c.name), results, judged);
  }
  return results;
}

/**
 * A multi-cluster canary's verdict from its clusters' (results keyed policy@cluster): a rollback in
 * any cluster rolls back, a promotion needs every cluster. The windows shown are the deciding cluster's.
 */
function combineClusters(name: string, clusters: string[], results: Map<string, JudgedAnalysis>, judged: Map<string, WindowPoint[]>): void {
  const per = clusters.map((cluster) => ({ cluster, analysis: results.get(`${name}@${cluster}`) ?? { unavailable: 'not analysed' } }));
  const combined = combineClusterVerdicts(per.map(({ cluster, analysis }) => ('verdict' in analysis ? { cluster, verdict: analysis.verdict } : { cluster, unavailable: analysis.unavailable })));
  const deciding = 'verdict' in combined ? combined.verdict.evidence.cluster ?? clusters[0] : clusters[0];
  const shown = per.find((p) => p.cluster === deciding)?.analysis;
  results.set(name, { ...combined, ...(shown?.windows ? { windows: shown.windows } : {}), ...(shown?.latencyBucketsMs ? { latencyBucketsMs: shown.latencyBucketsMs } : {}) });
  const points = judged.get(`${name}@${deciding ?? ''}`);
  if (points) judged.set(name, points);
  for (const cluster of clusters) {
    results.delete(`${name}@${cluster}`);
    judged.delete(`${name}@${cluster}`);
  }
}

async function observe(deps: ReconcileDeps, policy: CanaryPolicy, file: string, parsed: Map<string, Promise<ParsedManifest>>): Promise<Observed> {
  const texts = await readTexts(deps.git, policy, parsed);
  if (!deps.parseCache) return { policy, file, texts, state: readCanaryState(policy, texts) };
  // The state is a function of the policy and the three texts: unchanged since the last tick, it is
  // not parsed again (a manifest is parsed, lazily, only when a decision edits it).
  const { virtualService: vs, stableDeployment: stable, canaryDeployment: canary } = texts;
  const inputs = [JSON.stringify(policy), vs.text, stable.text, canary.text].join('\0');
  const state = deps.parseCache.get('state', file, inputs, () => readCanaryState(policy, texts));
  // Parsed again only if a decision edits them: most canaries hold.
  for (const manifest of [vs, stable, canary]) manifest.release();
  return { policy, file, texts, state };
}

function targetOfPolicy(policy: CanaryPolicy): NonNullable<Change['target']> {
  const { service, namespace, argocd, steps, deployments } = policy.spec;
  return { service, namespace, application: primaryApplication(policy), argocdNamespace: argocd.namespace, steps: steps.map((s) => s.weight), canaryFile: deployments.canary.file };
}

/** The change an action makes, with its identity: what a push commits or a pull request proposes. */
function changeFor(deps: ReconcileDeps, observed: Observed, action: Exclude<Action, { kind: 'hold' }>, analysis: JudgedAnalysis | undefined): Change {
  const { policy, texts, state } = observed;
  const verdict = analysis && 'verdict' in analysis ? analysis.verdict : undefined;
  const canaryWeight =
    action.kind === 'start' || action.kind === 'set-weight' ? action.to : action.kind === 'finalize-image' ? state.canaryWeight : 0;
  return {
    canary: policy.metadata.name,
    decision: action.kind,
    step: stepAfter(action, state),
    image: actionImage(action, state),
    urgent: action.kind === 'rollback',
    files: applyAction(policy, state, texts, action, deps.clock()),
    message: commitMessage({ canary: policy.metadata.name, state, action, ...(verdict ? { verdict } : {}) }),
    allowedPaths: writablePaths(policy),
    weights: { stable: 100 - canaryWeight, canary: canaryWeight },
    target: targetOfPolicy(policy),
    ...(verdict ? { verdict } : {}),
    ...(analysis?.windows ? { windows: analysis.windows } : {}),
    ...(analysis?.latencyBucketsMs ? { latencyBucketsMs: analysis.latencyBucketsMs } : {}),
  };
}

async function act(deps: ReconcileDeps, observed: Observed, action: Exclude<Action, { kind: 'hold' }>, analysis: JudgedAnalysis | undefined) {
  const change = changeFor(deps, observed, action, analysis);
  const outcome = await deps.delivery.deliver(change);
  return { outcome, subject: change.message.split('\n')[0] ?? '' };
}

/** One tick over every canary policy in the repository. Never throws. */
export async function reconcileOnce(deps: ReconcileDeps): Promise<TickReport> {
  const at = deps.clock().toISOString();
  const logger = deps.logger.child({ tick: at });
  let head: string;
  try {
    head = await beforeDeadline(deps, deps.git.refresh(), 'git');
    deps.parseCache?.nextTick();
  } catch (error) {
    logger.error({ err: errorMessage(error) }, 'git refresh failed; every canary holds');
    return { at, canaries: [], error: `git: ${errorMessage(error)}` };
  }
  const { policies, errors } = await loadPolicies(deps);
  for (const e of errors) logger.error({ file: e.file, error: e.error }, 'invalid canary policy skipped');

  const reports: CanaryReport[] = [...errors];
  const pending = [...policies];
  const attempts = new Map<string, number>();
  const maxAttempts = deps.maxPushAttempts ?? 3;

  while (pending.length > 0) {
    const gates = new GateCache(deps.argo, deps.git, head, deps.gateTimeoutMs ?? DEFAULT_GATE_TIMEOUT_MS, pending.map((p) => p.policy));
    const round: { observed: Observed; gate: PendingGate }[] = [];
    const parsed = new Map<string, Promise<ParsedManifest>>();
    // Read side by side (thousands of small files), reported in the policies' order.
    const observations = await mapConcurrent(pending.splice(0), READ_CONCURRENCY, async ({ policy, file }) => {
      try {
        return { policy, file, observed: await observe(deps, policy, file, parsed) };
      } catch (error) {
        return { policy, file, error };
      }
    });
    for (const { policy, file, observed, error } of observations) {
      if (observed) {
        // Read, not awaited: the Argo CD gate never holds up the analysis (or a rollback).
        round.push({ observed, gate: pendingGate(gates.gate(policy)) });
        continue;
      }
      logger.error({ canary: policy.metadata.name, error: errorMessage(error) }, 'cannot read the canary manifests; holding');
      reports.push({ canary: policy.metadata.name, file, outcome: 'error', reason: 'cannot read the canary manifests; holding', error: errorMessage(error) });
    }
    // Every progressing canary is analysed, whatever Argo CD says: a rollback must not wait for a
    // shared Application to settle. The plan still promotes only once the step is synced.
    const toAnalyse = round.filter((r) => r.observed.state.phase === 'progressing' && !r.observed.state.paused);
    const judged = new Map<string, WindowPoint[]>();
    const analyses = await analyse(deps, toAnalyse, judged);
    // Rollbacks act first, so a tick that runs out of time has written them before anything else.
    round.sort((a, b) => Number(isStatisticalRollback(analyses.get(b.observed.policy.metadata.name))) - Number(isStatisticalRollback(analyses.get(a.observed.policy.metadata.name))));

    // Set when the clone moved under this round (a lost race, a failed write): the canaries not
    // yet acted on are re-read from the new HEAD instead of writing texts read before it.
    let raced = false;
    const written = new Set<string>();
    const batch: (Decided & { change: Change })[] = [];
    /** What one delivered decision came to. `batchTip`: it went in one push with others, whose sync is requested once for the tip. */
    const record = async ({ observed, action, analysis, base, log }: Decided, outcome: PushOutcome, subject: string, batchTip?: string): Promise<void> => {
      const { policy, file } = observed;
      const name = policy.metadata.name;
      const verdict = analysis && 'verdict' in analysis ? analysis.verdict : undefined;
      if (outcome.kind === 'pushed') {
        log.info({ action: action.kind, sha: outcome.sha, subject }, 'committed');
        reports.push({ ...base, outcome: 'committed', action: action.kind, reason: subject, commit: { sha: outcome.sha, subject } });
        head = batchTip ?? outcome.sha;
        for (const path of writablePaths(policy)) written.add(path);
        if (batchTip === undefined) {
          await requestSync(deps, policy, outcome.sha, log, deps.gateTimeoutMs ?? DEFAULT_GATE_TIMEOUT_MS, [
            { name: 'Decision', value: subject },
            { name: 'Evidence', value: verdictSummary(verdict) },
          ]);
        }
      } else if (outcome.kind === 'proposed') {
        // Not merged yet: HEAD did not move, Argo CD has nothing new to apply, so no sync.
        log.info({ action: action.kind, subject, url: outcome.url }, 'proposed');
        reports.push({ ...base, outcome: 'proposed', action: action.kind, reason: `${subject}: ${outcome.reason}` });
      } else if (outcome.kind === 'held') {
        log[outcome.alert ? 'warn' : 'info']({ action: action.kind, reason: outcome.reason }, 'hold');
        reports.push({ ...base, outcome: 'held', action: 'hold', reason: outcome.reason });
      } else if (outcome.kind === 'no-op') {
        reports.push({ ...base, outcome: 'no-op', action: action.kind, reason: 'the wanted edit is already at HEAD' });
      } else {
        const tries = (attempts.get(name) ?? 0) + 1;
        attempts.set(name, tries);
        log.warn({ reason: outcome.reason, attempt: tries }, 'push lost a race; re-reading HEAD and deciding again');
        raced = true;
        if (tries >= maxAttempts) {
          reports.push({ ...base, outcome: 'raced', action: action.kind, reason: `push rejected ${tries} times (${outcome.reason}); trying again next tick` });
        } else {
          pending.push({ policy, file });
        }
      }
    };
    const failed = ({ action, base, log }: Decided, error: unknown): void => {
      log.error({ action: action.kind, error: errorMessage(error) }, 'could not write the decision; holding');
      reports.push({ ...base, outcome: 'error', action: action.kind, reason: 'could not write the decision; holding', error: errorMessage(error) });
      raced = true; // the adapter reset the clone to the remote; re-read before acting again
    };
    // Sync requests of the round's pushes, one after the other, off the decisions' path.
    let syncs: Promise<void> = Promise.resolve();
    /** Sends the batched decisions in one push; called before waiting on anything, so a slow gate never holds a decision already made. */
    const flush = async (): Promise<void> => {
      if (batch.length === 0 || !deps.delivery.deliverAll) return;
      const deliverAll = deps.delivery.deliverAll.bind(deps.delivery);
      const notWritten = (reason: string, error?: string) => {
        for (const { action, base, log } of batch) {
          log.warn({ action: action.kind }, reason);
          reports.push(error === undefined ? { ...base, outcome: 'held', action: 'hold', reason } : { ...base, outcome: 'error', action: action.kind, reason, error });
        }
      };
      if (deps.mayWrite && !deps.mayWrite()) notWritten(NOT_LEADER);
      else if (pastDeadline(deps)) notWritten(DEADLINE_PASSED, 'tick deadline passed');
      else {
        try {
          const outcomes = await deliverAll(batch.map((b) => b.change));
          const tip = outcomes.map((o) => (o.kind === 'pushed' ? o.sha : undefined)).filter((sha): sha is string => sha !== undefined).at(-1);
          for (const [i, item] of batch.entries()) {
            const outcome = outcomes[i];
            if (outcome) await record(item, outcome, item.change.message.split('\n')[0] ?? '', tip);
          }
          const synced = batch.filter((_, i) => outcomes[i]?.kind === 'pushed');
          if (tip !== undefined) syncs = syncs.then(() => requestSyncs(deps, synced, tip, logger, deps.gateTimeoutMs ?? DEFAULT_GATE_TIMEOUT_MS));
        } catch (error) {
          for (const item of batch) failed(item, error);
        }
      }
      batch.length = 0;
    };
    for (const { observed, gate: pendingGateOf } of round) {
      const { policy, state, file } = observed;
      const name = policy.metadata.name;
      const log = logger.child({ canary: name });
      const analysis = analyses.get(name);
      const verdict = analysis && 'verdict' in analysis ? analysis.verdict : undefined;
      const points = judged.get(name);
      const base = {
        canary: name,
        file,
        phase: state.phase,
        canaryWeight: state.canaryWeight,
        ...(verdict ? { verdict } : {}),
        snapshot: snapshotOf(policy, state, observed.texts),
        ...(points ? { windows: points } : {}),
      };
      if (raced || writablePaths(policy).some((p) => written.has(p))) {
        pending.push({ policy, file });
        raced = true;
        continue;
      }
      let gate: Gate;
      if (isStatisticalRollback(analysis)) {
        gate = pendingGateOf.settled ?? { ready: false, degraded: false, reason: 'Argo CD not consulted: a statistical rollback does not wait for it' };
      } else {
        if (pendingGateOf.settled === undefined) await flush();
        try {
          gate = await beforeDeadline(deps, pendingGateOf.promise, 'Argo CD');
        } catch (error) {
          gate = { ready: false, degraded: false, reason: errorMessage(error) };
        }
      }
      const action = plan({ state, policy, gate, ...(analysis ? { analysis } : {}) });
      if (action.kind === 'hold') {
        // A quiet canary (idle, or waiting on a failed image) is not news on every tick.
        const level = action.alert ? 'warn' : state.phase === 'idle' || state.phase === 'failed' ? 'debug' : 'info';
        log[level]({ phase: state.phase, weight: state.canaryWeight, reason: action.reason, evidence: verdict ? verdictSummary(verdict) : undefined }, 'hold');
        reports.push({ ...base, outcome: 'held', action: 'hold', reason: action.reason });
        continue;
      }
      if (deps.dryRun) {
        const wouldWrite = commitMessage({ canary: name, state, action, ...(verdict ? { verdict } : {}) }).split('\n')[0] ?? '';
        reports.push({ ...base, outcome: 'dry-run', action: action.kind, reason: `would commit: ${wouldWrite}` });
        continue;
      }
      if (deps.mayWrite && !deps.mayWrite()) {
        log.warn({ action: action.kind }, 'not written: lost the Lease during the tick');
        reports.push({ ...base, outcome: 'held', action: 'hold', reason: NOT_LEADER });
        continue;
      }
      if (pastDeadline(deps)) {
        log.warn({ action: action.kind }, 'tick deadline passed; not writing, the next tick decides again');
        reports.push({ ...base, outcome: 'error', action: action.kind, reason: DEADLINE_PASSED, error: 'tick deadline passed' });
        continue;
      }
      const item: Decided = { observed, action, analysis, base, log };
      if (deps.delivery.deliverAll) {
        // Push delivery: every decision of the round is its own commit, all sent in one push below.
        batch.push({ ...item, change: changeFor(deps, observed, action, analysis) });
        for (const path of writablePaths(policy)) written.add(path);
        continue;
      }
      try {
        const { outcome, subject } = await act(deps, observed, action, analysis);
        await record(item, outcome, subject);
      } catch (error) {
        failed(item, error);
      }
    }
    await flush();
    await syncs;
    if (raced) {
      try {
        head = await beforeDeadline(deps, deps.git.refresh(), 'git');
      } catch (error) {
        for (const { policy, file } of pending.splice(0)) {
          reports.push({ canary: policy.metadata.name, file, outcome: 'error', reason: 'git refresh failed after a push race', error: errorMessage(error) });
        }
      }
    }
  }
  return { head, at, canaries: reports };
}

/** A decision about to be delivered, with what its report says. */
interface Decided {
  observed: Observed;
  action: Exclude<Action, { kind: 'hold' }>;
  analysis: JudgedAnalysis | undefined;
  base: Omit<CanaryReport, 'outcome' | 'reason'>;
  log: Logger;
}

/**
 * After one push of several decisions: one sync request per Application, for the tip (it contains
 * every decision), at once. Argo CD runs one operation per Application anyway: a request per
 * decision would find the first one running.
 */
async function requestSyncs(deps: ReconcileDeps, items: readonly (Decided & { change: Change })[], tip: string, log: Logger, timeoutMs: number): Promise<void> {
  const byApplication = new Map<string, { namespace: string; application: string; subjects: string[] }>();
  for (const { observed, change } of items) {
    const namespace = observed.policy.spec.argocd.namespace;
    for (const application of gatedApplications(observed.policy)) {
      const key = `${namespace}/${application}`;
      const entry = byApplication.get(key) ?? { namespace, application, subjects: [] };
      entry.subjects.push(change.message.split('\n')[0] ?? '');
      byApplication.set(key, entry);
    }
  }
  await Promise.all(
    [...byApplication.values()].map(({ namespace, application, subjects }) =>
      requestSyncOf(deps, application, namespace, tip, log, timeoutMs, [
        { name: 'Decision', value: subjects.length === 1 ? (subjects[0] ?? '') : `${subjects.length} decisions: ${subjects.join('; ')}`.slice(0, 1000) },
      ]),
    ),
  );
}

/** One bounded sync request; a failure is logged (Argo CD polls anyway), never thrown. */
async function requestSyncOf(deps: ReconcileDeps, application: string, namespace: string, sha: string, log: Logger, timeoutMs: number, info: SyncInfo[]): Promise<void> {
  if (deps.mayWrite && !deps.mayWrite()) {
    log.warn({ application, sha }, `sync not requested: ${NOT_LEADER}; Argo CD picks the commit up by polling`);
    return;
  }
  try {
    const result = await within(deps.argo.requestSync(application, namespace, sha, info), Math.min(timeoutMs, Math.max(0, (deps.deadlineAt ?? Infinity) - Date.now())), () => new TransientError(`no answer within ${timeoutMs} ms`));
    log.info({ application, sha, result }, 'sync requested');
  } catch (error) {
    // Argo CD still picks the commit up by polling; the next tick waits for it either way.
    log.warn({ application, sha, error: errorMessage(error) }, 'sync request failed; Argo CD will pick the commit up by polling');
  }
}

async function requestSync(deps: ReconcileDeps, policy: CanaryPolicy, sha: string, log: Logger, timeoutMs: number, info: SyncInfo[]): Promise<void> {
  // One after the other, each bounded: a hanging sync request must not hold the next canary's rollback.
  for (const application of gatedApplications(policy)) await requestSyncOf(deps, application, policy.spec.argocd.namespace, sha, log, timeoutMs, info);
}
