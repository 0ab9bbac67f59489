// The three judges the benchmark compares, each fed one window at a time: this project's
// sequential judge (incremental state), a Flagger-style absolute rule, and a naive re-run z-test.
import { createAnalysisState, judgeWithState, updateAnalysisState, type AnalysisState } from '../src/analysis/judge.js';
import { histogramQuantile } from '../src/analysis/quantile.js';
import type { AnalysisSettings, StepSpec } from '../src/analysis/settings.js';
import type { Decision, Window } from '../src/analysis/types.js';
import { BUCKETS } from './scenarios.js';

export interface RunningJudge {
  /** the decision after seeing this window (the windows so far, this one last). */
  observe(window: Window): Decision;
}

export type JudgeFactory = () => RunningJudge;

/** This project's judge, with the sequential state kept incrementally (never recomputed). */
export function sequentialJudge(settings: AnalysisSettings, steps: StepSpec[]): JudgeFactory {
  return () => {
    const state: AnalysisState = createAnalysisState(settings, BUCKETS);
    const windows: Window[] = [];
    return {
      observe(window) {
        windows.push(window);
        updateAnalysisState(state, window);
        return judgeWithState({ windows, settings, steps, latencyBucketsMs: BUCKETS }, state).decision;
      },
    };
  };
}

/**
 * Flagger's defaults on the canary alone: a check fails when the success rate is below 99 %, the
 * p99 is above 500 ms, or there is no value (no requests); roll back at 5 failed checks, counted
 * cumulatively. Promotion is by the clock: each step's minimum dwell, like Flagger's stepWeight.
 */
export function flaggerJudge(steps: StepSpec[], intervalSeconds: number, threshold = 5): JudgeFactory {
  return () => {
    let failed = 0;
    const dwellPassed = stepClock(steps, intervalSeconds);
    return {
      observe(window) {
        const promotes = dwellPassed(window.canaryWeight);
        const { requests, errors, latency } = window.canary;
        const successRate = requests > 0 ? 1 - errors / requests : Number.NaN;
        const p99 = latency === undefined ? Number.NaN : histogramQuantile(0.99, BUCKETS, latency.le, latency.count);
        const ok = Number.isFinite(successRate) && Number.isFinite(p99) && successRate >= 0.99 && p99 <= 500;
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
