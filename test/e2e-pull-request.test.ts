// The whole loop in pull-request mode: the real Octokit client against the loopback GitHub server
// (backed by the bare remote the mesh simulator and Argo CD follow), a real Prometheus, the mesh simulator.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { applyOperation } from '../src/promoter/operations.js';
import type { TickReport } from '../src/promoter/reconcile.js';
import type { CanaryState } from '../src/promoter/state.js';
import { Environment } from './support/environment.js';
import { startGitHubServer, type GitHubTestServer, type PullRequestView } from './support/github-server.js';

const TOKEN = 'ghp_RECOGNISABLEfakeTOKEN0123456789abcd';
const GOOD = 'ghcr.io/docuthinker/backend:1.5.0';
const BAD = 'ghcr.io/docuthinker/backend:1.6.0-bad';
const NEXT = 'ghcr.io/docuthinker/backend:1.7.0';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let env: Environment;
let gh: GitHubTestServer;
const logs: string[] = [];
const logger = createLogger({
  level: 'debug',
  destination: new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  }),
});

const state = (): Promise<CanaryState> => env.stateAtHead('backend');
const backendPulls = async (): Promise<PullRequestView[]> => (await gh.pullRequests()).filter((p) => p.labels.includes('canary:backend')).sort((a, b) => a.number - b.number);
const operate = (op: 'pause' | 'resume' | 'abort') =>
  applyOperation(env.promoter.deps, { globs: ['gitops/apps/*/canary.yaml'], canary: 'backend', op, reason: `test ${op}`, maxAttempts: 3, person: { name: 'Dana Developer', email: 'dana@example.test' } });

async function tickUntil(done: (s: CanaryState, r: TickReport) => boolean | Promise<boolean>, maxTicks: number): Promise<TickReport[]> {
  const reports: TickReport[] = [];
  for (let i = 0; i < maxTicks; i++) {
    const report = await env.tick();
    reports.push(report);
    if (await done(await state(), report)) return reports;
    await sleep(1000);
  }
  throw new Error(`not reached after ${maxTicks} ticks; last: ${JSON.stringify(reports.at(-1)?.canaries.find((c) => c.canary === 'backend'))}`);
}

beforeAll(async () => {
  env = await Environment.start({
    logger,
    intervalSeconds: 2,
    minDwellSeconds: 6,
    beforePromoter: async (remoteDir) => {
      gh = await startGitHubServer({
        bareRepo: remoteDir,
        tokens: { [TOKEN]: 'docuthinker-promoter[bot]' },
        people: [
          { login: 'docuthinker-promoter[bot]', name: 'docuthinker-promoter', email: 'promoter@docuthinker.invalid' },
          { login: 'dana', name: 'Dana Developer', email: 'dana@example.test' },
        ],
        ci: { contexts: ['merge-weight-change'] },
      });
      await gh.requireStatusChecks('main', ['merge-weight-change']);
      return {
        config: {
          delivery: {
            mode: 'pull-request',
            github: { apiUrl: gh.url, owner: gh.owner, repo: gh.repo },
            links: { argocd: 'https://argocd.example.test', grafana: 'https://grafana.example.test/d/canary' },
          },
        },
        env: { GITHUB_TOKEN: TOKEN },
        close: () => gh.close(),
      };
    },
  });
}, 90_000);

afterAll(async () => {
  await env?.close();
});

describe('pull-request delivery end to end', () => {
  it('takes a healthy canary through one pull request per step, each merged after its checks pass, then finalizes', async () => {
    await env.landCanaryImage(GOOD);
    await tickUntil((s) => s.phase === 'idle' && s.stableImage === GOOD, 240);
    const pulls = await backendPulls();
    const merged = pulls.filter((p) => p.state === 'merged');
    expect(merged.map((p) => p.labels.find((l) => l.startsWith('step:')))).toEqual(['step:5', 'step:10', 'step:50', 'step:100', 'step:finalize-image', 'step:finalize-traffic']);
    for (const pr of merged) {
      expect(pr.labels).toContain('delivery/weight-change');
      expect(pr.head).toBe('promoter/backend');
      expect(pr.statuses.find((s) => s.context === 'merge-weight-change')?.state).toBe('success');
      expect(pr.body).toContain('<!-- promoter-metadata ');
    }
    expect(merged[1]?.title).toBe('canary(backend): promote 5% -> 10%');
    expect(merged[1]?.body).toMatch(/\| canary \| \d+ \| \d+ \|/);
    expect(merged[1]?.body).toContain('xychart-beta');
    expect(merged[1]?.body).toContain('https://argocd.example.test/applications/argocd/docuthinker-mesh');
    // At most one open pull request per canary, ever: the next was opened only after the last merged.
    expect(pulls.filter((p) => p.state === 'open')).toEqual([]);
    const head = await env.log(12);
    expect(head.filter((c) => c.trailers['Promoter-Canary'] === 'backend').map((c) => c.trailers['Promoter-Step']).slice(0, 6).reverse()).toEqual([
      '5',
      '10',
      '50',
      '100',
      'finalize-image',
      'finalize-traffic',
    ]);
  }, 400_000);

  it('rolls a bad canary back by a direct push and closes the open pull request with a comment', async () => {
    await env.landCanaryImage(BAD);
    await tickUntil((s) => s.canaryWeight === 5, 60);
    // A person's pause waits in a pull request whose check never settles.
    gh.simulateCi({ contexts: ['merge-weight-change'], settleAfterMs: 'manual' });
    expect(await operate('pause')).toMatchObject({ kind: 'proposed' });
    const open = (await backendPulls()).filter((p) => p.state === 'open');
    expect(open).toHaveLength(1);
    await tickUntil((s) => s.phase === 'failed', 90);
    const closed = await gh.pullRequest(open[0]!.number);
    expect(closed.state).toBe('closed');
    expect(closed.comments.at(-1)?.body).toMatch(/pushed directly/);
    const [latest] = await env.log(1);
    expect(latest?.trailers['Promoter-Decision']).toBe('rollback');
  }, 200_000);

  it('holds a canary whose pull request a person closed, naming them, until promoter resume', async () => {
    await env.landCanaryImage(NEXT);
    await tickUntil(async () => (await backendPulls()).some((p) => p.state === 'open'), 30);
    const [pr] = (await backendPulls()).filter((p) => p.state === 'open');
    await gh.closePullRequestAs('dana', pr!.number, 'Not during the release freeze.');
    const report = await env.tick();
    const backend = report.canaries.find((c) => c.canary === 'backend');
    expect(backend?.outcome).toBe('held');
    expect(backend?.reason).toMatch(new RegExp(`#${pr!.number}.*closed unmerged by dana.*promoter resume backend`));
    expect((await backendPulls()).filter((p) => p.state === 'open')).toEqual([]);
    await operate('resume');
    await env.tick();
    expect((await backendPulls()).filter((p) => p.state === 'open')).toHaveLength(1);
  }, 120_000);

  it('falls back to a pull request with auto-merge when branch protection refuses the rollback push', async () => {
    gh.simulateCi({ contexts: ['merge-weight-change'] });
    await gh.settleCi();
    await tickUntil((s) => s.canaryWeight === 5, 60);
    await gh.protectBranch('main');
    const head = (await env.log(1))[0]?.sha;
    const outcome = await operate('abort');
    // A pull request instead of the refused push: merged at once when its checks are already green, else by auto-merge.
    expect(['proposed', 'committed']).toContain(outcome.kind);
    const pr = (await backendPulls()).find((p) => p.labels.includes('step:rollback-from-5'));
    expect(pr?.head).toBe('promoter/backend');
    expect(pr?.user).toBe('docuthinker-promoter[bot]');
    for (let i = 0; i < 50 && (await gh.pullRequest(pr!.number)).state !== 'merged'; i++) await sleep(200);
    expect((await gh.pullRequest(pr!.number)).state).toBe('merged');
    expect(logs.join('')).toMatch(/direct rollback refused by branch protection/);
    expect((await state()).phase).toBe('failed');
    // The rollback reached main only through the merge: nothing was pushed past the protection.
    const log = await env.log(3);
    expect(log[0]?.trailers['Promoter-Decision']).toBe('rollback');
    expect(log.map((c) => c.sha)).not.toContain(undefined);
    expect(log[1]?.sha).toBe(head);
  }, 120_000);

  it('never shows the token, and all traffic matched the OpenAPI description', async () => {
    expect(gh.violations()).toEqual([]);
    expect(gh.usedToken(TOKEN)).toBe(true);
    expect(logs.join('')).not.toContain(TOKEN);
    for (const pr of await gh.pullRequests()) expect(pr.body ?? '').not.toContain(TOKEN);
    expect(JSON.stringify(await env.tick())).not.toContain(TOKEN);
  });
});
