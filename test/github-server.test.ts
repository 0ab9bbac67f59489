// The GitHub test server driven by the real @octokit/rest client and the real git CLI: pull requests over
// pushed branches, labels, comments, statuses, guarded merges that commit to the bare repository, auto-merge
// through GraphQL, branch protection, a person closing a PR, and the OpenAPI checks themselves.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAppAuth } from '@octokit/auth-app';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../src/schemas/registry.js';
import { cleanGitEnv, createSeededRemote } from './support/git-remote.js';
import { loadGitHubOpenApi } from './support/github-openapi.js';
import { startGitHubServer, type GitHubServerOptions, type GitHubTestServer } from './support/github-server.js';

const BOT = { name: 'DocuThinker Promoter', email: 'promoter@docuthinker.test' };
const DANA = { login: 'dana', name: 'Dana Developer', email: 'dana@example.test' };
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

interface Fixture {
  dir: string;
  remote: string;
  server: GitHubTestServer;
  token: string;
  octokit: Octokit;
  env: NodeJS.ProcessEnv;
}

let fixture: Fixture | undefined;

function git(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(new Error(`git ${args.join(' ')}: ${stderr}`), { stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

async function setup(options: Partial<GitHubServerOptions> = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'github-server-test-'));
  const { remoteDir } = await createSeededRemote({ dir, seedFrom: ['argocd'], sourceRoot: repoRoot() });
  const server = await startGitHubServer({
    bareRepo: remoteDir,
    people: [{ login: 'docuthinker-promoter[bot]', ...BOT }, DANA],
    ...options,
  });
  const token = server.tokenFor('docuthinker-promoter[bot]');
  const octokit = new Octokit({ auth: token, baseUrl: server.url, log: silent });
  fixture = { dir, remote: remoteDir, server, token, octokit, env: cleanGitEnv(dir) };
  return fixture;
}

/** The promoter's side: clone, commit on a branch, push with the git CLI. Returns the pushed sha. */
async function botPush(f: Fixture, branch: string, files: Record<string, string>, message: string, target = branch): Promise<string> {
  const work = await mkdtemp(join(f.dir, 'bot-'));
  await git(f.dir, f.env, 'clone', '-q', f.remote, work);
  const exists = (await git(work, f.env, 'ls-remote', 'origin', `refs/heads/${branch}`)).stdout.trim() !== '';
  await git(work, f.env, 'checkout', '-q', '-B', branch, exists ? `origin/${branch}` : 'origin/main');
  for (const [path, content] of Object.entries(files)) await writeFile(join(work, path), content);
  await git(work, f.env, 'add', '-A');
  await git(work, f.env, '-c', `user.name=${BOT.name}`, '-c', `user.email=${BOT.email}`, 'commit', '-q', '-m', message);
  await git(work, f.env, 'push', '-q', 'origin', `HEAD:refs/heads/${target}`);
  return (await git(work, f.env, 'rev-parse', 'HEAD')).stdout.trim();
}

async function lsRemote(f: Fixture, branch: string): Promise<string> {
  return (await git(f.dir, f.env, 'ls-remote', f.remote, `refs/heads/${branch}`)).stdout.split('\t')[0] ?? '';
}

async function parents(f: Fixture, sha: string): Promise<string[]> {
  return (await git(f.remote, f.env, 'rev-list', '--parents', '-n', '1', sha)).stdout.trim().split(' ').slice(1);
}

async function status(promise: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await promise;
    return { status: 0, message: '' };
  } catch (error) {
    const e = error as { status?: number; message?: string };
    return { status: e.status ?? -1, message: e.message ?? '' };
  }
}

const ENABLE_AUTO_MERGE = `
  mutation Enable($id: ID!, $mergeMethod: PullRequestMergeMethod) {
    enablePullRequestAutoMerge(input: { pullRequestId: $id, mergeMethod: $mergeMethod, clientMutationId: "promoter" }) {
      clientMutationId
      actor { login }
      pullRequest { number state autoMergeRequest { mergeMethod enabledBy { login } } }
    }
  }`;

afterEach(async () => {
  if (!fixture) return;
  await fixture.server.close();
  await rm(fixture.dir, { recursive: true, force: true });
  fixture = undefined;
});

describe('GitHub test server through @octokit/rest', () => {
  let f: Fixture;
  const repo = (): { owner: string; repo: string } => ({ owner: f.server.owner, repo: f.server.repo });

  beforeEach(async () => {
    f = await setup();
  });

  it('opens a PR from a pushed branch, labels and comments it, and merges it with a real commit only when the sha and the checks allow', async () => {
    await f.server.requireStatusChecks('main', ['merge-weight-change']);
    const before = await lsRemote(f, 'main');
    const head = await botPush(f, 'promoter/backend', { 'weights.txt': 'canary 10\n' }, 'Promote backend to 10%');

    const { data: repository } = await f.octokit.rest.repos.get(repo());
    expect(repository.default_branch).toBe('main');

    const { data: pr, headers } = await f.octokit.rest.pulls.create({ ...repo(), head: 'promoter/backend', base: 'main', title: 'backend: 10%', body: 'evidence' });
    expect(pr).toMatchObject({ number: 1, state: 'open', head: { ref: 'promoter/backend', sha: head }, base: { ref: 'main', sha: before } });
    expect(pr.node_id).toMatch(/^PR_/);
    expect(headers.location).toBe(pr.url);
    expect(headers['x-ratelimit-limit']).toBe('5000');

    // the same head again is refused, as GitHub does
    const duplicate = await status(f.octokit.rest.pulls.create({ ...repo(), head: 'promoter/backend', base: 'main', title: 'again' }));
    expect(duplicate).toMatchObject({ status: 422 });
    expect(duplicate.message).toContain('A pull request already exists');

    // head filters need "owner:branch"; a bare branch name is ignored by GitHub (and here)
    await botPush(f, 'promoter/frontend', { 'frontend.txt': 'x\n' }, 'frontend');
    await f.octokit.rest.pulls.create({ ...repo(), head: 'promoter/frontend', base: 'main', title: 'frontend' });
    expect((await f.octokit.rest.pulls.list({ ...repo(), head: `${f.server.owner}:promoter/backend` })).data.map((p) => p.number)).toEqual([1]);
    expect((await f.octokit.rest.pulls.list({ ...repo(), head: 'promoter/backend' })).data).toHaveLength(2);

    const { data: labels } = await f.octokit.rest.issues.addLabels({ ...repo(), issue_number: 1, labels: ['delivery/weight-change', 'canary:backend', 'step:1'] });
    expect(labels.map((l) => l.name)).toEqual(['delivery/weight-change', 'canary:backend', 'step:1']);
    await f.octokit.rest.issues.createComment({ ...repo(), issue_number: 1, body: 'step 1 evidence' });
    expect((await f.octokit.rest.issues.listComments({ ...repo(), issue_number: 1 })).data.map((c) => [c.user?.login, c.body])).toEqual([
      ['docuthinker-promoter[bot]', 'step 1 evidence'],
    ]);

    // required check missing: 405
    const blocked = await status(f.octokit.rest.pulls.merge({ ...repo(), pull_number: 1, sha: head }));
    expect(blocked).toMatchObject({ status: 405 });
    expect(blocked.message).toContain('Required status check "merge-weight-change" is expected.');
    expect((await f.octokit.rest.pulls.get({ ...repo(), pull_number: 1 })).data).toMatchObject({ mergeable: true, mergeable_state: 'blocked' });

    await f.octokit.rest.repos.createCommitStatus({ ...repo(), sha: head, state: 'success', context: 'merge-weight-change', description: 'checks passed' });
    const { data: combined } = await f.octokit.rest.repos.getCombinedStatusForRef({ ...repo(), ref: head });
    expect(combined).toMatchObject({ state: 'success', total_count: 1, sha: head });

    // wrong head sha: 409; right one: a merge commit on main in the bare repository
    const stale = await status(f.octokit.rest.pulls.merge({ ...repo(), pull_number: 1, sha: before }));
    expect(stale).toMatchObject({ status: 409 });
    expect(await lsRemote(f, 'main')).toBe(before);
    const { data: merged } = await f.octokit.rest.pulls.merge({ ...repo(), pull_number: 1, sha: head, merge_method: 'merge' });
    expect(merged.merged).toBe(true);
    expect(await lsRemote(f, 'main')).toBe(merged.sha);
    expect(await parents(f, merged.sha)).toEqual([before, head]);
    expect((await git(f.remote, f.env, 'show', `${merged.sha}:weights.txt`)).stdout).toBe('canary 10\n');

    const { data: after } = await f.octokit.rest.pulls.get({ ...repo(), pull_number: 1 });
    expect(after).toMatchObject({ state: 'closed', merged: true, merge_commit_sha: merged.sha, merged_by: { login: 'docuthinker-promoter[bot]' } });
    expect((await f.octokit.rest.pulls.list({ ...repo(), state: 'closed' })).data.map((p) => p.number)).toEqual([1]);

    const again = await status(f.octokit.rest.pulls.merge({ ...repo(), pull_number: 1 }));
    expect(again.status).toBe(405);
    expect(f.server.violations()).toEqual([]);
    expect(f.server.usedToken(f.token)).toBe(true);
    expect(JSON.stringify([f.server.requests(), f.server.violations()])).not.toContain(f.token);
  });

  it('completes an auto-merge enabled through GraphQL once the required checks turn green', async () => {
    await f.server.requireStatusChecks('main', ['merge-weight-change']);
    const before = await lsRemote(f, 'main');
    const head = await botPush(f, 'promoter/backend', { 'weights.txt': 'canary 25\n' }, 'Promote backend to 25%');
    const { data: pr } = await f.octokit.rest.pulls.create({ ...repo(), head: 'promoter/backend', base: 'main', title: 'backend: 25%' });

    const result = await f.octokit.graphql<{ enablePullRequestAutoMerge: Record<string, unknown> }>(ENABLE_AUTO_MERGE, { id: pr.node_id, mergeMethod: 'SQUASH' });
    expect(result.enablePullRequestAutoMerge).toEqual({
      clientMutationId: 'promoter',
      actor: { login: 'docuthinker-promoter' },
      pullRequest: { number: 1, state: 'OPEN', autoMergeRequest: { mergeMethod: 'SQUASH', enabledBy: { login: 'docuthinker-promoter' } } },
    });
    expect((await f.octokit.rest.pulls.get({ ...repo(), pull_number: 1 })).data.auto_merge).toMatchObject({ merge_method: 'squash' });

    await f.server.setCheck(head, 'merge-weight-change', 'pending');
    expect((await f.server.pullRequest(1)).state).toBe('open');
    await f.server.setCheck(head, 'merge-weight-change', 'success');

    const view = await f.server.pullRequest(1);
    expect(view).toMatchObject({ state: 'merged', mergedBy: 'docuthinker-promoter[bot]' });
    const main = await lsRemote(f, 'main');
    expect(main).toBe(view.mergeCommitSha);
    expect(await parents(f, main)).toEqual([before]); // squash: one parent
    expect((await git(f.remote, f.env, 'log', '-1', '--format=%s', main)).stdout.trim()).toBe('backend: 25% (#1)');
    expect(f.server.violations()).toEqual([]);
  });

  it('answers "clean status" when auto-merge is enabled on a PR that could merge now, and disables auto-merge on request', async () => {
    await f.server.requireStatusChecks('main', ['merge-weight-change']);
    const head = await botPush(f, 'promoter/backend', { 'weights.txt': 'canary 50\n' }, 'Promote backend to 50%');
    const { data: pr } = await f.octokit.rest.pulls.create({ ...repo(), head: 'promoter/backend', base: 'main', title: 'backend: 50%' });
    await f.server.setCheck(head, 'merge-weight-change', 'success');
    const clean = await status(f.octokit.graphql(ENABLE_AUTO_MERGE, { id: pr.node_id, mergeMethod: 'MERGE' }));
    expect(clean.message).toContain('Pull request is in clean status');

    await f.server.setCheck(head, 'merge-weight-change', 'pending');
    await f.octokit.graphql(ENABLE_AUTO_MERGE, { id: pr.node_id, mergeMethod: 'MERGE' });
    const disabled = await f.octokit.graphql<{ disablePullRequestAutoMerge: { pullRequest: { autoMergeRequest: unknown } } }>(
      'mutation($id: ID!) { disablePullRequestAutoMerge(input: { pullRequestId: $id }) { pullRequest { autoMergeRequest { mergeMethod } } } }',
      { id: pr.node_id },
    );
    expect(disabled.disablePullRequestAutoMerge.pullRequest.autoMergeRequest).toBeNull();
    await f.server.setCheck(head, 'merge-weight-change', 'success');
    expect((await f.server.pullRequest(1)).state).toBe('open');

    // an input field GitHub's schema does not have is refused and recorded
    const wrong = await status(f.octokit.graphql('mutation($id: ID!) { enablePullRequestAutoMerge(input: { pullRequestId: $id, method: MERGE }) { clientMutationId } }', { id: pr.node_id }));
    expect(wrong.message).toContain("doesn't accept argument 'method'");
    expect(f.server.violations().map((v) => v.kind)).toEqual(['graphql']);
  });

  it('refuses a direct git push to a protected branch while merges through the API still land', async () => {
    await f.server.protectBranch('main');
    const before = await lsRemote(f, 'main');
    const refused = await botPush(f, 'main', { 'weights.txt': 'rollback\n' }, 'Roll back').catch((error: unknown) => (error as { stderr?: string }).stderr ?? (error instanceof Error ? error.message : 'failed'));
    expect(refused).toContain('GH006: Protected branch update failed for refs/heads/main.');
    expect(refused).toContain('[remote rejected]');
    await expect(f.server.pushAsPerson('main', { 'x.txt': 'x\n' }, 'direct', { person: DANA })).rejects.toThrow(/GH006/);
    expect(await lsRemote(f, 'main')).toBe(before);

    // the bot's own branch is not protected
    const head = await botPush(f, 'promoter/backend', { 'weights.txt': 'rollback\n' }, 'Roll back backend');
    await f.octokit.rest.pulls.create({ ...repo(), head: 'promoter/backend', base: 'main', title: 'Roll back backend' });
    const { data: merged } = await f.octokit.rest.pulls.merge({ ...repo(), pull_number: 1, sha: head });
    expect(await lsRemote(f, 'main')).toBe(merged.sha);

    // protection can be read back through the API once checks are required
    const none = await status(f.octokit.rest.repos.getStatusChecksProtection({ ...repo(), branch: 'main' }));
    expect(none).toMatchObject({ status: 404, message: expect.stringContaining('Required status checks not enabled') as unknown });
    await f.server.requireStatusChecks('main', ['merge-weight-change'], { strict: true });
    const { data: checks } = await f.octokit.rest.repos.getStatusChecksProtection({ ...repo(), branch: 'main' });
    expect(checks).toMatchObject({ strict: true, contexts: ['merge-weight-change'] });

    // git refs through the API honour protection too
    const update = await status(f.octokit.rest.git.updateRef({ ...repo(), ref: 'heads/main', sha: before, force: true }));
    expect(update).toMatchObject({ status: 422, message: expect.stringContaining('Protected branch update failed') as unknown });
    await f.server.unprotectBranch('main');
    const direct = await botPush(f, 'main', { 'weights.txt': 'direct\n' }, 'Direct push after unprotecting');
    expect(await lsRemote(f, 'main')).toBe(direct);
    expect(f.server.violations()).toEqual([]);
  });

  it('lets a person close a PR, and tells who did through the GraphQL timeline', async () => {
    await botPush(f, 'promoter/backend', { 'weights.txt': 'canary 10\n' }, 'Promote backend');
    await f.octokit.rest.pulls.create({ ...repo(), head: 'promoter/backend', base: 'main', title: 'backend: 10%' });
    await f.server.closePullRequestAs('dana', 1, 'Not during the freeze.');

    const { data: pr } = await f.octokit.rest.pulls.get({ ...repo(), pull_number: 1 });
    expect(pr).toMatchObject({ state: 'closed', merged: false, merged_by: null });
    expect(pr.closed_at).not.toBeNull();
    const { data: comments } = await f.octokit.rest.issues.listComments({ ...repo(), issue_number: 1 });
    expect(comments.map((c) => [c.user?.login, c.body])).toEqual([['dana', 'Not during the freeze.']]);

    const closer = await f.octokit.graphql<{ repository: { pullRequest: { state: string; timelineItems: { nodes: { actor: { login: string } }[] } } } }>(
      `query($owner: String!, $name: String!, $number: Int!) {
        repository(owner: $owner, name: $name) {
          pullRequest(number: $number) {
            state
            timelineItems(last: 1, itemTypes: [CLOSED_EVENT]) { nodes { ... on ClosedEvent { actor { login } createdAt } } }
          }
        }
      }`,
      { owner: f.server.owner, name: f.server.repo, number: 1 },
    );
    expect(closer.repository.pullRequest.state).toBe('CLOSED');
    expect(closer.repository.pullRequest.timelineItems.nodes.map((n) => n.actor.login)).toEqual(['dana']);
    expect((await f.server.pullRequests()).map((p) => [p.number, p.state, p.closedBy])).toEqual([[1, 'closed', 'dana']]);
    expect(f.server.violations()).toEqual([]);
  });

  it('runs simulated CI on every new head, and shows who authored each commit of a PR', async () => {
    f.server.simulateCi({ contexts: ['merge-weight-change'], settleAfterMs: 'manual' });
    await f.server.requireStatusChecks('main', ['merge-weight-change']);
    const first = await botPush(f, 'promoter/backend', { 'weights.txt': 'canary 10\n' }, 'Promote backend');
    await f.octokit.rest.pulls.create({ ...repo(), head: 'promoter/backend', base: 'main', title: 'backend: 10%' });
    expect((await f.octokit.rest.repos.getCombinedStatusForRef({ ...repo(), ref: first })).data.state).toBe('pending');
    await f.server.settleCi();
    expect((await f.octokit.rest.repos.getCombinedStatusForRef({ ...repo(), ref: 'promoter/backend' })).data.state).toBe('success');

    const second = await f.server.pushAsPerson('promoter/backend', { 'notes.txt': 'hands off\n' }, 'A person edits the bot branch', { person: DANA });
    const { data: pr } = await f.octokit.rest.pulls.get({ ...repo(), pull_number: 1 });
    expect(pr.head.sha).toBe(second);
    expect(pr.mergeable_state).toBe('blocked');
    expect((await f.octokit.rest.repos.getCombinedStatusForRef({ ...repo(), ref: second })).data.state).toBe('pending');
    const { data: commits } = await f.octokit.rest.pulls.listCommits({ ...repo(), pull_number: 1 });
    expect(commits.map((c) => [c.sha, c.author?.login, c.commit.author?.email])).toEqual([
      [first, 'docuthinker-promoter[bot]', BOT.email],
      [second, 'dana', DANA.email],
    ]);
    expect(pr.commits).toBe(2);

    f.server.simulateCi({ contexts: ['merge-weight-change'], verdict: () => 'failure', settleAfterMs: 'manual' });
    await botPush(f, 'promoter/backend', { 'weights.txt': 'canary 20\n' }, 'Promote backend again');
    await f.server.settleCi();
    const view = await f.server.pullRequest(1);
    expect(view.statuses).toEqual([{ context: 'merge-weight-change', state: 'failure', description: 'CI failed', creator: 'docuthinker-ci[bot]' }]);
    expect(f.server.violations()).toEqual([]);
  });

  it('reports a conflict as not mergeable and refuses the merge', async () => {
    await botPush(f, 'promoter/backend', { 'weights.txt': 'backend 10\n' }, 'backend');
    await botPush(f, 'promoter/other', { 'weights.txt': 'other 10\n' }, 'other');
    await f.octokit.rest.pulls.create({ ...repo(), head: 'promoter/backend', base: 'main', title: 'backend' });
    await f.octokit.rest.pulls.create({ ...repo(), head: 'promoter/other', base: 'main', title: 'other' });
    await f.octokit.rest.pulls.merge({ ...repo(), pull_number: 1 });
    const { data: other } = await f.octokit.rest.pulls.get({ ...repo(), pull_number: 2 });
    expect(other).toMatchObject({ mergeable: false, mergeable_state: 'dirty' });
    const refused = await status(f.octokit.rest.pulls.merge({ ...repo(), pull_number: 2 }));
    expect(refused).toMatchObject({ status: 405, message: expect.stringContaining('Pull Request is not mergeable') as unknown });
    expect(f.server.violations()).toEqual([]);
  });

  it('serves git refs, pagination links and rate-limit headers the way GitHub does', async () => {
    const main = await lsRemote(f, 'main');
    const { data: ref } = await f.octokit.rest.git.getRef({ ...repo(), ref: 'heads/main' });
    expect(ref).toMatchObject({ ref: 'refs/heads/main', object: { type: 'commit', sha: main } });
    await f.octokit.rest.git.createRef({ ...repo(), ref: 'refs/heads/promoter/backend', sha: main });
    expect(await lsRemote(f, 'promoter/backend')).toBe(main);
    const exists = await status(f.octokit.rest.git.createRef({ ...repo(), ref: 'refs/heads/promoter/backend', sha: main }));
    expect(exists).toMatchObject({ status: 422, message: expect.stringContaining('Reference already exists') as unknown });
    const head = await botPush(f, 'promoter/backend', { 'weights.txt': 'x\n' }, 'x');
    const notFastForward = await status(f.octokit.rest.git.updateRef({ ...repo(), ref: 'heads/promoter/backend', sha: main }));
    expect(notFastForward).toMatchObject({ status: 422, message: expect.stringContaining('not a fast forward') as unknown });
    await f.octokit.rest.git.updateRef({ ...repo(), ref: 'heads/promoter/backend', sha: main, force: true });
    expect(await lsRemote(f, 'promoter/backend')).toBe(main);
    await f.octokit.rest.git.updateRef({ ...repo(), ref: 'heads/promoter/backend', sha: head });
    await f.octokit.rest.pulls.create({ ...repo(), head: 'promoter/backend', base: 'main', title: 'paged' });
    await f.octokit.rest.git.deleteRef({ ...repo(), ref: 'heads/promoter/other' }).catch(() => undefined);
    expect((await status(f.octokit.rest.git.getRef({ ...repo(), ref: 'heads/nope' }))).status).toBe(404);

    for (const body of ['one', 'two', 'three']) await f.octokit.rest.issues.createComment({ ...repo(), issue_number: 1, body });
    const page = await f.octokit.rest.issues.listComments({ ...repo(), issue_number: 1, per_page: 2 });
    expect(page.data).toHaveLength(2);
    expect(page.headers.link).toContain('rel="next"');
    expect(page.headers.link).toContain('rel="last"');
    const all = await f.octokit.paginate(f.octokit.rest.issues.listComments, { ...repo(), issue_number: 1, per_page: 2 });
    expect(all.map((c) => c.body)).toEqual(['one', 'two', 'three']);

    const remaining = Number((await f.octokit.rest.repos.get(repo())).headers['x-ratelimit-remaining']);
    const next = await f.octokit.rest.repos.get(repo());
    expect(Number(next.headers['x-ratelimit-remaining'])).toBe(remaining - 1);
    f.server.setRateLimitRemaining(f.token, 0);
    const limited = await status(f.octokit.rest.repos.get(repo()));
    expect(limited).toMatchObject({ status: 403, message: expect.stringContaining('rate limit') as unknown });
    expect((await f.octokit.rest.rateLimit.get()).data.rate.remaining).toBe(0);
    expect(f.server.violations()).toEqual([]);
  });

  it('accepts token and Bearer credentials and answers 401 to anything else', async () => {
    const anonymous = new Octokit({ baseUrl: f.server.url, log: silent });
    const get = (authorization: string): Promise<unknown> => anonymous.request('GET /repos/{owner}/{repo}', { ...repo(), headers: { authorization } });
    expect(await status(get(`Bearer ${f.token}`))).toEqual({ status: 0, message: '' });
    expect(await status(get(`token ${f.token}`))).toEqual({ status: 0, message: '' });
    expect((await status(get('Basic dXNlcjpwYXNz'))).status).toBe(401);
    const anonymous2 = new Octokit({ baseUrl: f.server.url, log: silent });
    expect((await status(anonymous2.rest.repos.get(repo()))).status).toBe(401);
    expect(f.server.violations()).toEqual([]);
  });
});

describe('GitHub test server: merge methods, CI timing and client plugins', () => {
  it('rebases or squashes as asked, refuses a method the repository does not allow, and can delete the head branch', async () => {
    const f = await setup({ deleteBranchOnMerge: true, mergeMethods: ['rebase', 'squash'] });
    const r = { owner: f.server.owner, repo: f.server.repo };
    const before = await lsRemote(f, 'main');
    const first = await botPush(f, 'promoter/backend', { 'a.txt': 'a\n' }, 'First step');
    await botPush(f, 'promoter/backend', { 'b.txt': 'b\n' }, 'Second step');
    await f.octokit.rest.pulls.create({ ...r, head: 'promoter/backend', base: 'main', title: 'two steps' });
    const refused = await status(f.octokit.rest.pulls.merge({ ...r, pull_number: 1, merge_method: 'merge' }));
    expect(refused).toMatchObject({ status: 405, message: expect.stringContaining('Merge commits are not allowed') as unknown });

    const { data } = await f.octokit.rest.pulls.merge({ ...r, pull_number: 1, merge_method: 'rebase' });
    expect(await lsRemote(f, 'main')).toBe(data.sha);
    const log = (await git(f.remote, f.env, 'log', '--format=%s|%ae|%ce|%P', `${before}..${data.sha}`)).stdout.trim().split('\n');
    expect(log.map((l) => l.split('|').slice(0, 3))).toEqual([
      ['Second step', BOT.email, 'noreply@github.com'],
      ['First step', BOT.email, 'noreply@github.com'],
    ]);
    expect(log.every((l) => l.split('|')[3]!.split(' ').length === 1)).toBe(true);
    expect((await git(f.remote, f.env, 'rev-parse', `${data.sha}~1~1`)).stdout.trim()).toBe(before);
    expect(data.sha).not.toBe(first);
    expect(await lsRemote(f, 'promoter/backend')).toBe('');
    expect(f.server.violations()).toEqual([]);
  });

  it('finishes an auto-merge as soon as simulated CI reports green, with no client request in between', async () => {
    const f = await setup({ ci: { contexts: ['merge-weight-change'], settleAfterMs: 'manual' }, mergeableUnknownOnFirstRead: true });
    const r = { owner: f.server.owner, repo: f.server.repo };
    await f.server.requireStatusChecks('main', ['merge-weight-change']);
    await botPush(f, 'promoter/backend', { 'weights.txt': 'canary 10\n' }, 'Promote backend');
    const { data: pr } = await f.octokit.rest.pulls.create({ ...r, head: 'promoter/backend', base: 'main', title: 'backend: 10%' });
    // GitHub answers mergeability later: null on the first read, the answer on the next
    expect(pr).toMatchObject({ mergeable: null, mergeable_state: 'unknown' });
    expect((await f.octokit.rest.pulls.get({ ...r, pull_number: 1 })).data).toMatchObject({ mergeable: true, mergeable_state: 'blocked' });
    await f.octokit.graphql(ENABLE_AUTO_MERGE, { id: pr.node_id, mergeMethod: 'MERGE' });
    const requests = f.server.requests().length;
    await f.server.settleCi();
    expect(f.server.requests()).toHaveLength(requests);
    const view = await f.server.pullRequest(1);
    expect(view).toMatchObject({ state: 'merged', statuses: [{ context: 'merge-weight-change', state: 'success' }] });
    expect(await lsRemote(f, 'main')).toBe(view.mergeCommitSha);
    expect(f.server.violations()).toEqual([]);
  });

  it('lets simulated CI report its verdict by itself after a delay', async () => {
    const f = await setup({ ci: { contexts: ['merge-weight-change'], settleAfterMs: 5 } });
    await botPush(f, 'promoter/backend', { 'weights.txt': 'canary 10\n' }, 'Promote backend');
    await f.octokit.rest.pulls.create({ owner: f.server.owner, repo: f.server.repo, head: 'promoter/backend', base: 'main', title: 'backend: 10%' });
    let state = 'pending';
    for (let attempt = 0; attempt < 200 && state === 'pending'; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      state = (await f.server.pullRequest(1)).statuses[0]?.state ?? 'none';
    }
    expect(state).toBe('success');
    expect(f.server.violations()).toEqual([]);
  });

  it('refuses bodies and titles beyond GitHub\'s limits', async () => {
    const f = await setup();
    const r = { owner: f.server.owner, repo: f.server.repo };
    await botPush(f, 'promoter/backend', { 'weights.txt': 'canary 10\n' }, 'Promote backend');
    const long = await status(f.octokit.rest.pulls.create({ ...r, head: 'promoter/backend', base: 'main', title: 'big', body: 'x'.repeat(65537) }));
    expect(long).toMatchObject({ status: 422 });
    expect(long.message).toContain('body is too long (maximum is 65536 characters)');
    await f.octokit.rest.pulls.create({ ...r, head: 'promoter/backend', base: 'main', title: 'fits', body: 'x'.repeat(65536) });
    expect((await status(f.octokit.rest.pulls.update({ ...r, pull_number: 1, title: 't'.repeat(257) }))).status).toBe(422);
    expect(f.server.violations()).toEqual([]);
  });

  it('works with plugin-retry and plugin-throttling (whose defaults retry a 409 or 405 three times), with injected 5xx and secondary rate limits', async () => {
    const f = await setup();
    const r = { owner: f.server.owner, repo: f.server.repo };
    const rateLimited: number[] = [];
    const secondary: number[] = [];
    const Client = Octokit.plugin(retry, throttling);
    const client = (doNotRetry?: number[]): Octokit =>
      new Client({
        auth: f.token,
        baseUrl: f.server.url,
        log: silent,
        retry: { retryAfterBaseValue: 1, ...(doNotRetry ? { doNotRetry } : {}) },
        throttle: {
          onRateLimit: (retryAfter: number) => {
            rateLimited.push(retryAfter);
            return false;
          },
          onSecondaryRateLimit: (retryAfter: number) => {
            secondary.push(retryAfter);
            return false;
          },
        },
      });
    const head = await botPush(f, 'promoter/backend', { 'weights.txt': 'canary 10\n' }, 'Promote backend');
    await f.octokit.rest.pulls.create({ ...r, head: 'promoter/backend', base: 'main', title: 'backend: 10%' });
    const merges = (): number => f.server.requests().filter((q) => q.operationId === 'pulls/merge').length;

    expect((await status(client().rest.pulls.merge({ ...r, pull_number: 1, sha: '0'.repeat(40) }))).status).toBe(409);
    expect(merges()).toBe(4);
    expect((await status(client([400, 401, 403, 404, 405, 409, 410, 422, 451]).rest.pulls.merge({ ...r, pull_number: 1, sha: '0'.repeat(40) }))).status).toBe(409);
    expect(merges()).toBe(5);

    // a transient 502 is retried and the call succeeds; a secondary rate limit reaches the throttle handler
    f.server.injectFailure({ operationId: 'pulls/merge', kind: 'server-error' });
    expect((await client().rest.pulls.merge({ ...r, pull_number: 1, sha: head })).data.merged).toBe(true);
    expect(f.server.requests().filter((q) => q.operationId === 'pulls/merge').map((q) => q.status).slice(-2)).toEqual([502, 200]);
    f.server.injectFailure({ operationId: 'issues/create-comment', kind: 'secondary-rate-limit', retryAfter: 7 });
    expect((await status(client().rest.issues.createComment({ ...r, issue_number: 1, body: 'merged' }))).status).toBe(403);
    expect(secondary).toEqual([7]);
    f.server.setRateLimitRemaining(f.token, 0);
    expect((await status(client().rest.repos.get(r))).status).toBe(403);
    expect(rateLimited).toHaveLength(1);
    expect(rateLimited[0]).toBeGreaterThan(0);
    expect(f.server.violations()).toEqual([]);
  });
});

describe('GitHub test server: credentials', () => {
  it('issues installation tokens to a GitHub App through @octokit/auth-app, and only an App may create check runs', async () => {
    const f = await setup({ app: {}, tokens: { 'ghp_only-this-one': 'dana' } });
    const app = f.server.app!;
    const installation = new Octokit({
      baseUrl: f.server.url,
      log: silent,
      authStrategy: createAppAuth,
      auth: { appId: app.appId, privateKey: app.privateKey, installationId: app.installationId },
    });
    const head = await botPush(f, 'promoter/backend', { 'weights.txt': 'canary 10\n' }, 'Promote backend');
    const { data: run } = await installation.rest.checks.create({ owner: f.server.owner, repo: f.server.repo, name: 'promoter/backend', head_sha: head, status: 'in_progress' });
    expect(run).toMatchObject({ status: 'in_progress', app: { slug: 'docuthinker-promoter' } });
    await installation.rest.checks.update({ owner: f.server.owner, repo: f.server.repo, check_run_id: run.id, conclusion: 'success', output: { title: 'healthy', summary: 'step 1 passed' } });
    const { data: list } = await installation.rest.checks.listForRef({ owner: f.server.owner, repo: f.server.repo, ref: head });
    expect(list.check_runs.map((r) => [r.name, r.status, r.conclusion])).toEqual([['promoter/backend', 'completed', 'success']]);

    const personal = new Octokit({ baseUrl: f.server.url, log: silent, auth: 'ghp_only-this-one' });
    const forbidden = await status(personal.rest.checks.create({ owner: f.server.owner, repo: f.server.repo, name: 'x', head_sha: head }));
    expect(forbidden).toMatchObject({ status: 403, message: expect.stringContaining('GitHub App') as unknown });
    const stranger = new Octokit({ baseUrl: f.server.url, log: silent, auth: 'ghp_unknown' });
    expect((await status(stranger.rest.repos.get({ owner: f.server.owner, repo: f.server.repo }))).status).toBe(401);
    expect(f.server.requests().some((r) => r.operationId === 'apps/create-installation-access-token' && r.status === 201)).toBe(true);
    expect(f.server.violations()).toEqual([]);
  });
});

describe('GitHub test server: the OpenAPI checks', () => {
  it('records a request the description rejects, answers 422, and records a route outside the subset', async () => {
    const f = await setup();
    const { owner, repo } = f.server;
    const main = await lsRemote(f, 'main');
    const bad = await status(f.octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', { owner, repo, sha: main, state: 'green' as 'success' }));
    expect(bad.status).toBe(422);
    const outside = await status(f.octokit.request('GET /repos/{owner}/{repo}/issues/{issue_number}/events', { owner, repo, issue_number: 1 }));
    expect(outside.status).toBe(404);
    const violations = f.server.violations();
    expect(violations.map((v) => [v.kind, v.operationId])).toEqual([
      ['request', 'repos/create-commit-status'],
      ['route', undefined],
    ]);
    expect(violations[0]!.issues).toEqual([{ path: 'body/state', message: 'must be equal to one of the allowed values: ["error","failure","pending","success"]' }]);
  });

  it('catches responses that do not match the description', () => {
    const api = loadGitHubOpenApi();
    const match = api.match('PUT', '/repos/o/r/pulls/1/merge');
    if (!match || !('operation' in match)) throw new Error('no merge operation');
    expect(api.checkResponse(match.operation, 200, {}, { sha: 'abc', merged: true, message: 'ok' })).toEqual([]);
    expect(api.checkResponse(match.operation, 200, {}, { merged: 'yes', message: 'ok' })).toEqual([
      { path: 'body/', message: "must have required property 'sha'" },
      { path: 'body/merged', message: 'must be boolean' },
    ]);
    expect(api.checkResponse(match.operation, 201, {}, {})).toEqual([
      { path: 'status', message: '201 is not a documented response of pulls/merge (documented: 200, 403, 404, 405, 409, 422)' },
    ]);
    const list = api.match('GET', '/repos/o/r/pulls');
    if (!list || !('operation' in list)) throw new Error('no list operation');
    expect(api.checkResponse(list.operation, 200, {}, [{ number: 1 }]).length).toBeGreaterThan(10);
    expect(api.checkSchema('label', { id: 1, node_id: 'x', url: 'not a uri', name: 'n', description: null, color: 'fff', default: false })).toEqual([
      { path: '/url', message: 'must match format "uri"' },
    ]);
  });
});
