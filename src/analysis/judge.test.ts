import { describe, expect, it } from 'vitest';
import { analysisStateFromHistory, binomialUpperTail, judge, judgeWithState, requestFloor } from './judge.js';
import { DEFAULT_ANALYSIS, DEFAULT_STEPS, ENVOY_BUCKETS_MS, analysisSchema, type AnalysisSettings } from './settings.js';
import type { ArmCounts, Window } from './types.js';

const buckets = [...ENVOY_BUCKETS_MS];
const stableShape = [0, 0, 3, 40, 900, 6000, 10500, 11200, 11350, 11390, 11400, 11400, 11400, 11400, 11400, 11400, 11400, 11400, 11400];

/** An arm whose latency histogram has stable's shape, scaled to `requests`. */
function arm(requests: number, errors: number, slowShare = 1): ArmCounts {
  const le = stableShape.map((c) => Math.round((c / 11400) * requests));
  // Move slow requests above 500 ms (index 8) for latency regressions.
  if (slowShare !== 1) {
    const slow = Math.round((requests - (le[8] ?? 0)) * slowShare);
    for (let i = 8; i < le.length; i++) le[i] = Math.min(requests, Math.max(0, requests - slow));
  }
  le[le.length - 1] = requests;
  return { requests, errors, latency: { le, count: requests } };
}

function windows(n: number, weight: number, canary: () => ArmCounts, stable: () => ArmCounts, start = 0): Window[] {
  return Array.from({ length: n }, (_, i) => ({ t: (start + i) * 60, canaryWeight: weight, canary: canary(), stable: stable() }));
}

const healthy = (n: number, weight = 5, start = 0): Window[] =>
  windows(n, weight, () => arm((12000 * weight) / 100, (60 * weight) / 100), () => arm((12000 * (100 - weight)) / 100, (60 * (100 - weight)) / 100), start);

function run(ws: Window[], settings: AnalysisSettings = DEFAULT_ANALYSIS) {
  return judge({ windows: ws, settings, steps: DEFAULT_STEPS, latencyBucketsMs: buckets });
}

describe('judge', () => {
  it('holds without windows: no data is never a pass', () => {
    const verdict = run([]);
    expect(verdict.decision).toBe('hold');
    expect(verdict.reason).toMatch(/no data/i);
  });

  it('holds, never promotes, when neither arm served a request (a monitoring outage)', () => {
    const empty = windows(30, 5, () => arm(0, 0), () => arm(0, 0));
    for (let n = 1; n <= empty.length; n++) expect(run(empty.slice(0, n)).decision).toBe('hold');
  });

  it('counts silence only from when the step was applied (silenceFrom)', () => {
    // 10 silent minutes at 5 %, but Argo CD applied the step only at minute 8: 2 minutes of silence.
    const silent = windows(10, 5, () => arm(0, 0), () => arm(11400, 57));
    const verdict = judge({ windows: silent, settings: DEFAULT_ANALYSIS, steps: DEFAULT_STEPS, latencyBucketsMs: buckets, silenceFrom: 480 });
    expect(verdict.decision).toBe('hold');
    expect(judge({ windows: silent, settings: DEFAULT_ANALYSIS, steps: DEFAULT_STEPS, latencyBucketsMs: buckets }).cause).toBe('no-traffic');
  });

  it('holds while the canary is quiet, and rolls back once it stays silent past noTrafficTimeout', () => {
    const silent = windows(10, 5, () => arm(0, 0), () => arm(11400, 57));
    expect(run(silent.slice(0, 9)).decision).toBe('hold');
    const verdict = run(silent);
    expect(verdict.decision).toBe('rollback');
    expect(verdict.reason).toContain('served no requests for 10m');
  });

  it('promotes a healthy step once its minimum dwell has passed, with the evidence', () => {
    const ws = healthy(5);
    expect(run(ws.slice(0, 4)).decision).toBe('hold');
    const verdict = run(ws);
    expect(verdict.decision).toBe('promote');
    expect(verdict.reason).toMatch(/^Promote from 5% after 5m/);
    expect(verdict.evidence.canary).toMatchObject({ requests: 3000, errors: 15, errorRate: 0.005 });
    expect(verdict.evidence.stable.requests).toBe(57000);
    // 5 x 600 requests: le(250) = 5 x 589, le(500) = 5 x 597, rank 2970.
    expect(verdict.evidence.canary.p99Ms).toBeCloseTo(250 + (250 * (2970 - 2945)) / 40, 9);
    // No baseline: both arms of the first window choose the edges nearest p75 and p95 (50 and 100 ms here).
    expect(verdict.evidence.metrics.map((m) => m.metric)).toEqual(['5xx', 'latency>50ms', 'latency>100ms']);
    expect(verdict.evidence.latencyEdges).toEqual({ source: 'pooled', edgesMs: [50, 100], requests: 12000 });
    expect(verdict.evidence.metrics[0]?.logThreshold).toBeCloseTo(Math.log(1 / (0.6 * 0.05)), 9);
    expect(verdict.evidence.combined?.logThreshold).toBeCloseTo(Math.log(20), 9);
    expect(verdict.evidence.guards.map((g) => [g.name, g.status])).toEqual([
      ['success-rate', 'pass'],
      ['latency-p99', 'pass'],
    ]);
  });

  it('judges the 100 % step, where stable serves nothing by design, on the guards and the history', () => {
    const ramp = [...healthy(5, 50), ...windows(5, 100, () => arm(12000, 60), () => arm(0, 0), 5)];
    expect(run(ramp.slice(0, 9)).decision).toBe('hold');
    const verdict = run(ramp);
    expect(verdict.decision).toBe('promote');
    expect(verdict.reason).toMatch(/^Promote from 100% after 5m/);
    // A canary failing its guards at 100 % is still held, never promoted.
    const failing = [...healthy(5, 50), ...windows(5, 100, () => arm(12000, 600), () => arm(0, 0), 5)];
    expect(run(failing).decision).not.toBe('promote');
  });

  it('right after a promotion, waits for the first window at the new weight instead of judging the old step', () => {
    const ws = healthy(6, 5);
    const verdict = judge({ windows: ws, settings: DEFAULT_ANALYSIS, steps: DEFAULT_STEPS, latencyBucketsMs: buckets, currentWeight: 10 });
    expect(verdict.decision).toBe('hold');
    expect(verdict.reason).toBe('Waiting for the first complete window at 10%; holding, since no data is never a pass.');
    // A canary already known to be worse is still rolled back at once.
    const bad = windows(6, 5, () => arm(600, 30), () => arm(11400, 57));
    expect(judge({ windows: bad, settings: DEFAULT_ANALYSIS, steps: DEFAULT_STEPS, latencyBucketsMs: buckets, currentWeight: 10 }).decision).toBe('rollback');
  });

  it('needs the minimum canary requests in the step', () => {
    const settings = analysisSchema.parse({ minCanaryRequests: 5000, scaleMinRequestsByWeight: false });
    const verdict = run(healthy(5), settings);
    expect(verdict.decision).toBe('hold');
    expect(verdict.reason).toContain('3000 of 5000 canary requests');
  });

  it('derives the request floor from the service rate, never below the exposure-scaled one (a quiet service can finish)', () => {
    // A busy service reaches 300 canary requests within any minimum dwell: the full floor.
    expect(requestFloor(DEFAULT_ANALYSIS, DEFAULT_STEPS, 5, 200)).toBe(300);
    // At 2 rps: 5 % promotes to 10 %, 300 x 10 % = 30 (the dwell brings 30); 10 % -> 50 %: 150;
    // 50 % -> 100 %: all 300 (the 5-minute dwell brings 300).
    expect(requestFloor(DEFAULT_ANALYSIS, DEFAULT_STEPS, 5, 2)).toBe(30);
    expect(requestFloor(DEFAULT_ANALYSIS, DEFAULT_STEPS, 10, 2)).toBe(150);
    expect(requestFloor(DEFAULT_ANALYSIS, DEFAULT_STEPS, 50, 2)).toBe(300);
    expect(requestFloor(DEFAULT_ANALYSIS, DEFAULT_STEPS, 100, 2)).toBe(300);
    expect(requestFloor(analysisSchema.parse({ scaleMinRequestsByWeight: false }), DEFAULT_STEPS, 5, 2)).toBe(300);
    const quiet = windows(5, 5, () => arm(7, 0), () => arm(133, 1));
    expect(run(quiet).decision).toBe('promote');
    expect(run(quiet.slice(0, 4)).reason).toContain('28 of 35 canary requests');
  });

  it('rolls back at once on a catastrophic canary (critical fast path)', () => {
    const ws = windows(1, 5, () => arm(600, 180), () => arm(11400, 57));
    const verdict = run(ws);
    expect(verdict.decision).toBe('rollback');
    expect(verdict.reason).toMatch(/^Critical: the canary's 5xx rate is 30.00% \(180 of 600\)/);
  });

  it('rolls back when the mixture crosses 1/alpha_m, and stays rolled back', () => {
    const ws = [...windows(4, 5, () => arm(600, 9), () => arm(11400, 57)), ...healthy(10, 5, 4)];
    const verdict = run(ws.slice(0, 4));
    expect(verdict.decision).toBe('rollback');
    expect(verdict.reason).toContain('worse than stable on 5xx');
    expect(verdict.reason).toMatch(/log M \d+\.\d+\); the averaged e-value log E reached \d+\.\d+ >= 3\.00 = log\(1\/alpha\)/);
    expect(run(ws).decision).toBe('rollback');
  });

  it('catches a latency regression through slow requests at a fixed 500 ms edge (latencyEdgesMs overrides)', () => {
    const ws = windows(6, 5, () => arm(600, 3, 4), () => arm(11400, 57));
    const settings = analysisSchema.parse({ sequential: { latencyEdgesMs: [500] } });
    expect(run(ws, settings).reason).toContain('latency>500ms');
    expect(run(ws, settings).decision).toBe('rollback');
    expect(run(ws, settings).evidence.latencyEdges).toEqual({ source: 'fixed', edgesMs: [500], requests: 0 });
  });

  it("chooses the edges from stable's histogram before the canary, and catches a body regression there", () => {
    // Canary requests shifted one bucket up in the body (25 -> 50 ms and 50 -> 100 ms).
    const slower = (requests: number, errors: number): ArmCounts => {
      const base = arm(requests, errors);
      const le = base.latency!.le.map((c, i) => (i >= 4 && i <= 6 ? (base.latency!.le[i - 1] ?? c) : c));
      return { ...base, latency: { le, count: requests } };
    };
    const baseline = arm(114000, 570).latency!;
    const ws = windows(6, 5, () => slower(600, 3), () => arm(11400, 57));
    const verdict = judge({ windows: ws, settings: DEFAULT_ANALYSIS, steps: DEFAULT_STEPS, latencyBucketsMs: buckets, baseline });
    expect(verdict.evidence.latencyEdges).toMatchObject({ source: 'baseline', edgesMs: [50, 100], requests: 114000 });
    expect(verdict.decision).toBe('rollback');
    expect(verdict.reason).toMatch(/worse than stable on latency>(50|100)ms/);
  });

  it('holds (or rolls back, as the policy says) at the maximum dwell', () => {
    // A failing guard blocks promotion until maxDwell (30 min at 5 %).
    const guards = [{ name: 'custom-check', value: 2, threshold: 1, op: '<=' as const, status: 'fail' as const }];
    const ws = healthy(30);
    const input = { windows: ws, settings: DEFAULT_ANALYSIS, steps: DEFAULT_STEPS, latencyBucketsMs: buckets, guards };
    expect(judge({ ...input, windows: ws.slice(0, 29) }).reason).toMatch(/^Hold at 5%: waiting for guard custom-check 2/);
    expect(judge(input).decision).toBe('hold');
    expect(judge(input).reason).toMatch(/^Max dwell 30m reached/);
    const rollback = judge({ ...input, settings: analysisSchema.parse({ onMaxDwell: 'rollback' }) });
    expect(rollback.decision).toBe('rollback');
  });

  it('judges the success-rate floor over the step, pooled (the issue 8 case: 0.53% of 14970 is not 0.9793)', () => {
    // Ten windows at 10 %: 14970 canary requests with 79 5xx over the step (0.53 %), but the last
    // window alone has 31 of 1497 (success 0.9793). The floor holds over the step, so it passes.
    const errors = [6, 5, 5, 6, 5, 5, 6, 5, 5, 31];
    const ws = errors.map((e, i) => ({ t: i * 60, canaryWeight: 10, canary: arm(1497, e), stable: arm(13473, 67) }));
    const verdict = run(ws);
    const success = verdict.evidence.guards.find((g) => g.name === 'success-rate');
    expect(success?.status).toBe('pass');
    expect(success?.value).toBeCloseTo(1 - 79 / 14970, 12);
    expect(verdict.reason).toContain('canary 5xx 0.53% of 14970');
    expect(verdict.decision).toBe('promote');
    // A step pooled at 1.34 % fails: the floor is a floor on the step, not on a lucky window.
    const bad = ws.map((w) => ({ ...w, canary: arm(1497, 20) }));
    expect(run(bad).evidence.guards.find((g) => g.name === 'success-rate')).toMatchObject({ status: 'fail' });
    // 1.07 % over 14970 is within sampling noise of a canary exactly at 99 % (160 vs 150 expected).
    const near = ws.map((w) => ({ ...w, canary: arm(1497, 16) }));
    expect(run(near).evidence.guards.find((g) => g.name === 'success-rate')).toMatchObject({ status: 'pass', note: expect.stringContaining('160 5xx of 14970') });
  });

  it('does not hold a quiet canary for one unlucky 5xx, but does for a real breach', () => {
    const one = windows(5, 5, () => arm(7, 0), () => arm(133, 1));
    one[2] = { ...one[2]!, canary: arm(7, 1) };
    expect(run(one).evidence.guards.find((g) => g.name === 'success-rate')).toMatchObject({ status: 'pass', value: 1 - 1 / 35 });
    const three = one.map((w, i) => (i < 3 ? { ...w, canary: arm(7, 1) } : w));
    expect(run(three).evidence.guards.find((g) => g.name === 'success-rate')).toMatchObject({ status: 'fail' });
    expect(binomialUpperTail(30, 0.01, 2)).toBeCloseTo(1 - 0.99 ** 30 - 30 * 0.01 * 0.99 ** 29, 12);
    expect(binomialUpperTail(14970, 0.01, 0)).toBe(1);
  });

  it('never reports "no data" for a guard whose step has data, even when the last window is empty', () => {
    // 782 canary requests in the step, none in the last window (the "no data" beside 782).
    const counts = [200, 195, 190, 197, 0];
    const ws = counts.map((n, i) => ({ t: i * 60, canaryWeight: 5, canary: arm(n, 1), stable: arm(3800, 19) }));
    ws[4] = { ...ws[4]!, canary: arm(0, 0) };
    const liveNoData = { name: 'latency-p99', value: null, threshold: 500, op: '<=' as const, status: 'no-data' as const };
    const verdict = judge({ windows: ws, settings: DEFAULT_ANALYSIS, steps: DEFAULT_STEPS, latencyBucketsMs: buckets, guards: [liveNoData] });
    expect(verdict.evidence.canary.requests).toBe(782);
    for (const guard of verdict.evidence.guards) expect(guard.status).not.toBe('no-data');
    expect(verdict.reason).not.toMatch(/no data/);
  });

  it('lets a caller guard replace the built-in one of the same name', () => {
    const live = { name: 'latency-p99', value: 900, threshold: 500, op: '<=' as const, status: 'fail' as const, query: 'histogram_quantile(...)' };
    const verdict = judge({ windows: healthy(5), settings: DEFAULT_ANALYSIS, steps: DEFAULT_STEPS, latencyBucketsMs: buckets, guards: [live] });
    expect(verdict.decision).toBe('hold');
    expect(verdict.evidence.guards.filter((g) => g.name === 'latency-p99')).toEqual([live]);
  });

  it('uses the caller-supplied step time instead of windows x interval', () => {
    const input = { windows: healthy(5), settings: DEFAULT_ANALYSIS, steps: DEFAULT_STEPS, latencyBucketsMs: buckets };
    expect(judge({ ...input, stepElapsedSeconds: 120 }).decision).toBe('hold');
  });

  it('judges only the trailing run of windows at the current weight as the step', () => {
    const ws = [...healthy(5, 5), ...healthy(3, 10, 5)];
    const verdict = run(ws);
    expect(verdict.evidence.stepWindows).toBe(3);
    expect(verdict.evidence.windows).toBe(8);
    expect(verdict.reason).toContain('dwell 3m of 5m');
  });

  it('reaches the same verdict from the incremental state as recomputed from history', () => {
    const ws = [...healthy(5, 5), ...windows(6, 10, () => arm(1200, 14), () => arm(10800, 54), 5)];
    const input = { windows: ws, settings: DEFAULT_ANALYSIS, steps: DEFAULT_STEPS, latencyBucketsMs: buckets };
    const state = analysisStateFromHistory(DEFAULT_ANALYSIS, buckets, ws);
    expect(judgeWithState(input, state)).toEqual(judge(input));
  });
});
