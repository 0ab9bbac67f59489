import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { DEFAULT_ANALYSIS, DEFAULT_STEPS } from './settings.js';
import { parseTrace, replayTrace, stepsForTrace } from './trace.js';

const fixtures = join(import.meta.dirname, '../../test/fixtures/traces');
const load = (name: string) => parseTrace(readFileSync(join(fixtures, name), 'utf8'), name);
const replay = (name: string) => {
  const trace = load(name);
  return replayTrace(trace, DEFAULT_ANALYSIS, stepsForTrace(trace, DEFAULT_STEPS));
};

function issuesOf(text: string): string[] {
  try {
    parseTrace(text, 'bad.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

const exampleText = readFileSync(join(fixtures, 'example.json'), 'utf8');

describe('parseTrace', () => {
  it('reads the issue example and ignores unknown fields', () => {
    const raw = JSON.parse(exampleText) as Record<string, unknown>;
    const trace = parseTrace(JSON.stringify({ ...raw, recordedBy: 'someone', extra: { a: 1 } }), 'example.json');
    expect(trace.name).toBe('backend-2026-11-27');
    expect(trace.windows[0]?.canary).toMatchObject({ requests: 600, errors: 3 });
    expect(trace).not.toHaveProperty('recordedBy');
  });

  it('names the bad field', () => {
    const raw = JSON.parse(exampleText) as { windows: { canary: { errors: unknown; latency: { le: number[] } } }[] };
    const first = raw.windows[0]!;
    first.canary.errors = 2.5;
    expect(issuesOf(JSON.stringify(raw)).join()).toContain('windows.0.canary.errors');
    first.canary.errors = 700;
    expect(issuesOf(JSON.stringify(raw)).join()).toMatch(/windows\.0\.canary\.errors: 700 errors exceed 600 requests/);
    first.canary.errors = 3;
    first.canary.latency.le = [1, 2, 3];
    expect(issuesOf(JSON.stringify(raw)).join()).toMatch(/windows\.0\.canary\.latency\.le: has 3 counts but latencyBucketsMs has 19 edges/);
    expect(issuesOf('{"name": "x", "windows": []}').join()).toContain('intervalSeconds');
    expect(issuesOf('not json').join()).toMatch(/^not JSON/);
  });
});

describe('replayTrace', () => {
  it('judges the issue example: one window at 5 % holds for the dwell', () => {
    const result = replay('example.json');
    expect(result.decisions).toHaveLength(1);
    expect(result.decisions[0]).toMatchObject({ t: 0, decision: 'hold' });
    expect(result.decisions[0]?.reason).toContain('dwell 1m of 5m');
    expect(result).toMatchObject({ firstRollback: null, firstPromote: null, final: 'hold' });
  });

  it('promotes a healthy bench trace at each minimum dwell and never rolls back', () => {
    const result = replay('healthy-a-a-200-rps.json');
    expect(result.decisions).toHaveLength(40);
    expect(result.firstRollback).toBeNull();
    expect(result.firstPromote).toBe(240);
    // The trace's weights go on after a promote, so every window is judged.
    const promotedAtTen = result.decisions.find((d) => d.canaryWeight === 10 && d.decision === 'promote');
    expect(promotedAtTen?.t).toBe(840);
  });

  it('rolls back the regressions', () => {
    expect(replay('errors-2x.json').firstRollback).not.toBeNull();
    // No baseline in this trace: the first window, both arms pooled, chooses the edges (p75, p95).
    const latency = replay('latency-50.json').decisions.find((d) => d.decision === 'rollback');
    expect(latency?.reason).toMatch(/worse than stable on latency>(50|100|250)ms/);
    expect(latency?.evidence?.latencyEdges?.source).toBe('pooled');
    const catastrophic = replay('catastrophic-30-5xx.json');
    expect(catastrophic.firstRollback).toBe(0);
    expect(catastrophic.decisions[0]?.reason).toMatch(/^Critical/);
    expect(catastrophic.final).toBe('rollback');
  });

  it('never rolls back the low-traffic trace, and promotes only with the floor for the weight it promotes to', () => {
    const trace = load('healthy-low-traffic-2-rps.json');
    const steps = stepsForTrace(trace, DEFAULT_STEPS);
    const result = replayTrace(trace, DEFAULT_ANALYSIS, steps);
    expect(result.firstRollback).toBeNull();
    expect(result.firstPromote).not.toBeNull();
    for (const d of result.decisions.filter((x) => x.decision === 'promote')) {
      const next = steps.find((s) => s.weight > d.canaryWeight)?.weight ?? 100;
      expect(d.evidence?.canary.requests).toBeGreaterThanOrEqual((DEFAULT_ANALYSIS.minCanaryRequests * next) / 100);
    }
  });
});
