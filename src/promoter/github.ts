// Pull-request delivery through GitHub: the only module that imports @octokit/*. One branch and at most
// one open pull request per canary, merged on green required checks (or by GitHub auto-merge); urgent
// rollbacks pushed directly. No token reaches a log, an error, a pull-request body or /status.
import { createAppAuth } from '@octokit/auth-app';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import { PermanentError, TransientError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Change, DeliveryPort, Identity, PushOutcome } from './ports.js';
import {
  RESUMED_LABEL,
  SUPERSEDED_LABEL,
  branchFor,
  checksVerdict,
  labelsFor,
  parseMetadata,
  pullRequestBody,
  sameDecision,
  statusContext,
  statusFor,
  titleOf,
  type CheckState,
  type LinkBases,
} from './pull-request.js';
import type { GitWorkspace } from './workspace.js';

export type GitHubAuth = { kind: 'token'; token: string } | { kind: 'app'; appId: string; privateKey: string; installationId: number };

export interface GitHubOptions {
  apiUrl: string;
  owner: string;
  repo: string;
  auth: GitHubAuth;
  logger: Logger;
  /** for tests: a fetch of their own. */
  fetch?: typeof fetch;
}

/** GitHub answered 5xx / 429 or could not be reached: try again next tick. */
export class GitHubTransientError extends TransientError {
  override name = 'GitHubTransientError';
}

/** GitHub refused the request (permissions, validation): needs a person. */
export class GitHubPermanentError extends PermanentError {
  override name = 'GitHubPermanentError';
}

const ThrottledOctokit = Octokit.plugin(retry, throttling);
type Client = InstanceType<typeof ThrottledOctokit>;

/** The error for a failed call, rebuilt from status and message only: Octokit's own carries the request. */
function gitHubError(what: string, error: unknown, secrets: readonly string[]): Error {
  const status = typeof (error as { status?: unknown }).status === 'number' ? (error as { status: number }).status : undefined;
  let message = `${what}: ${status !== undefined ? `HTTP ${status} ` : ''}${errorMessage(error).replace(/\s*\n\s*/g, ' ').slice(0, 500)}`;
  for (const secret of secrets) if (secret.length >= 4) message = message.split(secret).join('***');
  return status === undefined || status >= 500 || status === 429 ? new GitHubTransientError(message) : new GitHubPermanentError(message);
}

export interface GitHub {
  readonly owner: string;
  readonly repo: string;
  call<T>(what: string, request: (octokit: Client) => Promise<T>): Promise<T>;
}

export function createGitHub(options: GitHubOptions): GitHub {
  const log = options.logger.child({ component: 'github' });
  const secrets = options.auth.kind === 'token' ? [options.auth.token] : [options.auth.privateKey];
  const common = {
    baseUrl: options.apiUrl.replace(/\/+$/, ''),
    userAgent: 'docuthinker-promoter',
    ...(options.fetch ? { request: { fetch: options.fetch } } : {}),
    log: { debug: () => undefined, info: () => undefined, warn: (m: string) => log.warn({ octokit: m }, 'octokit'), error: (m: string) => log.error({ octokit: m }, 'octokit') },
    throttle: {
      onRateLimit: (retryAfter: number, _options: object, _octokit: unknown, retryCount: number) => {
        log.warn({ retryAfter, retryCount }, 'GitHub rate limit');
        return retryCount < 1 && retryAfter <= 60;
      },
      onSecondaryRateLimit: (retryAfter: number) => {
        log.warn({ retryAfter }, 'GitHub secondary rate limit; not retrying this tick');
        return false;
      },
    },
    retry: { retries: 2 },
  };
  // A GitHub App: @octokit/auth-app exchanges the key for an installation token and refreshes it before it expires.
  const octokit: Client =
    options.auth.kind === 'app'
      ? new ThrottledOctokit({ ...common, authStrategy: createAppAuth, auth: { appId: options.auth.appId, privateKey: options.auth.privateKey, installationId: options.auth.installationId } })
      : new ThrottledOctokit({ ...common, auth: options.auth.token });
  return {
    owner: options.owner,
    repo: options.repo,
    async call(what, request) {
      try {
        return await request(octokit);
      } catch (error) {
        throw gitHubError(what, error, secrets);
      }
    },
  };
}

export interface PullRequestSettings {
  /** the branch pull requests go to (git.branch). */
  base: string;
  merge: 'api' | 'auto-merge';
  rollbacks: 'direct' | 'pull-request';
  links: LinkBases;
  /** checks an api merge waits for; default the branch protection's. */
  requiredChecks?: readonly string[];
  /** the promoter's git identity: commits by anyone else on its branch are a person's. */
  identity: Identity;
}

interface OpenPull {
  number: number;
  node_id: string;
  title: string;
  body: string | null;
  head: { sha: string };
  labels: { name?: string }[];
  html_url: string;
  merged_at: string | null;
  user: { login: string } | null;
}

const held = (reason: string, alert = true): PushOutcome => ({ kind: 'held', reason, alert });

/** Delivers decisions as pull requests (rollbacks pushed directly by default). */
export function pullRequestDelivery(workspace: GitWorkspace, github: GitHub, settings: PullRequestSettings, logger: Logger): DeliveryPort {
  const log = logger.child({ component: 'pull-request' });
  const { owner, repo } = github;

  const pulls = async (branch: string, state: 'open' | 'closed'): Promise<OpenPull[]> =>
    (await github.call(`list ${state} pull requests of ${branch}`, (o) =>
      o.rest.pulls.list({ owner, repo, head: `${owner}:${branch}`, base: settings.base, state, per_page: 20, sort: 'created', direction: 'desc' }),
    )).data;

  const comment = (number: number, body: string) =>
    github.call(`comment on #${number}`, (o) => o.rest.issues.createComment({ owner, repo, issue_number: number, body }));

  /** Who closed a pull request: GitHub's pull-request API does not say, so the last person who commented. */
  async function closer(pr: OpenPull): Promise<string> {
    const comments = (await github.call(`comments of #${pr.number}`, (o) => o.rest.issues.listComments({ owner, repo, issue_number: pr.number, per_page: 50 }))).data;
    const people = comments.map((c) => c.user?.login).filter((login): login is string => login !== undefined && login !== pr.user?.login);
    return people.at(-1) ?? 'a person';
  }

  async function closeWithComment(pr: OpenPull, text: string): Promise<void> {
    await comment(pr.number, text);
    await github.call(`label #${pr.number}`, (o) => o.rest.issues.addLabels({ owner, repo, issue_number: pr.number, labels: [SUPERSEDED_LABEL] }));
    await github.call(`close #${pr.number}`, (o) => o.rest.pulls.update({ owner, repo, pull_number: pr.number, state: 'closed' }));
  }

  async function reportStatus(change: Change): Promise<void> {
    const file = change.target?.canaryFile;
    if (!file) return;
    try {
      const sha = await workspace.introducingCommit(file, change.image);
      if (!sha) return;
      const description = (change.verdict?.reason ?? titleOf(change)).slice(0, 139);
      await github.call(`status ${statusContext(change.canary)}`, (o) =>
        o.rest.repos.createCommitStatus({ owner, repo, sha, state: statusFor(change), context: statusContext(change.canary), description }),
      );
    } catch (error) {
      log.warn({ canary: change.canary, error: errorMessage(error) }, 'could not set the commit status');
    }
  }

  async function requiredChecks(): Promise<readonly string[]> {
    if (settings.requiredChecks) return settings.requiredChecks;
    try {
      const { data } = await github.call('required checks', (o) => o.rest.repos.getStatusChecksProtection({ owner, repo, branch: settings.base }));
      return data.checks?.map((c) => c.context) ?? data.contexts ?? [];
    } catch (error) {
      if (error instanceof GitHubPermanentError && /HTTP 404/.test(error.message)) return [];
      throw error;
    }
  }

  async function checksOn(sha: string): Promise<CheckState[]> {
    const status = (await github.call('commit statuses', (o) => o.rest.repos.getCombinedStatusForRef({ owner, repo, ref: sha }))).data;
    const runs = (await github.call('check runs', (o) => o.rest.checks.listForRef({ owner, repo, ref: sha }))).data;
    return [
      ...status.statuses.map((s) => ({ name: s.context, state: s.state })),
      ...runs.check_runs.map((r) => ({ name: r.name, state: r.status === 'completed' ? (r.conclusion ?? 'pending') : 'pending' })),
    ];
  }

  async function merge(pr: OpenPull, headSha: string, change: Change, autoMerge: boolean): Promise<PushOutcome> {
    const title = titleOf(change);
    const message = change.message.split('\n').slice(2).join('\n').trim();
    if (autoMerge) {
      try {
        await github.call(`enable auto-merge on #${pr.number}`, (o) =>
          o.graphql(
            `mutation($id: ID!, $head: GitObjectID!, $title: String!, $body: String!) {
              enablePullRequestAutoMerge(input: { pullRequestId: $id, expectedHeadOid: $head, mergeMethod: SQUASH, commitHeadline: $title, commitBody: $body }) { clientMutationId }
            }`,
            { id: pr.node_id, head: headSha, title, body: message },
          ),
        );
        return { kind: 'proposed', reason: `pull request #${pr.number} waits for its checks; GitHub merges it (auto-merge)`, url: pr.html_url };
      } catch (error) {
        // GitHub refuses auto-merge on a pull request that can merge right now ("clean status"): merge it.
        if (!/clean status/i.test(errorMessage(error))) throw error;
      }
    }
    const verdict = checksVerdict(await requiredChecks(), await checksOn(headSha));
    if (verdict.kind === 'pending') return { kind: 'proposed', reason: `pull request #${pr.number} waits for ${verdict.waiting.join(', ')}`, url: pr.html_url };
    if (verdict.kind === 'fail') return held(`pull request #${pr.number}: required checks failed (${verdict.failed.join(', ')}); holding`);
    try {
      const { data } = await github.call(`merge #${pr.number}`, (o) =>
        o.rest.pulls.merge({ owner, repo, pull_number: pr.number, sha: headSha, merge_method: 'squash', commit_title: title, commit_message: message }),
      );
      log.info({ number: pr.number, sha: data.sha }, 'merged');
      return { kind: 'pushed', sha: data.sha };
    } catch (error) {
      // 409: the head moved under us (the sha guard); 405: not mergeable yet. Both: decide again next tick.
      if (/HTTP 40[59]/.test(errorMessage(error))) return { kind: 'proposed', reason: `pull request #${pr.number} cannot merge yet: ${errorMessage(error)}`, url: pr.html_url };
      throw error;
    }
  }

  async function propose(change: Change, autoMerge: boolean): Promise<PushOutcome> {
    const branch = branchFor(change.canary);
    const base = workspace.head;
    const [open] = await pulls(branch, 'open');
    if (!open) {
      const [last] = await pulls(branch, 'closed');
      const lastMeta = parseMetadata(last?.body);
      if (last && !last.merged_at && lastMeta?.canary === change.canary && !last.labels.some((l) => l.name === RESUMED_LABEL || l.name === SUPERSEDED_LABEL)) {
        if (change.decision === 'resume') {
          await github.call(`label #${last.number}`, (o) => o.rest.issues.addLabels({ owner, repo, issue_number: last.number, labels: [RESUMED_LABEL] }));
        } else if (!change.urgent) {
          return held(`pull request #${last.number} (${lastMeta.decision} to ${lastMeta.step}) was closed unmerged by ${await closer(last)}; canary ${change.canary} holds until \`promoter resume ${change.canary}\``);
        }
      }
    }
    const meta = open ? parseMetadata(open.body) : undefined;
    if (open) {
      const commits = (await github.call(`commits of #${open.number}`, (o) => o.rest.pulls.listCommits({ owner, repo, pull_number: open.number, per_page: 100 }))).data;
      const foreign = commits.filter((c) => c.commit.committer?.email !== settings.identity.email);
      if (foreign.length > 0) {
        const who = [...new Set(foreign.map((c) => c.author?.login ?? c.commit.author?.name ?? 'someone'))].join(', ');
        return held(`pull request #${open.number} has commits by ${who}: left alone, canary ${change.canary} holds`);
      }
      if (meta?.person && !change.author && !change.urgent) return held(`a person's ${meta.decision} waits in pull request #${open.number}`, false);
    }
    const want = { canary: change.canary, decision: change.decision, step: change.step, image: change.image, base };
    const remote = await workspace.remoteBranchSha(branch);
    let headSha = open?.head.sha ?? remote;
    if (!(open && meta && sameDecision(meta, want) && meta.base === base && remote === open.head.sha)) {
      // Stale or missing: rebuilt from the base tip plus the pure edit, only over the sha we saw.
      const pushed = await workspace.pushToBranch(change, branch, remote);
      if (pushed.kind === 'no-op') {
        if (open) await closeWithComment(open, `The change is already on \`${settings.base}\` (${base.slice(0, 12)}); closing.`);
        return { kind: 'no-op', sha: base };
      }
      if (pushed.kind === 'rejected') return held(`someone else pushed to ${branch} (${pushed.reason}); backing off, canary ${change.canary} holds`);
      if (pushed.kind === 'refused') throw new GitHubPermanentError(pushed.reason);
      headSha = pushed.sha;
    }
    const title = titleOf(change);
    const body = pullRequestBody({ change, links: settings.links, base });
    let pr: OpenPull;
    if (!open) {
      pr = (await github.call(`open a pull request for ${branch}`, (o) => o.rest.pulls.create({ owner, repo, head: branch, base: settings.base, title, body }))).data;
      log.info({ number: pr.number, title }, 'opened pull request');
    } else if (open.body !== body || open.title !== title) {
      // Only when the content changed: an unchanged body is not rewritten every tick.
      pr = (await github.call(`update #${open.number}`, (o) => o.rest.pulls.update({ owner, repo, pull_number: open.number, title, body }))).data;
    } else {
      pr = open;
    }
    const labels = labelsFor(change);
    const have = new Set(pr.labels.map((l) => l.name));
    if (labels.some((l) => !have.has(l))) {
      await github.call(`label #${pr.number}`, (o) => o.rest.issues.addLabels({ owner, repo, issue_number: pr.number, labels }));
    }
    for (const stale of pr.labels.map((l) => l.name).filter((n): n is string => n !== undefined && n.startsWith('step:') && !labels.includes(n))) {
      await github.call(`unlabel #${pr.number}`, (o) => o.rest.issues.removeLabel({ owner, repo, issue_number: pr.number, name: stale }));
    }
    if (!headSha) throw new GitHubPermanentError(`pull request #${pr.number} has no head`);
    return merge(pr, headSha, change, autoMerge);
  }

  return {
    async deliver(change) {
      await reportStatus(change);
      if (change.urgent && settings.rollbacks === 'direct') {
        const pushed = await workspace.commitAndPush(change);
        if (pushed.kind === 'pushed') {
          const [open] = await pulls(branchFor(change.canary), 'open');
          if (open) await closeWithComment(open, `Superseded: ${titleOf(change)}, pushed directly to \`${settings.base}\` in ${pushed.sha.slice(0, 12)} (a bad canary must not serve users while a pull request waits).`);
          return pushed;
        }
        if (pushed.kind !== 'refused') return pushed;
        log.warn({ canary: change.canary, alert: true, reason: pushed.reason }, 'direct rollback refused by branch protection; opening a pull request with auto-merge');
        return propose(change, true);
      }
      return propose(change, settings.merge === 'auto-merge' || change.author !== undefined || change.urgent);
    },
  };
}

