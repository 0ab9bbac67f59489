import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../analysis/types.js';
import { applyAction } from './changes.js';
import { commitMessage } from './commit-message.js';
import { plan, type Action, type Analysis, type Gate } from './plan.js';
import { parseCanaryPolicy } from './policy.js';
import { readCanaryState, type CanaryState, type ManifestTexts } from './state.js';
import { backendState, sampleEvidence } from '../../test/support/canary-state.js';

const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/manifests/${name}`, import.meta.url), 'utf8');
const policy = parseCanaryPolicy(fixture('canary.yaml'), 'gitops/apps/backend/canary.yaml');
const base: ManifestTexts = {
  virtualService: fixture('virtualservice.yaml'),
  stableDeployment: fixture('deployment-stable.yaml'),
  canaryDeployment: fixture('deployment-canary.yaml'),
};

const state = (over: Partial<CanaryState>): CanaryState => backendState(over);

const verdict = (decision: Verdict['decision'], reason = `judge says ${decision}`): Analysis => ({
  verdict: {
    decision,
    reason,
    evidence: sampleEvidence(3, {
      metrics: [
        { metric: '5xx', canaryEvents: 3, stableEvents: 57, canaryRate: 0.005, stableRate: 0.005, logM: -0.4, logThreshold: 4.09, ratioLower: 0.3, ratioUpper: 1.4 },
      ],
      guards: [{ name: 'success-rate', value: 0.995, threshold: 0.99, op: '>=', status: 'pass' }],
    }),
  },
});

const ready: Gate = { ready: true };
const syncing: Gate = { ready: false, reason: 'synced to abc, want def', degraded: false };
const degraded: Gate = { ready: false, reason: 'health Degraded', degraded: true, degradedResources: ['Deployment/backend-canary'] };
const otherDegraded: Gate = { ready: false, reason: 'health Degraded', degraded: true, degradedResources: ['Deployment/frontend-canary'] };
const rollbackBecause = (cause: NonNullable<Verdict['cause']>): Analysis => {
  const v = (verdict('rollback', `judge says rollback (${cause})`) as { verdict: Verdict }).verdict;
  return { verdict: { ...v, cause } };
};

describe('plan', () => {
  const cases: [string, CanaryState, Gate, Analysis | undefined, Partial<Action>][] = [
    ['idle does nothing', state({ phase: 'idle', canaryWeight: 0, stableWeight: 100, canaryImage: 'img:1' }), ready, undefined, { kind: 'hold' }],
    ['a failed image is never started again', state({ phase: 'failed', canaryWeight: 0, stableWeight: 100, failedImage: 'img:2' }), ready, undefined, { kind: 'hold' }],
    ['weights set back to 0 by hand mid-rollout are held, never restarted', state({ phase: 'stopped', canaryWeight: 0, stableWeight: 100, rolloutImage: 'img:2' }), ready, undefined, { kind: 'hold', alert: true }],
    ['a new image starts at the first step', state({ phase: 'ready', canaryWeight: 0, stableWeight: 100 }), ready, undefined, { kind: 'start', to: 5 }],
    ['a new image waits for Argo CD', state({ phase: 'ready', canaryWeight: 0, stableWeight: 100 }), syncing, undefined, { kind: 'hold' }],
    ['promote 5 -> 10', state({}), ready, verdict('promote'), { kind: 'set-weight', from: 5, to: 10 }],
    ['a new image mid-rollout starts over at the first step', state({ phase: 'replaced', canaryWeight: 50, stableWeight: 50, stepIndex: 2, rolloutImage: 'img:1b' }), ready, verdict('promote'), { kind: 'start', to: 5, replacing: 'img:1b' }],
    ['promote 10 -> 50', state({ canaryWeight: 10, stableWeight: 90, stepIndex: 1 }), ready, verdict('promote'), { kind: 'set-weight', from: 10, to: 50 }],
    ['promote 50 -> 100', state({ canaryWeight: 50, stableWeight: 50, stepIndex: 2 }), ready, verdict('promote'), { kind: 'set-weight', from: 50, to: 100 }],
    ['promote at 100 finalizes the image', state({ canaryWeight: 100, stableWeight: 0, stepIndex: 3 }), ready, verdict('promote'), { kind: 'finalize-image', image: 'img:2' }],
    ['finalizing returns traffic once synced', state({ phase: 'finalizing', canaryWeight: 100, stableWeight: 0, stableImage: 'img:2' }), ready, undefined, { kind: 'finalize-traffic' }],
    ['finalizing waits for sync', state({ phase: 'finalizing', canaryWeight: 100, stableWeight: 0, stableImage: 'img:2' }), syncing, undefined, { kind: 'hold' }],
    ['finalizing never rolls back a degraded stable on its own', state({ phase: 'finalizing', canaryWeight: 100, stableWeight: 0, stableImage: 'img:2' }), degraded, undefined, { kind: 'hold', alert: true }],
    ['rollback verdict rolls back', state({}), ready, verdict('rollback'), { kind: 'rollback', image: 'img:2', reason: 'judge says rollback' }],
    ['hold verdict holds', state({}), ready, verdict('hold'), { kind: 'hold', reason: 'judge says hold' }],
    ['Prometheus down holds, never promotes', state({}), ready, { unavailable: 'Prometheus unreachable' }, { kind: 'hold' }],
    ['no judgement before Argo CD applied the step', state({}), syncing, verdict('promote'), { kind: 'hold' }],
    ['a degraded canary rolls back', state({}), degraded, verdict('promote'), { kind: 'rollback' }],
    ['another service degraded in a shared Application holds and alerts, never rolls this canary back', state({}), otherDegraded, verdict('promote'), { kind: 'hold', alert: true }],
    ['a statistical rollback does not wait for Argo CD', state({}), syncing, rollbackBecause('sequential'), { kind: 'rollback' }],
    ['the critical fast path does not wait for Argo CD', state({}), syncing, rollbackBecause('critical'), { kind: 'rollback' }],
    ['a silent canary is not rolled back before Argo CD applied its step', state({}), syncing, rollbackBecause('no-traffic'), { kind: 'hold' }],
    ['a silent canary is rolled back once its step is applied', state({}), ready, rollbackBecause('no-traffic'), { kind: 'rollback' }],
    ['a pause holds even a promote', state({ paused: true }), ready, verdict('promote'), { kind: 'hold' }],
    ['a hand-set weight is never overwritten', state({ phase: 'manual-override', canaryWeight: 33, stableWeight: 67 }), ready, verdict('promote'), { kind: 'hold', alert: true }],
  ];
  it.each(cases)('%s', (_name, s, gate, analysis, expected) => {
    expect(plan({ state: s, policy, gate, ...(analysis ? { analysis } : {}) })).toMatchObject(expected);
  });
});

describe('state from manifests', () => {
  it('is idle at rest', () => {
    expect(readCanaryState(policy, base)).toMatchObject({ phase: 'idle', stableWeight: 100, canaryWeight: 0, paused: false });
  });

  it('walks the whole lifecycle through the edits the actions write', () => {
    const now = new Date('2026-11-27T12:00:00Z');
    let texts: ManifestTexts = {
      ...base,
      canaryDeployment: base.canaryDeployment.replace('backend:1.4.0', 'backend:1.5.0'),
    };
    const apply = (action: Action) => {
      const s = readCanaryState(policy, texts);
      const files = applyAction(policy, s, texts, action, now);
      texts = {
        virtualService: files[policy.spec.virtualService.file] ?? texts.virtualService,
        stableDeployment: files[policy.spec.deployments.stable.file] ?? texts.stableDeployment,
        canaryDeployment: files[policy.spec.deployments.canary.file] ?? texts.canaryDeployment,
      };
      return Object.keys(files);
    };
    const decide = (analysis?: Analysis) => plan({ state: readCanaryState(policy, texts), policy, gate: ready, ...(analysis ? { analysis } : {}) });

    expect(readCanaryState(policy, texts).phase).toBe('ready');
    expect(apply(decide())).toEqual([policy.spec.virtualService.file]);
    expect(readCanaryState(policy, texts)).toMatchObject({ phase: 'progressing', canaryWeight: 5, canaryStartedAt: now.getTime() / 1000 });
    for (const weight of [10, 50, 100]) {
      apply(decide(verdict('promote')));
      expect(readCanaryState(policy, texts).canaryWeight).toBe(weight);
    }
    expect(apply(decide(verdict('promote')))).toEqual([policy.spec.deployments.stable.file]);
    expect(readCanaryState(policy, texts)).toMatchObject({ phase: 'finalizing', stableImage: 'ghcr.io/docuthinker/backend:1.5.0' });
    apply(decide());
    expect(readCanaryState(policy, texts)).toMatchObject({ phase: 'idle', stableWeight: 100, canaryWeight: 0 });
  });

  it('marks a rolled-back image failed so it is not started again', () => {
    let texts: ManifestTexts = { ...base, canaryDeployment: base.canaryDeployment.replace('backend:1.4.0', 'backend:1.6.0-bad') };
    const now = new Date('2026-11-27T12:00:00Z');
    const step = (action: Action) => {
      const files = applyAction(policy, readCanaryState(policy, texts), texts, action, now);
      texts = {
        virtualService: files[policy.spec.virtualService.file] ?? texts.virtualService,
        stableDeployment: texts.stableDeployment,
        canaryDeployment: files[policy.spec.deployments.canary.file] ?? texts.canaryDeployment,
      };
      return files;
    };
    step({ kind: 'start', to: 5 });
    const files = step({ kind: 'rollback', image: 'ghcr.io/docuthinker/backend:1.6.0-bad', reason: 'worse' });
    expect(Object.keys(files).sort()).toEqual([policy.spec.deployments.canary.file, policy.spec.virtualService.file].sort());
    const s = readCanaryState(policy, texts);
    expect(s).toMatchObject({ phase: 'failed', canaryWeight: 0, failedImage: 'ghcr.io/docuthinker/backend:1.6.0-bad' });
    expect(plan({ state: s, policy, gate: ready })).toMatchObject({ kind: 'hold' });
  });

  it('notices a canary image replaced in the middle of a rollout', () => {
    const texts: ManifestTexts = { ...base, canaryDeployment: base.canaryDeployment.replace('backend:1.4.0', 'backend:1.5.0') };
    const files = applyAction(policy, readCanaryState(policy, texts), texts, { kind: 'start', to: 5 }, new Date());
    const started = { ...texts, virtualService: files[policy.spec.virtualService.file] ?? '' };
    expect(readCanaryState(policy, started)).toMatchObject({ phase: 'progressing', rolloutImage: 'ghcr.io/docuthinker/backend:1.5.0' });
    const replaced = { ...started, canaryDeployment: started.canaryDeployment.replace('backend:1.5.0', 'backend:1.5.1') };
    expect(readCanaryState(policy, replaced).phase).toBe('replaced');
  });

  it('notices weights set back to 0 by hand in the middle of a rollout', () => {
    const texts: ManifestTexts = { ...base, canaryDeployment: base.canaryDeployment.replace('backend:1.4.0', 'backend:1.5.0') };
    const files = applyAction(policy, readCanaryState(policy, texts), texts, { kind: 'start', to: 5 }, new Date());
    const started = files[policy.spec.virtualService.file] ?? '';
    const byHand = started.replace('weight: 95 # stable', 'weight: 100 # stable').replace('weight: 5   # canary', 'weight: 0   # canary');
    expect(readCanaryState(policy, { ...texts, virtualService: byHand }).phase).toBe('stopped');
  });

  it('reads a pause annotation and a hand edit', () => {
    const paused = base.virtualService.replace('  labels:\n', '  annotations:\n    delivery.docuthinker.io/paused: "true"\n  labels:\n');
    expect(readCanaryState(policy, { ...base, virtualService: paused }).paused).toBe(true);
    const hand = base.virtualService.replace('weight: 100 # stable', 'weight: 70 # stable').replace('weight: 0   # canary', 'weight: 30   # canary');
    expect(readCanaryState(policy, { ...base, virtualService: hand, canaryDeployment: base.canaryDeployment.replace('1.4.0', '1.5.0') }).phase).toBe('manual-override');
  });
});

describe('commit messages', () => {
  it('fall back to the history since the canary started when the step has no window yet', () => {
    const v = (verdict('rollback') as { verdict: Verdict }).verdict;
    const empty = { requests: 0, errors: 0, errorRate: null, p99Ms: null };
    const message = commitMessage({ canary: 'backend', state: state({}), action: { kind: 'rollback', image: 'img:2', reason: 'worse' }, verdict: { ...v, evidence: { ...v.evidence, canary: empty, stable: empty } } });
    expect(message).toMatch(/Promoter-Evidence: canary 5xx 0\.50% \(3\/600 since start\); stable 0\.50% \(57\/11400 since start\)/);
  });


  it('carry the subject, the evidence and the trailers', () => {
    const message = commitMessage({ canary: 'backend', state: state({}), action: { kind: 'set-weight', from: 5, to: 10 }, verdict: (verdict('promote') as { verdict: Verdict }).verdict });
    expect(message.split('\n')[0]).toBe('canary(backend): promote 5% -> 10%');
    expect(message).toContain('5xx: ratio in [0.30, 1.40]');
    expect(message).toMatch(/\n\nPromoter-Canary: backend\nPromoter-Step: 10\nPromoter-Decision: set-weight\nPromoter-Image: img:2\nPromoter-Evidence: canary 5xx 0\.50% \(3\/600\); stable 0\.50% \(57\/11400\); 5xx ratio CI \[0\.30, 1\.40\]; p99 210ms vs 205ms\n$/);
  });
});
