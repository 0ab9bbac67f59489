import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeTraceCommand, type CommandOutput } from './analyze-trace.js';

const fixtures = join(import.meta.dirname, '../../test/fixtures/traces');
const dir = mkdtempSync(join(tmpdir(), 'analyze-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): CommandOutput & { stdout: string; stderr: string } {
  const sink = {
    stdout: '',
    stderr: '',
    out: (text: string) => {
      sink.stdout += text;
    },
    err: (text: string) => {
      sink.stderr += text;
    },
  };
  return sink;
}

describe('analyzeTraceCommand', () => {
  it('prints exactly the replay fields as JSON', async () => {
    const io = capture();
    expect(await analyzeTraceCommand({ trace: join(fixtures, 'example.json'), format: 'json' }, io)).toBe(0);
    const body = JSON.parse(io.stdout) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['decisions', 'firstRollback', 'firstPromote', 'final']);
    expect(body.decisions).toEqual([{ t: 0, decision: 'hold', reason: expect.stringContaining('dwell 1m of 5m') }]);
    expect(body).toMatchObject({ firstRollback: null, firstPromote: null, final: 'hold' });
  });

  it('prints a table in text, and exits 3 when the final decision is a rollback (CI gates on it)', async () => {
    const io = capture();
    expect(await analyzeTraceCommand({ trace: join(fixtures, 'catastrophic-30-5xx.json'), format: 'text' }, io)).toBe(3);
    const lines = io.stdout.trim().split('\n');
    expect(lines[1]).toMatch(/^\s+t\s+weight\s+decision\s+reason$/);
    expect(lines[2]).toMatch(/^\s+0\s+5%\s+rollback\s+Critical/);
    expect(lines.at(-1)).toBe('first promote: never; first rollback: t=0; final: rollback');
  });

  it("uses a policy's analysis and steps", async () => {
    const policy = join(dir, 'policy.yaml');
    writeFileSync(
      policy,
      [
        'apiVersion: delivery.docuthinker.io/v1alpha1',
        'kind: CanaryPolicy',
        'metadata: { name: backend }',
        'spec:',
        '  service: backend',
        '  namespace: docuthinker',
        '  virtualService: { file: vs.yaml, name: backend, route: primary }',
        '  deployments:',
        '    stable: { file: stable.yaml, container: backend }',
        '    canary: { file: canary.yaml, container: backend }',
        '  argocd: { application: backend }',
        '  steps: [{ weight: 5, minDwell: 2m }, { weight: 10, minDwell: 2m }, { weight: 50, minDwell: 2m }, { weight: 100 }]',
        '  analysis: { minCanaryRequests: 100 }',
        '',
      ].join('\n'),
    );
    const io = capture();
    expect(await analyzeTraceCommand({ trace: join(fixtures, 'healthy-a-a-200-rps.json'), format: 'json', policy }, io)).toBe(0);
    expect(JSON.parse(io.stdout).firstPromote).toBe(60);
  });

  it('exits 1 with the file and field on a bad trace', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'x', intervalSeconds: 60, windows: [{ t: 0, canaryWeight: 5, stable: { requests: 1, errors: 0 } }] }));
    const io = capture();
    expect(await analyzeTraceCommand({ trace: bad, format: 'text' }, io)).toBe(1);
    expect(io.stderr).toContain(`${bad}: windows.0.canary`);
    expect(io.stdout).toBe('');
    const missing = capture();
    expect(await analyzeTraceCommand({ trace: join(dir, 'nope.json'), format: 'text' }, missing)).toBe(1);
    expect(missing.stderr).toContain('nope.json');
  });
});
