// The promoter's local clone of the GitOps branch: refreshed to the remote, read at HEAD, and the
// place single commits are made and pushed from. Every git command goes through git.ts.
import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { PermanentError } from '../errors.js';
import type { Logger } from '../logger.js';
import { containedPath, type CheckedDirectories } from './contained-path.js';
import {
  GitAuthError,
  GitPermanentError,
  credentialEnvironment,
  credentialRedactor,
  gitEnvironment,
  isLockFailure,
  splitCredentials,
  readPushResult,
  remoteWithoutCredentials,
  runGit,
  summarize,
  type GitIdentity,
  type GitResult,
} from './git.js';
import { removeStaleLocks } from './git-locks.js';
import type { FileChange, RepoReader } from './ports.js';
import { matchRepoFiles } from './repo-files.js';

export interface GitWorkspaceOptions {
  /** a path to a bare repo, file://, or https:// (possibly with a token, which never reaches a log or an error). */
  remoteUrl: string;
  branch: string;
  /** the local clone: created if missing, reused if it already is a clone of the same remote. */
  dir: string;
  /** the committer (and the author, unless a change names a person). */
  identity: GitIdentity;
  logger: Logger;
  /** per git command; default 60000. */
  timeoutMs?: number;
  /** base environment (default process.env); user and system git config are always shut out unless GIT_CONFIG_GLOBAL is given. */
  env?: NodeJS.ProcessEnv;
  /** where no process table can show a lock's owner, a lock this old counts as stale; default 10 min. */
  maxLockAgeMs?: number;
  /** a bigger file is refused with ManifestTooLargeError before it is read (default DEFAULT_MAX_MANIFEST_BYTES). */
  maxFileBytes?: number;
}

/**
 * 2 MiB: above the largest object Kubernetes stores (etcd's 1.5 MiB request limit), so no file Argo
 * CD could apply is refused, and far below what takes the promoter past its 512Mi memory limit
 * (a 50 MB manifest took it to 1 GB).
 */
export const DEFAULT_MAX_MANIFEST_BYTES = 2 * 1024 * 1024;

/** A file in the GitOps repository is over the size cap: it is not read, so its canary holds and nothing is committed. */
export class ManifestTooLargeError extends PermanentError {
  override name = 'ManifestTooLargeError';
  constructor(
    readonly path: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`${path} is ${bytes} bytes, over the manifest size cap of ${maxBytes} bytes (git.maxManifestBytes); not read: the canary holds and nothing is committed`);
  }
}

// Failures that are about the remote, not the local clone: re-cloning cannot help them.
const REMOTE_PROBLEM = /does not appear to be a git repository|could not read from remote|repository not found|remote error|couldn't find remote ref|does not exist on|unable to access|protocol error/i;

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

/** What a push to a branch came to. `refused`: the remote's rules declined it (a protected branch, a hook). */
export type WorkspacePushOutcome =
  | { kind: 'pushed'; sha: string }
  | { kind: 'no-op'; sha: string }
  | { kind: 'rejected'; reason: string }
  | { kind: 'refused'; reason: string };

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

const DEFAULT_TIMEOUT_MS = 60_000;
const BRANCH_NAME = /^[A-Za-z0-9._/-]+$/;

/** Repo-relative POSIX path, or undefined when it escapes the worktree or names git's own files. */
export function normalizeRepoPath(path: string): string | undefined {
  if (path === '' || isAbsolute(path) || path.includes('\\') || path.includes('\0')) return undefined;
  const normalized = posix.normalize(path);
  if (normalized === '.' || normalized.startsWith('../') || normalized === '..') return undefined;
  if (normalized === '.git' || normalized.startsWith('.git/')) return undefined;
  return normalized.replace(/\/$/, '');
}

function checkBranch(branch: string): void {
  if (!BRANCH_NAME.test(branch) || branch.startsWith('-') || branch.includes('..')) throw new PermanentError(`invalid branch name "${branch}"`);
}

/** A local clone of the GitOps branch. One instance per clone directory; calls are serialised. */
export class GitWorkspace implements RepoReader {
  #head = '';
  /** the commit the work tree's files mirror (reads come from them); undefined: reset it at the next refresh. */
  #synced: string | undefined;
  /**
   * The last word from the remote was that the branch is at #head (our own push landed, or a
   * refresh found nothing new): the next refresh asks `ls-remote` first. After the remote moved
   * under us (someone else's commit, a lost race) more moves are likely: it fetches at once.
   */
  #remoteQuiet = false;
  /** refreshes since git's own maintenance last ran (fetch runs it only every MAINTENANCE_EVERY). */
  #fetches = 0;
  #queue: Promise<unknown> = Promise.resolve();
  /** reads in flight since the last exclusive operation was queued. */
  readonly #readers = new Set<Promise<unknown>>();
  /** directories of the work tree found plain (not symlinks) since the tree last changed. */
  #checkedDirectories: CheckedDirectories = { plain: new Set() };
  readonly #options: GitWorkspaceOptions;
  readonly #env: NodeJS.ProcessEnv;
  /** the remote without credentials: the only form written to .git/config or put in an argv. */
  readonly #remoteUrl: string;
  readonly #redact: (text: string) => string;
  readonly #logger: Logger;

  private constructor(options: GitWorkspaceOptions) {
    this.#options = options;
    // A token in the URL is handed to git by an in-memory credential helper, never by the URL.
    const { url, credentials } = splitCredentials(options.remoteUrl);
    this.#remoteUrl = url;
    this.#env = credentialEnvironment(gitEnvironment(options.env ?? process.env), credentials);
    this.#redact = credentialRedactor(options.remoteUrl);
    this.#logger = options.logger.child({ component: 'git', remote: this.#redact(options.remoteUrl), branch: options.branch });
  }

  /** Clones (or reuses) `dir` and refreshes it to origin/<branch>. */
  static async open(options: GitWorkspaceOptions): Promise<GitWorkspace> {
    checkBranch(options.branch);
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

  get branch(): string {
    return this.#options.branch;
  }

  /** Fetches origin/<branch>; the work tree is reset and cleaned to it when it does not hold it already. Returns the sha. */
  refresh(): Promise<string> {
    return this.#exclusive(() => this.#refresh());
  }

  /** A file's content at the refreshed HEAD, or undefined when it does not exist. */
  readFile(path: string): Promise<string | undefined> {
    const relative = normalizeRepoPath(path);
    if (relative === undefined) {
      return Promise.reject(new PermanentError(`cannot read "${path}": not a path inside the repository`));
    }
    return this.#shared(async () => {
      try {
        // A committed symlink must not make the promoter read (and later push) a file outside the clone.
        const path = containedPath(this.#options.dir, relative, this.#checkedDirectories);
        const { size } = await stat(path);
        const maxBytes = this.#options.maxFileBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
        if (size > maxBytes) throw new ManifestTooLargeError(relative, size, maxBytes);
        return await readFile(path, 'utf8');
      } catch (error) {
        if (error instanceof PermanentError) throw error;
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') {
          return undefined;
        }
        throw new PermanentError(`cannot read ${relative} in ${this.#options.dir}`, { cause: error });
      }
    });
  }

  /** Repo-relative paths matching a glob of `*` segments at HEAD. */
  listFiles(pattern: string): Promise<string[]> {
    return this.#shared(() => Promise.resolve(matchRepoFiles(this.#options.dir, pattern)));
  }

  /**
   * Writes the files, commits them on top of the observed HEAD and pushes to the shared branch.
   * Committing on the observed HEAD (not a fresh fetch) is deliberate: if someone pushed since, the
   * push is rejected and the caller decides again on the new state instead of stacking a stale edit.
   */
  commitAndPush(change: FileChange): Promise<WorkspacePushOutcome> {
    let paths: string[];
    try {
      paths = validateChange(change);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.#exclusive(async () => {
      const base = this.#head;
      const made = await this.#commitOnHead(change, paths);
      if (made === undefined) return { kind: 'no-op', sha: base };
      const outcome = await this.#pushHead(made, base, change);
      await this.#mergeSmallPacks();
      return outcome;
    });
  }

  /**
   * Several changes (no two touching the same file), each its own commit, chained on the observed
   * HEAD in one `git fast-import` and sent in ONE push: a tick that decides for 25 canaries spawns 2
   * git processes, not 50. All or nothing: a lost race rejects them all and the caller decides
   * again on the new HEAD. A change whose files already hold its content makes no commit (a no-op).
   * `each[i]` is change i's outcome.
   */
  commitAllAndPush(changes: readonly FileChange[]): Promise<Exclude<WorkspacePushOutcome, { kind: 'pushed' | 'no-op' }> | { kind: 'pushed-all'; each: Extract<WorkspacePushOutcome, { kind: 'pushed' | 'no-op' }>[] }> {
    let pathsOf: string[][];
    try {
      pathsOf = changes.map(validateChange);
      const seen = new Set<string>();
      for (const path of pathsOf.flat()) {
        if (seen.has(path)) throw new PermanentError(`two changes of one push write ${path}; they must be decided one after the other`);
        seen.add(path);
      }
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.#exclusive(async () => {
      const { dir, identity } = this.#options;
      const base = this.#head;
      if (this.#synced !== base) await this.#resetToOrigin();
      // The work tree mirrors `base` exactly (just checked out, or written from our own push).
      const real: number[] = [];
      for (const [i, change] of changes.entries()) {
        let same = true;
        for (const path of pathsOf[i] ?? []) {
          const file = containedPath(dir, path);
          const current = await readFile(file, 'utf8').catch(() => undefined);
          if (current !== change.files[path]) same = false;
        }
        if (!same) real.push(i);
      }
      const each: Extract<WorkspacePushOutcome, { kind: 'pushed' | 'no-op' }>[] = changes.map(() => ({ kind: 'no-op', sha: base }));
      if (real.length === 0) return { kind: 'pushed-all', each };
      const committer = identityLine(identity);
      const stream: string[] = ['feature done'];
      real.forEach((i, k) => stream.push(...fastImportCommit(changes[i]!, pathsOf[i] ?? [], `:${k + 1}`, k === 0 ? base : `:${k}`, committer)));
      real.forEach((_, k) => stream.push(`get-mark :${k + 1}`));
      stream.push('done', '');
      const { stdout } = await this.#fastImport(stream.join('\n'));
      const made = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
      if (made.length !== real.length || !made.every((sha) => /^[0-9a-f]{40,64}$/.test(sha))) {
        throw new GitPermanentError(`git fast-import did not name the ${real.length} commits it wrote: ${summarize(stdout)}`, 'git fast-import');
      }
      real.forEach((i, k) => (each[i] = { kind: 'pushed', sha: made[k]! }));
      const tip = made.at(-1)!;
      const merged: FileChange = { files: Object.assign({}, ...real.map((i) => changes[i]!.files)) as Record<string, string>, message: 'batch', allowedPaths: real.flatMap((i) => changes[i]!.allowedPaths) };
      const outcome = await this.#pushHead(tip, base, merged);
      await this.#mergeSmallPacks();
      if (outcome.kind === 'pushed') return { kind: 'pushed-all', each };
      if (outcome.kind === 'no-op') throw new GitPermanentError('a push of new commits reported nothing to push', 'git push');
      return outcome;
    });
  }

  /**
   * Does `descendant` contain `ancestor` (git merge-base --is-ancestor)? 'unknown' when `descendant`
   * is not in the clone (pushed after the last fetch): the next tick knows.
   */
  contains(descendant: string, ancestor: string): Promise<boolean | 'unknown'> {
    if (![descendant, ancestor].every((sha) => /^[0-9a-f]{7,64}$/.test(sha))) return Promise.resolve('unknown');
    if (descendant === ancestor) return Promise.resolve(true);
    return this.#exclusive(async () => {
      const known = await this.#git(['cat-file', '-e', `${descendant}^{commit}`], { okExitCodes: [1, 128] });
      if (known.exitCode !== 0) return 'unknown';
      const { exitCode } = await this.#git(['merge-base', '--is-ancestor', ancestor, descendant], { okExitCodes: [1] });
      return exitCode === 0;
    });
  }

  /** The newest commit at HEAD that touched any of `paths` (the commit a canary's current step came from). */
  lastCommitTouching(paths: readonly string[]): Promise<string | undefined> {
    return this.#exclusive(async () => {
      const relative = paths.map((p) => normalizeRepoPath(p) ?? p);
      const { stdout } = await this.#git(['log', '-1', '--format=%H', this.#head || 'HEAD', '--', ...relative]);
      return stdout.trim() || undefined;
    });
  }

  /**
   * For each set of paths, the newest commit at HEAD that touched any of them: what
   * `lastCommitTouching` answers for one set, for every set in ONE `git log` (a tick used to spawn
   * one per canary). The walk stops as soon as every path has been seen. Merges count when they
   * changed a path against every parent (`-c`), as the per-set log's history simplification does.
   */
  lastCommitsTouching(pathSets: readonly (readonly string[])[]): Promise<(string | undefined)[]> {
    return this.#exclusive(async () => {
      const sets = pathSets.map((paths) => paths.map((p) => normalizeRepoPath(p) ?? p));
      const wanted = new Set(sets.flat());
      const found = new Map<string, number>();
      const commits: string[] = [];
      if (wanted.size > 0) {
        let partial = '';
        const take = (line: string): void => {
          if (line.startsWith('\0')) commits.push(line.slice(1));
          else if (line !== '' && commits.length > 0 && wanted.has(line) && !found.has(line)) found.set(line, commits.length - 1);
        };
        // Paths on stdin (after `--`), not in argv: a thousand canaries name three thousand files.
        await this.#git(['-c', 'core.quotePath=false', 'log', '-c', '--name-only', '--format=%x00%H', '--stdin'], {
          input: `${this.#head || 'HEAD'}\n--\n${[...wanted].join('\n')}\n`,
          onStdout: (chunk) => {
            const lines = (partial + chunk).split('\n');
            partial = lines.pop() ?? '';
            for (const line of lines) take(line);
            return found.size === wanted.size;
          },
        });
        take(partial);
      }
      return sets.map((paths) => {
        const newest = Math.min(...paths.map((p) => found.get(p) ?? Infinity));
        return Number.isFinite(newest) ? commits[newest] : undefined;
      });
    });
  }

  /**
   * Which of `ancestors` `descendant` contains, in one `git rev-list` that stops once it has seen
   * them all ('unknown' when `descendant` is not in the clone: pushed after the last fetch).
   */
  containsAll(descendant: string, ancestors: readonly string[]): Promise<Set<string> | 'unknown'> {
    const valid = (sha: string) => /^[0-9a-f]{40,64}$/.test(sha);
    if (!valid(descendant)) return Promise.resolve('unknown');
    const wanted = new Set(ancestors.filter(valid));
    if (wanted.size === 0) return Promise.resolve(new Set());
    return this.#exclusive(async () => {
      const seen = new Set<string>();
      let partial = '';
      const take = (line: string): void => {
        if (wanted.has(line)) seen.add(line);
      };
      // A descendant the clone does not have makes rev-list fail (128): 'unknown', as `contains` says.
      const { exitCode } = await this.#git(['rev-list', `${descendant}^{commit}`, '--'], {
        okExitCodes: [128],
        onStdout: (chunk) => {
          const lines = (partial + chunk).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) take(line);
          return seen.size === wanted.size;
        },
      });
      if (exitCode !== 0) return 'unknown';
      take(partial);
      return seen;
    });
  }

  /**
   * Pull-request delivery: the change committed on the observed base tip and pushed to `branch` (the
   * bot's own), with --force-with-lease on the sha last seen there (none: the branch must not exist).
   * The clone stays on the base branch. `rejected`: someone else moved the branch since.
   */
  pushToBranch(change: FileChange, branch: string, lease: string | undefined): Promise<WorkspacePushOutcome> {
    let paths: string[];
    try {
      checkBranch(branch);
      paths = validateChange(change);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.#exclusive(async () => {
      const base = this.#head;
      const sha = await this.#commitOnHead(change, paths);
      if (sha === undefined) return { kind: 'no-op', sha: base };
      const ref = `refs/heads/${branch}`;
      // Nothing local to undo afterwards: the commit sits on a private ref, the work tree is untouched.
      const push = await this.#git(['push', '--porcelain', '--no-verify', `--force-with-lease=${ref}:${lease ?? ''}`, 'origin', `${sha}:${ref}`], { okExitCodes: [1] });
      const result = readPushResult(push, ref, `git push --force-with-lease origin ${ref}`, this.#redact);
      if (result.kind === 'pushed') return { kind: 'pushed', sha };
      if (result.kind === 'rejected') return { kind: 'rejected', reason: `${branch} moved since ${lease?.slice(0, 12) ?? 'it was found absent'}: ${result.summary}` };
      return { kind: 'refused', reason: `push to ${branch} refused by the remote: ${result.summary}` };
    });
  }

  /** The sha of a branch on the remote, or undefined when it does not exist. */
  remoteBranchSha(branch: string): Promise<string | undefined> {
    checkBranch(branch);
    return this.#exclusive(async () => {
      const { stdout } = await this.#git(['ls-remote', 'origin', `refs/heads/${branch}`]);
      return stdout.split(/\s/)[0] || undefined;
    });
  }

  /** The newest commit at HEAD whose diff of `path` adds or removes a line `image: <image>` (the one that introduced it). */
  introducingCommit(path: string, image: string): Promise<string | undefined> {
    const relative = normalizeRepoPath(path);
    if (relative === undefined) return Promise.reject(new PermanentError(`"${path}" is not a path inside the repository`));
    const pattern = `image: ${image.replace(/[.[\]*^$\\]/g, '\\$&')}$`;
    return this.#exclusive(async () => {
      const { stdout } = await this.#git(['log', '-n1', '--format=%H', `-G${pattern}`, this.#head || 'HEAD', '--', relative]);
      return stdout.trim() || undefined;
    });
  }

  /** Commits on the branch, newest first (the status page's history reads their trailers). */
  log(options: { max?: number; paths?: readonly string[] } = {}): Promise<CommitInfo[]> {
    return this.#exclusive(async () => {
      const max = Math.max(1, Math.floor(options.max ?? 50));
      const paths = (options.paths ?? []).map((p) => normalizeRepoPath(p) ?? p);
      const { stdout } = await this.#git(['log', `-n${max}`, `--format=${LOG_FORMAT}`, this.#head || 'HEAD', '--', ...paths]);
      return parseLog(stdout);
    });
  }

  async #prepareClone(): Promise<void> {
    const { dir, branch } = this.#options;
    const remoteUrl = this.#remoteUrl;
    if (existsSync(join(dir, '.git'))) {
      // A restart after a kill -9 finds the killed git's locks: they would fail every command.
      this.#clearStaleLocks('restart');
      let existing = '';
      let broken: string | undefined;
      try {
        // A broken HEAD or config makes git stop seeing the clone (it reads no remote at all).
        const gitDir = (await this.#git(['rev-parse', '--absolute-git-dir'])).stdout.trim();
        if (gitDir !== realpathSync(join(dir, '.git'))) broken = `git sees ${gitDir} instead of the clone's own .git`;
        else existing = (await this.#git(['config', '--get', 'remote.origin.url'], { okExitCodes: [1] })).stdout.trim();
        if (broken === undefined && existing === '') broken = 'no origin remote';
      } catch (error) {
        if (!(error instanceof GitPermanentError)) throw error;
        broken = error.message;
      }
      if (broken !== undefined) {
        this.#logger.warn({ dir, reason: broken }, 'the git workspace is unreadable; re-cloning it');
        await this.#rebuild();
        return;
      }
      if (remoteWithoutCredentials(existing) !== remoteWithoutCredentials(remoteUrl)) {
        throw new PermanentError(
          `${dir} is a clone of ${this.#redact(existing) || 'no remote'}, not of ${this.#redact(remoteUrl)}; use another workspace directory`,
        );
      }
      // A clone made by an older promoter kept the token in its config: the bare URL replaces it.
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

  /** The clone is a cache of the remote: a corrupt one is removed and made again (the next fetch fills it). */
  async #rebuild(): Promise<void> {
    const { dir, branch } = this.#options;
    // Nothing of the old clone is known to be there any more: the next refresh fetches and checks out.
    this.#synced = undefined;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await this.#git(['init', '-q', `--initial-branch=${branch}`]);
    await this.#git(['remote', 'add', 'origin', this.#remoteUrl]);
  }

  /** Removes lock files no live git holds (see git-locks.ts); logs what it removed. */
  #clearStaleLocks(when: string): boolean {
    const removed = removeStaleLocks(this.#options.dir, this.#options.maxLockAgeMs === undefined ? {} : { maxAgeMs: this.#options.maxLockAgeMs });
    if (removed.length > 0) {
      this.#logger.warn({ when, locks: removed.map((l) => ({ path: l.path, ageSeconds: Math.round(l.ageMs / 1000) })) }, 'removed stale git locks left by a killed git');
    }
    return removed.length > 0;
  }

  async #refresh(): Promise<string> {
    try {
      return await this.#refreshOnce();
    } catch (error) {
      // A broken clone (a kill -9 mid-write, a truncated object, a garbage index) is rebuilt once;
      // an error about the remote (auth, network, a missing branch) is not the clone's fault.
      // A lock a live git holds is not corruption either: removing the clone under it would be worse.
      if (!(error instanceof GitPermanentError) || error instanceof GitAuthError || isLockFailure(error) || REMOTE_PROBLEM.test(error.message)) throw error;
      this.#logger.warn({ err: error.message }, 'git workspace looks corrupt; re-cloning it');
      await this.#rebuild();
      return this.#refreshOnce();
    }
  }

  async #refreshOnce(): Promise<string> {
    const { branch } = this.#options;
    // Most refreshes find the remote where the clone already is (nothing new, or our own push): the
    // ref advertisement alone says so, and `ls-remote` is that without fetch's connectivity check
    // (a `rev-list` of its own), ref transaction and the `rev-parse` after it. A tip the clone does
    // not hold, or a clone not known to be intact (#synced unset), takes the fetch below.
    if (this.#remoteQuiet && this.#synced === this.#head) {
      const advertised = await this.#remoteTip();
      if (advertised !== undefined && advertised === this.#head) {
        this.#logger.debug({ head: this.#head }, 'git workspace refreshed (remote unchanged)');
        return this.#head;
      }
    }
    const before = this.#head;
    this.#remoteQuiet = false;
    try {
      // git's auto-maintenance is a process of its own after every fetch; once in a while is enough
      // to keep loose objects (a few per promoter commit) packed.
      const maintenance = this.#fetches++ % MAINTENANCE_EVERY === 0 ? [] : ['--no-auto-maintenance'];
      await this.#git(['fetch', '--quiet', '--prune', '--no-tags', '--no-write-fetch-head', ...maintenance, 'origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`]);
    } catch (error) {
      if (error instanceof GitPermanentError && /couldn't find remote ref/i.test(error.message)) {
        throw new GitPermanentError(`branch ${branch} does not exist on ${this.#redact(this.#remoteUrl)}`, error.command, {
          cause: error,
        });
      }
      throw error;
    }
    const tip = (await this.#git(['rev-parse', '--verify', '-q', `refs/remotes/origin/${branch}^{commit}`])).stdout.trim();
    // The work tree already holds this commit (our own push, or nothing new): no checkout needed.
    if (tip !== this.#synced) await this.#resetToOrigin();
    this.#head = tip;
    this.#remoteQuiet = tip === before;
    this.#logger.debug({ head: this.#head }, 'git workspace refreshed');
    return this.#head;
  }

  /** The sha origin advertises for the branch, or undefined when it lists none (the fetch then says why). */
  async #remoteTip(): Promise<string | undefined> {
    const ref = `refs/heads/${this.#options.branch}`;
    const { stdout } = await this.#git(['ls-remote', 'origin', ref]);
    for (const line of stdout.split('\n')) {
      const [sha, name] = line.split('\t');
      // ls-remote matches patterns by their tail (refs/x/refs/heads/main matches too): exact name only.
      if (name?.trim() === ref && sha !== undefined && /^[0-9a-f]{40,64}$/.test(sha)) return sha;
    }
    return undefined;
  }

  /** Back to the last fetched origin/<branch>, without touching the network. */
  async #resetToOrigin(): Promise<void> {
    const { branch } = this.#options;
    this.#synced = undefined;
    await this.#git(['checkout', '-q', '-f', '-B', branch, `refs/remotes/origin/${branch}`]);
    await this.#git(['clean', '-q', '-ffdx']);
    this.#head = (await this.#git(['rev-parse', 'HEAD'])).stdout.trim();
    this.#synced = this.#head;
  }

  /**
   * Commits the change on the observed HEAD with one `git fast-import`: the blobs, trees and commit
   * are written from the change alone (on top of #head, never from the work tree, so no leftover
   * of a crashed run can ride along) and the commit lands on a private ref only the next push
   * reads. Undefined when the content is already there. The same process lists each path at the
   * base and in the new commit: equal blobs mean there is nothing to commit.
   */
  async #commitOnHead(change: FileChange, paths: string[]): Promise<string | undefined> {
    const { dir, identity } = this.#options;
    const base = this.#head;
    if (this.#synced !== base) await this.#resetToOrigin();
    // Checked before anything is written: a symlinked file or directory would send the write outside the clone.
    for (const path of paths) containedPath(dir, path);
    const committer = identityLine(identity);
    const stream: string[] = ['feature done'];
    for (const path of paths) stream.push(`ls ${base} ${quotePath(path)}`);
    stream.push(...fastImportCommit(change, paths, ':1', base, committer));
    for (const path of paths) stream.push(`ls :1 ${quotePath(path)}`);
    stream.push('get-mark :1', 'done', '');
    const { stdout } = await this.#fastImport(stream.join('\n'));
    const lines = stdout.split('\n').filter((line) => line !== '');
    const before = lines.slice(0, paths.length).map(lsEntry);
    const after = lines.slice(paths.length, 2 * paths.length).map(lsEntry);
    const sha = lines[2 * paths.length]?.trim() ?? '';
    if (!/^[0-9a-f]{40,64}$/.test(sha)) throw new GitPermanentError(`git fast-import did not name the commit it wrote: ${summarize(stdout)}`, 'git fast-import');
    if (before.every((entry, i) => entry === after[i])) {
      this.#logger.info({ head: base, files: paths }, 'wanted content already at HEAD');
      return undefined;
    }
    return sha;
  }

  /**
   * One `git fast-import` of `stream`; stdout holds its answers (`ls`, `get-mark`).
   * unpackLimit=0: the few objects stay one small pack instead of a spawned unpack-objects
   * (#mergeSmallPacks keeps their number down). core.fsync=none: what a plain `git commit` does
   * for its loose objects (git fsyncs packs, not loose objects, by default). The commit's durable
   * copy is the remote's once pushed; before that it is on a private ref only a push reads, and a
   * clone torn by a crash is rebuilt from the remote (#refresh). The fsync of the pack and its
   * index was about a quarter of fast-import's time (4 of 15 ms), more on a busy disk.
   */
  #fastImport(stream: string): Promise<GitResult> {
    return this.#git(['-c', 'fastimport.unpackLimit=0', '-c', 'core.fsync=none', 'fast-import', '--quiet', '--date-format=now', '--force', '--done'], { input: stream });
  }

  /**
   * Every commit leaves a small pack, and git looks objects up pack by pack: with 160 packs a push
   * took about 20 ms more and a fetch twice as long as with one. Past MAX_SMALL_PACKS they are rolled into
   * one (`repack --geometric`: loose objects and the small packs only; the big pack a clone starts
   * with is left alone, so the cost does not grow with the repository). Maintenance, not the
   * commit: a failure is logged and the next one tries again.
   */
  async #mergeSmallPacks(): Promise<void> {
    let packs: number;
    try {
      packs = (await readdir(join(this.#options.dir, '.git', 'objects', 'pack'))).filter((name) => name.endsWith('.pack')).length;
    } catch {
      return;
    }
    if (packs <= MAX_SMALL_PACKS) return;
    try {
      await this.#git(['repack', '-d', '-l', '-q', '--geometric=2']);
    } catch (error) {
      this.#logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'could not merge the small packs of the git workspace; trying again after the next commit');
    }
  }

  /** After a push the work tree takes the change too, so reads (and the next refresh) need no checkout. */
  async #syncWorkTree(change: FileChange, sha: string): Promise<void> {
    try {
      for (const path of Object.keys(change.files)) {
        const relative = normalizeRepoPath(path);
        if (relative !== undefined) await writeAtomically(containedPath(this.#options.dir, relative), change.files[path] ?? '');
      }
      this.#synced = sha;
    } catch (error) {
      // The commit is pushed; the work tree is only a cache of it: the next refresh checks it out.
      this.#synced = undefined;
      this.#logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'could not write the pushed change to the work tree; the next refresh checks it out');
    }
  }

  async #pushHead(sha: string, base: string, change: FileChange): Promise<WorkspacePushOutcome> {
    const { branch } = this.#options;
    const ref = `refs/heads/${branch}`;
    // A failed push leaves nothing local to undo: the commit sits on a private ref, the work tree is untouched.
    const push = await this.#git(['push', '--porcelain', '--no-verify', 'origin', `${sha}:${ref}`], { okExitCodes: [1] });
    const result = readPushResult(push, ref, `git push origin HEAD:${ref}`, this.#redact);
    if (result.kind === 'pushed') {
      // The push itself moved refs/remotes/origin/<branch> (origin's fetch refspec maps it).
      this.#head = sha;
      this.#remoteQuiet = true;
      await this.#syncWorkTree(change, sha);
      this.#logger.info({ sha, parent: base }, 'pushed commit');
      return { kind: 'pushed', sha };
    }
    if (result.kind === 'rejected') {
      const reason = `push of ${sha.slice(0, 12)} to ${branch} rejected: ${result.summary} (the branch moved since ${base.slice(0, 12)})`;
      this.#logger.warn({ sha, base, reason: result.summary }, 'push rejected; resetting to the new origin tip');
      this.#remoteQuiet = false;
      await this.#refresh();
      return { kind: 'rejected', reason };
    }
    this.#logger.warn({ sha, base, reason: result.summary }, 'push refused by the remote');
    return { kind: 'refused', reason: `push of ${sha.slice(0, 12)} to ${branch} refused by the remote: ${result.summary}` };
  }

  async #git(args: readonly string[], extra: { okExitCodes?: readonly number[]; input?: string; onStdout?: (chunk: string) => boolean } = {}): Promise<GitResult> {
    this.#logger.debug({ args: args.map(this.#redact) }, 'git');
    const run = (): Promise<GitResult> =>
      runGit(args, {
        cwd: this.#options.dir,
        env: this.#env,
        timeoutMs: this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        redact: this.#redact,
        ...extra,
      });
    try {
      try {
        return await run();
      } catch (error) {
        // Commands are serialised, so a lock nobody live holds was left by a killed git: remove it, once.
        if (isLockFailure(error) && this.#clearStaleLocks(args[0] ?? 'git')) return await run();
        throw error;
      }
    } catch (error) {
      // A failed git may mean a damaged clone (lost objects, a torn pack): the next refresh must not
      // trust it, so it fetches (which fetches missing objects again) and checks out instead of
      // taking the remote's unchanged tip as proof that the clone still holds it.
      this.#synced = undefined;
      throw error;
    }
  }

  /** Anything but a read may change the work tree: it waits for the reads before it, and afterwards the directories checked for symlinks are checked again. */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const exclusive = async (): Promise<T> => {
      try {
        return await work();
      } finally {
        this.#checkedDirectories = { plain: new Set() };
      }
    };
    const before = Promise.all([this.#queue, ...this.#readers]);
    this.#readers.clear();
    const run = before.then(exclusive, exclusive);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * A read leaves the work tree as it was: reads run side by side (a tick reads thousands of files),
   * each after every operation queued before it, and before every one queued after it.
   */
  #shared<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    const settled = run.catch(() => undefined);
    this.#readers.add(settled);
    void settled.then(() => this.#readers.delete(settled));
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

/** git's own maintenance (packing loose objects) runs with one fetch in this many. */
const MAINTENANCE_EVERY = 50;

/** More packs than this in the clone (one per promoter commit) are merged after the next push. */
const MAX_SMALL_PACKS = 24;

/** The fast-import commands of one commit of `change` on the private ref, marked `mark`, on top of `from` (a sha or a mark). */
function fastImportCommit(change: FileChange, paths: readonly string[], mark: string, from: string, committer: string): string[] {
  const lines = ['commit refs/promoter/commit', `mark ${mark}`];
  if (change.author) lines.push(`author ${identityLine(change.author)} now`);
  lines.push(`committer ${committer} now`, fastImportData(cleanupMessage(change.message)), `from ${from}`);
  for (const path of paths) lines.push(`M 100644 inline ${quotePath(path)}`, fastImportData(change.files[path] ?? ''));
  lines.push('');
  return lines;
}

/** "Name <email>" for a fast-import author or committer line; refuses what would break the line. */
function identityLine(person: GitIdentity): string {
  if (/[<>\n]/.test(person.name + person.email) || person.name.trim() === '' || person.email.trim() === '') {
    throw new PermanentError(`invalid author "${person.name} <${person.email}>"`);
  }
  return `${person.name} <${person.email}>`;
}

/** A path in fast-import's C-style quotes, so spaces, quotes or a newline cannot end the command. */
function quotePath(path: string): string {
  return `"${path.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n')}"`;
}

/** A fast-import `data` block: the exact byte count, then the bytes. */
function fastImportData(text: string): string {
  return `data ${Buffer.byteLength(text, 'utf8')}\n${text}`;
}

/**
 * The message as `git commit --cleanup=whitespace` stores it: trailing spaces cut, runs of empty
 * lines made one, none at the start or the end. Lines starting with '#' (markdown) are kept.
 */
export function cleanupMessage(message: string): string {
  const lines: string[] = [];
  for (const line of message.split('\n').map((l) => l.replace(/\s+$/, ''))) {
    if (line === '' && (lines.length === 0 || lines.at(-1) === '')) continue;
    lines.push(line);
  }
  while (lines.at(-1) === '') lines.pop();
  return `${lines.join('\n')}\n`;
}

/** fast-import's answer to `ls`: "<mode> <type> <sha>\t<path>" or "missing <path>"; mode and sha are what count. */
function lsEntry(line: string): string {
  return line.startsWith('missing ') ? 'missing' : (line.split('\t')[0] ?? line);
}

const LOG_FORMAT = ['%H', '%s', '%b', '%an <%ae>', '%aI', '%(trailers:only,unfold)'].join('%x1f') + '%x1e';

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

function parseTrailers(text: string): Record<string, string> {
  const trailers: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    trailers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return trailers;
}
