// The Argo CD adapter, through the real @kubernetes/client-node, against the loopback Kubernetes API
// whose objects are checked against the real Application CRD schema.
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Writable } from 'node:stream';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../src/errors.js';
import { createLogger, silentLogger } from '../src/logger.js';
import { createArgoCdClient, syncGate, type ArgoCdClient } from '../src/promoter/argocd.js';
import { createSchemaRegistry, type SchemaRegistry } from '../src/schemas/registry.js';
import { startFakeArgoCd, type FakeArgoCd } from './support/fake-argocd.js';

const SHA = '1'.repeat(40);
const NEXT = '2'.repeat(40);
const REPO = 'https://github.com/docuthinker/delivery.git';

let clock: Date;
let argo: FakeArgoCd;
let client: ArgoCdClient;
let registry: SchemaRegistry;

function advance(seconds: number): void {
  clock = new Date(clock.getTime() + seconds * 1000);
}

beforeAll(() => {
  registry = createSchemaRegistry();
});

beforeEach(async () => {
  clock = new Date('2025-06-01T10:00:00Z');
  argo = await startFakeArgoCd({
    applications: [
      { name: 'docuthinker-backend', repoURL: REPO, path: 'gitops/apps/backend' },
      { name: 'docuthinker-frontend', namespace: 'delivery', repoURL: REPO, path: 'gitops/apps/frontend', targetRevision: 'release' },
    ],
    now: () => clock,
    registry,
  });
  client = createArgoCdClient({ kubeConfigYaml: argo.kubeConfigYaml(), logger: silentLogger() });
});

afterEach(async () => {
  await argo.close();
});

function rawApi(kubeConfigYaml: string): CustomObjectsApi {
  const config = new KubeConfig();
  config.loadFromString(kubeConfigYaml);
  return config.makeApiClient(CustomObjectsApi);
}

const APP = { group: 'argoproj.io', version: 'v1alpha1', namespace: 'argocd', plural: 'applications', name: 'docuthinker-backend' };

describe('reading status', () => {
  it('reads a freshly seeded application as never synced', async () => {
    const view = await client.getApplication('docuthinker-backend', 'argocd');
    expect(view).toEqual({ name: 'docuthinker-backend', syncStatus: 'Unknown', health: 'Unknown', operationInProgress: false });
    expect(syncGate(view, SHA)).toMatchObject({ ready: false, degraded: false });
  });

  it('serves schema-valid objects and lists them per namespace', async () => {
    const validate = registry.validatorFor('argoproj.io/v1alpha1', 'Application');
    expect(validate?.(argo.application('docuthinker-frontend'))).toEqual([]);
    const list = (await rawApi(argo.kubeConfigYaml()).listNamespacedCustomObject({ ...APP, namespace: 'delivery' })) as { kind: string; items: { metadata: { name: string } }[] };
    expect(list.kind).toBe('ApplicationList');
    expect(list.items.map((item) => item.metadata.name)).toEqual(['docuthinker-frontend']);
  });
});

describe('syncGate over the wire', () => {
  it('is not ready while the app is synced to another sha', async () => {
    argo.reportSynced('docuthinker-backend', NEXT);
    const gate = syncGate(await client.getApplication('docuthinker-backend', 'argocd'), SHA);
    expect(gate).toEqual({ ready: false, degraded: false, reason: expect.stringMatching(/synced to 222222222222, waiting for 111111111111/) });
  });

  it('is not ready while Progressing and degraded when Degraded', async () => {
    argo.reportSynced('docuthinker-backend', SHA, 'Progressing');
    expect(syncGate(await client.getApplication('docuthinker-backend', 'argocd'), SHA)).toMatchObject({ ready: false, degraded: false });
    advance(30);
    argo.reportSynced('docuthinker-backend', SHA, 'Degraded');
    expect(syncGate(await client.getApplication('docuthinker-backend', 'argocd'), SHA)).toMatchObject({ ready: false, degraded: true });
  });

  it('does not trust health reconciled before the sync operation finished', async () => {
    argo.reportSynced('docuthinker-backend', SHA);
    expect(await client.requestSync('docuthinker-backend', 'argocd', SHA)).toBe('requested');
    advance(20);
    argo.reportOperation('docuthinker-backend', 'Succeeded');
    const stale = await client.getApplication('docuthinker-backend', 'argocd');
    expect(stale.reconciledAt).toBe('2025-06-01T10:00:00Z');
    expect(stale.operationFinishedAt).toBe('2025-06-01T10:00:20Z');
    expect(syncGate(stale, SHA)).toMatchObject({ ready: false, degraded: false, reason: expect.stringMatching(/not reconciled/) });

    advance(5);
    argo.reportSynced('docuthinker-backend', SHA);
    expect(syncGate(await client.getApplication('docuthinker-backend', 'argocd'), SHA)).toEqual({ ready: true });
  });

  it('is degraded when the sync operation for the sha failed', async () => {
    await client.requestSync('docuthinker-backend', 'argocd', SHA);
    advance(10);
    argo.reportOperation('docuthinker-backend', 'Failed', 'one or more objects failed to apply');
    const gate = syncGate(await client.getApplication('docuthinker-backend', 'argocd'), SHA);
    expect(gate).toMatchObject({ ready: false, degraded: true, reason: expect.stringMatching(/Failed: one or more objects failed to apply/) });
  });

  it('is ready once synced to the sha, healthy and reconciled after the operation', async () => {
    expect(await client.requestSync('docuthinker-backend', 'argocd', SHA)).toBe('requested');
    const running = await client.getApplication('docuthinker-backend', 'argocd');
    expect(running).toMatchObject({ operationInProgress: true, operationPhase: 'Running', operationRevision: SHA });
    expect(syncGate(running, SHA)).toMatchObject({ ready: false, reason: expect.stringMatching(/in progress/) });
    advance(15);
    argo.reportSynced('docuthinker-backend', SHA, 'Healthy');
    const view = await client.getApplication('docuthinker-backend', 'argocd');
    expect(view).toMatchObject({
      syncStatus: 'Synced',
      syncedRevision: SHA,
      health: 'Healthy',
      operationPhase: 'Succeeded',
      operationRevision: SHA,
      operationInProgress: false,
    });
    expect(syncGate(view, SHA)).toEqual({ ready: true });
  });
});

describe('requestSync', () => {
  it('sets a schema-valid operation and the hard-refresh annotation in one patch', async () => {
    expect(await client.requestSync('docuthinker-backend', 'argocd', SHA)).toBe('requested');
    const app = argo.application('docuthinker-backend') as {
      metadata: { annotations?: Record<string, string> };
      operation?: { sync?: { revision?: string }; initiatedBy?: { username?: string; automated?: boolean }; info?: unknown[] };
    };
    expect(app.metadata.annotations).toEqual({ 'argocd.argoproj.io/refresh': 'hard' });
    expect(app.operation).toEqual({
      sync: { revision: SHA },
      initiatedBy: { username: 'docuthinker-promoter', automated: true },
      info: [{ name: 'Reason', value: expect.stringContaining(SHA) }],
    });
    expect(registry.validatorFor('argoproj.io/v1alpha1', 'Application')?.(app)).toEqual([]);
    expect(argo.syncRequests('docuthinker-backend')).toEqual([SHA]);
  });

  it("answers 'already-running' while an operation is in progress, then accepts the next one", async () => {
    expect(await client.requestSync('docuthinker-backend', 'argocd', SHA)).toBe('requested');
    expect(await client.requestSync('docuthinker-backend', 'argocd', NEXT)).toBe('already-running');
    argo.reportSynced('docuthinker-backend', SHA);
    expect(await client.requestSync('docuthinker-backend', 'argocd', NEXT)).toBe('requested');
    expect(argo.syncRequests('docuthinker-backend')).toEqual([SHA, NEXT]);
  });

  it('works in another namespace', async () => {
    expect(await client.requestSync('docuthinker-frontend', 'delivery', SHA)).toBe('requested');
    expect(argo.syncRequests('docuthinker-frontend')).toEqual([SHA]);
  });
});

describe('errors', () => {
  it('names the application and namespace on 404', async () => {
    const failure = await client.getApplication('nope', 'argocd').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PermanentError);
    expect((failure as Error).message).toMatch(/Argo CD Application "nope" not found in namespace "argocd"/);
    await expect(client.requestSync('docuthinker-backend', 'elsewhere', SHA)).rejects.toThrow(/not found in namespace "elsewhere"/);
  });

  it('reports a rejected token as permanent and never shows the token', async () => {
    const wrongToken = `sha256~${'f'.repeat(40)}`;
    const chunks: string[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          chunks.push(chunk.toString());
          done();
        },
      }),
    });
    const bad = createArgoCdClient({ kubeConfigYaml: argo.kubeConfigYaml().replace(argo.token, wrongToken), logger });
    const failure = await bad.getApplication('docuthinker-backend', 'argocd').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PermanentError);
    expect((failure as Error).message).toMatch(/401.*get applications\.argoproj\.io "docuthinker-backend"/);
    const patchFailure = await bad.requestSync('docuthinker-backend', 'argocd', SHA).catch((error: unknown) => error);
    expect((patchFailure as Error).message).toMatch(/rejected the promoter's credentials/);
    for (const shown of [failure, patchFailure].flatMap((e) => [(e as Error).message, (e as Error).stack ?? '', String((e as Error).cause)])) {
      expect(shown).not.toContain(wrongToken);
      expect(shown).not.toContain(argo.token);
    }
    await client.requestSync('docuthinker-backend', 'argocd', SHA);
    expect(chunks.join('')).not.toContain(wrongToken);
  });

  it('treats an unreachable API server as transient', async () => {
    const url = argo.url;
    await argo.close();
    const failure = await client.getApplication('docuthinker-backend', 'argocd').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toContain(url);
    argo = await startFakeArgoCd({ applications: [], registry });
  });
});

describe('the loopback API server itself', () => {
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

  it('refuses a second operation while one runs (409) and a patch that breaks the schema (422)', async () => {
    const api = rawApi(argo.kubeConfigYaml());
    await client.requestSync('docuthinker-backend', 'argocd', SHA);
    await expect(api.patchNamespacedCustomObject({ ...APP, body: { operation: { sync: { revision: NEXT } } } }, mergePatch)).rejects.toMatchObject({
      code: 409,
      body: expect.stringContaining('another operation is already in progress'),
    });
    await expect(
      api.patchNamespacedCustomObject({ ...APP, body: { spec: { syncPolicy: { automated: { prune: 'yes' } } } } }, mergePatch),
    ).rejects.toMatchObject({ code: 422, body: expect.stringMatching(/"reason":"Invalid".*spec\.syncPolicy\.automated\.prune/) });
    await expect(api.patchNamespacedCustomObject({ ...APP, body: { operation: { sync: { revison: NEXT } } } }, mergePatch)).rejects.toMatchObject({
      code: 409,
    });
    expect(argo.syncRequests('docuthinker-backend')).toEqual([SHA]);
  });

  it('refuses a stale resourceVersion (409), accepts JSON patch, and answers 415 for strategic merge', async () => {
    const api = rawApi(argo.kubeConfigYaml());
    await expect(
      api.patchNamespacedCustomObject({ ...APP, body: { metadata: { resourceVersion: '0', labels: { a: 'b' } } } }, mergePatch),
    ).rejects.toMatchObject({ code: 409, body: expect.stringContaining('the object has been modified') });

    const patched = (await api.patchNamespacedCustomObject({
      ...APP,
      body: [{ op: 'add', path: '/metadata/labels', value: { team: 'docs' } }],
    })) as { metadata: { labels: Record<string, string> } };
    expect(patched.metadata.labels).toEqual({ team: 'docs' });

    await expect(
      api.patchNamespacedCustomObject({ ...APP, body: { metadata: { labels: { a: 'b' } } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch)),
    ).rejects.toMatchObject({ code: 415 });
  });

  it('rejects an unknown field with 422 Invalid, leaving the object unchanged', async () => {
    const api = rawApi(argo.kubeConfigYaml());
    const before = argo.application('docuthinker-backend');
    await expect(api.patchNamespacedCustomObject({ ...APP, body: { spec: { weight: 5 } } }, mergePatch)).rejects.toMatchObject({ code: 422 });
    expect(argo.application('docuthinker-backend')).toEqual(before);
  });
});
