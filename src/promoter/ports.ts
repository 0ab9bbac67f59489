// The narrow interfaces the reconcile loop needs from the outside world. The real adapters
// (workspace.ts, delivery.ts, github.ts, argocd.ts, src/analysis/prometheus.ts + windows.ts) satisfy them structurally;
// the loop itself imports no adapter.
import type { AnalysisSettings } from '../analysis/settings.js';
import type { JudgeInput } from '../analysis/judge.js';
import type { GuardOutcome, LatencyCounts, Verdict, Window } from '../analysis/types.js';
import type { PrometheusSelector } from '../analysis/settings.js';
import { TransientError } from '../errors.js';

/** Who a commit is by; a person's operation names the person (author) while the promoter commits. */
export interface Identity {
  name: string;
  email: string;
}

export interface FileChange {
  /** repo-relative path -> full new content */
  files: Record<string, string>;
  /** the whole commit message: subject, body and trailers. */
  message: string;
  /** the files the policy lets the promoter write; anything else is refused before anything is written. */
  allowedPaths: readonly string[];
  /** the person who asked for it (`promoter pause` ...): the commit's author, the promoter its committer. */
  author?: Identity;
}

/**
 * One decision to deliver, with its identity: branch names, pull-request de-duplication and
 * labels come from these fields, never from parsing the message.
 */
export interface Change extends FileChange {
  canary: string;
  /** the action kind (start, set-weight, finalize-image, finalize-traffic, rollback) or a person's (pause, resume, manual-start...). */
  decision: string;
  /** where the canary is once this applies (Promoter-Step): a weight, finalize-image, finalize-traffic or rollback-from-<w>. */
  step: string;
  /** the canary image the decision is about. */
  image: string;
  /** a rollback or an abort: users are served by a bad canary while a pull request waits. */
  urgent: boolean;
  /** the analysis behind the decision, and the windows it judged (for a pull request's evidence). */
  verdict?: Verdict;
  windows?: Window[];
  /** the bucket edges the windows' latency counts refer to (Envoy's when absent). */
  latencyBucketsMs?: readonly number[];
  /** the weights once the change applies. */
  weights?: { stable: number; canary: number };
  /** where the canary lives, for links and the step ladder in a pull request. */
  target?: { service: string; namespace: string; application: string; argocdNamespace: string; steps: number[]; canaryFile: string };
}

export type PushOutcome =
  | { kind: 'pushed'; sha: string }
  | { kind: 'no-op'; sha: string }
  | { kind: 'rejected'; reason: string }
  /** a pull request was opened or updated and is not merged yet: the loop holds and requests no sync. */
  | { kind: 'proposed'; reason: string; url?: string }
  /** a person acted on the delivery (closed its pull request, committed to its branch): hold with the reason. */
  | { kind: 'held'; reason: string; alert: boolean };

/** The read side of the GitOps repository: what the loop observes at HEAD. */
export interface RepoReader {
  /** fetch and reset to the remote branch; returns HEAD. */
  refresh(): Promise<string>;
  readFile(path: string): Promise<string | undefined>;
  /** repo-relative paths of the files matching a glob with `*` segments, at HEAD. */
  listFiles(pattern: string): Promise<string[]>;
  /** does `descendant` contain `ancestor`? 'unknown' when `descendant` is not in the clone yet. */
  contains?(descendant: string, ancestor: string): Promise<boolean | 'unknown'>;
  /** the newest commit at HEAD that touched any of `paths`. */
  lastCommitTouching?(paths: readonly string[]): Promise<string | undefined>;
  /** `lastCommitTouching` for many sets of paths at once (one history walk per tick instead of one per canary). */
  lastCommitsTouching?(pathSets: readonly (readonly string[])[]): Promise<(string | undefined)[]>;
  /** which of `ancestors` `descendant` contains, in one walk; 'unknown' when `descendant` is not in the clone yet. */
  containsAll?(descendant: string, ancestors: readonly string[]): Promise<Set<string> | 'unknown'>;
}

/** The write side: push (one commit on the branch) or pull-request (src/promoter/github.ts). */
export interface DeliveryPort {
  deliver(change: Change): Promise<PushOutcome>;
  /**
   * Several changes (no two writing one file), each its own commit, delivered at once (push: one
   * push for all); all or nothing. Outcomes in the order of `changes`.
   */
  deliverAll?(changes: Change[]): Promise<PushOutcome[]>;
}

export type OperationPhase = 'Running' | 'Terminating' | 'Failed' | 'Error' | 'Succeeded';

/** What the promoter needs of an Argo CD Application's status. */
export interface ApplicationStatusView {
  name: string;
  syncStatus: 'Synced' | 'OutOfSync' | 'Unknown';
  syncedRevision?: string;
  /** Healthy / Progressing / Degraded / Suspended / Missing / Unknown */
  health: string;
  healthMessage?: string;
  operationPhase?: OperationPhase;
  /** the revision of the last (or current) sync operation. */
  operationRevision?: string;
  operationMessage?: string;
  operationFinishedAt?: string;
  reconciledAt?: string;
  /** an operation is requested or running; Argo CD refuses another one until it finishes. */
  operationInProgress: boolean;
  /** "Kind/name" of the managed resources whose health is Degraded (status.resources). */
  degradedResources?: string[];
}

export interface SyncInfo {
  name: string;
  value: string;
}

export type SyncGate = { ready: true } | { ready: false; reason: string; degraded: boolean; degradedResources?: string[] };

export interface ArgoPort {
  getApplication(name: string, namespace: string): Promise<ApplicationStatusView>;
  /** `info` entries show in the Argo CD UI beside the sync operation (the decision and its evidence). */
  requestSync(name: string, namespace: string, revision: string, info?: SyncInfo[]): Promise<'requested' | 'already-running'>;
  /** `contains(revision)`: the revision holds `sha` (default: it is `sha`). */
  syncGate(status: ApplicationStatusView, sha: string, contains?: (revision: string) => boolean): SyncGate;
}

export interface CanaryTarget {
  /** the policy name, or policy@cluster for one cluster of a multi-cluster canary. */
  name: string;
  service: string;
  namespace: string;
  selector: PrometheusSelector;
  /**
   * the cluster of a multi-cluster canary: `label` tells it apart on a shared endpoint; the metrics
   * port drops the label and asks the cluster's own endpoint when the config has one.
   */
  cluster?: { name: string; label?: string };
}

/**
 * Some targets' metrics could not be read (one cluster's endpoint is down) while the others' were:
 * the others are judged (a bad canary in a reachable cluster still rolls back), the failed ones hold.
 */
export class PartialMetricsError<T> extends TransientError {
  override name = 'PartialMetricsError';
  constructor(
    readonly partial: Map<string, T>,
    /** target name -> why its metrics are missing. */
    readonly failures: Map<string, string>,
    options?: ErrorOptions,
  ) {
    super(`metrics unavailable for ${[...failures.keys()].join(', ')}`, options);
  }
}

export interface MetricsPort {
  /**
   * complete windows since `start` (t relative to start, canaryWeight 0), one batched query for all
   * targets (per endpoint); a PartialMetricsError when only some targets' endpoints answered.
   */
  windows(
    targets: CanaryTarget[],
    range: { start: number; end: number; intervalSeconds: number; latencyBucketsMs: readonly number[] },
  ): Promise<Map<string, Window[]>>;
  /**
   * stable's latency histogram over `seconds` before each canary's start (`at`), keyed by canary
   * name; absent when stable served nothing then. Fixed per canary start, so implementations cache.
   */
  baselines?(
    requests: { target: CanaryTarget; at: number }[],
    options: { seconds: number; latencyBucketsMs: readonly number[] },
  ): Promise<Map<string, LatencyCounts>>;
  /** the policy's custom PromQL checks, live; success rate and p99 are the judge's, from the windows. */
  guards(target: CanaryTarget, settings: AnalysisSettings, span: { stepStart: number; now: number }): Promise<GuardOutcome[]>;
}

export type JudgeFn = (input: JudgeInput) => Verdict;
