// A GitHub REST + GraphQL stand-in on loopback, backed by a real bare Git repository: pull requests track
// real branches, merges write real commits to the base branch, and every request and response is checked
// against GitHub's own OpenAPI description (../shared/schemas/github). Test controls are plain methods.
//
//   const { remoteDir } = await createSeededRemote({ dir, seedFrom: ['gitops', 'argocd'], sourceRoot: repoRoot() });
//   const github = await startGitHubServer({ bareRepo: remoteDir, ci: { contexts: ['merge-weight-change'] } });
//   await github.requireStatusChecks('main', ['merge-weight-change']);
//   await github.protectBranch('main');                    // direct pushes now fail with GH006
//   const octokit = new Octokit({ auth: github.tokenFor(), baseUrl: github.url });
//   ... the promoter pushes promoter/<canary> to remoteDir with git, then octokit.rest.pulls.create(...)
//   await github.closePullRequestAs('dana', 1, 'not now');
//   expect(github.violations()).toEqual([]);                 // every request and response matched the subset
//   await github.close();
//
// Only operations of openapi-subset.json are served (anything else is a 404 and a recorded violation).
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, verify as verifySignature } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { defaultSchemasDir } from '../../src/schemas/registry.js';
import { cleanGitEnv } from './git-remote.js';
import { GqlError, checkInput, execute, loadGraphqlSdl, parseGraphql, type GqlObject, type GraphqlSdl } from './github-graphql.js';
import { loadGitHubOpenApi, type GitHubOpenApi, type OpenApiIssue, type OpenApiOperation } from './github-openapi.js';

export type MergeMethod = 'merge' | 'squash' | 'rebase';
export type StatusState = 'success' | 'failure' | 'error' | 'pending';
export type CheckConclusion = 'success' | 'failure' | 'neutral' | 'cancelled' | 'skipped' | 'timed_out' | 'action_required';

/** A GitHub account: its login and the Git identity its commits carry (mapped back to the login). */
export interface GitHubPerson {
  login: string;
  name?: string;
  email?: string;
}

export interface SimulatedCiOptions {
  /** the status contexts CI reports on every new head of an open pull request */
  contexts: string[];
  /** the verdict per context; default success */
  verdict?: (pr: PullRequestView, context: string) => 'success' | 'failure' | 'error';
  /** CI first reports `pending`, then the verdict this many ms later (or only on settleCi() when 'manual'); default 20 */
  settleAfterMs?: number | 'manual';
}

export interface GitHubServerOptions {
  /** the bare repository the promoter clones and pushes to (e.g. createSeededRemote().remoteDir) */
  bareRepo: string;
  /** default docuthinker */
  owner?: string;
  /** default gitops */
  repo?: string;
  /** default main */
  defaultBranch?: string;
  /**
   * Accepted personal tokens and the login each acts as. When omitted, any `token X` / `Bearer X`
   * is accepted as `defaultLogin` (tokens from tokenFor() and the App flow always work).
   */
  tokens?: Record<string, string>;
  /** default docuthinker-promoter[bot] */
  defaultLogin?: string;
  /** Git identities of accounts, so commit authors map to logins (as GitHub maps e-mail addresses) */
  people?: GitHubPerson[];
  /** a GitHub App (JWT -> installation token); a key pair is generated. Default app id 4242, installation 77. */
  app?: { appId?: number; installationId?: number; slug?: string; tokenTtlMs?: number };
  schemasDir?: string;
  now?: () => Date;
  /** answer 422 to a request the OpenAPI description rejects (it is recorded as a violation either way); default true */
  rejectInvalidRequests?: boolean;
  /**
   * What enablePullRequestAutoMerge does on a pull request that could merge right now. GitHub answers
   * "Pull request is in clean status" (default 'error'); 'merge' merges at once instead.
   */
  autoMergeWhenClean?: 'error' | 'merge';
  /** repository setting allow_auto_merge; default true */
  allowAutoMerge?: boolean;
  /** the merge methods the repository allows; default all three */
  mergeMethods?: MergeMethod[];
  /** delete the head branch after a merge; default false */
  deleteBranchOnMerge?: boolean;
  /** requests per token per hour; default 5000 */
  rateLimit?: number;
  /** only GitHub Apps may create check runs (GitHub's rule); default true */
  checkRunsRequireApp?: boolean;
  /**
   * GitHub computes mergeability in the background: the first read of a PR after its head or base moved
   * says `mergeable: null, mergeable_state: "unknown"`, and a later read has the answer. Default false.
   */
  mergeableUnknownOnFirstRead?: boolean;
  ci?: SimulatedCiOptions;
}

export interface InjectedFailure {
  /** e.g. pulls/merge; any operation when omitted */
  operationId?: string;
  kind: 'server-error' | 'secondary-rate-limit';
  /** default 502 for server-error, 403 for secondary-rate-limit */
  status?: number;
  /** default 1 */
  count?: number;
  /** seconds, sent as retry-after; default 1 for secondary-rate-limit */
  retryAfter?: number;
}

export interface Violation {
  kind: 'request' | 'response' | 'route' | 'graphql' | 'server';
  method: string;
  path: string;
  operationId?: string;
  status?: number;
  issues: OpenApiIssue[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  operationId: string | undefined;
  status: number;
  /** the login the token acted as (never the token itself) */
  login: string | undefined;
}

export interface PullRequestView {
  number: number;
  nodeId: string;
  title: string;
  body: string | null;
  state: 'open' | 'closed' | 'merged';
  head: string;
  base: string;
  headSha: string;
  user: string;
  draft: boolean;
  labels: string[];
  comments: { id: number; user: string; body: string }[];
  /** the latest commit status per context on the head commit */
  statuses: { context: string; state: string; description: string | null; creator: string }[];
  checkRuns: { name: string; status: string; conclusion: string | null; app: string }[];
  autoMerge: { mergeMethod: MergeMethod; enabledBy: string } | null;
  mergeCommitSha: string | null;
  mergedBy: string | null;
  closedBy: string | null;
}

export interface GitHubTestServer {
  /** http://127.0.0.1:<port>: use as Octokit's baseUrl (GraphQL is served at <url>/graphql) */
  url: string;
  owner: string;
  repo: string;
  bareRepo: string;
  /** a personal token acting as `login` (default: defaultLogin) */
  tokenFor(login?: string): string;
  /** the App credentials for @octokit/auth-app (undefined without options.app) */
  app: { appId: number; installationId: number; privateKey: string; slug: string } | undefined;
  /** every schema violation seen so far; tests assert it stays empty */
  violations(): Violation[];
  /** every request served, oldest first (no tokens) */
  requests(): RecordedRequest[];
  /** whether some request authenticated with this token */
  usedToken(token: string): boolean;
  pullRequests(): Promise<PullRequestView[]>;
  pullRequest(number: number): Promise<PullRequestView>;
  /** branch protection: these contexts (commit status or check run name) must be green before a merge */
  requireStatusChecks(branch: string, contexts: string[], options?: { strict?: boolean }): Promise<void>;
  /** the bare repository refuses direct pushes to `branch` (pre-receive hook, GH006); API merges still land */
  protectBranch(branch: string): Promise<void>;
  unprotectBranch(branch: string): Promise<void>;
  /** a commit status on `sha` (by the CI account unless `login`) */
  setCheck(sha: string, context: string, state: StatusState, options?: { description?: string; login?: string }): Promise<void>;
  /** a check run by the CI app; 'in_progress' or a conclusion */
  setCheckRun(sha: string, name: string, conclusion: CheckConclusion | 'in_progress'): Promise<void>;
  /** CI that reports `contexts` on each new pull-request head (undefined stops it) */
  simulateCi(options: SimulatedCiOptions | undefined): void;
  /** report every pending simulated-CI verdict now */
  settleCi(): Promise<void>;
  /** a person closes the pull request unmerged (optionally with a comment first) */
  closePullRequestAs(person: string, number: number, comment?: string): Promise<void>;
  /** a person merges through the web UI (same rules as the API) */
  mergePullRequestAs(person: string, number: number, method?: MergeMethod): Promise<string>;
  commentAs(person: string, number: number, body: string): Promise<void>;
  /** a person's commit pushed with the git CLI (through the hooks, so protection applies); returns the new sha */
  pushAsPerson(branch: string, files: Record<string, string | null>, message: string, options?: { person?: string | GitHubPerson; from?: string; force?: boolean }): Promise<string>;
  /** the sha a branch points at in the bare repository, or undefined */
  branchSha(branch: string): Promise<string | undefined>;
  /** re-read the branches: new pull-request heads start simulated CI, green checks complete auto-merges */
  refresh(): Promise<void>;
  /** requests left in the current rate-limit window for a token (0 makes the next request a 403) */
  setRateLimitRemaining(token: string, remaining: number): void;
  /**
   * The next `count` requests (of `operationId`, or any) fail as GitHub sometimes does: a 5xx, or a
   * secondary rate limit (403 "You have exceeded a secondary rate limit" with retry-after). The
   * request itself is still checked; the injected answer is not (it is deliberate).
   */
  injectFailure(failure: InjectedFailure): void;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

interface Comment {
  id: number;
  issue: number;
  user: string;
  body: string;
  createdAt: Date;
  updatedAt: Date;
}

interface StatusRecord {
  id: number;
  sha: string;
  context: string;
  state: StatusState;
  description: string | null;
  targetUrl: string | null;
  creator: string;
  createdAt: Date;
}

interface CheckRunRecord {
  id: number;
  headSha: string;
  name: string;
  status: string;
  conclusion: string | null;
  startedAt: Date | null;
  completedAt: Date | null;
  detailsUrl: string | null;
  externalId: string | null;
  output: { title: string | null; summary: string | null; text: string | null };
  app: string;
}

interface TimelineEvent {
  type: 'closed' | 'reopened' | 'merged' | 'head_changed' | 'auto_merge_enabled' | 'auto_merge_disabled';
  actor: string;
  at: Date;
}

interface PullRecord {
  number: number;
  id: number;
  title: string;
  body: string | null;
  head: string;
  base: string;
  user: string;
  draft: boolean;
  maintainerCanModify: boolean;
  state: 'open' | 'closed';
  merged: boolean;
  /** the head sha last seen (frozen once closed) */
  headSha: string;
  /** the base sha frozen at merge/close */
  baseShaAtClose: string | undefined;
  createdAt: Date;
  updatedAt: Date;
  closedAt: Date | null;
  mergedAt: Date | null;
  mergeCommitSha: string | null;
  mergedBy: string | null;
  closedBy: string | null;
  labels: string[];
  autoMerge: { enabledBy: string; mergeMethod: MergeMethod; commitTitle: string; commitMessage: string; enabledAt: Date } | null;
  timeline: TimelineEvent[];
  frozenStats: { commits: number; additions: number; deletions: number; changedFiles: number } | undefined;
}

interface LabelRecord {
  id: number;
  name: string;
  color: string;
  description: string;
}

interface TokenRecord {
  login: string;
  kind: 'personal' | 'installation';
  expiresAt?: Date;
}

/** A GitHub-style API error (message + documentation_url, optional validation errors). */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Json[],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface Handled {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface RequestContext {
  operation: OpenApiOperation;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  login: string;
  tokenKind: 'personal' | 'installation' | 'jwt';
  /** the rate-limit bucket of the token (a hash, never the token) */
  rateKey: string;
}

const CI_LOGIN = 'docuthinker-ci[bot]';
const CI_APP = 'docuthinker-ci';
const GITHUB_COMMITTER = { name: 'GitHub', email: 'noreply@github.com' };
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** GitHub's limits on a pull request or comment body and a title */
const MAX_BODY_CHARS = 65536;
const MAX_TITLE_CHARS = 256;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** GitHub timestamps have second precision. */
function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function nodeId(prefix: string, id: number): string {
  return `${prefix}_kwDO${Buffer.from(`0:${id}`).toString('base64url')}`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

interface GitRun {
  stdout: string;
  stderr: string;
  code: number;
}

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv, okCodes: number[] = []): Promise<GitRun> {
  return new Promise((resolvePromise, reject) => {
    execFile('git', args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (error, stdout, stderr) => {
      if (!error) return resolvePromise({ stdout, stderr, code: 0 });
      const code = typeof error.code === 'number' ? error.code : -1;
      if (okCodes.includes(code)) return resolvePromise({ stdout, stderr, code });
      reject(new Error(`git ${args.join(' ')} failed (exit ${code}): ${stderr.trim() || stdout.trim()}`));
    });
  });
}

const HOOK_MARKER = '# installed by test/support/github-server.ts';
const PRE_RECEIVE = `#!/bin/sh
${HOOK_MARKER}: refuses direct pushes to protected branches the way GitHub does (GH006).
list="$(dirname "$0")/protected-branches"
status=0
while read -r old new ref; do
  branch=\${ref#refs/heads/}
  if [ -f "$list" ] && grep -qxF "$branch" "$list"; then
    echo "error: GH006: Protected branch update failed for $ref." >&2
    echo "error: Changes must be made through a pull request." >&2
    status=1
  fi
done
exit $status
`;

/** Starts the server on 127.0.0.1. */
export async function startGitHubServer(options: GitHubServerOptions): Promise<GitHubTestServer> {
  const owner = options.owner ?? 'docuthinker';
  const repoName = options.repo ?? 'gitops';
  const defaultBranch = options.defaultBranch ?? 'main';
  const defaultLogin = options.defaultLogin ?? 'docuthinker-promoter[bot]';
  const bareRepo = resolve(options.bareRepo);
  const now = options.now ?? (() => new Date());
  const rejectInvalid = options.rejectInvalidRequests ?? true;
  const rateLimit = options.rateLimit ?? 5000;
  const mergeMethods = new Set<MergeMethod>(options.mergeMethods ?? ['merge', 'squash', 'rebase']);
  const checkRunsRequireApp = options.checkRunsRequireApp ?? true;
  const schemasDir = options.schemasDir ?? defaultSchemasDir();
  const api: GitHubOpenApi = loadGitHubOpenApi(join(schemasDir, 'github', 'openapi-subset.json'));
  const sdl: GraphqlSdl = loadGraphqlSdl(join(schemasDir, 'github', 'graphql-automerge.md'));
  const home = await mkdtemp(join(tmpdir(), 'github-server-'));
  const env = cleanGitEnv(home);
  const createdAt = now();

  await git(['rev-parse', '--git-dir'], bareRepo, env).catch((error: unknown) => {
    throw new Error(`github server: ${bareRepo} is not a git repository`, { cause: error });
  });

  const people = new Map<string, GitHubPerson>();
  const loginByEmail = new Map<string, string>();
  const userIds = new Map<string, number>();
  const addPerson = (person: GitHubPerson): void => {
    people.set(person.login, person);
    if (person.email) loginByEmail.set(person.email.toLowerCase(), person.login);
  };
  for (const person of options.people ?? []) addPerson(person);

  const tokens = new Map<string, TokenRecord>();
  for (const [token, login] of Object.entries(options.tokens ?? {})) tokens.set(token, { login, kind: 'personal' });
  const acceptAnyToken = options.tokens === undefined;
  const seenTokens = new Set<string>();
  const rate = new Map<string, { used: number; reset: number; remainingOverride?: number }>();

  let appState: { appId: number; installationId: number; slug: string; privateKey: string; publicKey: string; ttlMs: number } | undefined;
  if (options.app) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    appState = {
      appId: options.app.appId ?? 4242,
      installationId: options.app.installationId ?? 77,
      slug: options.app.slug ?? 'docuthinker-promoter',
      privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      ttlMs: options.app.tokenTtlMs ?? 60 * 60 * 1000,
    };
  }

  let nextId = 1;
  const newId = (): number => nextId++;
  let nextNumber = 1;
  const pulls = new Map<number, PullRecord>();
  const comments = new Map<number, Comment>();
  const labels = new Map<string, LabelRecord>();
  const statuses: StatusRecord[] = [];
  const checkRuns = new Map<number, CheckRunRecord>();
  const protections = new Map<string, { contexts: string[]; strict: boolean; refusePush: boolean }>();
  const violationList: Violation[] = [];
  const requestLog: RecordedRequest[] = [];
  let ci: SimulatedCiOptions | undefined = options.ci;
  const ciPending: { sha: string; pr: number; context: string }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const injected: (InjectedFailure & { left: number })[] = [];
  let closed = false;
  /** branch tips as of the last sync (for objects built without a git call) */
  let lastHeads = new Map<string, string>();

  // One request (or test control) at a time: refs, PR state and merges stay consistent.
  let queue: Promise<unknown> = Promise.resolve();
  function locked<T>(work: () => Promise<T>): Promise<T> {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  }

  let url = '';
  const apiRepo = (): string => `${url}/repos/${owner}/${repoName}`;
  const htmlRepo = (): string => `${url}/${owner}/${repoName}`;

  // ---- git ----
  const g = (args: string[], okCodes: number[] = []): Promise<GitRun> => git(args, bareRepo, env, okCodes);

  async function branchHeads(): Promise<Map<string, string>> {
    const { stdout } = await g(['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads']);
    const heads = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const [ref, sha] = line.split(' ');
      if (ref && sha) heads.set(ref.replace(/^refs\/heads\//, ''), sha);
    }
    return heads;
  }

  async function branchSha(branch: string): Promise<string | undefined> {
    const { stdout, code } = await g(['rev-parse', '--verify', '-q', `refs/heads/${branch}^{commit}`], [1, 128]);
    return code === 0 ? stdout.trim() : undefined;
  }

  /** a commit sha for a sha, branch name, heads/<branch> or tags/<tag>; undefined when none */
  async function resolveCommit(ref: string): Promise<string | undefined> {
    const candidates = /^[0-9a-f]{7,40}$/.test(ref) ? [ref] : [];
    candidates.push(`refs/heads/${ref}`, `refs/${ref}`, `refs/tags/${ref}`);
    for (const candidate of candidates) {
      if (candidate.includes('..') || candidate.startsWith('-')) continue;
      const { stdout, code } = await g(['rev-parse', '--verify', '-q', `${candidate}^{commit}`], [1, 128]);
      if (code === 0) return stdout.trim();
    }
    return undefined;
  }

  async function isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    const { code } = await g(['merge-base', '--is-ancestor', ancestor, descendant], [1]);
    return code === 0;
  }

  /** the tree of merging `head` into `base`, or undefined on a conflict */
  async function mergeTree(base: string, head: string): Promise<string | undefined> {
    const { stdout, code } = await g(['merge-tree', '--write-tree', base, head], [1]);
    return code === 0 ? stdout.split('\n')[0]?.trim() : undefined;
  }

  function identityOf(login: string): { name: string; email: string } {
    const person = people.get(login);
    return { name: person?.name ?? login, email: person?.email ?? `${userId(login)}+${login}@users.noreply.github.com` };
  }

  async function commitTree(tree: string, parents: string[], message: string, author: { name: string; email: string; date?: string }): Promise<string> {
    const commitEnv: NodeJS.ProcessEnv = {
      ...env,
      GIT_AUTHOR_NAME: author.name,
      GIT_AUTHOR_EMAIL: author.email,
      GIT_COMMITTER_NAME: GITHUB_COMMITTER.name,
      GIT_COMMITTER_EMAIL: GITHUB_COMMITTER.email,
    };
    if (author.date) commitEnv.GIT_AUTHOR_DATE = author.date;
    const { stdout } = await git(['commit-tree', tree, ...parents.flatMap((p) => ['-p', p]), '-m', message], bareRepo, commitEnv);
    return stdout.trim();
  }

  /** moves a branch only if it still points at `expected` (compare-and-swap, no hooks: GitHub's own write) */
  async function updateBranch(branch: string, sha: string, expected: string): Promise<boolean> {
    const { code } = await g(['update-ref', `refs/heads/${branch}`, sha, expected], [1, 128]);
    return code === 0;
  }

  // ---- objects ----
  function userId(login: string): number {
    let id = userIds.get(login);
    if (id === undefined) {
      id = 1000 + userIds.size;
      userIds.set(login, id);
    }
    return id;
  }

  function simpleUser(login: string, type?: string): Json {
    const id = userId(login);
    const users = `${url}/users/${encodeURIComponent(login)}`;
    return {
      login,
      id,
      node_id: nodeId(login.endsWith('[bot]') ? 'BOT' : 'U', id),
      avatar_url: `${url}/avatars/u/${id}`,
      gravatar_id: '',
      url: users,
      html_url: `${url}/${encodeURIComponent(login)}`,
      followers_url: `${users}/followers`,
      following_url: `${users}/following{/other_user}`,
      gists_url: `${users}/gists{/gist_id}`,
      starred_url: `${users}/starred{/owner}{/repo}`,
      subscriptions_url: `${users}/subscriptions`,
      organizations_url: `${users}/orgs`,
      repos_url: `${users}/repos`,
      events_url: `${users}/events{/privacy}`,
      received_events_url: `${users}/received_events`,
      type: type ?? (login.endsWith('[bot]') ? 'Bot' : 'User'),
      site_admin: false,
      user_view_type: 'public',
    };
  }

  const ownerUser = (): Json => simpleUser(owner, 'Organization');
  const repoId = 424242;

  function repository(kind: 'repository' | 'full' | 'minimal'): Json {
    const base = apiRepo();
    const at = iso(createdAt);
    const open = [...pulls.values()].filter((p) => p.state === 'open').length;
    const repo: Json = {
      id: repoId,
      node_id: nodeId('R', repoId),
      name: repoName,
      full_name: `${owner}/${repoName}`,
      owner: ownerUser(),
      private: true,
      html_url: htmlRepo(),
      description: 'GitOps repository (GitHub test server)',
      fork: false,
      url: base,
      archive_url: `${base}/{archive_format}{/ref}`,
      assignees_url: `${base}/assignees{/user}`,
      blobs_url: `${base}/git/blobs{/sha}`,
      branches_url: `${base}/branches{/branch}`,
      collaborators_url: `${base}/collaborators{/collaborator}`,
      comments_url: `${base}/comments{/number}`,
      commits_url: `${base}/commits{/sha}`,
      compare_url: `${base}/compare/{base}...{head}`,
      contents_url: `${base}/contents/{+path}`,
      contributors_url: `${base}/contributors`,
      deployments_url: `${base}/deployments`,
      downloads_url: `${base}/downloads`,
      events_url: `${base}/events`,
      forks_url: `${base}/forks`,
      git_commits_url: `${base}/git/commits{/sha}`,
      git_refs_url: `${base}/git/refs{/sha}`,
      git_tags_url: `${base}/git/tags{/sha}`,
      git_url: `git://127.0.0.1/${owner}/${repoName}.git`,
      issue_comment_url: `${base}/issues/comments{/number}`,
      issue_events_url: `${base}/issues/events{/number}`,
      issues_url: `${base}/issues{/number}`,
      keys_url: `${base}/keys{/key_id}`,
      labels_url: `${base}/labels{/name}`,
      languages_url: `${base}/languages`,
      merges_url: `${base}/merges`,
      milestones_url: `${base}/milestones{/number}`,
      notifications_url: `${base}/notifications{?since,all,participating}`,
      pulls_url: `${base}/pulls{/number}`,
      releases_url: `${base}/releases{/id}`,
      ssh_url: `git@127.0.0.1:${owner}/${repoName}.git`,
      stargazers_url: `${base}/stargazers`,
      statuses_url: `${base}/statuses/{sha}`,
      subscribers_url: `${base}/subscribers`,
      subscription_url: `${base}/subscription`,
      tags_url: `${base}/tags`,
      teams_url: `${base}/teams`,
      trees_url: `${base}/git/trees{/sha}`,
      hooks_url: `${base}/hooks`,
    };
    if (kind === 'minimal') return repo;
    Object.assign(repo, {
      clone_url: bareRepo,
      mirror_url: null,
      svn_url: htmlRepo(),
      homepage: null,
      language: null,
      forks: 0,
      forks_count: 0,
      stargazers_count: 0,
      watchers: 0,
      watchers_count: 0,
      size: 1,
      default_branch: defaultBranch,
      open_issues: open,
      open_issues_count: open,
      is_template: false,
      topics: [],
      has_issues: true,
      has_projects: false,
      has_wiki: false,
      has_pages: false,
      has_downloads: false,
      has_discussions: false,
      archived: false,
      disabled: false,
      visibility: 'private',
      pushed_at: at,
      created_at: at,
      updated_at: at,
      license: null,
      allow_merge_commit: mergeMethods.has('merge'),
      allow_squash_merge: mergeMethods.has('squash'),
      allow_rebase_merge: mergeMethods.has('rebase'),
      allow_auto_merge: options.allowAutoMerge ?? true,
      delete_branch_on_merge: options.deleteBranchOnMerge ?? false,
      permissions: { admin: false, maintain: false, push: true, triage: true, pull: true },
    });
    if (kind === 'full') Object.assign(repo, { network_count: 0, subscribers_count: 0, allow_forking: false, web_commit_signoff_required: false });
    return repo;
  }

  function labelRecord(name: string): LabelRecord {
    const key = name.toLowerCase();
    let label = labels.get(key);
    if (!label) {
      // GitHub's pull-request-simple schema types a label description as a non-null string.
      label = { id: newId(), name, color: 'ededed', description: '' };
      labels.set(key, label);
    }
    return label;
  }

  function labelObject(label: LabelRecord): Json {
    return {
      id: label.id,
      node_id: nodeId('LA', label.id),
      url: `${apiRepo()}/labels/${encodeURIComponent(label.name)}`,
      name: label.name,
      description: label.description,
      color: label.color,
      default: false,
    };
  }

  function integration(slug: string): Json {
    const id = slug === CI_APP ? 9001 : (appState?.appId ?? 4242);
    return {
      id,
      slug,
      node_id: nodeId('A', id),
      client_id: `Iv1.${sha256(slug).slice(0, 16)}`,
      owner: ownerUser(),
      name: slug,
      description: null,
      external_url: `${url}/apps/${slug}`,
      html_url: `${url}/apps/${slug}`,
      created_at: iso(createdAt),
      updated_at: iso(createdAt),
      permissions: { checks: 'write', contents: 'write', metadata: 'read', pull_requests: 'write', statuses: 'write' },
      events: [],
    };
  }

  // ---- pull-request state ----
  /** re-reads branch heads: new heads of open PRs start simulated CI; a deleted head branch closes its PR */
  async function sync(): Promise<void> {
    const heads = await branchHeads();
    lastHeads = heads;
    for (const pr of pulls.values()) {
      if (pr.state !== 'open') continue;
      const sha = heads.get(pr.head);
      if (sha === undefined) {
        await closePull(pr, pr.user, heads.get(pr.base));
        continue;
      }
      if (sha !== pr.headSha) {
        pr.headSha = sha;
        pr.updatedAt = now();
        pr.timeline.push({ type: 'head_changed', actor: pr.user, at: now() });
        startCi(pr);
      }
    }
    await autoMerge();
  }

  function startCi(pr: PullRecord): void {
    if (!ci) return;
    for (const context of ci.contexts) {
      recordStatus(pr.headSha, context, 'pending', 'CI is running', CI_LOGIN);
      ciPending.push({ sha: pr.headSha, pr: pr.number, context });
    }
    const delay = ci.settleAfterMs ?? 20;
    if (delay === 'manual') return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (closed) return;
      locked(async () => {
        settle();
        await autoMerge();
      }).catch((error: unknown) => recordServerError('simulated CI', error));
    }, delay);
    timers.add(timer);
  }

  function settle(): void {
    const jobs = ciPending.splice(0);
    for (const job of jobs) {
      const pr = pulls.get(job.pr);
      if (!pr || !ci) continue;
      const verdict = ci.verdict ? ci.verdict(view(pr), job.context) : 'success';
      recordStatus(job.sha, job.context, verdict, verdict === 'success' ? 'CI passed' : 'CI failed', CI_LOGIN);
    }
  }

  function recordServerError(where: string, error: unknown): void {
    violationList.push({ kind: 'server', method: '-', path: where, issues: [{ path: where, message: error instanceof Error ? error.message : String(error) }] });
  }

  function recordStatus(sha: string, context: string, state: StatusState, description: string | null, creator: string, targetUrl: string | null = null): StatusRecord {
    const record: StatusRecord = { id: newId(), sha, context, state, description, targetUrl, creator, createdAt: now() };
    statuses.push(record);
    return record;
  }

  function latestStatuses(sha: string): StatusRecord[] {
    const seen = new Set<string>();
    const latest: StatusRecord[] = [];
    for (const status of [...statuses].reverse()) {
      const key = status.context.toLowerCase();
      if (status.sha !== sha || seen.has(key)) continue;
      seen.add(key);
      latest.push(status);
    }
    return latest;
  }

  function combinedState(latest: StatusRecord[]): string {
    if (latest.some((s) => s.state === 'failure' || s.state === 'error')) return 'failure';
    if (latest.length === 0 || latest.some((s) => s.state === 'pending')) return 'pending';
    return 'success';
  }

  function latestCheckRuns(sha: string): CheckRunRecord[] {
    const seen = new Set<string>();
    return [...checkRuns.values()]
      .filter((run) => run.headSha === sha)
      .reverse()
      .filter((run) => (seen.has(run.name) ? false : (seen.add(run.name), true)));
  }

  /** where the required checks of `base` stand for `sha` */
  function requirements(base: string, sha: string): { missing: string[]; pending: string[]; failing: string[] } {
    const result = { missing: [] as string[], pending: [] as string[], failing: [] as string[] };
    const contexts = protections.get(base)?.contexts ?? [];
    const statusByContext = new Map(latestStatuses(sha).map((s) => [s.context.toLowerCase(), s]));
    const runByName = new Map(latestCheckRuns(sha).map((r) => [r.name.toLowerCase(), r]));
    for (const context of contexts) {
      const status = statusByContext.get(context.toLowerCase());
      const run = runByName.get(context.toLowerCase());
      const states: string[] = [];
      if (status) states.push(status.state);
      if (run) states.push(run.status !== 'completed' ? 'pending' : ['success', 'neutral', 'skipped'].includes(run.conclusion ?? '') ? 'success' : 'failure');
      if (states.length === 0) result.missing.push(context);
      else if (states.includes('success')) continue;
      else if (states.includes('pending')) result.pending.push(context);
      else result.failing.push(context);
    }
    return result;
  }

  interface Mergeability {
    mergeable: boolean | null;
    state: string;
    tree: string | undefined;
    baseSha: string | undefined;
  }

  async function mergeability(pr: PullRecord): Promise<Mergeability> {
    if (pr.state !== 'open') return { mergeable: null, state: 'unknown', tree: undefined, baseSha: undefined };
    const baseSha = await branchSha(pr.base);
    if (!baseSha) return { mergeable: false, state: 'unknown', tree: undefined, baseSha };
    const tree = await mergeTree(baseSha, pr.headSha);
    if (tree === undefined) return { mergeable: false, state: 'dirty', tree, baseSha };
    if (pr.draft) return { mergeable: true, state: 'draft', tree, baseSha };
    const protection = protections.get(pr.base);
    if (protection?.strict && !(await isAncestor(baseSha, pr.headSha))) return { mergeable: true, state: 'behind', tree, baseSha };
    const needed = requirements(pr.base, pr.headSha);
    if (needed.missing.length + needed.pending.length + needed.failing.length > 0) return { mergeable: true, state: 'blocked', tree, baseSha };
    const anyRed = latestStatuses(pr.headSha).some((s) => s.state === 'failure' || s.state === 'error');
    return { mergeable: true, state: anyRed ? 'unstable' : 'clean', tree, baseSha };
  }

  const mergeabilitySeen = new Map<number, string>();
  /** what a client reads: with mergeableUnknownOnFirstRead, nothing yet on the first read after a change */
  async function readMergeability(pr: PullRecord): Promise<Mergeability> {
    const state = await mergeability(pr);
    if (!options.mergeableUnknownOnFirstRead || pr.state !== 'open') return state;
    const key = `${state.baseSha ?? ''}:${pr.headSha}`;
    if (mergeabilitySeen.get(pr.number) === key) return state;
    mergeabilitySeen.set(pr.number, key);
    return { ...state, mergeable: null, state: 'unknown' };
  }

  function commitMessageDefaults(pr: PullRecord, method: MergeMethod): { title: string; message: string } {
    if (method === 'squash') return { title: `${pr.title} (#${pr.number})`, message: pr.body ?? '' };
    return { title: `Merge pull request #${pr.number} from ${owner}/${pr.head}`, message: pr.title };
  }

  /** Merges under the caller's lock; throws ApiError 405/409 the way GitHub refuses. Returns the new base sha. */
  async function mergePull(pr: PullRecord, actor: string, method: MergeMethod, expectedSha: string | undefined, commitTitle?: string, commitMessage?: string): Promise<string> {
    if (pr.state !== 'open') throw new ApiError(405, 'Pull Request is not mergeable');
    if (expectedSha !== undefined && expectedSha !== pr.headSha) throw new ApiError(409, 'Head branch was modified. Review and try the merge again.');
    if (!mergeMethods.has(method)) {
      const names: Record<MergeMethod, string> = { merge: 'Merge commits', squash: 'Squash merges', rebase: 'Rebase merges' };
      throw new ApiError(405, `${names[method]} are not allowed on this repository.`);
    }
    if (pr.draft) throw new ApiError(405, 'Pull Request is still a draft');
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const state = await mergeability(pr);
      if (!state.baseSha) throw new ApiError(405, `Base branch ${pr.base} does not exist`);
      if (state.mergeable === false || state.tree === undefined) throw new ApiError(405, 'Pull Request is not mergeable');
      const needed = requirements(pr.base, pr.headSha);
      const unmet = [...needed.failing.map((c) => [c, 'failing']), ...needed.pending.map((c) => [c, 'expected']), ...needed.missing.map((c) => [c, 'expected'])];
      if (unmet.length === 1) throw new ApiError(405, `Required status check "${unmet[0]![0]}" is ${unmet[0]![1]}.`);
      if (unmet.length > 1) {
        const total = protections.get(pr.base)?.contexts.length ?? unmet.length;
        throw new ApiError(405, `${unmet.length} of ${total} required status checks are ${needed.failing.length > 0 ? 'failing' : 'expected'}.`);
      }
      if (state.state === 'behind') throw new ApiError(405, 'Head branch is out of date. Review and try the merge again.');
      const defaults = commitMessageDefaults(pr, method);
      const message = `${commitTitle ?? defaults.title}\n\n${commitMessage ?? defaults.message}`.trimEnd();
      let sha: string;
      if (method === 'merge') {
        sha = await commitTree(state.tree, [state.baseSha, pr.headSha], message, identityOf(actor));
      } else if (method === 'squash') {
        sha = await commitTree(state.tree, [state.baseSha], message, identityOf(pr.user));
      } else {
        sha = await rebaseOnto(pr, state.baseSha);
      }
      if (!(await updateBranch(pr.base, sha, state.baseSha))) continue; // someone pushed in between: look again
      const stats = await pullStats(pr, state.baseSha);
      pr.frozenStats = stats;
      pr.state = 'closed';
      pr.merged = true;
      pr.baseShaAtClose = state.baseSha;
      pr.mergedAt = now();
      pr.closedAt = pr.mergedAt;
      pr.updatedAt = pr.mergedAt;
      pr.mergeCommitSha = sha;
      pr.mergedBy = actor;
      pr.autoMerge = null;
      pr.timeline.push({ type: 'merged', actor, at: pr.mergedAt });
      if (options.deleteBranchOnMerge) await g(['update-ref', '-d', `refs/heads/${pr.head}`, pr.headSha], [1, 128]);
      return sha;
    }
    throw new ApiError(405, 'Base branch was modified. Review and try the merge again.');
  }

  /** replays the PR's commits onto the base tip (GitHub's "rebase and merge") */
  async function rebaseOnto(pr: PullRecord, baseSha: string): Promise<string> {
    const { stdout } = await g(['rev-list', '--reverse', '--topo-order', '--parents', pr.headSha, `^${baseSha}`]);
    let current = baseSha;
    for (const line of stdout.trim().split('\n').filter(Boolean)) {
      const [commit, ...parents] = line.split(' ');
      if (!commit || parents.length !== 1) throw new ApiError(405, 'This branch can\'t be rebased');
      // Three-way: base = the commit's parent, ours = current, theirs = commit; done in a scratch index.
      const scratch = await mkdtemp(join(home, 'rebase-'));
      try {
        const indexEnv = { ...env, GIT_INDEX_FILE: join(scratch, 'index') };
        const { code } = await git(['read-tree', '-m', '-i', '--aggressive', parents[0]!, current, commit], bareRepo, indexEnv, [1, 128]);
        const unmerged = code === 0 ? (await git(['ls-files', '-u'], bareRepo, { ...indexEnv, GIT_WORK_TREE: scratch }).catch(() => ({ stdout: 'x' }))).stdout : 'x';
        if (code !== 0 || unmerged.trim() !== '') throw new ApiError(405, 'This branch can\'t be rebased');
        const tree = (await git(['write-tree'], bareRepo, indexEnv)).stdout.trim();
        const info = (await g(['log', '-1', '--format=%an%x00%ae%x00%aI%x00%B', commit])).stdout.split('\0');
        current = await commitTree(tree, [current], (info[3] ?? '').trimEnd(), { name: info[0] ?? pr.user, email: info[1] ?? '', date: info[2] });
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    }
    return current;
  }

  async function pullStats(pr: PullRecord, baseSha: string | undefined): Promise<{ commits: number; additions: number; deletions: number; changedFiles: number }> {
    if (pr.frozenStats) return pr.frozenStats;
    if (!baseSha) return { commits: 0, additions: 0, deletions: 0, changedFiles: 0 };
    const count = Number((await g(['rev-list', '--count', pr.headSha, `^${baseSha}`])).stdout.trim());
    const mergeBase = (await g(['merge-base', baseSha, pr.headSha], [1])).stdout.trim();
    let additions = 0;
    let deletions = 0;
    let changedFiles = 0;
    if (mergeBase) {
      const { stdout } = await g(['diff', '--numstat', mergeBase, pr.headSha]);
      for (const line of stdout.split('\n').filter(Boolean)) {
        const [add, del] = line.split('\t');
        additions += Number(add) || 0;
        deletions += Number(del) || 0;
        changedFiles += 1;
      }
    }
    return { commits: count, additions, deletions, changedFiles };
  }

  async function closePull(pr: PullRecord, actor: string, baseSha?: string): Promise<void> {
    pr.frozenStats = await pullStats(pr, baseSha ?? (await branchSha(pr.base)));
    pr.state = 'closed';
    pr.closedAt = now();
    pr.updatedAt = pr.closedAt;
    pr.closedBy = actor;
    pr.autoMerge = null;
    pr.timeline.push({ type: 'closed', actor, at: pr.closedAt });
  }

  /** completes every enabled auto-merge whose requirements are met */
  async function autoMerge(): Promise<void> {
    for (const pr of pulls.values()) {
      if (pr.state !== 'open' || !pr.autoMerge) continue;
      const state = await mergeability(pr);
      if (state.state !== 'clean' && state.state !== 'unstable') continue;
      const { enabledBy, mergeMethod, commitTitle, commitMessage } = pr.autoMerge;
      try {
        await mergePull(pr, enabledBy, mergeMethod, undefined, commitTitle || undefined, commitMessage || undefined);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
      }
    }
  }

  function findPull(number: number): PullRecord {
    const pr = pulls.get(number);
    if (!pr) throw new ApiError(404, 'Not Found');
    return pr;
  }

  function commentsOf(number: number): Comment[] {
    return [...comments.values()].filter((c) => c.issue === number);
  }

  async function pullObject(pr: PullRecord, simple: boolean): Promise<Json> {
    const base = apiRepo();
    const baseSha = pr.state === 'open' ? await branchSha(pr.base) : pr.baseShaAtClose;
    const links = {
      self: { href: `${base}/pulls/${pr.number}` },
      html: { href: `${htmlRepo()}/pull/${pr.number}` },
      issue: { href: `${base}/issues/${pr.number}` },
      comments: { href: `${base}/issues/${pr.number}/comments` },
      review_comments: { href: `${base}/pulls/${pr.number}/comments` },
      review_comment: { href: `${base}/pulls/comments{/number}` },
      commits: { href: `${base}/pulls/${pr.number}/commits` },
      statuses: { href: `${base}/statuses/${pr.headSha}` },
    };
    const side = (ref: string, sha: string): Json => ({ label: `${owner}:${ref}`, ref, sha, user: ownerUser(), repo: repository('repository') });
    const object: Json = {
      url: `${base}/pulls/${pr.number}`,
      id: pr.id,
      node_id: nodeId('PR', pr.id),
      html_url: `${htmlRepo()}/pull/${pr.number}`,
      diff_url: `${htmlRepo()}/pull/${pr.number}.diff`,
      patch_url: `${htmlRepo()}/pull/${pr.number}.patch`,
      issue_url: `${base}/issues/${pr.number}`,
      commits_url: `${base}/pulls/${pr.number}/commits`,
      review_comments_url: `${base}/pulls/${pr.number}/comments`,
      review_comment_url: `${base}/pulls/comments{/number}`,
      comments_url: `${base}/issues/${pr.number}/comments`,
      statuses_url: `${base}/statuses/${pr.headSha}`,
      number: pr.number,
      state: pr.state,
      locked: false,
      title: pr.title,
      user: simpleUser(pr.user),
      body: pr.body,
      labels: pr.labels.map((name) => labelObject(labelRecord(name))),
      milestone: null,
      active_lock_reason: null,
      created_at: iso(pr.createdAt),
      updated_at: iso(pr.updatedAt),
      closed_at: pr.closedAt ? iso(pr.closedAt) : null,
      merged_at: pr.mergedAt ? iso(pr.mergedAt) : null,
      merge_commit_sha: pr.mergeCommitSha,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      head: side(pr.head, pr.headSha),
      base: side(pr.base, baseSha ?? pr.headSha),
      _links: links,
      author_association: pr.user === owner ? 'OWNER' : 'MEMBER',
      auto_merge: pr.autoMerge
        ? { enabled_by: simpleUser(pr.autoMerge.enabledBy), merge_method: pr.autoMerge.mergeMethod, commit_title: pr.autoMerge.commitTitle, commit_message: pr.autoMerge.commitMessage }
        : null,
      draft: pr.draft,
    };
    if (simple) return object;
    const state = await readMergeability(pr);
    const stats = await pullStats(pr, baseSha);
    Object.assign(object, {
      merged: pr.merged,
      mergeable: state.mergeable,
      rebaseable: state.mergeable,
      mergeable_state: state.state,
      merged_by: pr.mergedBy ? simpleUser(pr.mergedBy) : null,
      comments: commentsOf(pr.number).length,
      review_comments: 0,
      maintainer_can_modify: pr.maintainerCanModify,
      commits: stats.commits,
      additions: stats.additions,
      deletions: stats.deletions,
      changed_files: stats.changedFiles,
    });
    return object;
  }

  function commentObject(comment: Comment): Json {
    return {
      id: comment.id,
      node_id: nodeId('IC', comment.id),
      url: `${apiRepo()}/issues/comments/${comment.id}`,
      html_url: `${htmlRepo()}/pull/${comment.issue}#issuecomment-${comment.id}`,
      body: comment.body,
      user: simpleUser(comment.user),
      created_at: iso(comment.createdAt),
      updated_at: iso(comment.updatedAt),
      issue_url: `${apiRepo()}/issues/${comment.issue}`,
      author_association: comment.user === owner ? 'OWNER' : 'MEMBER',
      performed_via_github_app: null,
    };
  }

  function statusObject(status: StatusRecord, simple: boolean): Json {
    const object: Json = {
      url: `${apiRepo()}/statuses/${status.sha}`,
      avatar_url: `${url}/avatars/u/${userId(status.creator)}`,
      id: status.id,
      node_id: nodeId('SC', status.id),
      state: status.state,
      description: status.description,
      target_url: status.targetUrl,
      context: status.context,
      created_at: iso(status.createdAt),
      updated_at: iso(status.createdAt),
    };
    if (!simple) object.creator = simpleUser(status.creator);
    return object;
  }

  function checkRunObject(run: CheckRunRecord): Json {
    const base = apiRepo();
    return {
      id: run.id,
      head_sha: run.headSha,
      node_id: nodeId('CR', run.id),
      external_id: run.externalId,
      url: `${base}/check-runs/${run.id}`,
      html_url: `${htmlRepo()}/runs/${run.id}`,
      details_url: run.detailsUrl,
      status: run.status,
      conclusion: run.conclusion,
      started_at: run.startedAt ? iso(run.startedAt) : null,
      completed_at: run.completedAt ? iso(run.completedAt) : null,
      output: { ...run.output, annotations_count: 0, annotations_url: `${base}/check-runs/${run.id}/annotations` },
      name: run.name,
      check_suite: { id: run.id + 100000 },
      app: integration(run.app),
      pull_requests: [...pulls.values()]
        .filter((pr) => pr.state === 'open' && pr.headSha === run.headSha)
        .map((pr) => ({
          id: pr.id,
          number: pr.number,
          url: `${base}/pulls/${pr.number}`,
          head: { ref: pr.head, sha: pr.headSha, repo: { id: repoId, url: base, name: repoName } },
          base: { ref: pr.base, sha: lastHeads.get(pr.base) ?? pr.headSha, repo: { id: repoId, url: base, name: repoName } },
        })),
    };
  }

  function gitRefObject(ref: string, sha: string): Json {
    return {
      ref,
      node_id: nodeId('REF', Number.parseInt(sha.slice(0, 8), 16)),
      url: `${apiRepo()}/git/${ref}`,
      object: { type: 'commit', sha, url: `${apiRepo()}/git/commits/${sha}` },
    };
  }

  async function commitObjects(pr: PullRecord): Promise<Json[]> {
    const baseSha = pr.state === 'open' ? await branchSha(pr.base) : pr.baseShaAtClose;
    const range = baseSha ? [pr.headSha, `^${baseSha}`] : [pr.headSha, '-1'];
    const { stdout } = await g(['log', '--reverse', '--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B%x1e', ...range]);
    return stdout
      .split('\x1e')
      .map((chunk) => chunk.replace(/^\n/, ''))
      .filter(Boolean)
      .map((chunk) => {
        const [sha = '', tree = '', parents = '', an = '', ae = '', ad = '', cn = '', ce = '', cd = '', message = ''] = chunk.split('\0');
        const authorLogin = loginByEmail.get(ae.toLowerCase()) ?? noreplyLogin(ae);
        const committerLogin = ce === GITHUB_COMMITTER.email ? 'web-flow' : (loginByEmail.get(ce.toLowerCase()) ?? noreplyLogin(ce));
        return {
          url: `${apiRepo()}/commits/${sha}`,
          sha,
          node_id: nodeId('C', Number.parseInt(sha.slice(0, 8), 16)),
          html_url: `${htmlRepo()}/commit/${sha}`,
          comments_url: `${apiRepo()}/commits/${sha}/comments`,
          commit: {
            url: `${apiRepo()}/git/commits/${sha}`,
            author: { name: an, email: ae, date: iso(new Date(ad)) },
            committer: { name: cn, email: ce, date: iso(new Date(cd)) },
            message: message.trimEnd(),
            comment_count: 0,
            tree: { sha: tree, url: `${apiRepo()}/git/trees/${tree}` },
            verification: { verified: false, reason: 'unsigned', payload: null, signature: null, verified_at: null },
          },
          author: authorLogin ? simpleUser(authorLogin) : null,
          committer: committerLogin ? simpleUser(committerLogin) : null,
          parents: parents
            .split(' ')
            .filter(Boolean)
            .map((p) => ({ sha: p, url: `${apiRepo()}/commits/${p}`, html_url: `${htmlRepo()}/commit/${p}` })),
        };
      });
  }

  function noreplyLogin(email: string): string | undefined {
    return /^\d+\+([^@]+)@users\.noreply\.github\.com$/i.exec(email)?.[1];
  }

  function view(pr: PullRecord): PullRequestView {
    return {
      number: pr.number,
      nodeId: nodeId('PR', pr.id),
      title: pr.title,
      body: pr.body,
      state: pr.merged ? 'merged' : pr.state,
      head: pr.head,
      base: pr.base,
      headSha: pr.headSha,
      user: pr.user,
      draft: pr.draft,
      labels: [...pr.labels],
      comments: commentsOf(pr.number).map((c) => ({ id: c.id, user: c.user, body: c.body })),
      statuses: latestStatuses(pr.headSha).map((s) => ({ context: s.context, state: s.state, description: s.description, creator: s.creator })),
      checkRuns: latestCheckRuns(pr.headSha).map((r) => ({ name: r.name, status: r.status, conclusion: r.conclusion, app: r.app })),
      autoMerge: pr.autoMerge ? { mergeMethod: pr.autoMerge.mergeMethod, enabledBy: pr.autoMerge.enabledBy } : null,
      mergeCommitSha: pr.mergeCommitSha,
      mergedBy: pr.mergedBy,
      closedBy: pr.merged ? null : pr.closedBy,
    };
  }

  // ---- pagination ----
  function paginate<T>(items: T[], context: RequestContext): { page: T[]; headers: Record<string, string> } {
    const perPage = Math.min(100, Math.max(1, Number(context.query.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(context.query.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (n: number): string => {
      const query = new URLSearchParams(context.query);
      query.set('per_page', String(perPage));
      query.set('page', String(n));
      const path = context.operation.template.replace(/\{([^}]+)\}/g, (_m, name: string) => encodeURIComponent(context.params[name] ?? ''));
      return `<${url}${path}?${query.toString()}>`;
    };
    const rels: string[] = [];
    if (page > 1) rels.push(`${link(page - 1)}; rel="prev"`);
    if (page < last) rels.push(`${link(page + 1)}; rel="next"`, `${link(last)}; rel="last"`);
    if (page > 1) rels.push(`${link(1)}; rel="first"`);
    return { page: items.slice((page - 1) * perPage, page * perPage), headers: rels.length > 0 ? { link: rels.join(', ') } : {} };
  }

  // ---- REST handlers ----
  const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  const bodyOf = (context: RequestContext): Json => (isObject(context.body) ? context.body : {});
  const validationFailed = (resource: string, field: string, code: string, message?: string): ApiError =>
    new ApiError(422, 'Validation Failed', [{ resource, field, code, ...(message ? { message } : {}) }]);

  async function mustCommit(ref: string): Promise<string> {
    const sha = await resolveCommit(ref);
    if (!sha) throw new ApiError(422, `No commit found for SHA: ${ref}`);
    return sha;
  }

  const handlers: Record<string, (context: RequestContext) => Promise<Handled>> = {
    'repos/get': async () => Promise.resolve({ status: 200, body: repository('full') }),

    'rate-limit/get': async (context) => {
      const limits = rateFor(context.rateKey);
      const core = { limit: rateLimit, remaining: limits.remaining, reset: limits.reset, used: limits.used };
      return Promise.resolve({ status: 200, body: { resources: { core, search: { limit: 30, remaining: 30, reset: limits.reset, used: 0 }, graphql: core }, rate: core } });
    },

    'pulls/list': async (context) => {
      const state = context.query.get('state') ?? 'open';
      const headFilter = context.query.get('head');
      const baseFilter = context.query.get('base');
      let list = [...pulls.values()].filter((pr) => state === 'all' || pr.state === state);
      // GitHub silently ignores a head filter without the "owner:" prefix and returns everything.
      if (headFilter && headFilter.includes(':')) {
        const [headOwner, ...rest] = headFilter.split(':');
        const branch = rest.join(':');
        list = headOwner?.toLowerCase() === owner.toLowerCase() ? list.filter((pr) => pr.head === branch) : [];
      }
      if (baseFilter) list = list.filter((pr) => pr.base === baseFilter);
      const sort = context.query.get('sort') ?? 'created';
      const direction = context.query.get('direction') ?? (sort === 'created' ? 'desc' : 'asc');
      list.sort((a, b) => (sort === 'updated' ? a.updatedAt.getTime() - b.updatedAt.getTime() : a.number - b.number));
      if (direction === 'desc') list.reverse();
      const { page, headers } = paginate(list, context);
      return { status: 200, body: await Promise.all(page.map((pr) => pullObject(pr, true))), headers };
    },

    'pulls/create': async (context) => {
      const body = bodyOf(context);
      let head = str(body.head) ?? '';
      if (head.includes(':')) {
        const [headOwner, ...rest] = head.split(':');
        if (headOwner?.toLowerCase() !== owner.toLowerCase()) throw validationFailed('PullRequest', 'head', 'invalid');
        head = rest.join(':');
      }
      const base = str(body.base) ?? '';
      const title = str(body.title);
      if (title === undefined || title.trim() === '') throw validationFailed('PullRequest', 'title', 'missing_field');
      checkLimits(title, str(body.body));
      const baseSha = await branchSha(base);
      if (!baseSha) throw validationFailed('PullRequest', 'base', 'invalid');
      const headSha = await branchSha(head);
      if (!headSha) throw validationFailed('PullRequest', 'head', 'invalid');
      if (head === base) throw new ApiError(422, 'Validation Failed', [{ resource: 'PullRequest', code: 'custom', message: `No commits between ${base} and ${head}` }]);
      const existing = [...pulls.values()].find((pr) => pr.state === 'open' && pr.head === head && pr.base === base);
      if (existing) {
        throw new ApiError(422, 'Validation Failed', [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${owner}:${head}.` }]);
      }
      const ahead = Number((await g(['rev-list', '--count', headSha, `^${baseSha}`])).stdout.trim());
      if (ahead === 0) throw new ApiError(422, 'Validation Failed', [{ resource: 'PullRequest', code: 'custom', message: `No commits between ${base} and ${head}` }]);
      const at = now();
      const pr: PullRecord = {
        number: nextNumber++,
        id: newId(),
        title,
        body: str(body.body) ?? null,
        head,
        base,
        user: context.login,
        draft: body.draft === true,
        maintainerCanModify: body.maintainer_can_modify !== false,
        state: 'open',
        merged: false,
        headSha,
        baseShaAtClose: undefined,
        createdAt: at,
        updatedAt: at,
        closedAt: null,
        mergedAt: null,
        mergeCommitSha: null,
        mergedBy: null,
        closedBy: null,
        labels: [],
        autoMerge: null,
        timeline: [],
        frozenStats: undefined,
      };
      pulls.set(pr.number, pr);
      startCi(pr);
      const object = await pullObject(pr, false);
      return { status: 201, body: object, headers: { location: String(object.url) } };
    },

    'pulls/get': async (context) => ({ status: 200, body: await pullObject(findPull(Number(context.params.pull_number)), false) }),

    'pulls/update': async (context) => {
      const pr = findPull(Number(context.params.pull_number));
      const body = bodyOf(context);
      checkLimits(str(body.title), str(body.body));
      if (typeof body.title === 'string') pr.title = body.title;
      if (typeof body.body === 'string') pr.body = body.body;
      if (typeof body.maintainer_can_modify === 'boolean') pr.maintainerCanModify = body.maintainer_can_modify;
      if (typeof body.base === 'string' && body.base !== pr.base) {
        if (pr.state !== 'open') throw validationFailed('PullRequest', 'base', 'invalid', 'Cannot change the base branch of a closed pull request.');
        if (!(await branchSha(body.base))) throw validationFailed('PullRequest', 'base', 'invalid');
        pr.base = body.base;
      }
      if (body.state === 'closed' && pr.state === 'open') await closePull(pr, context.login);
      if (body.state === 'open' && pr.state === 'closed') {
        if (pr.merged) throw new ApiError(422, 'Validation Failed', [{ resource: 'PullRequest', code: 'custom', message: 'Cannot reopen a merged pull request' }]);
        const headSha = await branchSha(pr.head);
        if (!headSha) throw new ApiError(422, 'Validation Failed', [{ resource: 'PullRequest', code: 'custom', message: 'The head branch no longer exists' }]);
        pr.state = 'open';
        pr.closedAt = null;
        pr.closedBy = null;
        pr.frozenStats = undefined;
        pr.timeline.push({ type: 'reopened', actor: context.login, at: now() });
        if (headSha !== pr.headSha) {
          pr.headSha = headSha;
          startCi(pr);
        }
      }
      pr.updatedAt = now();
      return { status: 200, body: await pullObject(pr, false) };
    },

    'pulls/merge': async (context) => {
      const pr = findPull(Number(context.params.pull_number));
      const body = bodyOf(context);
      const method = (str(body.merge_method) ?? 'merge') as MergeMethod;
      const sha = await mergePull(pr, context.login, method, str(body.sha), str(body.commit_title), str(body.commit_message));
      return { status: 200, body: { sha, merged: true, message: 'Pull Request successfully merged' } };
    },

    'pulls/list-commits': async (context) => {
      const pr = findPull(Number(context.params.pull_number));
      const { page, headers } = paginate(await commitObjects(pr), context);
      return { status: 200, body: page, headers };
    },

    'issues/add-labels': (context) => {
      const pr = findPull(Number(context.params.issue_number));
      const body = context.body;
      const raw: unknown[] = Array.isArray(body) ? body : isObject(body) && Array.isArray(body.labels) ? body.labels : [];
      const names = raw.map((item) => (typeof item === 'string' ? item : isObject(item) ? str(item.name) : undefined)).filter((n): n is string => !!n);
      if (names.length === 0) throw validationFailed('Label', 'name', 'missing_field');
      for (const name of names) {
        if (name.length > 50) throw validationFailed('Label', 'name', 'custom', 'name is too long (maximum is 50 characters)');
      }
      for (const name of names) {
        const label = labelRecord(name);
        if (!pr.labels.some((l) => l.toLowerCase() === label.name.toLowerCase())) pr.labels.push(label.name);
      }
      pr.updatedAt = now();
      return Promise.resolve({ status: 200, body: pr.labels.map((name) => labelObject(labelRecord(name))) });
    },

    'issues/remove-label': async (context) => {
      const pr = findPull(Number(context.params.issue_number));
      const name = context.params.name ?? '';
      const index = pr.labels.findIndex((l) => l.toLowerCase() === name.toLowerCase());
      if (index < 0) throw new ApiError(404, 'Label does not exist');
      pr.labels.splice(index, 1);
      pr.updatedAt = now();
      return Promise.resolve({ status: 200, body: pr.labels.map((n) => labelObject(labelRecord(n))) });
    },

    'issues/create-comment': async (context) => {
      const pr = findPull(Number(context.params.issue_number));
      const text = str(bodyOf(context).body);
      if (text === undefined) throw validationFailed('IssueComment', 'body', 'missing_field');
      if (text.length > MAX_BODY_CHARS) throw validationFailed('IssueComment', 'body', 'custom', `body is too long (maximum is ${MAX_BODY_CHARS} characters)`);
      const comment = addComment(pr, context.login, text);
      const object = commentObject(comment);
      return Promise.resolve({ status: 201, body: object, headers: { location: String(object.url) } });
    },

    'issues/list-comments': async (context) => {
      const pr = findPull(Number(context.params.issue_number));
      const since = context.query.get('since');
      const list = commentsOf(pr.number).filter((c) => !since || c.updatedAt.getTime() >= Date.parse(since));
      const { page, headers } = paginate(list.map(commentObject), context);
      return Promise.resolve({ status: 200, body: page, headers });
    },

    'issues/update-comment': async (context) => {
      const comment = comments.get(Number(context.params.comment_id));
      if (!comment) throw new ApiError(404, 'Not Found');
      const text = str(bodyOf(context).body) ?? comment.body;
      if (text.length > MAX_BODY_CHARS) throw validationFailed('IssueComment', 'body', 'custom', `body is too long (maximum is ${MAX_BODY_CHARS} characters)`);
      comment.body = text;
      comment.updatedAt = now();
      return Promise.resolve({ status: 200, body: commentObject(comment) });
    },

    'repos/create-commit-status': async (context) => {
      const sha = await mustCommit(context.params.sha ?? '');
      const body = bodyOf(context);
      const context_ = str(body.context) ?? 'default';
      if (statuses.filter((s) => s.sha === sha && s.context.toLowerCase() === context_.toLowerCase()).length >= 1000) {
        throw new ApiError(422, 'Validation Failed', [{ resource: 'Status', code: 'custom', message: 'This SHA and context has reached the maximum number of statuses.' }]);
      }
      const record = recordStatus(sha, context_, body.state as StatusState, str(body.description) ?? null, context.login, str(body.target_url) ?? null);
      return { status: 201, body: statusObject(record, false), headers: { location: `${apiRepo()}/statuses/${sha}` } };
    },

    'repos/get-combined-status-for-ref': async (context) => {
      const ref = context.params.ref ?? '';
      const sha = await resolveCommit(ref);
      if (!sha) throw new ApiError(404, `No commit found for SHA: ${ref}`);
      const latest = latestStatuses(sha);
      const { page } = paginate(latest, context);
      return {
        status: 200,
        body: {
          state: combinedState(latest),
          statuses: page.map((s) => statusObject(s, true)),
          sha,
          total_count: latest.length,
          repository: repository('minimal'),
          commit_url: `${apiRepo()}/commits/${sha}`,
          url: `${apiRepo()}/commits/${sha}/status`,
        },
      };
    },

    'checks/create': async (context) => {
      requireApp(context);
      const body = bodyOf(context);
      const headSha = await mustCommit(str(body.head_sha) ?? '');
      const conclusion = str(body.conclusion) ?? null;
      const status = conclusion ? 'completed' : (str(body.status) ?? 'queued');
      const at = now();
      const output = isObject(body.output) ? body.output : {};
      const run: CheckRunRecord = {
        id: newId(),
        headSha,
        name: str(body.name) ?? '',
        status,
        conclusion,
        startedAt: str(body.started_at) ? new Date(str(body.started_at)!) : at,
        completedAt: status === 'completed' ? (str(body.completed_at) ? new Date(str(body.completed_at)!) : at) : null,
        detailsUrl: str(body.details_url) ?? null,
        externalId: str(body.external_id) ?? null,
        output: { title: str(output.title) ?? null, summary: str(output.summary) ?? null, text: str(output.text) ?? null },
        app: context.login.replace(/\[bot\]$/, ''),
      };
      checkRuns.set(run.id, run);
      return { status: 201, body: checkRunObject(run) };
    },

    'checks/update': async (context) => {
      requireApp(context);
      const run = checkRuns.get(Number(context.params.check_run_id));
      if (!run) throw new ApiError(404, 'Not Found');
      const body = bodyOf(context);
      if (typeof body.name === 'string') run.name = body.name;
      if (typeof body.details_url === 'string') run.detailsUrl = body.details_url;
      if (typeof body.external_id === 'string') run.externalId = body.external_id;
      if (typeof body.status === 'string') run.status = body.status;
      if (typeof body.conclusion === 'string') {
        run.conclusion = body.conclusion;
        run.status = 'completed';
      }
      if (run.status === 'completed') {
        if (!run.conclusion) throw validationFailed('CheckRun', 'conclusion', 'missing_field', 'conclusion is required when status is completed');
        run.completedAt = str(body.completed_at) ? new Date(str(body.completed_at)!) : now();
      }
      if (isObject(body.output)) {
        run.output = { title: str(body.output.title) ?? run.output.title, summary: str(body.output.summary) ?? run.output.summary, text: str(body.output.text) ?? run.output.text };
      }
      return Promise.resolve({ status: 200, body: checkRunObject(run) });
    },

    'checks/list-for-ref': async (context) => {
      const ref = context.params.ref ?? '';
      const sha = await resolveCommit(ref);
      if (!sha) throw new ApiError(422, `No commit found for SHA: ${ref}`);
      let runs = (context.query.get('filter') ?? 'latest') === 'latest' ? latestCheckRuns(sha) : [...checkRuns.values()].filter((r) => r.headSha === sha).reverse();
      const name = context.query.get('check_name');
      const status = context.query.get('status');
      if (name) runs = runs.filter((r) => r.name === name);
      if (status) runs = runs.filter((r) => r.status === status);
      const { page, headers } = paginate(runs, context);
      return { status: 200, body: { total_count: runs.length, check_runs: page.map(checkRunObject) }, headers };
    },

    'git/get-ref': async (context) => {
      const ref = `refs/${context.params.ref ?? ''}`;
      const { stdout, code } = await g(['rev-parse', '--verify', '-q', ref], [1, 128]);
      if (code !== 0 || !/^refs\/(heads|tags)\//.test(ref)) throw new ApiError(404, 'Not Found');
      return { status: 200, body: gitRefObject(ref, stdout.trim()) };
    },

    'git/create-ref': async (context) => {
      const body = bodyOf(context);
      const ref = str(body.ref) ?? '';
      if (!/^refs\/[^/]+\/.+/.test(ref) || !(await validRefName(ref))) throw new ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.");
      const sha = str(body.sha) ?? '';
      const { code: exists } = await g(['cat-file', '-e', `${sha}^{commit}`], [1, 128]);
      if (!/^[0-9a-f]{40}$/.test(sha) || exists !== 0) throw new ApiError(422, 'Object does not exist');
      const { code } = await g(['update-ref', ref, sha, ''], [1, 128]);
      if (code !== 0) throw new ApiError(422, 'Reference already exists');
      return { status: 201, body: gitRefObject(ref, sha), headers: { location: `${apiRepo()}/git/${ref}` } };
    },

    'git/update-ref': async (context) => {
      const ref = `refs/${context.params.ref ?? ''}`;
      const body = bodyOf(context);
      const sha = str(body.sha) ?? '';
      const current = (await g(['rev-parse', '--verify', '-q', ref], [1, 128])).stdout.trim();
      if (!current) throw new ApiError(422, 'Reference does not exist');
      const { code: exists } = await g(['cat-file', '-e', `${sha}^{commit}`], [1, 128]);
      if (!/^[0-9a-f]{40}$/.test(sha) || exists !== 0) throw new ApiError(422, 'Object does not exist');
      const branch = ref.replace(/^refs\/heads\//, '');
      if (ref.startsWith('refs/heads/') && protections.get(branch)?.refusePush) throw new ApiError(422, `Protected branch update failed for ${ref}.`);
      if (body.force !== true && !(await isAncestor(current, sha))) throw new ApiError(422, 'Update is not a fast forward');
      const { code } = await g(['update-ref', ref, sha, current], [1, 128]);
      if (code !== 0) throw new ApiError(409, 'Reference update failed: the reference moved');
      return { status: 200, body: gitRefObject(ref, sha) };
    },

    'git/delete-ref': async (context) => {
      const ref = `refs/${context.params.ref ?? ''}`;
      const current = (await g(['rev-parse', '--verify', '-q', ref], [1, 128])).stdout.trim();
      if (!current) throw new ApiError(422, 'Reference does not exist');
      if (ref === `refs/heads/${defaultBranch}`) throw new ApiError(422, 'Cannot delete the default branch');
      const branch = ref.replace(/^refs\/heads\//, '');
      if (protections.get(branch)?.refusePush) throw new ApiError(422, `Cannot delete protected branch ${branch}`);
      await g(['update-ref', '-d', ref, current]);
      return { status: 204 };
    },

    'repos/get-status-checks-protection': async (context) => {
      const branch = context.params.branch ?? '';
      const protection = protections.get(branch);
      if (!protection) throw new ApiError(404, 'Branch not protected');
      if (protection.contexts.length === 0) throw new ApiError(404, 'Required status checks not enabled');
      const base = `${apiRepo()}/branches/${encodeURIComponent(branch)}/protection/required_status_checks`;
      return Promise.resolve({
        status: 200,
        body: { url: base, strict: protection.strict, contexts: protection.contexts, checks: protection.contexts.map((c) => ({ context: c, app_id: null })), contexts_url: `${base}/contexts` },
      });
    },

    'apps/create-installation-access-token': async (context) => {
      if (!appState || context.tokenKind !== 'jwt') throw new ApiError(401, 'A JSON web token could not be decoded');
      if (Number(context.params.installation_id) !== appState.installationId) throw new ApiError(404, 'Not Found');
      const token = `ghs_${randomBytes(18).toString('hex')}`;
      const expiresAt = new Date(now().getTime() + appState.ttlMs);
      tokens.set(token, { login: `${appState.slug}[bot]`, kind: 'installation', expiresAt });
      return Promise.resolve({
        status: 201,
        body: {
          token,
          expires_at: iso(expiresAt),
          permissions: { contents: 'write', pull_requests: 'write', checks: 'write', statuses: 'write', issues: 'write', metadata: 'read' },
          repository_selection: 'selected',
        },
      });
    },
  };

  async function validRefName(ref: string): Promise<boolean> {
    const { code } = await g(['check-ref-format', ref], [1]);
    return code === 0;
  }

  function checkLimits(title: string | undefined, body: string | undefined): void {
    if (title !== undefined && title.length > MAX_TITLE_CHARS) throw validationFailed('Issue', 'title', 'custom', `title is too long (maximum is ${MAX_TITLE_CHARS} characters)`);
    if (body !== undefined && body.length > MAX_BODY_CHARS) throw validationFailed('Issue', 'body', 'custom', `body is too long (maximum is ${MAX_BODY_CHARS} characters)`);
  }

  function requireApp(context: RequestContext): void {
    if (checkRunsRequireApp && context.tokenKind !== 'installation') throw new ApiError(403, 'You must authenticate via a GitHub App.');
  }

  function addComment(pr: PullRecord, login: string, text: string): Comment {
    const at = now();
    const comment: Comment = { id: newId(), issue: pr.number, user: login, body: text, createdAt: at, updatedAt: at };
    comments.set(comment.id, comment);
    pr.updatedAt = at;
    return comment;
  }

  // ---- authentication and rate limits ----
  function verifyJwt(jwt: string): boolean {
    if (!appState) return false;
    const [header, payload, signature] = jwt.split('.');
    if (!header || !payload || !signature) return false;
    try {
      const ok = verifySignature('sha256', Buffer.from(`${header}.${payload}`), appState.publicKey, Buffer.from(signature, 'base64url'));
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: unknown; exp?: unknown; iat?: unknown };
      const nowSeconds = Math.floor(now().getTime() / 1000);
      return ok && String(claims.iss) === String(appState.appId) && Number(claims.exp) > nowSeconds && Number(claims.iat) <= nowSeconds + 60;
    } catch {
      return false;
    }
  }

  function authenticate(header: string | undefined): { login: string; kind: RequestContext['tokenKind']; token: string } {
    const match = /^(token|bearer)\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) throw new ApiError(401, header ? 'Bad credentials' : 'Requires authentication');
    const token = match[2]!;
    if (match[1]!.toLowerCase() === 'bearer' && token.split('.').length === 3) {
      if (!verifyJwt(token)) throw new ApiError(401, "'Expiration time' claim ('exp') is too far in the future, or the signature does not verify");
      return { login: `${appState!.slug}[bot]`, kind: 'jwt', token };
    }
    const record = tokens.get(token);
    if (record) {
      if (record.expiresAt && record.expiresAt.getTime() <= now().getTime()) throw new ApiError(401, 'Bad credentials');
      return { login: record.login, kind: record.kind, token };
    }
    if (acceptAnyToken && !token.startsWith('ghs_')) return { login: defaultLogin, kind: 'personal', token };
    throw new ApiError(401, 'Bad credentials');
  }

  function rateFor(key: string): { remaining: number; reset: number; used: number } {
    const nowSeconds = Math.floor(now().getTime() / 1000);
    let entry = rate.get(key);
    if (!entry || entry.reset <= nowSeconds) {
      entry = { used: 0, reset: nowSeconds + 3600 };
      rate.set(key, entry);
    }
    const remaining = entry.remainingOverride ?? rateLimit - entry.used;
    return { remaining: Math.max(0, remaining), reset: entry.reset, used: entry.used };
  }

  function spend(key: string): void {
    rateFor(key);
    const entry = rate.get(key)!;
    entry.used += 1;
    if (entry.remainingOverride !== undefined) entry.remainingOverride = Math.max(0, entry.remainingOverride - 1);
  }

  // ---- HTTP ----
  async function readBody(request: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) throw new ApiError(413, 'Payload too large');
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  function errorBody(error: ApiError, documentationUrl: string): Json {
    const body: Json = { message: error.message, documentation_url: documentationUrl, status: String(error.status) };
    if (error.errors) body.errors = error.errors;
    return body;
  }

  function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const out: Record<string, string | number> = { ...headers, 'x-github-media-type': 'github.v3; format=json' };
    if (body !== undefined) {
      out['content-type'] = 'application/json; charset=utf-8';
      out['content-length'] = Buffer.byteLength(payload);
    }
    response.writeHead(status, out);
    response.end(payload);
  }

  async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = (request.method ?? 'GET').toUpperCase();
    const target = new URL(request.url ?? '/', 'http://127.0.0.1');
    const pathname = target.pathname;
    let text: string;
    try {
      text = await readBody(request);
    } catch (error) {
      const failure = error instanceof ApiError ? error : new ApiError(400, 'Problems reading the body');
      send(response, failure.status, errorBody(failure, 'https://docs.github.com/rest'), {});
      return;
    }
    await locked(async () => {
      if (pathname === '/graphql' && method === 'POST') return serveGraphql(request, response, text, pathname);
      const found = api.match(method, pathname);
      if (!found || !('operation' in found)) {
        const issue = found ? `${method} is not an operation of ${pathname} in the OpenAPI subset (it has ${found.methods.join(', ')})` : `no operation of the OpenAPI subset matches ${method} ${pathname}`;
        violationList.push({ kind: 'route', method, path: pathname, status: 404, issues: [{ path: 'route', message: issue }] });
        requestLog.push({ method, path: pathname, operationId: undefined, status: 404, login: undefined });
        send(response, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' }, {});
        return;
      }
      const { operation, params } = found;
      let status = 500;
      let body: unknown;
      let headers: Record<string, string> = {};
      let login: string | undefined;
      let rateKey: string | undefined;
      let deliberate = false;
      try {
        const auth = authenticate(request.headers.authorization);
        login = auth.login;
        rateKey = sha256(auth.token);
        seenTokens.add(rateKey);
        if (operation.operationId !== 'rate-limit/get') {
          if (rateFor(rateKey).remaining <= 0) throw new ApiError(403, `API rate limit exceeded for installation ID ${rateKey.slice(0, 8)}.`);
          spend(rateKey);
        }
        let parsed: unknown;
        const hasBody = text.trim() !== '';
        if (hasBody) {
          try {
            parsed = JSON.parse(text);
          } catch {
            throw new ApiError(400, 'Problems parsing JSON');
          }
        }
        const requestIssues = api.checkRequest(operation, params, target.searchParams, parsed, hasBody);
        if (requestIssues.length > 0) {
          violationList.push({ kind: 'request', method, path: pathname, operationId: operation.operationId, issues: requestIssues });
          if (rejectInvalid) {
            throw new ApiError(422, `Invalid request.\n\n${requestIssues.map((i) => `${i.path}: ${i.message}`).join('\n')}`, requestIssues.map((i) => ({ resource: operation.operationId, field: i.path, code: 'invalid', message: i.message })));
          }
        }
        if (!matchesRepo(params)) throw new ApiError(404, 'Not Found');
        if (operation.operationId !== 'apps/create-installation-access-token' && auth.kind === 'jwt') {
          throw new ApiError(401, 'A JSON web token cannot be used to access this resource; use an installation token');
        }
        const failure = injected.find((f) => f.left > 0 && (f.operationId === undefined || f.operationId === operation.operationId));
        if (failure) {
          failure.left -= 1;
          deliberate = true;
          if (failure.retryAfter !== undefined || failure.kind === 'secondary-rate-limit') headers['retry-after'] = String(failure.retryAfter ?? 1);
          if (failure.kind === 'secondary-rate-limit') {
            throw new ApiError(failure.status ?? 403, 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.');
          }
          throw new ApiError(failure.status ?? 502, 'Server Error');
        }
        if (operation.operationId !== 'apps/create-installation-access-token') await sync();
        const handler = handlers[operation.operationId];
        if (!handler) throw new ApiError(404, 'Not Found');
        const result = await handler({ operation, params, query: target.searchParams, body: parsed, login: auth.login, tokenKind: auth.kind, rateKey });
        status = result.status;
        body = result.body;
        headers = result.headers ?? {};
        if (status < 300 && operation.method !== 'GET') await autoMerge();
      } catch (error) {
        const failure = error instanceof ApiError ? error : new ApiError(500, `GitHub test server: ${error instanceof Error ? error.message : String(error)}`);
        if (!(error instanceof ApiError)) recordServerError(`${method} ${pathname}`, error);
        status = failure.status;
        body = errorBody(failure, operation.documentationUrl);
      }
      if (rateKey) {
        const limits = rateFor(rateKey);
        Object.assign(headers, {
          'x-ratelimit-limit': String(rateLimit),
          'x-ratelimit-remaining': String(limits.remaining),
          'x-ratelimit-reset': String(limits.reset),
          'x-ratelimit-used': String(limits.used),
          'x-ratelimit-resource': 'core',
        });
      }
      const responseIssues = deliberate || status === 400 || status === 413 || status === 500 ? [] : api.checkResponse(operation, status, headers, body);
      if (responseIssues.length > 0) violationList.push({ kind: 'response', method, path: pathname, operationId: operation.operationId, status, issues: responseIssues });
      requestLog.push({ method, path: pathname, operationId: operation.operationId, status, login });
      send(response, status, body, headers);
    });
  }

  function matchesRepo(params: Record<string, string>): boolean {
    if (params.owner === undefined && params.repo === undefined) return true;
    return params.owner?.toLowerCase() === owner.toLowerCase() && params.repo?.toLowerCase() === repoName.toLowerCase();
  }

  // ---- GraphQL ----
  function pullRequestNode(pr: PullRecord): GqlObject {
    return {
      __typename: 'PullRequest',
      implements: ['Node'],
      fields: {
        id: () => nodeId('PR', pr.id),
        number: () => pr.number,
        title: () => pr.title,
        body: () => pr.body ?? '',
        url: () => `${htmlRepo()}/pull/${pr.number}`,
        state: () => (pr.merged ? 'MERGED' : pr.state === 'open' ? 'OPEN' : 'CLOSED'),
        merged: () => pr.merged,
        closed: () => pr.state === 'closed',
        isDraft: () => pr.draft,
        mergedAt: () => (pr.mergedAt ? iso(pr.mergedAt) : null),
        closedAt: () => (pr.closedAt ? iso(pr.closedAt) : null),
        createdAt: () => iso(pr.createdAt),
        updatedAt: () => iso(pr.updatedAt),
        headRefName: () => pr.head,
        headRefOid: () => pr.headSha,
        baseRefName: () => pr.base,
        author: () => actorNode(pr.user),
        mergedBy: () => (pr.mergedBy ? actorNode(pr.mergedBy) : null),
        mergeable: async () => {
          const state = await readMergeability(pr);
          return state.mergeable === null ? 'UNKNOWN' : state.mergeable ? 'MERGEABLE' : 'CONFLICTING';
        },
        mergeStateStatus: async () => (await readMergeability(pr)).state.toUpperCase(),
        autoMergeRequest: () =>
          pr.autoMerge
            ? {
                __typename: 'AutoMergeRequest',
                fields: {
                  enabledAt: () => iso(pr.autoMerge!.enabledAt),
                  enabledBy: () => actorNode(pr.autoMerge!.enabledBy),
                  mergeMethod: () => pr.autoMerge!.mergeMethod.toUpperCase(),
                  commitHeadline: () => pr.autoMerge!.commitTitle,
                  commitBody: () => pr.autoMerge!.commitMessage,
                  authorEmail: () => null,
                },
              }
            : null,
        labels: () => connection(pr.labels.map((name) => ({ __typename: 'Label', implements: ['Node'], fields: { name: () => name, id: () => nodeId('LA', labelRecord(name).id) } }))),
        timelineItems: (args) => {
          const types = Array.isArray(args.itemTypes) ? (args.itemTypes as string[]) : undefined;
          const events = pr.timeline
            .filter((e) => ['closed', 'reopened', 'merged'].includes(e.type))
            .map((e) => ({ typename: e.type === 'closed' ? 'ClosedEvent' : e.type === 'merged' ? 'MergedEvent' : 'ReopenedEvent', event: e }))
            .filter(({ typename }) => !types || types.includes(typename.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()));
          let nodes = events.map(({ typename, event }) => ({
            __typename: typename,
            implements: ['Node'],
            fields: { actor: () => actorNode(event.actor), createdAt: () => iso(event.at), id: () => nodeId('E', event.at.getTime() % 1e9) },
          }));
          if (typeof args.last === 'number') nodes = nodes.slice(-args.last);
          if (typeof args.first === 'number') nodes = nodes.slice(0, args.first);
          return connection(nodes, events.length);
        },
      },
    };
  }

  function connection(nodes: GqlObject[], totalCount = nodes.length): GqlObject {
    return { __typename: 'Connection', fields: { nodes: () => nodes, totalCount: () => totalCount } };
  }

  function actorNode(login: string): GqlObject {
    const type = login.endsWith('[bot]') ? 'Bot' : 'User';
    return {
      __typename: type,
      implements: ['Actor', 'Node'],
      fields: { login: () => (type === 'Bot' ? login.replace(/\[bot\]$/, '') : login), id: () => nodeId(type === 'Bot' ? 'BOT' : 'U', userId(login)), url: () => `${url}/${encodeURIComponent(login)}` },
    };
  }

  function pullByNodeId(id: unknown): PullRecord {
    const pr = [...pulls.values()].find((p) => nodeId('PR', p.id) === id);
    if (!pr) throw new GqlError(`Could not resolve to a node with the global id of '${String(id)}'.`, 'NOT_FOUND');
    return pr;
  }

  function payloadObject(typeName: string, login: string, pr: PullRecord, clientMutationId: unknown): GqlObject {
    const allowed = sdl.types.get(typeName) ?? [];
    const all: GqlObject['fields'] = { actor: () => actorNode(login), clientMutationId: () => (typeof clientMutationId === 'string' ? clientMutationId : null), pullRequest: () => pullRequestNode(pr) };
    return { __typename: typeName, fields: Object.fromEntries(Object.entries(all).filter(([name]) => allowed.includes(name))) };
  }

  function mutationField(name: string, login: string, args: Record<string, unknown>, violations: OpenApiIssue[]): Record<string, unknown> {
    const definition = sdl.mutations.get(name);
    if (!definition) throw new GqlError(`Field '${name}' doesn't exist on type 'Mutation'`);
    const problems: string[] = [];
    for (const key of Object.keys(args)) if (!definition.args.has(key)) problems.push(`Field '${name}' doesn't accept argument '${key}'`);
    for (const [arg, type] of definition.args) problems.push(...checkInput(sdl, type, args[arg], `Argument '${arg}' on Field '${name}'`));
    if (problems.length > 0) {
      violations.push(...problems.map((message) => ({ path: name, message })));
      throw new GqlError(problems.join('; '), 'INVALID_INPUT');
    }
    return isObject(args.input) ? args.input : {};
  }

  async function serveGraphql(request: IncomingMessage, response: ServerResponse, text: string, pathname: string): Promise<void> {
    let login: string | undefined;
    let rateKey: string | undefined;
    const graphqlViolations: OpenApiIssue[] = [];
    let status = 200;
    let body: Json;
    try {
      const auth = authenticate(request.headers.authorization);
      if (auth.kind === 'jwt') throw new ApiError(401, 'A JSON web token cannot be used to access this resource; use an installation token');
      login = auth.login;
      rateKey = sha256(`graphql:${auth.token}`);
      seenTokens.add(sha256(auth.token));
      if (rateFor(rateKey).remaining <= 0) throw new ApiError(403, 'API rate limit exceeded');
      spend(rateKey);
      let payload: Json;
      try {
        const parsed = JSON.parse(text) as unknown;
        if (!isObject(parsed) || typeof parsed.query !== 'string') throw new Error('no query');
        payload = parsed;
      } catch {
        throw new ApiError(400, 'Problems parsing JSON');
      }
      await sync();
      const actor = auth.login;
      const document = parseGraphql(String(payload.query));
      const operation = typeof payload.operationName === 'string' ? document.operations.find((o) => o.name === payload.operationName) : document.operations[0];
      if (!operation || (document.operations.length > 1 && typeof payload.operationName !== 'string')) throw new GqlError('An operation name is required when the document has several operations');
      const variables: Record<string, unknown> = { ...(isObject(payload.variables) ? payload.variables : {}) };
      for (const variable of operation.variables) {
        if (variables[variable.name] === undefined && variable.defaultValue !== undefined) variables[variable.name] = variable.defaultValue;
        const problems = checkInput(sdl, variable.type, variables[variable.name], `Variable $${variable.name}`);
        if (problems.length > 0) {
          graphqlViolations.push(...problems.map((message) => ({ path: `$${variable.name}`, message })));
          throw new GqlError(problems.join('; '), 'INVALID_INPUT');
        }
      }
      const root: GqlObject =
        operation.type === 'mutation'
          ? {
              __typename: 'Mutation',
              fields: {
                enablePullRequestAutoMerge: async (args) => {
                  const input = mutationField('enablePullRequestAutoMerge', actor, args, graphqlViolations);
                  const pr = pullByNodeId(input.pullRequestId);
                  await enableAutoMerge(pr, actor, input);
                  return payloadObject('EnablePullRequestAutoMergePayload', actor, pr, input.clientMutationId);
                },
                disablePullRequestAutoMerge: (args) => {
                  const input = mutationField('disablePullRequestAutoMerge', actor, args, graphqlViolations);
                  const pr = pullByNodeId(input.pullRequestId);
                  if (!pr.autoMerge) throw new GqlError('Pull request Auto merge is not enabled for this pull request', 'UNPROCESSABLE');
                  pr.autoMerge = null;
                  pr.timeline.push({ type: 'auto_merge_disabled', actor, at: now() });
                  return payloadObject('DisablePullRequestAutoMergePayload', actor, pr, input.clientMutationId);
                },
              },
            }
          : {
              __typename: 'Query',
              fields: {
                viewer: () => actorNode(actor),
                node: (args) => pullRequestNode(pullByNodeId(args.id)),
                repository: (args) => {
                  if (String(args.owner).toLowerCase() !== owner.toLowerCase() || String(args.name).toLowerCase() !== repoName.toLowerCase()) {
                    throw new GqlError(`Could not resolve to a Repository with the name '${String(args.owner)}/${String(args.name)}'.`, 'NOT_FOUND');
                  }
                  return {
                    __typename: 'Repository',
                    implements: ['Node'],
                    fields: {
                      id: () => nodeId('R', repoId),
                      name: () => repoName,
                      nameWithOwner: () => `${owner}/${repoName}`,
                      autoMergeAllowed: () => options.allowAutoMerge ?? true,
                      pullRequest: (a: Record<string, unknown>) => {
                        const pr = pulls.get(Number(a.number));
                        if (!pr) throw new GqlError(`Could not resolve to a PullRequest with the number of ${String(a.number)}.`, 'NOT_FOUND');
                        return pullRequestNode(pr);
                      },
                    },
                  };
                },
              },
            };
      const data = await execute(document, operation.selections, root, variables);
      body = { data };
    } catch (error) {
      if (error instanceof ApiError) {
        status = error.status;
        body = { message: error.message, documentation_url: 'https://docs.github.com/graphql', status: String(error.status) };
      } else if (error instanceof GqlError) {
        body = { data: null, errors: [{ type: error.type, path: error.path, locations: [], message: error.message }] };
      } else {
        recordServerError('POST /graphql', error);
        status = 500;
        body = { message: `GitHub test server: ${error instanceof Error ? error.message : String(error)}` };
      }
    }
    if (graphqlViolations.length > 0) violationList.push({ kind: 'graphql', method: 'POST', path: pathname, issues: graphqlViolations });
    const headers: Record<string, string> = {};
    if (rateKey) {
      const limits = rateFor(rateKey);
      Object.assign(headers, {
        'x-ratelimit-limit': String(rateLimit),
        'x-ratelimit-remaining': String(limits.remaining),
        'x-ratelimit-reset': String(limits.reset),
        'x-ratelimit-used': String(limits.used),
        'x-ratelimit-resource': 'graphql',
      });
    }
    requestLog.push({ method: 'POST', path: pathname, operationId: 'graphql', status, login });
    send(response, status, body, headers);
  }

  async function enableAutoMerge(pr: PullRecord, actor: string, input: Json): Promise<void> {
    if (!(options.allowAutoMerge ?? true)) throw new GqlError('Pull request Auto merge is not allowed for this repository', 'UNPROCESSABLE');
    if (pr.state !== 'open') throw new GqlError('Pull request Pull request is closed', 'UNPROCESSABLE');
    if (typeof input.expectedHeadOid === 'string' && input.expectedHeadOid !== pr.headSha) {
      throw new GqlError('Pull request Head branch was modified. Review and try the merge again.', 'UNPROCESSABLE');
    }
    const method = (typeof input.mergeMethod === 'string' ? input.mergeMethod.toLowerCase() : 'merge') as MergeMethod;
    if (!mergeMethods.has(method)) throw new GqlError(`Pull request ${method} merges are not allowed on this repository`, 'UNPROCESSABLE');
    const state = await mergeability(pr);
    if (state.state === 'clean' || state.state === 'unstable') {
      if ((options.autoMergeWhenClean ?? 'error') === 'error') throw new GqlError('Pull request Pull request is in clean status', 'UNPROCESSABLE');
    }
    if (state.state === 'dirty') throw new GqlError('Pull request Pull request is not mergeable', 'UNPROCESSABLE');
    const defaults = commitMessageDefaults(pr, method);
    pr.autoMerge = {
      enabledBy: actor,
      mergeMethod: method,
      commitTitle: typeof input.commitHeadline === 'string' ? input.commitHeadline : defaults.title,
      commitMessage: typeof input.commitBody === 'string' ? input.commitBody : defaults.message,
      enabledAt: now(),
    };
    pr.timeline.push({ type: 'auto_merge_enabled', actor, at: now() });
    await autoMerge();
  }

  // ---- protection (the bare repository's pre-receive hook) ----
  async function writeProtectedList(): Promise<void> {
    const hooks = join(bareRepo, 'hooks');
    await mkdir(hooks, { recursive: true });
    const hook = join(hooks, 'pre-receive');
    const existing = await readFile(hook, 'utf8').catch(() => undefined);
    if (existing !== undefined && !existing.includes(HOOK_MARKER)) throw new Error(`github server: ${hook} exists and is not ours; refusing to replace it`);
    if (existing !== PRE_RECEIVE) {
      await writeFile(hook, PRE_RECEIVE);
      await chmod(hook, 0o755);
    }
    const refused = [...protections.entries()].filter(([, p]) => p.refusePush).map(([branch]) => branch);
    await writeFile(join(hooks, 'protected-branches'), refused.length > 0 ? `${refused.join('\n')}\n` : '');
  }

  const server = createServer((request, response) => {
    serve(request, response).catch((error: unknown) => {
      recordServerError(`${request.method ?? ''} ${request.url ?? ''}`, error);
      if (!response.headersSent) send(response, 500, { message: 'GitHub test server failed' }, {});
    });
  });
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolvePromise();
    });
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const requirePull = (number: number): PullRecord => {
    const pr = pulls.get(number);
    if (!pr) throw new Error(`github server: no pull request #${number}`);
    return pr;
  };

  return {
    url,
    owner,
    repo: repoName,
    bareRepo,
    app: appState ? { appId: appState.appId, installationId: appState.installationId, privateKey: appState.privateKey, slug: appState.slug } : undefined,
    tokenFor(login = defaultLogin) {
      const token = `ghp_${randomBytes(18).toString('hex')}`;
      tokens.set(token, { login, kind: 'personal' });
      return token;
    },
    violations: () => violationList.map((v) => ({ ...v, issues: [...v.issues] })),
    requests: () => requestLog.map((r) => ({ ...r })),
    usedToken: (token) => seenTokens.has(sha256(token)),
    pullRequests: () =>
      locked(async () => {
        await sync();
        return [...pulls.values()].map(view);
      }),
    pullRequest: (number) =>
      locked(async () => {
        await sync();
        return view(requirePull(number));
      }),
    requireStatusChecks: (branch, contexts, protectionOptions = {}) =>
      locked(async () => {
        const current = protections.get(branch) ?? { contexts: [], strict: false, refusePush: false };
        protections.set(branch, { ...current, contexts: [...contexts], strict: protectionOptions.strict ?? false });
        await sync();
      }),
    protectBranch: (branch) =>
      locked(async () => {
        const current = protections.get(branch) ?? { contexts: [], strict: false, refusePush: false };
        protections.set(branch, { ...current, refusePush: true });
        await writeProtectedList();
      }),
    unprotectBranch: (branch) =>
      locked(async () => {
        protections.delete(branch);
        await writeProtectedList();
      }),
    setCheck: (sha, context, state, statusOptions = {}) =>
      locked(async () => {
        const commit = await resolveCommit(sha);
        if (!commit) throw new Error(`github server: no commit ${sha}`);
        recordStatus(commit, context, state, statusOptions.description ?? null, statusOptions.login ?? CI_LOGIN);
        await sync();
      }),
    setCheckRun: (sha, name, conclusion) =>
      locked(async () => {
        const commit = await resolveCommit(sha);
        if (!commit) throw new Error(`github server: no commit ${sha}`);
        const at = now();
        const done = conclusion !== 'in_progress';
        const run: CheckRunRecord = {
          id: newId(),
          headSha: commit,
          name,
          status: done ? 'completed' : 'in_progress',
          conclusion: done ? conclusion : null,
          startedAt: at,
          completedAt: done ? at : null,
          detailsUrl: null,
          externalId: null,
          output: { title: null, summary: null, text: null },
          app: CI_APP,
        };
        checkRuns.set(run.id, run);
        await sync();
      }),
    simulateCi(ciOptions) {
      ci = ciOptions;
    },
    settleCi: () =>
      locked(async () => {
        await sync();
        settle();
        await autoMerge();
      }),
    closePullRequestAs: (person, number, comment) =>
      locked(async () => {
        await sync();
        const pr = requirePull(number);
        if (pr.state !== 'open') throw new Error(`github server: pull request #${number} is not open`);
        if (comment !== undefined) addComment(pr, person, comment);
        await closePull(pr, person);
      }),
    mergePullRequestAs: (person, number, method = 'merge') =>
      locked(async () => {
        await sync();
        return mergePull(requirePull(number), person, method, undefined);
      }),
    commentAs: (person, number, text) =>
      locked(async () => {
        addComment(requirePull(number), person, text);
        return Promise.resolve();
      }),
    async pushAsPerson(branch, files, message, pushOptions = {}) {
      const person = typeof pushOptions.person === 'object' ? pushOptions.person : (people.get(pushOptions.person ?? 'dana') ?? { login: pushOptions.person ?? 'dana' });
      if (!people.has(person.login)) addPerson(person);
      const identity = identityOf(person.login);
      const scratch = await mkdtemp(join(home, 'person-'));
      try {
        const work = join(scratch, 'work');
        const startBranch = (await branchSha(branch)) ? branch : (pushOptions.from ?? defaultBranch);
        await git(['clone', '-q', '--branch', startBranch, bareRepo, work], scratch, env);
        for (const [path, content] of Object.entries(files)) {
          const file = join(work, path);
          if (!file.startsWith(`${work}/`)) throw new Error(`github server: ${path} is outside the repository`);
          if (content === null) await unlink(file).catch(() => undefined);
          else {
            await mkdir(dirname(file), { recursive: true });
            await writeFile(file, content);
          }
        }
        await git(['add', '-A'], work, env);
        await git(['-c', `user.name=${identity.name}`, '-c', `user.email=${identity.email}`, 'commit', '-q', '--allow-empty', '-m', message], work, env);
        await git(['push', '-q', 'origin', `${pushOptions.force ? '+' : ''}HEAD:refs/heads/${branch}`], work, env);
        return (await git(['rev-parse', 'HEAD'], work, env)).stdout.trim();
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    },
    branchSha,
    refresh: () => locked(sync),
    injectFailure(failure) {
      injected.push({ ...failure, left: failure.count ?? 1 });
    },
    setRateLimitRemaining(token, remaining) {
      const key = sha256(token);
      rateFor(key);
      rate.get(key)!.remainingOverride = remaining;
    },
    async close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await new Promise<void>((resolvePromise, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolvePromise()));
      });
      await queue.catch(() => undefined);
      await rm(home, { recursive: true, force: true });
    },
  };
}
