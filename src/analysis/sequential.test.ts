import { describe, expect, it } from 'vitest';
import {
  createSequentialState,
  sequentialFromHistory,
  summarizeSequential,
  updateSequentialState,
  type EventCounts,
  type SequentialParams,
} from './sequential.js';

const params: SequentialParams = { ratioTolerated: 1.1, alphaMetric: 0.025, alphaConfidence: 0.05, priorScale: 0.5, gridPoints: 200 };

function logMOf(history: EventCounts[], p: SequentialParams = params): number {
  return sequentialFromHistory(p, history).logM;
}

/** The mixture written directly from the reference's formula, to check the optimised algebra. */
function referenceLogM(p: SequentialParams, history: EventCounts[]): number {
  const delta0 = Math.log(p.ratioTolerated);
  const theta = (rho: number, d: number): number => (rho * Math.exp(d)) / (rho * Math.exp(d) + 1 - rho);
  const terms: number[] = [];
  const logW: number[] = [];
  for (let j = 0; j < p.gridPoints; j++) {
    const d = delta0 + (4 * (j + 1)) / p.gridPoints;
    logW.push(-0.5 * ((d - delta0) / p.priorScale) ** 2);
    let l = 0;
    for (const w of history) {
      const rho = w.canaryRequests / (w.canaryRequests + w.stableRequests);
      l += w.canaryEvents * Math.log(theta(rho, d) / theta(rho, delta0));
      l += w.stableEvents * Math.log((1 - theta(rho, d)) / (1 - theta(rho, delta0)));
    }
    terms.push(l);
  }
  const lse = (xs: number[]): number => {
    const m = Math.max(...xs);
    return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
  };
  return lse(terms.map((l, j) => l + (logW[j] ?? 0))) - lse(logW);
}

const window = (canaryEvents: number, stableEvents: number, canaryRequests = 600, stableRequests = 11400): EventCounts => ({
  canaryRequests,
  stableRequests,
  canaryEvents,
  stableEvents,
});

describe('the event-share mixture statistic', () => {
  it('starts at log M = 0 and ignores windows without events or without both arms', () => {
    expect(createSequentialState(params).logM).toBe(0);
    expect(logMOf([window(0, 0), window(3, 0, 600, 0), window(0, 5, 0, 1000)])).toBe(0);
  });

  it('matches the formula of the reference on known counts', () => {
    const history = [window(3, 57), window(9, 60), window(15, 55, 1200, 10800)];
    expect(logMOf(history)).toBeCloseTo(referenceLogM(params, history), 9);
    const small: SequentialParams = { ...params, gridPoints: 20, priorScale: 1 };
    expect(logMOf(history, small)).toBeCloseTo(referenceLogM(small, history), 9);
  });

  it('has known signs: stable-like data lowers M, a 5x canary raises it past the threshold', () => {
    // 600 of 12000 requests (5 %), 3 canary and 57 stable errors: exactly stable's rate.
    expect(logMOf([window(3, 57)])).toBeLessThan(0);
    const bad = sequentialFromHistory(params, [window(15, 57)]);
    expect(bad.logM).toBeGreaterThan(Math.log(40));
    expect(summarizeSequential(bad).crossed).toBe(true);
    expect(summarizeSequential(bad).crossedAtWindow).toBe(0);
  });

  it('is monotone in the canary errors', () => {
    let previous = Number.NEGATIVE_INFINITY;
    for (let c = 0; c <= 30; c++) {
      const value = logMOf([window(3, 57), window(c, 57)]);
      expect(value).toBeGreaterThan(previous);
      previous = value;
    }
  });

  it('is invariant to scaling the shared baseline rate (only the traffic share matters)', () => {
    const base = [window(5, 57), window(12, 110, 1200, 10800)];
    const reference = sequentialFromHistory(params, base);
    for (const k of [0.1, 10, 1000]) {
      // Same events, k times the requests in both arms: both rates scale by 1/k, the share stays.
      const scaled = base.map((w) => window(w.canaryEvents, w.stableEvents, w.canaryRequests * k, w.stableRequests * k));
      const state = sequentialFromHistory(params, scaled);
      expect(state.logM).toBeCloseTo(reference.logM, 9);
      expect(summarizeSequential(state).ratioUpper).toBeCloseTo(summarizeSequential(reference).ratioUpper, 9);
    }
  });

  it('gives the same state recomputed from history as updated window by window', () => {
    const history = Array.from({ length: 30 }, (_, i) => window((i * 7) % 11, 50 + ((i * 13) % 17), 600 * (1 + (i % 3)), 11400));
    const incremental = createSequentialState(params);
    const summaries = [];
    for (const w of history) {
      updateSequentialState(incremental, w);
      summaries.push(summarizeSequential(incremental));
    }
    const recomputed = sequentialFromHistory(params, history);
    expect(recomputed.logM).toBe(incremental.logM);
    expect(Array.from(recomputed.rollbackLogLik)).toEqual(Array.from(incremental.rollbackLogLik));
    expect(Array.from(recomputed.alive)).toEqual(Array.from(incremental.alive));
    expect(summarizeSequential(recomputed)).toEqual(summaries.at(-1));
    // And every prefix: a restart at any point reaches the same decision.
    for (const n of [1, 7, 19]) {
      expect(summarizeSequential(sequentialFromHistory(params, history.slice(0, n)))).toEqual(summaries[n - 1]);
    }
  });
});

describe('the confidence sequence on the ratio', () => {
  it('is unbounded before any event and covers 1 for identical arms', () => {
    const empty = summarizeSequential(createSequentialState(params));
    expect(empty.ratioLower).toBe(0);
    expect(empty.ratioUpper).toBe(Number.POSITIVE_INFINITY);
    const same = summarizeSequential(sequentialFromHistory(params, Array.from({ length: 20 }, () => window(30, 570, 6000, 114000))));
    expect(same.ratioLower).toBeLessThan(1);
    expect(same.ratioUpper).toBeGreaterThan(1);
    expect(same.ratioUpper).toBeLessThan(1.3);
  });

  it('excludes 1 for a clear 3x regression and narrows with more data', () => {
    const few = summarizeSequential(sequentialFromHistory(params, [window(9, 57)]));
    const many = summarizeSequential(sequentialFromHistory(params, Array.from({ length: 10 }, () => window(9, 57))));
    expect(many.ratioLower).toBeGreaterThan(1);
    expect(many.ratioUpper - many.ratioLower).toBeLessThan(few.ratioUpper - few.ratioLower);
  });
});
