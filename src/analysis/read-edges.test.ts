// Reading only the bucket edges the judgement depends on gives the judgement every edge gives:
// the same decision, cause, guard statuses, slow-request edges and e-values, window after window, on the
// decision-quality benchmark's simulated canaries (healthy, errors, latency regressions, a slow service).
import { describe, expect, it } from 'vitest';
import { Rng } from '../../bench/random.js';
import { drawBaseline, drawWindow, FIXED_RAMP, SCENARIOS, startRun } from '../../bench/scenarios.js';
import { judge } from './judge.js';
import { edgesToRead, projectLatency, unionOfEdges } from './read-edges.js';
import { analysisSchema, DEFAULT_STEPS, ENVOY_BUCKETS_MS } from './settings.js';
import type { ArmCounts, Window } from './types.js';

const all = [...ENVOY_BUCKETS_MS];

function projectArm(arm: ArmCounts, edges: readonly number[]): ArmCounts {
  return arm.latency ? { ...arm, latency: projectLatency(arm.latency, all, edges) } : arm;
}

describe('edgesToRead', () => {
  it('reads a handful of edges: the slow-request edges, and the buckets of the p99 ceiling and of stable’s p99', () => {
    const settings = analysisSchema.parse({ latencyP99: { maxMs: 500 } });
    // stable: 40 ms median (the fast service of the benchmark), p99 about 325 ms
    const baseline = drawBaseline(new Rng(7), SCENARIOS[0]!);
    const edges = edgesToRead(settings, all, baseline);
    expect(edges.length).toBeLessThanOrEqual(6);
    expect(edges).toEqual(expect.arrayContaining([250, 500, 1000]));
    expect(edges).toEqual([...edges].sort((a, b) => a - b));
  });

  it('reads every edge while the slow-request edges are still to be chosen (no baseline)', () => {
    expect(edgesToRead(analysisSchema.parse({}), all)).toEqual(all);
  });

  it('gives the judgement every edge gives, window after window', () => {
    let compared = 0;
    for (const scenario of SCENARIOS) {
      const settings = analysisSchema.parse({ latencyP99: { maxMs: scenario.p99CeilingMs } });
      for (let seed = 1; seed <= 3; seed++) {
        const rng = new Rng(seed * 7919 + scenario.name.length);
        const baseline = drawBaseline(rng, scenario);
        const run = startRun(rng);
        const windows: Window[] = FIXED_RAMP.map((weight, i) => drawWindow(rng, scenario, run, i, weight));
        // another canary's edges join the union, as in one batched query
        const edges = unionOfEdges([edgesToRead(settings, all, baseline), [50]]);
        const projected = windows.map((w) => ({ ...w, stable: projectArm(w.stable, edges), canary: projectArm(w.canary, edges) }));
        for (let n = 1; n <= windows.length; n += 3) {
          const common = { settings, steps: DEFAULT_STEPS, currentWeight: windows[n - 1]!.canaryWeight, stepElapsedSeconds: 600 };
          const full = judge({ ...common, windows: windows.slice(0, n), latencyBucketsMs: all, baseline });
          const read = judge({ ...common, windows: projected.slice(0, n), latencyBucketsMs: edges, baseline: projectLatency(baseline, all, edges) });
          const what = `${scenario.name}, seed ${seed}, ${n} windows`;
          expect(read.decision, what).toBe(full.decision);
          expect(read.cause, what).toBe(full.cause);
          expect(read.evidence.guards.map((g) => [g.name, g.status]), what).toEqual(full.evidence.guards.map((g) => [g.name, g.status]));
          expect(read.evidence.latencyEdges, what).toEqual(full.evidence.latencyEdges);
          expect(read.evidence.metrics, what).toEqual(full.evidence.metrics);
          expect(read.evidence.combined, what).toEqual(full.evidence.combined);
          compared++;
        }
      }
    }
    expect(compared).toBe(SCENARIOS.length * 3 * 14);
  });
});
