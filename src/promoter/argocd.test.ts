// Pure parts of the Argo CD adapter: reading status out of an Application, the sync gate, the sync patch.
import { describe, expect, it } from 'vitest';
import { createSchemaRegistry } from '../schemas/registry.js';
import { applicationStatusView, syncGate, syncRequestPatch, type ApplicationStatusView } from './argocd.js';

const SHA = 'a'.repeat(40);
const OLD = 'b'.repeat(40);

const ready: ApplicationStatusView = {
  name: 'backend',
  syncStatus: 'Synced',
  syncedRevision: SHA,
  health: 'Healthy',
  operationPhase: 'Succeeded',
  operationRevision: SHA,
  operationFinishedAt: '2025-06-01T10:00:00Z',
  reconciledAt: '2025-06-01T10:00:05Z',
  operationInProgress: false,
};

describe('syncGate', () => {
  it.each<[string, Partial<ApplicationStatusView>, { ready: boolean; degraded?: boolean; reason?: RegExp }]>([
    ['synced, healthy, reconciled after the sync', {}, { ready: true }],
    ['reconciled at the same second the sync finished', { reconciledAt: '2025-06-01T10:00:00Z' }, { ready: true }],
    ['no operation at all (auto-sync applied it)', { operationPhase: undefined, operationRevision: undefined, operationFinishedAt: undefined }, { ready: true }],
    ['synced to another sha', { syncedRevision: OLD }, { ready: false, degraded: false, reason: /synced to bbbbbbbbbbbb, waiting for aaaaaaaaaaaa/ }],
    ['never synced', { syncedRevision: undefined, syncStatus: 'Unknown' }, { ready: false, degraded: false, reason: /synced to no revision/ }],
    ['OutOfSync at the sha', { syncStatus: 'OutOfSync' }, { ready: false, degraded: false, reason: /OutOfSync/ }],
    ['Progressing', { health: 'Progressing' }, { ready: false, degraded: false, reason: /health Progressing/ }],
    ['Missing', { health: 'Missing' }, { ready: false, degraded: false, reason: /health Missing/ }],
    ['Degraded', { health: 'Degraded', healthMessage: 'CrashLoopBackOff' }, { ready: false, degraded: true, reason: /Degraded.*CrashLoopBackOff/ }],
    [
      'reconciledAt before the operation finished (stale health)',
      { reconciledAt: '2025-06-01T09:59:00Z' },
      { ready: false, degraded: false, reason: /not reconciled since the sync finished/ },
    ],
    ['finished but never reconciled', { reconciledAt: undefined }, { ready: false, degraded: false, reason: /reconciledAt never/ }],
    ['stale Degraded health is not trusted either', { reconciledAt: '2025-06-01T09:59:00Z', health: 'Degraded' }, { ready: false, degraded: false }],
    ['operation running', { operationInProgress: true, operationPhase: 'Running' }, { ready: false, degraded: false, reason: /in progress/ }],
    [
      'sync of this sha failed',
      { operationPhase: 'Failed', operationRevision: SHA, operationFinishedAt: '2025-06-01T10:00:00Z', syncedRevision: OLD },
      { ready: false, degraded: true, reason: /sync operation for aaaaaaaaaaaa ended Failed/ },
    ],
    ['sync of this sha errored', { operationPhase: 'Error', operationRevision: SHA }, { ready: false, degraded: true, reason: /ended Error/ }],
    [
      'an old failed sync of another sha does not mark this one degraded',
      { operationPhase: 'Failed', operationRevision: OLD },
      { ready: true },
    ],
  ])('%s', (_label, change, expected) => {
    const gate = syncGate({ ...ready, ...change }, SHA);
    expect(gate.ready).toBe(expected.ready);
    if (!gate.ready) {
      expect(gate.degraded).toBe(expected.degraded);
      if (expected.reason) expect(gate.reason).toMatch(expected.reason);
    }
  });
});

describe('applicationStatusView', () => {
  it('reads sync, health, operation state and reconciledAt', () => {
    const view = applicationStatusView({
      metadata: { name: 'backend' },
      status: {
        sync: { status: 'Synced', revision: SHA },
        health: { status: 'Healthy' },
        reconciledAt: '2025-06-01T10:00:05Z',
        operationState: {
          phase: 'Succeeded',
          message: 'successfully synced',
          startedAt: '2025-06-01T09:59:50Z',
          finishedAt: '2025-06-01T10:00:00Z',
          operation: { sync: { revision: SHA } },
          syncResult: { revision: SHA },
        },
      },
    });
    expect(view).toEqual({ ...ready, operationMessage: 'successfully synced' });
  });

  it('treats a pending operation or a Running phase as in progress, and unknown values as Unknown', () => {
    expect(applicationStatusView({ metadata: { name: 'x' }, operation: { sync: { revision: SHA } } }).operationInProgress).toBe(true);
    expect(applicationStatusView({ status: { operationState: { phase: 'Terminating' } } }).operationInProgress).toBe(true);
    const empty = applicationStatusView({ status: { sync: { status: 'Weird' } } });
    expect(empty).toEqual({ name: '', syncStatus: 'Unknown', health: 'Unknown', operationInProgress: false });
  });

  it('falls back to revisions[0] for multi-source applications', () => {
    const view = applicationStatusView({ status: { sync: { status: 'Synced', revisions: [SHA, OLD] }, operationState: { phase: 'Running', syncResult: { revisions: [OLD] } } } });
    expect(view.syncedRevision).toBe(SHA);
    expect(view.operationRevision).toBe(OLD);
  });
});

/** What the real Argo CD Application schema says of an Application carrying this operation. */
function operationSchemaIssues(operation: unknown): unknown {
  const validate = createSchemaRegistry().validatorFor('argoproj.io/v1alpha1', 'Application');
  return validate?.({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'backend', namespace: 'argocd' },
    spec: { project: 'docuthinker', destination: { server: 'https://kubernetes.default.svc' }, source: { repoURL: 'https://example.test/x.git' } },
    operation,
  });
}

describe('syncRequestPatch', () => {
  it('adds the decision and its evidence as operation info, shown in the Argo CD UI', () => {
    const patch = syncRequestPatch(SHA, undefined, [
      { name: 'Decision', value: 'canary(backend): promote 5% -> 10%' },
      { name: 'Evidence', value: 'canary 5xx 0.50% (3/600); stable 0.50% (57/11400)' },
    ]) as { operation: { info: { name: string; value: string }[] } };
    expect(patch.operation.info.map((i) => i.name)).toEqual(['Reason', 'Decision', 'Evidence']);
    expect(operationSchemaIssues(patch.operation)).toEqual([]);
  });

  it('produces an operation that the real Application schema accepts', () => {
    const patch = syncRequestPatch(SHA, '42');
    expect(patch).toEqual({
      metadata: { resourceVersion: '42', annotations: { 'argocd.argoproj.io/refresh': 'hard' } },
      operation: {
        sync: { revision: SHA },
        initiatedBy: { username: 'docuthinker-promoter', automated: true },
        info: [{ name: 'Reason', value: `docuthinker-promoter committed ${SHA}` }],
      },
    });
    expect(operationSchemaIssues(patch.operation)).toEqual([]);
  });
});

describe('syncGate in a busy repository', () => {
  const PROMOTER = 'a'.repeat(40);
  const ON_TOP = 'c'.repeat(40);
  const SIBLING = 'd'.repeat(40);
  const base: ApplicationStatusView = {
    name: 'docuthinker-mesh',
    syncStatus: 'Synced',
    health: 'Healthy',
    operationInProgress: false,
    operationPhase: 'Succeeded',
    operationFinishedAt: '2026-01-01T00:00:10Z',
    reconciledAt: '2026-01-01T00:00:12Z',
  };
  // What the git module answers: ON_TOP descends from the promoter's commit, SIBLING does not.
  const contains = (revision: string) => revision === PROMOTER || revision === ON_TOP;

  it('opens when the Application synced a later commit on top of the promoter commit', () => {
    expect(syncGate({ ...base, syncedRevision: ON_TOP, operationRevision: ON_TOP }, PROMOTER, contains)).toEqual({ ready: true });
  });

  it('never opens on a revision that does not contain it', () => {
    const gate = syncGate({ ...base, syncedRevision: SIBLING, operationRevision: SIBLING }, PROMOTER, contains);
    expect(gate).toMatchObject({ ready: false, degraded: false, reason: /synced to dddddddddddd, waiting for aaaaaaaaaaaa/ });
  });

  it('a failed sync of a revision containing it is degraded; one of an unrelated revision is not', () => {
    const failed = { ...base, syncedRevision: SIBLING, operationPhase: 'Failed' as const, operationMessage: 'hook failed' };
    expect(syncGate({ ...failed, operationRevision: ON_TOP }, PROMOTER, contains)).toMatchObject({ ready: false, degraded: true });
    expect(syncGate({ ...failed, operationRevision: SIBLING }, PROMOTER, contains)).toMatchObject({ ready: false, degraded: false });
  });

  it('still waits for health reconciled after the operation on top finished', () => {
    const stale = { ...base, syncedRevision: ON_TOP, operationRevision: ON_TOP, reconciledAt: '2026-01-01T00:00:05Z' };
    expect(syncGate(stale, PROMOTER, contains)).toMatchObject({ ready: false, reason: /not reconciled/ });
  });
});
