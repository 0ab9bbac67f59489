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
import type { ArmCounts, ArmSummary, Evidence, GuardOutcome, MetricEvidence, RollbackCause, Verdict, Window } from './types.js';

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
}

/** The sequential state of every guarded metric, updatable window by window. */
export interface AnalysisState {
  metrics: GuardedMetric[];
  states: SequentialState[];
}

const EDGE_TOLERANCE = 1e-9;

/** The guarded metrics the settings ask for; an edge missing from the buckets falls to the next lower edge. */
export function guardedMetrics(settings: AnalysisSettings, latencyBucketsMs: readonly number[]): GuardedMetric[] {
  const seq = settings.sequential;
  const edges: { index: number; ms: number }[] = [];
  for (const wanted of seq.latencyEdgesMs) {
    let index = -1;
    for (let i = 0; i < latencyBucketsMs.length; i++) {
      if ((latencyBucketsMs[i] ?? Number.POSITIVE_INFINITY) <= wanted + EDGE_TOLERANCE) index = i;
    }
    if (index >= 0 && !edges.some((e) => e.index === index)) edges.push({ index, ms: latencyBucketsMs[index] ?? wanted });
  }
  // alpha is a budget per rollout: Bonferroni over the guarded metrics.
  const alphaMetric = seq.alpha / (1 + edges.length);
  const base = { alphaMetric, alphaConfidence: seq.alphaConfidence, priorScale: seq.priorScale, gridPoints: seq.gridPoints };
  const metrics: GuardedMetric[] = [
    {
      name: '5xx',
      params: { ...base, ratioTolerated: seq.errorRatioTolerated },
      ratioPromote: seq.errorRatioPromote,
      eventsToBound: eventsToBound(seq.errorRatioPromote, seq.alphaConfidence, seq.priorScale),
    },
  ];
  for (const edge of edges) {
    metrics.push({
      name: `latency>${edge.ms}ms`,
      edgeIndex: edge.index,
      params: { ...base, ratioTolerated: seq.latencyRatioTolerated },
      ratioPromote: seq.latencyRatioPromote,
      eventsToBound: eventsToBound(seq.latencyRatioPromote, seq.alphaConfidence, seq.priorScale),
    });
  }
  return metrics;
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

export function createAnalysisState(settings: AnalysisSettings, latencyBucketsMs: readonly number[]): AnalysisState {
  const metrics = guardedMetrics(settings, latencyBucketsMs);
  return { metrics, states: metrics.map((m) => createSequentialState(m.params)) };
}

export function updateAnalysisState(state: AnalysisState, window: Window): void {
  state.metrics.forEach((metric, i) => {
    const s = state.states[i];
    if (s !== undefined) updateSequentialState(s, metricCounts(metric, window));
  });
}

/** The state a restarted promoter recomputes from Prometheus history: same as the incremental one. */
export function analysisStateFromHistory(
  settings: AnalysisSettings,
  latencyBucketsMs: readonly number[],
  windows: readonly Window[],
): AnalysisState {
  const state = createAnalysisState(settings, latencyBucketsMs);
  for (const window of windows) updateAnalysisState(state, window);
  return state;
}

/** The verdict on the whole history since the canary started (recomputed from scratch). */
export function judge(input: JudgeInput): Verdict {
  return judgeWithState(input, analysisStateFromHistory(input.settings, input.latencyBucketsMs, input.windows));
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


function builtInGuards(canary: ArmSummary, settings: AnalysisSettings): GuardOutcome[] {
  const successRate = canary.errorRate === null ? null : 1 - canary.errorRate;
  return [
    guardOutcome('success-rate', successRate, '>=', settings.successRate.min),
    guardOutcome('latency-p99', canary.p99Ms, '<=', settings.latencyP99.maxMs),
  ];
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

/** The trailing run of windows at the last window's weight: the current step. */
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
  const guards = mergeGuards(builtInGuards(canary, settings), input.guards);

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
  const evidence: Evidence = { windows: windows.length, stepWindows: stepWindows.length, stepSeconds, canary, stable, metrics, guards };
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

  const crossed = metrics.filter((_, i) => summaries[i]?.crossed === true);
  const firstCrossed = crossed[0];
  if (firstCrossed !== undefined) {
    return verdict(
      'rollback',
      `The canary is worse than stable on ${crossed.map((m) => m.metric).join(', ')}: ${firstCrossed.metric} rate ${pct(firstCrossed.canaryRate)} vs ${pct(firstCrossed.stableRate)} (${firstCrossed.canaryEvents} vs ${firstCrossed.stableEvents} events), the mixture statistic log M reached ${Math.max(firstCrossed.logM, firstCrossed.logThreshold).toFixed(2)} >= ${firstCrossed.logThreshold.toFixed(2)} = log(1/alpha_m); ratio in [${ratio(firstCrossed.ratioLower)}, ${ratio(firstCrossed.ratioUpper)}].`,
      'sequential',
    );
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
  if (canaryStep.requests < settings.minCanaryRequests) {
    missing.push(`${canaryStep.requests} of ${settings.minCanaryRequests} canary requests`);
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
