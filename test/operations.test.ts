// A person's pause / resume / promote / abort, committed through the real git adapter to a bare remote.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.js';
import { pushDelivery } from '../src/promoter/delivery.js';
import { applyOperation, type Operation, type OperationDeps } from '../src/promoter/operations.js';
import { GitWorkspace } from '../src/promoter/workspace.js';
import { repoRoot } from '../src/schemas/registry.js';
import { cleanGitEnv, commitToRemote, createSeededRemote } from './support/git-remote.js';

const VS = 'gitops/istio/traffic-management/virtualservices/backend.yaml';
const CANARY = 'gitops/apps/backend/base/deployment-canary.yaml';
let dir: string;
let remoteDir: string;
let deps: OperationDeps;

const show = (path: string) => execFileSync('git', [`--git-dir=${remoteDir}`, 'show', `main:${path}`], { env: cleanGitEnv(dir), encoding: 'utf8' });
const trailer = (key: string) => execFileSync('git', [`--git-dir=${remoteDir}`, 'log', '-1', `--format=%(trailers:key=${key},valueonly)`, 'main'], { env: cleanGitEnv(dir), encoding: 'utf8' }).trim();
const subject = () => execFileSync('git', [`--git-dir=${remoteDir}`, 'log', '-1', '--format=%s%n%(trailers:key=Promoter-Decision,valueonly)', 'main'], { env: cleanGitEnv(dir), encoding: 'utf8' }).trim();
const run = (op: Operation, canary = 'backend') => applyOperation(deps, { globs: ['gitops/apps/*/canary.yaml'], canary, op, reason: `test ${op}`, maxAttempts: 3 });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'operations-'));
  ({ remoteDir } = await createSeededRemote({ dir, seedFrom: ['gitops'], sourceRoot: repoRoot() }));
  const workspace = await GitWorkspace.open({
    remoteUrl: remoteDir,
    branch: 'main',
    dir: join(dir, 'clone'),
    identity: { name: 'docuthinker-promoter', email: 'promoter@example.test' },
    logger: silentLogger(),
    env: cleanGitEnv(dir),
  });
  deps = { git: workspace, delivery: pushDelivery(workspace) };
}, 30_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a person operating a canary', () => {
  it('refuses what makes no sense, with the reason', async () => {
    await expect(run('promote')).rejects.toThrow('canary "backend" is idle at 0%: nothing to promote');
    await expect(run('abort')).rejects.toThrow('nothing to abort');
    await expect(run('pause', 'payments')).rejects.toThrow('no canary policy named "payments" (known: ai-service, backend, frontend)');
  });

  it('promotes by hand: start, then the next step', async () => {
    await commitToRemote(remoteDir, { [CANARY]: show(CANARY).replace(/backend:[0-9.]+/, 'backend:2.0.0') }, 'CI lands backend 2.0.0');
    expect(await run('promote')).toMatchObject({ kind: 'committed', subject: 'canary(backend): promote by hand 0% -> 5%' });
    expect(subject()).toBe('canary(backend): promote by hand 0% -> 5%\nmanual-start');
    // Promoter-Step means what it means in the promoter's own commits: where the canary is once this applies.
    expect(trailer('Promoter-Step')).toBe('5');
    expect(await run('promote')).toMatchObject({ kind: 'committed', subject: 'canary(backend): promote by hand 5% -> 10%' });
    expect(show(VS)).toMatch(/weight: 90\b/);
    expect(trailer('Promoter-Step')).toBe('10');
  });

  it('pauses and resumes with one annotation; pausing twice commits nothing', async () => {
    expect(await run('pause')).toMatchObject({ kind: 'committed' });
    expect(show(VS)).toContain('delivery.docuthinker.io/paused: "true"');
    expect(trailer('Promoter-Step')).toBe('10');
    expect(await run('pause')).toEqual({ kind: 'unchanged' });
    expect(await run('resume')).toMatchObject({ kind: 'committed', subject: 'canary(backend): resume at 10%' });
    expect(show(VS)).toContain('delivery.docuthinker.io/paused: "false"');
  });

  it('still finds this canary when another service\'s policy is broken', async () => {
    const frontend = 'gitops/apps/frontend/canary.yaml';
    const good = show(frontend);
    await commitToRemote(remoteDir, { [frontend]: 'spec: [broken\n' }, 'a person breaks the frontend policy');
    // backend was resumed above, so resuming it again finds it and has nothing to commit
    expect(await run('resume')).toEqual({ kind: 'unchanged' });
    await commitToRemote(remoteDir, { [frontend]: good }, 'fix it');
  });

  it('aborts: traffic back to stable and the image marked failed', async () => {
    expect(await run('abort')).toMatchObject({ kind: 'committed', subject: 'canary(backend): abort, roll back ghcr.io/docuthinker/backend:2.0.0' });
    expect(subject()).toMatch(/\nrollback$/);
    expect(trailer('Promoter-Step')).toBe('rollback-from-10');
    expect(show(VS)).toMatch(/weight: 100\b/);
    expect(show(CANARY)).toContain('delivery.docuthinker.io/failed-image: "ghcr.io/docuthinker/backend:2.0.0"');
    await expect(run('abort')).rejects.toThrow('canary "backend" is failed at 0%: nothing to abort');
  });
});
