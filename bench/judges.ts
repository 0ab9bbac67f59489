// The judges the benchmark compares, each fed one window at a time: this project's sequential
// judge (incremental state), a Flagger-style absolute rule, a naive re-run z-test, and an oracle
// SPRT that is told the true regression (the pace no honest judge can beat).
import { createAnalysisState, judgeWithState, updateAnalysisState, type AnalysisState } from '../src/analysis/judge.js';
import { histogramQuantile } from '../src/analysis/quantile.js';
import type { AnalysisSettings, StepSpec } from '../src/analysis/settings.js';
import type { Decision, LatencyCounts, Window } from '../src/analysis/types.js';
import { BUCKETS, bucketProbabilities, type Scenario } from './scenarios.js';

export interface RunningJudge {
  /** the decision after seeing this window (the windows so far, this one last). */
  observe(window: Window): Decision;
}

/** What a judge may know about a run before its first window. */
export interface RunContext {
  /** stable's histogram before the canary started (the sequential judge chooses edges from it). */
  baseline: LatencyCounts;
  /** the scenario itself: only the oracle looks at it. */
  scenario: Scenario;
}

export type JudgeFactory = (context: RunContext) => RunningJudge;

/** This project's judge, with the sequential state kept incrementally (never recomputed). */
export function sequentialJudge(settings: AnalysisSettings, steps: StepSpec[]): JudgeFactory {
  return ({ baseline, scenario }) => {
    // The policy a person would write for this service: its own p99 ceiling.
    const own: AnalysisSettings = scenario.p99CeilingMs === settings.latencyP99.maxMs ? settings : { ...settings, latencyP99: { maxMs: scenario.p99CeilingMs } };
    const state: AnalysisState = createAnalysisState(own, BUCKETS, baseline);
    const windows: Window[] = [];
    return {
      observe(window) {
        windows.push(window);
        updateAnalysisState(state, window);
        return judgeWithState({ windows, settings: own, steps, latencyBucketsMs: BUCKETS, baseline }, state).decision;
      },
    };
  };
}

/**
 * Flagger's defaults on the canary alone: a check fails when the success rate is below 99 %, the
 * p99 is above the service's ceiling (500 ms, 10 s for the slow service), or there is no value (no requests); roll back at 5 failed checks, counted
 * cumulatively. Promotion is by the clock: each step's minimum dwell, like Flagger's stepWeight.
 */
export function flaggerJudge(steps: StepSpec[], intervalSeconds: number, threshold = 5): JudgeFactory {
  return ({ scenario }) => {
    let failed = 0;
    const dwellPassed = stepClock(steps, intervalSeconds);
    return {
      observe(window) {
        const promotes = dwellPassed(window.canaryWeight);
        const { requests, errors, latency } = window.canary;
        const successRate = requests > 0 ? 1 - errors / requests : Number.NaN;
        const p99 = latency === undefined ? Number.NaN : histogramQuantile(0.99, BUCKETS, latency.le, latency.count);
        const ok = Number.isFinite(successRate) && Number.isFinite(p99) && successRate >= 0.99 && p99 <= scenario.p99CeilingMs;
        if (!ok) failed += 1;
        if (failed >= threshold) return 'rollback';
        return promotes ? 'promote' : 'hold';
      },
    };
  };
}

/** A one-sided two-proportion z-test at 0.05 on cumulative 5xx and slow (>500 ms) counts, re-run every window. */
export function zTestJudge(steps: StepSpec[], intervalSeconds: number, slowEdgeMs = 500): JudgeFactory {
  const edge = BUCKETS.indexOf(slowEdgeMs);
  return () => {
    const sums = { cn: 0, ce: 0, sn: 0, se: 0, cl: 0, cs: 0, sl: 0, ss: 0 };
    const dwellPassed = stepClock(steps, intervalSeconds);
    return {
      observe(window) {
        const promotes = dwellPassed(window.canaryWeight);
        sums.cn += window.canary.requests;
        sums.ce += window.canary.errors;
        sums.sn += window.stable.requests;
        sums.se += window.stable.errors;
        const cl = window.canary.latency;
        const sl = window.stable.latency;
        if (cl !== undefined && sl !== undefined) {
          sums.cl += cl.count;
          sums.cs += cl.count - (cl.le[edge] ?? cl.count);
          sums.sl += sl.count;
          sums.ss += sl.count - (sl.le[edge] ?? sl.count);
        }
        if (zStatistic(sums.ce, sums.cn, sums.se, sums.sn) > 1.645 || zStatistic(sums.cs, sums.cl, sums.ss, sums.sl) > 1.645) {
          return 'rollback';
        }
        return promotes ? 'promote' : 'hold';
      },
    };
  };
}

function zStatistic(x1: number, n1: number, x2: number, n2: number): number {
  if (n1 === 0 || n2 === 0) return 0;
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  return se > 0 ? (x1 / n1 - x2 / n2) / se : 0;
}

/** Follows the step from the windows' weights; true once the step's minimum dwell has passed. */
function stepClock(steps: StepSpec[], intervalSeconds: number): (canaryWeight: number) => boolean {
  let weight = -1;
  let stepWindows = 0;
  return (canaryWeight) => {
    if (canaryWeight !== weight) {
      weight = canaryWeight;
      stepWindows = 0;
    }
    stepWindows += 1;
    return clockPromotes(steps, weight, stepWindows * intervalSeconds);
  };
}

function clockPromotes(steps: StepSpec[], weight: number, elapsedSeconds: number): boolean {
  const step = steps.find((s) => s.weight === weight);
  return step !== undefined && elapsedSeconds >= step.minDwell;
}

/** What the oracle is told: the metric that regressed (5xx, or slow at one edge) and the true ratio. */
export interface OracleTruth {
  /** undefined for 5xx; the bucket edge index for slow requests. */
  edgeIndex?: number;
  ratio: number;
}

/**
 * The truth of a regression scenario: the 5xx ratio, or for a latency regression the bucket edge
 * where a slow-request test learns fastest per canary request (largest Poisson KL) and the true
 * slow-share ratio there. Undefined for a healthy scenario.
 */
export function oracleTruth(scenario: Scenario): OracleTruth | undefined {
  if (scenario.canaryErrorRate !== undefined) return { ratio: scenario.canaryErrorRate / scenario.baseErrorRate };
  if (scenario.canaryErrorFactor !== 1) return { ratio: scenario.canaryErrorFactor };
  if (scenario.canaryLatencyFactor === 1) return undefined;
  const above = (probs: number[]): number[] => BUCKETS.map((_, i) => probs.slice(i + 1).reduce((a, b) => a + b, 0));
  const p0 = above(bucketProbabilities(scenario.latencyMedianMs));
  const p1 = above(bucketProbabilities(scenario.latencyMedianMs * scenario.canaryLatencyFactor));
  let best: OracleTruth | undefined;
  let bestKl = 0;
  p0.forEach((q0, i) => {
    const q1 = p1[i] ?? 0;
    if (!(q0 > 0) || !(q1 > 0)) return;
    const kl = q1 * Math.log(q1 / q0) - q1 + q0;
    if (kl > bestKl) {
      bestKl = kl;
      best = { edgeIndex: i, ratio: q1 / q0 };
    }
  });
  return best;
}

/**
 * Wald's SPRT on the event-share likelihood, told the true ratio: H0 ratio 1 against H1 the true
 * ratio, roll back when the log likelihood ratio reaches log(1/alpha) with the whole alpha on the
 * one metric that regressed. Promotion by the clock. On a healthy scenario it is told nothing and
 * never rolls back.
 */
export function oracleJudge(steps: StepSpec[], intervalSeconds: number, alpha = 0.05): JudgeFactory {
  return ({ scenario }) => {
    const truth = oracleTruth(scenario);
    const dwellPassed = stepClock(steps, intervalSeconds);
    let llr = 0;
    const threshold = Math.log(1 / alpha);
    return {
      observe(window) {
        const promotes = dwellPassed(window.canaryWeight);
        if (truth !== undefined) {
          const counts = (arm: Window['canary']): { n: number; e: number } => {
            if (truth.edgeIndex === undefined) return { n: arm.requests, e: arm.errors };
            const latency = arm.latency;
            return latency === undefined ? { n: 0, e: 0 } : { n: latency.count, e: latency.count - (latency.le[truth.edgeIndex] ?? latency.count) };
          };
          const c = counts(window.canary);
          const b = counts(window.stable);
          if (c.n > 0 && b.n > 0) {
            const rho = c.n / (c.n + b.n);
            const theta1 = (rho * truth.ratio) / (rho * truth.ratio + 1 - rho);
            llr += c.e * Math.log(theta1 / rho) + b.e * Math.log((1 - theta1) / (1 - rho));
          }
          if (llr >= threshold) return 'rollback';
        }
        return promotes ? 'promote' : 'hold';
      },
    };
  };
}
