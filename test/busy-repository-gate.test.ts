// The Argo CD gate in a busy repository, with real git (a bare remote) and the loopback Argo CD:
// a step counts as applied once the Applications synced a revision that CONTAINS the commit the
// step came from (later commits on top are fine), never a revision that lacks it.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.js';
import { createPromoter, type Promoter } from '../src/promoter/app.js';
import { parsePromoterConfig } from '../src/promoter/config.js';
import type { CanaryReport } from '../src/promoter/reconcile.js';
import { repoRoot } from '../src/schemas/registry.js';
import { fastPolicyText } from './support/environment.js';
import { startFakeArgoCd, type FakeArgoCd } from './support/fake-argocd.js';
import { cleanGitEnv, commitToRemote, createSeededRemote } from './support/git-remote.js';
import { startPrometheus, type PrometheusProcess } from './support/prometheus.js';

const CANARY = 'gitops/apps/backend/base/deployment-canary.yaml';
const POLICY = 'gitops/apps/backend/canary.yaml';
const APPS = ['docuthinker-mesh', 'docuthinker-apps'];

let dir: string;
let remoteDir: string;
let argo: FakeArgoCd;
let prometheus: PrometheusProcess;
let promoter: Promoter;

const git = (...args: string[]) => execFileSync('git', [`--git-dir=${remoteDir}`, ...args], { env: cleanGitEnv(dir), encoding: 'utf8' });
const head = () => git('rev-parse', 'main').trim();
const show = (path: string) => git('show', `main:${path}`);
const syncTo = (sha: string) => {
  for (const app of APPS) argo.reportSynced(app, sha);
};
const backend = (reports: CanaryReport[]) => reports.find((r) => r.canary === 'backend');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'busy-gate-'));
  ({ remoteDir } = await createSeededRemote({ dir, seedFrom: ['gitops'], sourceRoot: repoRoot() }));
  await commitToRemote(remoteDir, { [POLICY]: fastPolicyText(show(POLICY), 1, 3) }, 'test: one-second windows');
  argo = await startFakeArgoCd({ applications: APPS.map((name) => ({ name, repoURL: remoteDir, path: 'gitops' })) });
  prometheus = await startPrometheus({ targets: [], scrapeIntervalSeconds: 1 });
  const config = parsePromoterConfig(
    { git: { url: remoteDir, workdir: join(dir, 'clone') }, prometheus: { url: prometheus.url, timeout: '5s', settle: '1s' } },
    'test config',
  );
  promoter = await createPromoter(config, silentLogger(), { kubeConfigYaml: argo.kubeConfigYaml(), env: cleanGitEnv(dir) });
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await argo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the gate in a busy repository', () => {
  it('never opens on a revision that does not contain the commit, and opens once a revision on top of it is synced', async () => {
    const before = head();
    const image = await commitToRemote(remoteDir, { [CANARY]: show(CANARY).replace(/backend:[0-9.]+/, 'backend:7.7.7') }, 'CI lands backend 7.7.7');
    // Other teams keep committing elsewhere in the repository.
    const onTop = await commitToRemote(remoteDir, { 'gitops/apps/frontend/README.md': 'frontend notes\n' }, 'frontend: notes');
    await commitToRemote(remoteDir, { 'gitops/apps/ai-service/README.md': 'ai notes\n' }, 'ai-service: notes (not yet synced)');

    // Argo CD still runs the revision before the image commit: no start.
    syncTo(before);
    const waiting = backend((await promoter.tick()).canaries);
    expect(waiting).toMatchObject({ outcome: 'held' });
    expect(waiting?.reason).toMatch(/waiting for Argo CD before starting: .*synced to [0-9a-f]{12}, waiting for [0-9a-f]{12}/);
    expect(waiting?.reason).toContain(image.slice(0, 12));

    // Argo CD synced a later commit that contains the image commit (but not HEAD): the canary starts.
    syncTo(onTop);
    const started = backend((await promoter.tick()).canaries);
    expect(started).toMatchObject({ outcome: 'committed', action: 'start' });
    expect(git('log', '-1', '--format=%s', 'main').trim()).toBe('canary(backend): start ghcr.io/docuthinker/backend:7.7.7 at 5%');

    // The step commit is not synced yet; the earlier revisions do not contain it.
    const step = head();
    syncTo(onTop);
    const notApplied = backend((await promoter.tick()).canaries);
    expect(notApplied?.reason).toMatch(new RegExp(`waiting for Argo CD to apply 5%: .*waiting for ${step.slice(0, 12)}`));

    // Someone commits on top of the promoter's step; Argo CD syncs that: the step counts as applied.
    const later = await commitToRemote(remoteDir, { 'gitops/apps/frontend/README.md': 'frontend notes, v2\n' }, 'frontend: more notes');
    syncTo(later);
    const applied = backend((await promoter.tick()).canaries);
    expect(applied?.reason ?? '').not.toMatch(/waiting for Argo CD/);
  }, 60_000);
});
