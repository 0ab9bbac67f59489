// The data the analysis works on (windows of integer counts per arm) and what it returns
// (a verdict with its evidence). Shared by the live path, the trace replay and the benchmark.

export type Arm = 'stable' | 'canary';

/** Cumulative request counts per latency bucket edge, within one window (not over time). */
export interface LatencyCounts {
  /** le[i] = requests with duration <= latencyBucketsMs[i], within the window. */
  le: number[];
  /** all requests seen by the histogram in the window (the +Inf bucket). */
  count: number;
}

/** Integer counts of one arm in one non-overlapping analysis window. */
export interface ArmCounts {
  requests: number;
  /** 5xx responses. */
  errors: number;
  latency?: LatencyCounts;
  /**
   * true when Prometheus had no finite sample of this arm's request counters in the window (the
   * series is absent, NaN or Inf): the counts are unknown, not zero, and silence is never inferred.
   */
  noData?: boolean;
}

/** One analysis interval. `t` is seconds since the canary started, at the window's start. */
export interface Window {
  t: number;
  /** the canary weight in force during the window (the step). */
  canaryWeight: number;
  stable: ArmCounts;
  canary: ArmCounts;
}

export type Decision = 'promote' | 'hold' | 'rollback';

/** An absolute check (success rate, p99, custom PromQL) and how it came out. */
export interface GuardOutcome {
  name: string;
  /** null when there was no data to judge. */
  value: number | null;
  threshold: number;
  /** the value passes when `value <op> threshold` holds. */
  op: '<=' | '>=' | '<' | '>';
  status: 'pass' | 'fail' | 'no-data';
  /** the PromQL that produced the value, when it came from Prometheus. */
  query?: string;
  /** why a value beyond the threshold still passes (a breach within sampling noise). */
  note?: string;
}

/** The sequential comparison of one guarded metric (5xx, or slow requests at one bucket edge). */
export interface MetricEvidence {
  /** e.g. "5xx" or "latency>500ms". */
  metric: string;
  canaryEvents: number;
  stableEvents: number;
  /** bad events per request, per arm, over the canary's history. */
  canaryRate: number;
  stableRate: number;
  /** the mixture statistic log M and the rollback threshold log(1/alpha_m). */
  logM: number;
  logThreshold: number;
  /** the anytime-valid confidence bounds on the canary/stable rate ratio (exp(delta)). */
  ratioLower: number;
  ratioUpper: number;
}

export interface ArmSummary {
  requests: number;
  errors: number;
  errorRate: number | null;
  p99Ms: number | null;
}

export interface Evidence {
  /** windows judged since the canary started, and in the current step. */
  windows: number;
  stepWindows: number;
  stepSeconds: number;
  /** per-arm totals in the current step. */
  canary: ArmSummary;
  stable: ArmSummary;
  metrics: MetricEvidence[];
  guards: GuardOutcome[];
  /** the averaged e-value over the metrics (log E, rollback at log(1/alpha)). */
  combined?: { logE: number; logThreshold: number };
  /** the cluster these counts are from, in a multi-cluster canary. */
  cluster?: string;
  /** the slow-request edges and where they came from; 'pending' while the first windows choose them. */
  latencyEdges?: { source: 'fixed' | 'baseline' | 'pooled' | 'pending'; edgesMs: number[]; requests: number };
}

/**
 * Why a verdict is a rollback: the statistics (sequential test, critical fast path) speak for the
 * canary whatever its step; a silent canary or a timed-out step only once the step is applied.
 */
export type RollbackCause = 'sequential' | 'critical' | 'no-traffic' | 'max-dwell';

export interface Verdict {
  decision: Decision;
  /** set on rollbacks. */
  cause?: RollbackCause;
  /** one sentence a person can read in a commit message or a log line. */
  reason: string;
  evidence: Evidence;
  /** a multi-cluster canary: each cluster's own verdict, in the policy's order (the evidence above is the deciding cluster's). */
  clusters?: ClusterVerdict[];
}

/** One cluster's verdict within a multi-cluster canary: its canary judged against its own stable. */
export interface ClusterVerdict {
  cluster: string;
  decision: Decision;
  cause?: RollbackCause;
  reason: string;
  evidence: Evidence;
}
