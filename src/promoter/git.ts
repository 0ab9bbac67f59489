// The one module that runs git: a local clone of the GitOps repo that the promoter refreshes, reads,
// and pushes single commits from. It never force-pushes, and no credential reaches a message or a log.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { PermanentError, TransientError } from '../errors.js';
import type { Logger } from '../logger.js';
import { stripCredentials } from '../logger.js';

export interface GitIdentity {
  name: string;
  email: string;
}

export interface GitWorkspaceOptions {
  /** a path to a bare repo, file://, or https:// (possibly with a token, which never reaches a log or an error). */
  remoteUrl: string;
  branch: string;
  /** the local clone: created if missing, reused if it already is a clone of the same remote. */
  dir: string;
  identity: GitIdentity;
  logger: Logger;
  /** per git command; default 60000. */
  timeoutMs?: number;
  /** base environment (default process.env); user and system git config are always shut out unless GIT_CONFIG_GLOBAL is given. */
  env?: NodeJS.ProcessEnv;
}

import type { FileChange, PushOutcome } from './ports.js';

export type { FileChange, PushOutcome };

export interface CommitInfo {
  sha: string;
  subject: string;
  /** the message after the subject, trailers included. */
  body: string;
  /** "Name <email>" */
  author: string;
  /** strict ISO 8601 author date */
  date: string;
  /** trailer key -> value; when a key repeats, the last one wins. */
  trailers: Record<string, string>;
}

/** A git failure that may pass by itself: network trouble, a timeout. */
export class GitTransientError extends TransientError {
  override name = 'GitTransientError';
  constructor(
    message: string,
    readonly command: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A git failure that needs a person: bad credentials, a missing branch, a refused push, a broken clone. */
export class GitPermanentError extends PermanentError {
  override name = 'GitPermanentError';
  constructor(
    message: string,
    readonly command: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The remote refused our credentials (or asked for some); retrying cannot help. */
export class GitAuthError extends GitPermanentError {
  override name = 'GitAuthError';
}

/** A change touches a file outside the policy's allowed paths; nothing was written. */
export class PathNotAllowedError extends PermanentError {
  override name = 'PathNotAllowedError';
  constructor(
    readonly paths: string[],
    readonly allowedPaths: readonly string[],
  ) {
    super(`refusing to write ${paths.join(', ')}: not among the allowed paths (${allowedPaths.join(', ') || 'none'})`);
  }
}

export type GitFailure = GitTransientError | GitPermanentError;

export interface RunGitOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** replaces secrets in anything that may end up in an error message; default strips URL credentials. */
  redact?: (text: string) => string;
  /** exit codes that are answers, not failures (e.g. 1 for `diff --quiet`). */
  okExitCodes?: readonly number[];
}

export interface GitResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

// Variables that point git at another repository or override the identity would make a
// promoter commit land somewhere else or under another name (e.g. when run from a git hook).
const INHERITED_GIT_VARIABLES = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
  'GIT_CEILING_DIRECTORIES',
  'GIT_AUTHOR_NAME',
  'GIT_AUTHOR_EMAIL',
  'GIT_COMMITTER_NAME',
  'GIT_COMMITTER_EMAIL',
  'GIT_CONFIG_COUNT',
  'GIT_CONFIG_PARAMETERS',
];

/** The environment every git command runs with: no system or user config, never a prompt, English messages. */
export function gitEnvironment(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of INHERITED_GIT_VARIABLES) delete env[name];
  env.GIT_CONFIG_NOSYSTEM = '1';
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_CONFIG_GLOBAL ??= '/dev/null';
  // Failure classification reads git's messages, so they must not be translated.
  env.LC_ALL = 'C';
  env.LANGUAGE = 'C';
  return env;
}

/**
 * Runs one git command (no shell). Product code goes through GitWorkspace.
 * Throws a GitTransientError / GitPermanentError whose message has been through `redact`.
 */
export function runGit(args: readonly string[], options: RunGitOptions): Promise<GitResult> {
  const redact = options.redact ?? stripCredentials;
  const command = redact(`git ${args.join(' ')}`);
  return new Promise((resolvePromise, reject) => {
    execFile(
      'git',
      args,
      {
        cwd: options.cwd,
        env: options.env,
        timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxBuffer: MAX_OUTPUT_BYTES,
        encoding: 'utf8',
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolvePromise({ stdout, stderr, exitCode: 0 });
          return;
        }
        const exitCode = typeof error.code === 'number' ? error.code : -1;
        if (exitCode >= 0 && options.okExitCodes?.includes(exitCode)) {
          resolvePromise({ stdout, stderr, exitCode });
          return;
        }
        reject(classifyFailure(command, error, stdout, stderr, redact, options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
      },
    );
  });
}

const AUTH_FAILURE =
  /authentication failed|could not read (username|password)|terminal prompts disabled|permission denied \(publickey|invalid username or password|http basic: access denied|the requested url returned error: 40[13]\b/i;
const NETWORK_FAILURE =
  /could not resolve host|connection (refused|reset|timed out)|operation timed out|failed to connect|network is unreachable|unable to access|early eof|the remote end hung up unexpectedly|rpc failed|temporary failure|the requested url returned error: (5\d\d|429)\b|\b(ssl|tls|gnutls)\b/i;

function classifyFailure(
  command: string,
  error: Error & { code?: unknown; killed?: boolean; signal?: unknown },
  stdout: string,
  stderr: string,
  redact: (text: string) => string,
  timeoutMs: number,
): GitFailure {
  // The cause is rebuilt from redacted text: execFile's own error repeats the command line, URL included.
  const detail = redact(summarize(stderr || stdout || error.message));
  const cause = new Error(detail);
  if (error.killed === true || error.signal === 'SIGTERM') {
    return new GitTransientError(`${command} timed out after ${timeoutMs} ms`, command, { cause });
  }
  if (error.code === 'ENOENT') {
    return new GitPermanentError(`${command} could not start: the git executable was not found on PATH`, command, { cause });
  }
  if (AUTH_FAILURE.test(stderr)) {
    return new GitAuthError(`${command} was refused by the remote (check the credentials): ${detail}`, command, { cause });
  }
  if (NETWORK_FAILURE.test(stderr)) {
    return new GitTransientError(`${command} could not reach the remote: ${detail}`, command, { cause });
  }
  return new GitPermanentError(`${command} failed: ${detail}`, command, { cause });
}

function summarize(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('hint:'));
  return lines.slice(-6).join(' | ').slice(0, 2000) || 'no output';
}

/** A URL with its user-info removed, so two spellings of the same remote compare equal. */
export function remoteWithoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

/** A redactor for one remote: strips user-info from URLs and blanks the secret wherever git repeats it. */
export function credentialRedactor(remoteUrl: string): (text: string) => string {
  const secrets = new Set<string>();
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/@]*)@/i.exec(remoteUrl);
  if (match) {
    const scheme = (match[1] ?? '').toLowerCase();
    const userInfo = match[2] ?? '';
    const colon = userInfo.indexOf(':');
    const user = colon >= 0 ? userInfo.slice(0, colon) : userInfo;
    const password = colon >= 0 ? userInfo.slice(colon + 1) : '';
    // For http(s), a bare user part is a token (https://TOKEN@host); for ssh it is just "git".
    const candidates = password !== '' ? [password] : scheme.startsWith('http') ? [user] : [];
    for (const secret of candidates) {
      if (secret.length < 4) continue;
      secrets.add(secret);
      try {
        secrets.add(decodeURIComponent(secret));
      } catch {
        // not percent-encoded: the raw form is enough
      }
    }
  }
  const ordered = [...secrets].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = stripCredentials(text);
    for (const secret of ordered) out = out.split(secret).join('***');
    return out;
  };
}

/** Repo-relative POSIX path, or undefined when it escapes the worktree or names git's own files. */
export function normalizeRepoPath(path: string): string | undefined {
  if (path === '' || isAbsolute(path) || path.includes('\\') || path.includes('\0')) return undefined;
  const normalized = posix.normalize(path);
  if (normalized === '.' || normalized.startsWith('../') || normalized === '..') return undefined;
  if (normalized === '.git' || normalized.startsWith('.git/')) return undefined;
  return normalized.replace(/\/$/, '');
}

interface Workspace {
  readonly dir: string;
  readonly branch: string;
  readonly remoteUrl: string;
}

/** A local clone of the GitOps branch. One instance per clone directory; calls are serialised. */
export class GitWorkspace {
  #head = '';
  #queue: Promise<unknown> = Promise.resolve();
  readonly #options: GitWorkspaceOptions & Workspace;
  readonly #env: NodeJS.ProcessEnv;
  readonly #redact: (text: string) => string;
  readonly #logger: Logger;

  private constructor(options: GitWorkspaceOptions) {
    this.#options = options;
    this.#env = gitEnvironment(options.env ?? process.env);
    this.#redact = credentialRedactor(options.remoteUrl);
    this.#logger = options.logger.child({ component: 'git', remote: this.#redact(options.remoteUrl), branch: options.branch });
  }

  /** Clones (or reuses) `dir` and refreshes it to origin/<branch>. */
  static async open(options: GitWorkspaceOptions): Promise<GitWorkspace> {
    if (!/^[A-Za-z0-9._/-]+$/.test(options.branch) || options.branch.startsWith('-')) {
      throw new PermanentError(`invalid branch name "${options.branch}"`);
    }
    const workspace = new GitWorkspace(options);
    await workspace.#prepareClone();
    await workspace.refresh();
    return workspace;
  }

  /** HEAD of the local clone after the last refresh or push. */
  get head(): string {
    return this.#head;
  }

  get dir(): string {
    return this.#options.dir;
  }

  /** Fetches origin/<branch> and hard-resets and cleans the clone to it; returns the HEAD sha. */
  refresh(): Promise<string> {
    return this.#exclusive(() => this.#refresh());
  }

  /** A file's content at the refreshed HEAD, or undefined when it does not exist. */
  readFile(path: string): Promise<string | undefined> {
    const relative = normalizeRepoPath(path);
    if (relative === undefined) {
      return Promise.reject(new PermanentError(`cannot read "${path}": not a path inside the repository`));
    }
    return this.#exclusive(async () => {
      try {
        return await readFile(join(this.#options.dir, relative), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') {
          return undefined;
        }
        throw new PermanentError(`cannot read ${relative} in ${this.#options.dir}`, { cause: error });
      }
    });
  }

  /**
   * Writes the files, commits them on top of the observed HEAD and pushes to the shared branch.
   * Committing on the observed HEAD (not a fresh fetch) is deliberate: if someone pushed since, the
   * push is rejected and the caller decides again on the new state instead of stacking a stale edit.
   */
  commitAndPush(change: FileChange): Promise<PushOutcome> {
    let paths: string[];
    try {
      paths = validateChange(change);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.#exclusive(() => this.#commitAndPush(change, paths));
  }

  /** Commits on the branch, newest first. */
  log(options: { max?: number; paths?: readonly string[] } = {}): Promise<CommitInfo[]> {
    return this.#exclusive(async () => {
      const max = Math.max(1, Math.floor(options.max ?? 50));
      const paths = (options.paths ?? []).map((p) => normalizeRepoPath(p) ?? p);
      const { stdout } = await this.#git(['log', `-n${max}`, `--format=${LOG_FORMAT}`, 'HEAD', '--', ...paths]);
      return parseLog(stdout);
    });
  }

  async #prepareClone(): Promise<void> {
    const { dir, remoteUrl, branch } = this.#options;
    if (existsSync(join(dir, '.git'))) {
      const { stdout } = await this.#git(['config', '--get', 'remote.origin.url'], { okExitCodes: [1] });
      const existing = stdout.trim();
      if (remoteWithoutCredentials(existing) !== remoteWithoutCredentials(remoteUrl)) {
        throw new PermanentError(
          `${dir} is a clone of ${this.#redact(existing) || 'no remote'}, not of ${this.#redact(remoteUrl)}; use another workspace directory`,
        );
      }
      // A rotated token lands in the existing clone's config instead of failing the next fetch.
      if (existing !== remoteUrl) await this.#git(['remote', 'set-url', 'origin', remoteUrl]);
      this.#logger.debug({ dir }, 'reusing git workspace');
      return;
    }
    await mkdir(dir, { recursive: true });
    if ((await readdir(dir)).length > 0) {
      throw new PermanentError(`${dir} exists, is not empty and is not a git clone; refusing to use it as a workspace`);
    }
    await this.#git(['init', '-q', `--initial-branch=${branch}`]);
    await this.#git(['remote', 'add', 'origin', remoteUrl]);
    this.#logger.debug({ dir }, 'created git workspace');
  }

  async #refresh(): Promise<string> {
    const { branch } = this.#options;
    try {
      await this.#git(['fetch', '--quiet', '--prune', '--no-tags', 'origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`]);
    } catch (error) {
      if (error instanceof GitPermanentError && /couldn't find remote ref/i.test(error.message)) {
        throw new GitPermanentError(`branch ${branch} does not exist on ${this.#redact(this.#options.remoteUrl)}`, error.command, {
          cause: error,
        });
      }
      throw error;
    }
    await this.#resetToOrigin();
    this.#logger.debug({ head: this.#head }, 'git workspace refreshed');
    return this.#head;
  }

  /** Back to the last fetched origin/<branch>, without touching the network. */
  async #resetToOrigin(): Promise<void> {
    const { branch } = this.#options;
    await this.#git(['checkout', '-q', '-f', '-B', branch, `refs/remotes/origin/${branch}`]);
    await this.#git(['clean', '-q', '-ffdx']);
    this.#head = (await this.#git(['rev-parse', 'HEAD'])).stdout.trim();
  }

  async #commitAndPush(change: FileChange, paths: string[]): Promise<PushOutcome> {
    const { dir, branch, identity } = this.#options;
    // Leftovers from a crashed run must not ride along in the commit.
    await this.#git(['reset', '-q', '--hard', 'HEAD']);
    await this.#git(['clean', '-q', '-ffdx']);
    const base = this.#head;

    try {
      for (const path of paths) await writeAtomically(join(dir, path), change.files[path] ?? '');
      await this.#git(['add', '--', ...paths]);
      const diff = await this.#git(['diff', '--cached', '--quiet', '--', ...paths], { okExitCodes: [1] });
      if (diff.exitCode === 0) {
        this.#logger.info({ head: base, files: paths }, 'wanted content already at HEAD');
        return { kind: 'no-op', sha: base };
      }
      const messageFile = join(dir, '.git', 'PROMOTER_COMMIT_MSG');
      await writeFile(messageFile, ensureTrailingNewline(change.message), 'utf8');
      await this.#git([
        '-c',
        `user.name=${identity.name}`,
        '-c',
        `user.email=${identity.email}`,
        '-c',
        'commit.gpgsign=false',
        'commit',
        '-q',
        '--no-verify',
        // keep lines starting with '#' (markdown in bodies) that the default cleanup would drop
        '--cleanup=whitespace',
        '-F',
        messageFile,
      ]);
      await rm(messageFile, { force: true });
    } catch (error) {
      await this.#recover();
      throw error;
    }

    const sha = (await this.#git(['rev-parse', 'HEAD'])).stdout.trim();
    let push: GitResult;
    try {
      push = await this.#git(['push', '--porcelain', '--no-verify', 'origin', `HEAD:refs/heads/${branch}`], { okExitCodes: [1] });
    } catch (error) {
      await this.#recover();
      throw error;
    }
    const status = parsePushStatus(push.stdout, branch);
    if (push.exitCode === 0 && status?.flag !== '!') {
      this.#head = sha;
      // The push normally updates the tracking ref; set it explicitly so a later local reset lands here.
      await this.#git(['update-ref', `refs/remotes/origin/${branch}`, sha]);
      this.#logger.info({ sha, parent: base, files: paths }, 'pushed commit');
      return { kind: 'pushed', sha };
    }
    if (status?.summary.includes('[rejected]')) {
      const reason = `push of ${sha.slice(0, 12)} to ${branch} rejected: ${status.summary} (the branch moved since ${base.slice(0, 12)})`;
      this.#logger.warn({ sha, base, reason: status.summary }, 'push rejected; resetting to the new origin tip');
      await this.#refresh();
      return { kind: 'rejected', reason };
    }
    await this.#recover();
    const detail = this.#redact(summarize(status?.summary ?? (push.stderr || push.stdout)));
    const command = `git push origin HEAD:refs/heads/${branch}`;
    if (AUTH_FAILURE.test(push.stderr)) {
      throw new GitAuthError(`${command} was refused by the remote (check the credentials): ${detail}`, command);
    }
    if (NETWORK_FAILURE.test(push.stderr)) {
      throw new GitTransientError(`${command} could not reach the remote: ${detail}`, command);
    }
    throw new GitPermanentError(`${command} failed: ${detail}`, command);
  }

  /** Drops anything half-made after a failure, so the next tick starts from origin again. */
  async #recover(): Promise<void> {
    try {
      await this.#resetToOrigin();
    } catch (error) {
      this.#logger.error({ err: error }, 'could not reset the git workspace after a failure');
    }
  }

  #git(args: readonly string[], extra: { okExitCodes?: readonly number[] } = {}): Promise<GitResult> {
    this.#logger.debug({ args: args.map(this.#redact) }, 'git');
    return runGit(args, {
      cwd: this.#options.dir,
      env: this.#env,
      timeoutMs: this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      redact: this.#redact,
      ...extra,
    });
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function validateChange(change: FileChange): string[] {
  const allowed = new Set(change.allowedPaths.map((p) => normalizeRepoPath(p)).filter((p): p is string => p !== undefined));
  const refused: string[] = [];
  const paths: string[] = [];
  for (const path of Object.keys(change.files)) {
    const normalized = normalizeRepoPath(path);
    if (normalized === undefined || !allowed.has(normalized)) refused.push(path);
    else paths.push(normalized);
  }
  if (refused.length > 0) throw new PathNotAllowedError(refused, change.allowedPaths);
  if (paths.length === 0) throw new PermanentError('a change must name at least one file');
  if (change.message.trim() === '') throw new PermanentError('a commit message must not be empty');
  return paths.sort();
}

async function writeAtomically(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.promoter-${randomBytes(6).toString('hex')}.tmp`);
  await writeFile(temp, content, 'utf8');
  await rename(temp, path);
}

function ensureTrailingNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

interface PushStatus {
  flag: string;
  summary: string;
}

/** One ref line of `git push --porcelain`: "<flag>\t<from>:<to>\t<summary>". */
function parsePushStatus(stdout: string, branch: string): PushStatus | undefined {
  for (const line of stdout.split('\n')) {
    const [flag, refs, summary] = line.split('\t');
    if (flag !== undefined && refs?.endsWith(`:refs/heads/${branch}`)) return { flag, summary: summary ?? '' };
  }
  return undefined;
}

const FIELD = '%x1f';
const RECORD = '%x1e';
const LOG_FORMAT = ['%H', '%s', '%b', '%an <%ae>', '%aI', '%(trailers:only,unfold)'].join(FIELD) + RECORD;

function parseLog(stdout: string): CommitInfo[] {
  return stdout
    .split('\x1e')
    .map((record) => record.replace(/^\n/, ''))
    .filter((record) => record.trim() !== '')
    .map((record) => {
      const [sha = '', subject = '', body = '', author = '', date = '', trailerText = ''] = record.split('\x1f');
      return { sha, subject, body: body.trim(), author, date, trailers: parseTrailers(trailerText) };
    });
}

export function parseTrailers(text: string): Record<string, string> {
  const trailers: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    trailers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return trailers;
}
