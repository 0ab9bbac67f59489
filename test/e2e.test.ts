// The whole loop with real pieces: a bare Git remote, a real Prometheus, the mesh simulator
// (Istio + Argo CD on loopback), and the promoter from the real composition root.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.js';
import type { TickReport } from '../src/promoter/reconcile.js';
import type { CanaryState } from '../src/promoter/state.js';
import { cleanGitEnv } from './support/git-remote.js';
import { Environment } from './support/environment.js';

const GOOD = 'ghcr.io/docuthinker/backend:1.5.0';
const BAD = 'ghcr.io/docuthinker/backend:1.6.0-bad';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let env: Environment;
const vsFile = () => env.policy('backend').spec.virtualService.file;

function backendState(): Promise<CanaryState> {
  return env.stateAtHead('backend');
}

/** Ticks once a second until `done`, at most `maxTicks` times; returns every report. */
async function tickUntil(done: (s: CanaryState) => boolean, maxTicks: number): Promise<TickReport[]> {
  const reports: TickReport[] = [];
  for (let i = 0; i < maxTicks; i++) {
    reports.push(await env.tick());
    if (done(await backendState())) return reports;
    await sleep(1000);
  }
  throw new Error(`not reached after ${maxTicks} ticks; last: ${JSON.stringify(reports.at(-1)?.canaries.find((c) => c.canary === 'backend'))}`);
}

function git(...args: string[]): string {
  return execFileSync('git', [`--git-dir=${env.remoteDir}`, ...args], { env: cleanGitEnv(env.dir), encoding: 'utf8' });
}

/** Promoter commits since `since` (exclusive), oldest first. */
function promoterCommits(since: string): { sha: string; subject: string; trailers: string; files: string[] }[] {
  const shas = git('rev-list', '--reverse', `--author=docuthinker-promoter`, `${since}..main`).trim().split('\n').filter(Boolean);
  return shas.map((sha) => ({
    sha,
    subject: git('log', '-1', '--format=%s', sha).trim(),
    trailers: git('log', '-1', '--format=%(trailers)', sha),
    files: git('diff-tree', '--no-commit-id', '--name-only', '-r', sha).trim().split('\n'),
  }));
}

/** The changed lines (+/-) of one commit's diff. */
function changedLines(sha: string): string[] {
  return git('show', '--format=', '--unified=0', sha)
    .split('\n')
    .filter((l) => /^[+-]/.test(l) && !/^(\+\+\+|---) /.test(l));
}

beforeAll(async () => {
  env = await Environment.start({ logger: silentLogger(), intervalSeconds: 2, minDwellSeconds: 6 });
}, 60_000);

afterAll(async () => {
  await env?.close();
});

describe('the promoter end to end', () => {
  it('promotes a healthy canary 5 -> 10 -> 50 -> 100, holds through a Prometheus outage and a restart, and finalizes', async () => {
    const before = git('rev-parse', 'main').trim();
    const vsBefore = (await env.readAtHead(vsFile())) ?? '';
    await env.landCanaryImage(GOOD);

    // Up to the 10 % step.
    await tickUntil((s) => s.canaryWeight === 10, 90);

    // A monitoring outage: the promoter holds (no commit) while Prometheus is down.
    await env.prometheus.suspend();
    const headDuringOutage = git('rev-parse', 'main').trim();
    const outage: TickReport[] = [];
    for (let i = 0; i < 6; i++) {
      outage.push(await env.tick());
      await sleep(1000);
    }
    expect(git('rev-parse', 'main').trim()).toBe(headDuringOutage);
    const outageReports = outage.flatMap((r) => r.canaries.filter((c) => c.canary === 'backend'));
    expect(outageReports.every((c) => c.outcome === 'held')).toBe(true);
    expect(outageReports.some((c) => /prometheus|unreachable|ECONNREFUSED/i.test(c.reason))).toBe(true);
    await env.prometheus.resume();

    // The promoter is killed and a new one (fresh clone, no memory) takes over at the same step.
    await env.restartPromoter();
    const first = await env.tick();
    const backend = first.canaries.find((c) => c.canary === 'backend');
    expect(backend?.canaryWeight).toBe(10);
    expect(backend?.commit?.subject ?? '').not.toMatch(/start/);

    await tickUntil((s) => s.phase === 'idle' && s.stableImage === GOOD, 150);

    const commits = promoterCommits(before);
    expect(commits.map((c) => c.subject)).toEqual([
      `canary(backend): start ${GOOD} at 5%`,
      'canary(backend): promote 5% -> 10%',
      'canary(backend): promote 10% -> 50%',
      'canary(backend): promote 50% -> 100%',
      `canary(backend): finalize, stable takes ${GOOD}`,
      'canary(backend): finalize, traffic back to stable (100/0)',
    ]);
    const steps = ['5', '10', '50', '100', 'finalize-image', 'finalize-traffic'];
    commits.forEach((commit, i) => {
      expect(commit.trailers).toContain('Promoter-Canary: backend');
      expect(commit.trailers).toContain(`Promoter-Step: ${steps[i]}`);
      expect(commit.trailers).toMatch(/Promoter-Decision: (start|set-weight|finalize-image|finalize-traffic)/);
      expect(commit.trailers).toMatch(/Promoter-Evidence: .+/);
    });
    // Step commits touch only the VirtualService's weight lines and the promoter's annotations.
    for (const commit of commits.slice(0, 4)) {
      expect(commit.files).toEqual([vsFile()]);
      for (const line of changedLines(commit.sha)) {
        expect(line).toMatch(/^[+-]\s+(weight: \d+|delivery\.docuthinker\.io\/[a-z-]+: ".*"|annotations:)/);
      }
    }
    // Promotions carry the analysis evidence in the body.
    expect(git('log', '-1', '--format=%b', commits[1]!.sha)).toMatch(/Sequential test/);
    // Finalize: first the image (stable Deployment only), then the weights.
    expect(commits[4]!.files).toEqual([env.policy('backend').spec.deployments.stable.file]);
    expect(commits[5]!.files).toEqual([vsFile()]);
    // Comments in the VirtualService survive every edit.
    const vsAfter = (await env.readAtHead(vsFile())) ?? '';
    const comments = (text: string) => text.split('\n').filter((l) => l.trimStart().startsWith('#'));
    expect(comments(vsAfter)).toEqual(comments(vsBefore));
    expect(comments(vsBefore).length).toBeGreaterThan(0);
  }, 240_000);

  it('rolls a bad canary back within a few windows and never starts that image again', async () => {
    const before = git('rev-parse', 'main').trim();
    await env.landCanaryImage(BAD);
    await tickUntil((s) => s.phase === 'failed', 90);
    const commits = promoterCommits(before);
    expect(commits.map((c) => c.subject)).toEqual([`canary(backend): start ${BAD} at 5%`, `canary(backend): roll back ${BAD} (stable 100 / canary 0)`]);
    expect(commits[1]!.trailers).toContain('Promoter-Decision: rollback');
    const state = await backendState();
    expect(state).toMatchObject({ stableWeight: 100, canaryWeight: 0, failedImage: BAD, stableImage: GOOD });
    // Later ticks leave the failed image alone.
    const head = git('rev-parse', 'main').trim();
    for (let i = 0; i < 3; i++) await env.tick();
    expect(git('rev-parse', 'main').trim()).toBe(head);
  }, 120_000);

  it('answers "what would the promoter do now" for a live canary without writing (analyze --canary, --since)', async () => {
    await env.landCanaryImage('ghcr.io/docuthinker/backend:1.7.0');
    await tickUntil((s) => s.canaryWeight === 5, 30);
    await sleep(5000);
    const head = git('rev-parse', 'main').trim();
    // 7 s of history, less the 1 s settle margin, in 2 s windows: exactly 3 complete windows.
    const report = await env.promoter.tick({ dryRun: true, historySeconds: 7 });
    const backend = report.canaries.find((c) => c.canary === 'backend');
    expect(backend?.canaryWeight).toBe(5);
    expect(backend?.verdict?.evidence.windows).toBe(3);
    expect(['held', 'dry-run']).toContain(backend?.outcome);
    expect(git('rev-parse', 'main').trim()).toBe(head);
  }, 90_000);
});
