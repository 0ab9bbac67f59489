// The canary-vs-stable verdict: the sequential test per guarded metric (5xx, slow requests at
// bucket edges), the critical fast path, the absolute guards and the step's dwell rules. Pure.
import { guardOutcome } from './comparison.js';
import { formatDuration } from './duration.js';
import { addLatencyCounts, histogramQuantile } from './quantile.js';
import {
  createSequentialState,
  eventsToBound,
  summarizeSequential,
  updateSequentialState,
  type EventCounts,
  type SequentialParams,
  type SequentialState,
  type SequentialSummary,
} from './sequential.js';
import type { AnalysisSettings, StepSpec } from './settings.js';
import type { ArmCounts, ArmSummary, Evidence, GuardOutcome, LatencyCounts, MetricEvidence, RollbackCause, Verdict, Window } from './types.js';
import { addPooled, edgesForQuantiles, fixedEdgeIndices, type EdgeChoice } from './edges.js';

export interface JudgeInput {
  /** every complete window since the canary started, oldest first. */
  windows: Window[];
  settings: AnalysisSettings;
  steps: StepSpec[];
  /** the bucket edges that every `le` array refers to. */
  latencyBucketsMs: readonly number[];
  /** guards evaluated elsewhere; one named like a built-in ("success-rate", "latency-p99") replaces it. */
  guards?: GuardOutcome[];
  /** real time spent in the current step, when the caller knows better than windows x interval. */
  stepElapsedSeconds?: number;
  /**
   * the weight in force now, when the caller knows it: right after a promotion no complete window
   * at the new weight exists yet, and the step must not be mistaken for the previous one.
   */
  currentWeight?: number;
  /**
   * seconds since the canary started from which a silent canary counts: when Argo CD applied the
   * step. Windows before it say nothing about whether the canary serves at this weight.
   */
  silenceFrom?: number;
  /**
   * stable's latency histogram (cumulative counts over latencyBucketsMs) before the canary
   * started, from which the slow-request edges are chosen; without it, both arms of the first
   * windows are pooled.
   */
  baseline?: LatencyCounts;
}

/** One guarded metric: 5xx, or requests slower than one bucket edge. */
export interface GuardedMetric {
  name: string;
  /** index into latencyBucketsMs for slow-request metrics; undefined for 5xx. */
  edgeIndex?: number;
  params: SequentialParams;
  ratioPromote: number;
  /** expected canary events before the confidence bound is required for promotion. */
  eventsToBound: number;
  /** this metric's weight in the averaged e-value; the weights of a rollout sum to at most 1. */
  weight: number;
}

/**
 * The sequential state of every guarded metric, updatable window by window, and their average
 * e-value E = sum_k w_k M_k: a rollback when E >= 1/alpha.
 */
export interface AnalysisState {
  readonly settings: AnalysisSettings;
  readonly latencyBucketsMs: readonly number[];
  metrics: GuardedMetric[];
  states: SequentialState[];
  /** how the latency edges were chosen; null while the pooled distribution is still too small. */
  edges: EdgeChoice | null;
  /** both arms pooled over the windows seen while choosing (pooled source only). */
  pooled: LatencyCounts;
  windows: number;
  /** log E of the averaged e-value, its threshold log(1/alpha), and the first window that crossed. */
  logE: number;
  maxLogE: number;
  logThreshold: number;
  crossedAtWindow: number | null;
}

function errorMetric(settings: AnalysisSettings, weight: number): GuardedMetric {
  const seq = settings.sequential;
  return {
    name: '5xx',
    params: { ratioTolerated: seq.errorRatioTolerated, alphaMetric: seq.alpha * weight, alphaConfidence: seq.alphaConfidence, priorScale: seq.priorScale, gridPoints: seq.gridPoints },
    ratioPromote: seq.errorRatioPromote,
    eventsToBound: eventsToBound(seq.errorRatioPromote, seq.alphaConfidence, seq.priorScale),
    weight,
  };
}

function latencyMetric(settings: AnalysisSettings, latencyBucketsMs: readonly number[], index: number, weight: number): GuardedMetric {
  const seq = settings.sequential;
  return {
    name: `latency>${latencyBucketsMs[index] ?? '?'}ms`,
    edgeIndex: index,
    params: { ratioTolerated: seq.latencyRatioTolerated, alphaMetric: seq.alpha * weight, alphaConfidence: seq.alphaConfidence, priorScale: seq.priorScale, gridPoints: seq.gridPoints },
    ratioPromote: seq.latencyRatioPromote,
    eventsToBound: eventsToBound(seq.latencyRatioPromote, seq.alphaConfidence, seq.priorScale),
    weight,
  };
}

/** Whether the settings guard latency at all (fixed edges, or quantiles to choose them from). */
function guardsLatency(settings: AnalysisSettings): boolean {
  const seq = settings.sequential;
  return seq.latencyEdgesMs !== undefined ? seq.latencyEdgesMs.length > 0 : seq.latencyQuantiles.length > 0;
}

/** The 5xx weight: errorShare when latency is guarded too, else the whole alpha. */
function errorWeight(settings: AnalysisSettings): number {
  return guardsLatency(settings) ? settings.sequential.errorShare : 1;
}

/** Adds the latency metrics for the chosen edges, sharing the latency part of alpha equally. */
function chooseEdges(state: AnalysisState, choice: EdgeChoice): void {
  state.edges = choice;
  const share = (1 - errorWeight(state.settings)) / Math.max(1, choice.indices.length);
  for (const index of choice.indices) {
    const metric = latencyMetric(state.settings, state.latencyBucketsMs, index, share);
    state.metrics.push(metric);
    state.states.push(createSequentialState(metric.params));
  }
}

/**
 * A fresh state. The latency edges come from the policy's fixed latencyEdgesMs, else from
 * `baseline` (stable's histogram before the canary started) when it has baselineMinRequests,
 * else from both arms of the first windows, pooled, once they have that many requests.
 */
export function createAnalysisState(settings: AnalysisSettings, latencyBucketsMs: readonly number[], baseline?: LatencyCounts): AnalysisState {
  const seq = settings.sequential;
  const metric = errorMetric(settings, errorWeight(settings));
  const state: AnalysisState = {
    settings,
    latencyBucketsMs,
    metrics: [metric],
    states: [createSequentialState(metric.params)],
    edges: null,
    pooled: { le: [], count: 0 },
    windows: 0,
    logE: 0,
    maxLogE: 0,
    logThreshold: Math.log(1 / seq.alpha),
    crossedAtWindow: null,
  };
  if (seq.latencyEdgesMs !== undefined) {
    chooseEdges(state, { indices: fixedEdgeIndices(seq.latencyEdgesMs, latencyBucketsMs), source: 'fixed', requests: 0, windowsUsed: 0 });
  } else if (seq.latencyQuantiles.length === 0) {
    chooseEdges(state, { indices: [], source: 'fixed', requests: 0, windowsUsed: 0 });
  } else if (baseline !== undefined && baseline.count >= seq.baselineMinRequests && baseline.le.length === latencyBucketsMs.length) {
    chooseEdges(state, { indices: edgesForQuantiles(baseline, seq.latencyQuantiles), source: 'baseline', requests: baseline.count, windowsUsed: 0 });
  }
  return state;
}

function slowEvents(arm: ArmCounts, edgeIndex: number): { requests: number; events: number } | null {
  const latency = arm.latency;
  if (latency === undefined) return null;
  const within = latency.le[edgeIndex];
  if (within === undefined) return null;
  return { requests: latency.count, events: Math.max(0, latency.count - within) };
}

/** The bad-event counts of one metric in one window; zeros when a histogram is missing. */
export function metricCounts(metric: GuardedMetric, window: Window): EventCounts {
  if (metric.edgeIndex === undefined) {
    return {
      canaryRequests: window.canary.requests,
      stableRequests: window.stable.requests,
      canaryEvents: window.canary.errors,
      stableEvents: window.stable.errors,
    };
  }
  const canary = slowEvents(window.canary, metric.edgeIndex);
  const stable = slowEvents(window.stable, metric.edgeIndex);
  if (canary === null || stable === null) return { canaryRequests: 0, stableRequests: 0, canaryEvents: 0, stableEvents: 0 };
  return { canaryRequests: canary.requests, stableRequests: stable.requests, canaryEvents: canary.events, stableEvents: stable.events };
}

/** log of sum_k w_k M_k, from each metric's log M. */
function averagedLogE(state: AnalysisState): number {
  let max = Number.NEGATIVE_INFINITY;
  const terms = state.metrics.map((m, i) => Math.log(m.weight) + (state.states[i]?.logM ?? 0));
  for (const t of terms) if (t > max) max = t;
  if (max === Number.NEGATIVE_INFINITY) return max;
  return max + Math.log(terms.reduce((sum, t) => sum + Math.exp(t - max), 0));
}

export function updateAnalysisState(state: AnalysisState, window: Window): void {
  state.windows += 1;
  // Metrics that exist already take the window; a pooled window that completes the edge choice
  // chose the edges and is not tested by them.
  state.metrics.forEach((metric, i) => {
    const s = state.states[i];
    if (s !== undefined) updateSequentialState(s, metricCounts(metric, window));
  });
  if (state.edges === null) {
    addPooled(state.pooled, window);
    if (state.pooled.count >= state.settings.sequential.baselineMinRequests && state.pooled.le.length === state.latencyBucketsMs.length) {
      chooseEdges(state, {
        indices: edgesForQuantiles(state.pooled, state.settings.sequential.latencyQuantiles),
        source: 'pooled',
        requests: state.pooled.count,
        windowsUsed: state.windows,
      });
    }
  }
  state.logE = averagedLogE(state);
  if (state.logE > state.maxLogE) state.maxLogE = state.logE;
  if (state.crossedAtWindow === null && state.logE >= state.logThreshold) state.crossedAtWindow = state.windows - 1;
}

/** The state a restarted promoter recomputes from Prometheus history: same as the incremental one. */
export function analysisStateFromHistory(
  settings: AnalysisSettings,
  latencyBucketsMs: readonly number[],
  windows: readonly Window[],
  baseline?: LatencyCounts,
): AnalysisState {
  const state = createAnalysisState(settings, latencyBucketsMs, baseline);
  for (const window of windows) updateAnalysisState(state, window);
  return state;
}

/**
 * The slow-request edges (ms) the analysis counts with these settings and this baseline; undefined
 * while they are to be chosen from the first windows (then every bucket edge is needed).
 * The p99 guard needs the bucket edges too; a query layer that fetches fewer edges keeps these.
 */
export function sequentialEdgesMs(settings: AnalysisSettings, latencyBucketsMs: readonly number[], baseline?: LatencyCounts): number[] | undefined {
  const state = createAnalysisState(settings, latencyBucketsMs, baseline);
  return state.edges === null ? undefined : state.edges.indices.map((i) => latencyBucketsMs[i] ?? Number.NaN);
}

/** The verdict on the whole history since the canary started (recomputed from scratch). */
export function judge(input: JudgeInput): Verdict {
  return judgeWithState(input, analysisStateFromHistory(input.settings, input.latencyBucketsMs, input.windows, input.baseline));
}

/** The step spec for a weight: the exact step, else the first step above it, else the last. */
export function stepFor(steps: readonly StepSpec[], weight: number): StepSpec | undefined {
  return steps.find((s) => s.weight === weight) ?? steps.find((s) => s.weight > weight) ?? steps.at(-1);
}

interface ArmTotals {
  requests: number;
  errors: number;
  latency: { le: number[]; count: number } | null;
}

function totals(windows: readonly Window[], arm: 'canary' | 'stable'): ArmTotals {
  const out: ArmTotals = { requests: 0, errors: 0, latency: null };
  for (const window of windows) {
    const counts = window[arm];
    out.requests += counts.requests;
    out.errors += counts.errors;
    if (counts.latency !== undefined) {
      out.latency ??= { le: [], count: 0 };
      addLatencyCounts(out.latency, counts.latency);
    }
  }
  return out;
}

function p99(arm: ArmTotals, edges: readonly number[]): number | null {
  if (arm.latency === null) return null;
  const value = histogramQuantile(0.99, edges, arm.latency.le, arm.latency.count);
  return Number.isFinite(value) ? value : null;
}

function armSummary(arm: ArmTotals, edges: readonly number[]): ArmSummary {
  return {
    requests: arm.requests,
    errors: arm.errors,
    errorRate: arm.requests > 0 ? arm.errors / arm.requests : null,
    p99Ms: p99(arm, edges),
  };
}


/** log Gamma(x) for x > 0 (Lanczos, g = 7): enough for binomial tails. */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0] ?? 1;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (c[i] ?? 0) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** P(Binomial(n, p) >= k), exactly: the pmf at k, then the ratio recursion until the terms vanish. */
export function binomialUpperTail(n: number, p: number, k: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let term = Math.exp(logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log1p(-p));
  let sum = 0;
  for (let j = k; j <= n && term > 0; j++) {
    sum += term;
    if (term < sum * 1e-15) break;
    term *= ((n - j) / (j + 1)) * (p / (1 - p));
  }
  return Math.min(1, sum);
}

/** The level at which a built-in guard's breach must stand out from sampling noise to fail. */
const GUARD_ALPHA = 0.05;

/**
 * Whether `bad` of `n` requests breach "at most `share` of requests are bad" beyond sampling
 * noise: a canary exactly at the limit shows this many or more in under 5 % of steps. A single
 * 5xx in 30 requests of a quiet canary is not a breach of 99 %; 1.3 % of 15,000 is.
 */
function breaches(bad: number, n: number, share: number): boolean {
  if (n <= 0 || bad <= share * n) return false;
  return binomialUpperTail(n, share, bad) <= GUARD_ALPHA;
}

/**
 * The success-rate floor and the p99 ceiling over the step's pooled windows. The value is the
 * point estimate (errors over requests; PromQL's histogram_quantile over the step's summed
 * buckets); it fails when the breach stands out from sampling noise (binomial test at 5 % on
 * the 5xx count, or on the count above the ceiling's bucket edge), so a quiet canary is not held
 * for one unlucky request, while a busy one is held for a small but real breach.
 */
function builtInGuards(canary: ArmTotals, summary: ArmSummary, settings: AnalysisSettings, edges: readonly number[]): GuardOutcome[] {
  const successRate = summary.errorRate === null ? null : 1 - summary.errorRate;
  const success = guardOutcome('success-rate', successRate, '>=', settings.successRate.min);
  if (success.status === 'fail' && !breaches(canary.errors, canary.requests, 1 - settings.successRate.min)) {
    success.status = 'pass';
    success.note = `below the floor by less than sampling noise (${canary.errors} 5xx of ${canary.requests})`;
  }
  const p99 = guardOutcome('latency-p99', summary.p99Ms, '<=', settings.latencyP99.maxMs);
  if (p99.status === 'fail' && canary.latency !== null) {
    // Requests above the largest bucket edge at or below the ceiling: all of them are slower than it or near it.
    let index = -1;
    edges.forEach((edge, i) => {
      if (edge <= settings.latencyP99.maxMs + 1e-9) index = i;
    });
    const within = index >= 0 ? (canary.latency.le[index] ?? 0) : 0;
    const above = canary.latency.count - within;
    if (!breaches(above, canary.latency.count, 0.01)) {
      p99.status = 'pass';
      p99.note = `above the ceiling by less than sampling noise (${above} of ${canary.latency.count} slower than ${edges[index] ?? 0} ms)`;
    }
  }
  return [success, p99];
}

/**
 * A caller's guard named like a built-in replaces it, except that a caller's "no data" never
 * replaces a built-in that has data: a guard with data never reports "no data".
 */
function mergeGuards(builtIn: GuardOutcome[], extra: GuardOutcome[] | undefined): GuardOutcome[] {
  if (extra === undefined || extra.length === 0) return builtIn;
  const withData = new Set(builtIn.filter((g) => g.status !== 'no-data').map((g) => g.name));
  const kept = extra.filter((g) => !(g.status === 'no-data' && withData.has(g.name)));
  const replaced = new Set(kept.map((g) => g.name));
  return [...builtIn.filter((g) => !replaced.has(g.name)), ...kept];
}

const pct = (rate: number | null): string => (rate === null ? 'n/a' : `${(rate * 100).toFixed(2)}%`);
const ratio = (r: number): string => (Number.isFinite(r) ? r.toFixed(2) : 'inf');

function describeGuard(g: GuardOutcome): string {
  const value = g.value === null ? 'no data' : Number.isInteger(g.value) ? String(g.value) : g.value.toFixed(4);
  return `${g.name} ${value} (needs ${g.op} ${g.threshold})`;
}

/**
 * Canary requests the step needs before it may promote. The full minCanaryRequests (rule of three:
 * 0 errors in n requests bounds the rate below 3/n at 95 %) whenever the service's rate brings
 * that many canary requests within the step's minimum dwell; a quieter service needs only what
 * the dwell brings, but never less than minCanaryRequests scaled by the weight the step promotes
 * to: what a bad canary costs the service is weight x its rate, so the rule of three on that
 * product holds at every step (3/minCanaryRequests, 1 % by default), and in full before 100 %.
 * `serviceRps` is both arms' requests per second over the history.
 */
export function requestFloor(settings: AnalysisSettings, steps: readonly StepSpec[], weight: number, serviceRps = Number.POSITIVE_INFINITY): number {
  const full = settings.minCanaryRequests;
  if (!settings.scaleMinRequestsByWeight) return full;
  const next = steps.find((s) => s.weight > weight)?.weight ?? 100;
  const exposure = Math.ceil((full * Math.min(100, Math.max(next, weight))) / 100);
  const minDwell = stepFor(steps, weight)?.minDwell ?? 0;
  const inDwell = Math.floor((serviceRps * weight * minDwell) / 100 + 1e-9);
  return Math.max(exposure, Math.min(full, Number.isFinite(inDwell) ? inDwell : full));
}

/** The trailing run of windows at `weight` (default: the last window's weight). */
export function currentStepWindows(windows: readonly Window[], weight = windows.at(-1)?.canaryWeight): Window[] {
  let start = windows.length;
  while (start > 0 && windows[start - 1]?.canaryWeight === weight) start -= 1;
  return windows.slice(start);
}

interface CriticalFinding {
  scope: string;
  canaryRate: number;
  stableRate: number;
  requests: number;
  errors: number;
}

/**
 * The fast path for a catastrophic canary, on the last window and on the step so far: enough
 * canary requests and 5xx, and either an absolute 5xx rate above the cap or a rate at least
 * errorRatio times the rule-of-three upper bound on stable's rate, (errors + 3) / requests, so a
 * quiet, error-free stable arm does not make a handful of canary errors look like a 5x ratio.
 */
function criticalFinding(scopes: { scope: string; canary: ArmTotals; stable: ArmTotals }[], settings: AnalysisSettings): CriticalFinding | null {
  const crit = settings.critical;
  for (const { scope, canary, stable } of scopes) {
    if (canary.requests < crit.minCanaryRequests || canary.errors < crit.minCanaryErrors) continue;
    const canaryRate = canary.errors / canary.requests;
    const stableUpper = stable.requests > 0 ? (stable.errors + 3) / stable.requests : Number.POSITIVE_INFINITY;
    if (canaryRate > crit.maxErrorRate || canaryRate >= crit.errorRatio * stableUpper) {
      return { scope, canaryRate, stableRate: stable.requests > 0 ? stable.errors / stable.requests : 0, requests: canary.requests, errors: canary.errors };
    }
  }
  return null;
}

/**
 * Consecutive trailing seconds in which the canary served nothing while stable did. A window
 * without canary data (absent, NaN or Inf series) ends the count: missing monitoring is not silence.
 */
function silentCanarySeconds(windows: readonly Window[], interval: number): number {
  let seconds = 0;
  for (let i = windows.length - 1; i >= 0; i--) {
    const w = windows[i];
    if (w === undefined || w.canary.noData === true || w.canary.requests > 0 || w.stable.requests === 0) break;
    seconds += interval;
  }
  return seconds;
}

/** The verdict from an already-built sequential state (the incremental path of replay and bench). */
export function judgeWithState(input: JudgeInput, state: AnalysisState): Verdict {
  const { windows, settings, latencyBucketsMs } = input;
  const interval = settings.interval;
  const weight = input.currentWeight ?? windows.at(-1)?.canaryWeight ?? 0;
  const stepWindows = currentStepWindows(windows, weight);
  const stepSeconds = input.stepElapsedSeconds ?? stepWindows.length * interval;
  const canaryStep = totals(stepWindows, 'canary');
  const stableStep = totals(stepWindows, 'stable');
  const canary = armSummary(canaryStep, latencyBucketsMs);
  const stable = armSummary(stableStep, latencyBucketsMs);
  // The absolute guards judge the step's complete windows, pooled: the success rate is errors
  // over requests of the whole step and the p99 is histogram_quantile over the step's summed
  // bucket increases, so the guard and the evidence printed beside it are the same numbers.
  const guards = mergeGuards(builtInGuards(canaryStep, canary, settings, latencyBucketsMs), input.guards);

  const summaries: SequentialSummary[] = state.states.map((s) => summarizeSequential(s));
  const metrics: MetricEvidence[] = state.metrics.map((metric, i) => {
    const s = state.states[i];
    const summary = summaries[i];
    return {
      metric: metric.name,
      canaryEvents: s?.canaryEvents ?? 0,
      stableEvents: s?.stableEvents ?? 0,
      canaryRate: s !== undefined && s.canaryRequests > 0 ? s.canaryEvents / s.canaryRequests : 0,
      stableRate: s !== undefined && s.stableRequests > 0 ? s.stableEvents / s.stableRequests : 0,
      logM: summary?.logM ?? 0,
      logThreshold: summary?.logThreshold ?? 0,
      ratioLower: summary?.ratioLower ?? 0,
      ratioUpper: summary?.ratioUpper ?? Number.POSITIVE_INFINITY,
    };
  });
  const evidence: Evidence = {
    windows: windows.length,
    stepWindows: stepWindows.length,
    stepSeconds,
    canary,
    stable,
    metrics,
    guards,
    combined: { logE: state.crossedAtWindow !== null ? Math.max(state.maxLogE, state.logThreshold) : state.logE, logThreshold: state.logThreshold },
    latencyEdges:
      state.edges === null
        ? { source: 'pending', edgesMs: [], requests: state.pooled.count }
        : { source: state.edges.source, edgesMs: state.edges.indices.map((i) => latencyBucketsMs[i] ?? Number.NaN), requests: state.edges.requests },
  };
  const verdict = (decision: Verdict['decision'], reason: string, cause?: RollbackCause): Verdict => ({
    decision,
    reason,
    evidence,
    ...(decision === 'rollback' && cause ? { cause } : {}),
  });

  const last = windows.at(-1);
  if (last === undefined) return verdict('hold', 'No data: no complete analysis window since the canary started; no data is never a pass.');

  const allCanary = totals(windows, 'canary');
  const allStable = totals(windows, 'stable');
  if (allCanary.requests === 0 && allStable.requests === 0) {
    return verdict('hold', `No data: neither arm served a request in ${windows.length} window(s); holding, since no data is never a pass.`);
  }

  // Silence counts only within the current step: windows from before the weight was raised say
  // nothing about whether the canary serves at this weight.
  const silenceFrom = input.silenceFrom ?? Number.NEGATIVE_INFINITY;
  const silent = silentCanarySeconds(
    stepWindows.filter((w) => w.t >= silenceFrom),
    interval,
  );
  if (weight > 0 && silent >= settings.noTrafficTimeout) {
    return verdict(
      'rollback',
      `Canary at ${weight}% served no requests for ${formatDuration(silent)} while stable served ${stableStep.requests}; the limit is ${formatDuration(settings.noTrafficTimeout)}.`,
      'no-traffic',
    );
  }

  const lastCanary = totals([last], 'canary');
  const lastStable = totals([last], 'stable');
  const critical = criticalFinding(
    [
      { scope: 'in the last window', canary: lastCanary, stable: lastStable },
      { scope: 'in this step', canary: canaryStep, stable: stableStep },
    ],
    settings,
  );
  if (critical !== null) {
    return verdict(
      'rollback',
      `Critical: the canary's 5xx rate is ${pct(critical.canaryRate)} (${critical.errors} of ${critical.requests}) ${critical.scope} against stable's ${pct(critical.stableRate)}, beyond ${settings.critical.errorRatio}x stable or the ${pct(settings.critical.maxErrorRate)} cap.`,
      'critical',
    );
  }

  if (state.crossedAtWindow !== null) {
    // The metric carrying most of the averaged e-value names the regression.
    let top = 0;
    metrics.forEach((m, i) => {
      const w = state.metrics[i]?.weight ?? 0;
      const best = metrics[top];
      const wBest = state.metrics[top]?.weight ?? 0;
      if (best !== undefined && Math.log(w) + m.logM > Math.log(wBest) + best.logM) top = i;
    });
    const culprit = metrics[top];
    const others = metrics.filter((m, i) => i !== top && m.logM >= Math.log(1 / Math.max(1e-12, settings.sequential.alpha)) / 2).map((m) => m.metric);
    if (culprit !== undefined) {
      return verdict(
        'rollback',
        `The canary is worse than stable on ${[culprit.metric, ...others].join(', ')}: ${culprit.metric} rate ${pct(culprit.canaryRate)} vs ${pct(culprit.stableRate)} (${culprit.canaryEvents} vs ${culprit.stableEvents} events, log M ${culprit.logM.toFixed(2)}); the averaged e-value log E reached ${(evidence.combined?.logE ?? state.logE).toFixed(2)} >= ${state.logThreshold.toFixed(2)} = log(1/alpha); ratio in [${ratio(culprit.ratioLower)}, ${ratio(culprit.ratioUpper)}].`,
        'sequential',
      );
    }
  }

  // Monitoring lost the canary (no series, NaN, Inf): hold on what is known, never promote or
  // roll back on what is not. Rollbacks above come from counts Prometheus really had.
  if (weight > 0 && last.canary.noData === true) {
    return verdict('hold', `No data: Prometheus has no finite canary series in the last window at ${weight}% (absent, NaN or Inf); holding, since missing monitoring is neither a pass nor silence.`);
  }

  // At 100 % stable serves nothing by design: the comparison made at the earlier steps stands
  // (the mixture keeps its history), and the absolute guards judge this step.
  const fullShift = weight >= 100;
  if (canaryStep.requests === 0 || (stableStep.requests === 0 && !fullShift)) {
    if (stepWindows.length === 0) {
      return verdict('hold', `Waiting for the first complete window at ${weight}%; holding, since no data is never a pass.`);
    }
    const which = canaryStep.requests === 0 && stableStep.requests === 0 ? 'neither arm served a request' : canaryStep.requests === 0 ? 'the canary served no request' : 'stable served no request';
    return verdict('hold', `No data: ${which} in this step (${stepWindows.length} window(s) at ${weight}%); holding, since no data is never a pass.`);
  }

  const step = stepFor(input.steps, weight);
  const minDwell = step?.minDwell ?? 0;
  const maxDwell = step?.maxDwell ?? Number.POSITIVE_INFINITY;
  const missing: string[] = [];
  if (stepSeconds < minDwell) missing.push(`dwell ${formatDuration(stepSeconds)} of ${formatDuration(minDwell)}`);
  const historySeconds = windows.length * interval;
  const serviceRps = historySeconds > 0 ? (allCanary.requests + allStable.requests) / historySeconds : 0;
  const minRequests = requestFloor(settings, input.steps, weight, serviceRps);
  if (canaryStep.requests < minRequests) {
    missing.push(`${canaryStep.requests} of ${minRequests} canary requests`);
  }
  const waived: string[] = [];
  state.metrics.forEach((metric, i) => {
    const m = metrics[i];
    const s = state.states[i];
    if (m === undefined || s === undefined) return;
    if (fullShift || m.ratioUpper < metric.ratioPromote) return;
    // Too few events for any bound to be informative: rely on the guards and the request minimum.
    // A point-estimate check was tried here and dropped: with ~10 events it held healthy canaries
    // for many windows, while the mixture keeps watching a promoted canary at the next step anyway.
    const expectedCanaryEvents = s.stableRequests > 0 ? (s.canaryRequests * s.stableEvents) / s.stableRequests : 0;
    if (expectedCanaryEvents < metric.eventsToBound) {
      waived.push(`${m.metric} (${expectedCanaryEvents.toFixed(1)} expected events < ${metric.eventsToBound})`);
      return;
    }
    missing.push(`${m.metric} ratio upper bound ${ratio(m.ratioUpper)} not below ${metric.ratioPromote}`);
  });
  for (const g of guards) {
    if (g.status !== 'pass') missing.push(`guard ${describeGuard(g)}`);
  }

  const rates = `canary 5xx ${pct(canary.errorRate)} of ${canary.requests}, stable ${pct(stable.errorRate)} of ${stable.requests}`;
  const bounds = metrics.map((m) => `${m.metric} ratio <= ${ratio(m.ratioUpper)}`).join(', ');
  if (missing.length === 0) {
    const waiver = waived.length > 0 ? `; too few events to bound ${waived.join(', ')}, so the guards and the request minimum decide` : '';
    return verdict(
      'promote',
      `Promote from ${weight}% after ${formatDuration(stepSeconds)}: ${rates}; ${bounds}; guards pass${waiver}.`,
    );
  }
  if (stepSeconds >= maxDwell) {
    const action = settings.onMaxDwell;
    return verdict(
      action,
      `Max dwell ${formatDuration(maxDwell)} reached at ${weight}% without a decision (${missing.join('; ')}); ${action === 'hold' ? 'holding and alerting' : 'rolling back'} as the policy says.`,
      'max-dwell',
    );
  }
  return verdict('hold', `Hold at ${weight}%: waiting for ${missing.join('; ')}; ${rates}.`);
}
