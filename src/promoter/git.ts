// The one module that runs git: spawns it with a clean environment, classifies its failures
// (transient, permanent, auth) and redacts credentials from anything that may reach a message or log.
import { execFile } from 'node:child_process';
import { PermanentError, TransientError } from '../errors.js';
import { stripCredentials } from '../logger.js';

export interface GitIdentity {
  name: string;
  email: string;
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

export type GitFailure = GitTransientError | GitPermanentError;

export interface RunGitOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** replaces secrets in anything that may end up in an error message; default strips URL credentials. */
  redact?: (text: string) => string;
  /** exit codes that are answers, not failures (e.g. 1 for `diff --quiet`). */
  okExitCodes?: readonly number[];
  /** written to the command's stdin (e.g. a `git fast-import` stream), which is then closed. */
  input?: string;
  /**
   * Sees stdout as it arrives; returning true ends the command early (SIGTERM) and the output read
   * so far is the answer, exit code 0. A history walk stops once it found what it looks for.
   */
  onStdout?: (chunk: string) => boolean;
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
 * Runs one git command (no shell); the only place in src/ that spawns git.
 * Throws a GitTransientError / GitPermanentError whose message has been through `redact`.
 */
export function runGit(args: readonly string[], options: RunGitOptions): Promise<GitResult> {
  const redact = options.redact ?? stripCredentials;
  const command = redact(`git ${args.join(' ')}`);
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
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
        if (!error || stopped) {
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
    let stopped = false;
    const { onStdout } = options;
    if (onStdout) {
      child.stdout?.on('data', (chunk: string | Buffer) => {
        if (stopped || !onStdout(chunk.toString())) return;
        stopped = true;
        child.kill('SIGTERM');
      });
    }
    if (options.input !== undefined) {
      // A git that exits early (a lock, a full disk) closes its stdin: its exit status says why, not EPIPE.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(options.input);
    }
  });
}

const AUTH_FAILURE =
  /authentication failed|could not read (username|password)|terminal prompts disabled|permission denied \(publickey|invalid username or password|http basic: access denied|the requested url returned error: 40[13]\b/i;
const NETWORK_FAILURE =
  /could not resolve host|connection (refused|reset|timed out)|operation timed out|failed to connect|network is unreachable|unable to access|early eof|the remote end hung up unexpectedly|rpc failed|temporary failure|the requested url returned error: (5\d\d|429)\b|\b(ssl|tls|gnutls)\b/i;

const DISK_FULL = /no space left on device|disk quota exceeded/i;

// git's words for a lock it could not take: a file left by a killed git, or one a live git holds.
const LOCK_FAILURE = /unable to create '[^']*\.lock'|\.lock': file exists|cannot lock ref|could not lock config file|unable to lock|failed to lock|another git process seems to be running|may have crashed in this repository/i;

/** Did a git command fail because a lock file (index.lock, a ref's .lock, config.lock) was in the way? */
export function isLockFailure(error: unknown): boolean {
  return error instanceof GitPermanentError && LOCK_FAILURE.test(error.message);
}

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
  return classifyOutput(command, stderr, detail, cause);
}

/** The error for a failed command from what git printed; `detail` is already redacted. */
export function classifyOutput(command: string, stderr: string, detail: string, cause?: Error): GitFailure {
  const options = cause ? { cause } : {};
  // A full work-tree disk passes when space is freed; rebuilding the clone for it would only make it worse.
  if (DISK_FULL.test(stderr)) {
    return new GitTransientError(`${command} failed: the disk holding the git workspace is full: ${detail}`, command, options);
  }
  if (AUTH_FAILURE.test(stderr)) {
    return new GitAuthError(`${command} was refused by the remote (check the credentials): ${detail}`, command, options);
  }
  if (NETWORK_FAILURE.test(stderr)) {
    return new GitTransientError(`${command} could not reach the remote: ${detail}`, command, options);
  }
  return new GitPermanentError(`${command} failed: ${detail}`, command, options);
}

/** The last meaningful lines of git output, for an error message. */
export function summarize(text: string): string {
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

/**
 * What `git push --porcelain` said about one ref: pushed, rejected because the ref moved
 * (a race: decide again), or refused by the remote's rules (a protected branch, a hook).
 * Anything else is thrown as a classified failure.
 */
export type PushRefResult = { kind: 'pushed' } | { kind: 'rejected'; summary: string } | { kind: 'refused'; summary: string };

// receive-pack's words when the ref moved (or was locked by another push) between its
// advertisement and its update: a lost race, not a rule, so the promoter decides again at once.
const LOST_RACE = /failed to update ref|failed to lock|cannot lock ref|incorrect old value|is at [0-9a-f]+ but expected|reference already exists/i;

export function readPushResult(result: GitResult, ref: string, command: string, redact: (text: string) => string): PushRefResult {
  let status: { flag: string; summary: string } | undefined;
  for (const line of result.stdout.split('\n')) {
    const [flag, refs, summary] = line.split('\t');
    if (flag !== undefined && refs?.endsWith(`:${ref}`)) status = { flag, summary: summary ?? '' };
  }
  if (result.exitCode === 0 && status?.flag !== '!') return { kind: 'pushed' };
  if (status?.summary.includes('[rejected]')) return { kind: 'rejected', summary: status.summary };
  if (status?.summary.includes('[remote rejected]')) {
    return LOST_RACE.test(status.summary) ? { kind: 'rejected', summary: redact(status.summary) } : { kind: 'refused', summary: redact(status.summary) };
  }
  throw classifyOutput(command, result.stderr, redact(summarize(status?.summary ?? (result.stderr || result.stdout))));
}

/** Credentials split off a remote URL: git is given the bare URL, and the secret only through its environment. */
export interface RemoteCredentials {
  username: string;
  password: string;
}

/**
 * The URL without user-info, and the credentials it carried (http and https only: an ssh user
 * name is not a secret). The token then never reaches .git/config, FETCH_HEAD or any argv.
 */
export function splitCredentials(remoteUrl: string): { url: string; credentials?: RemoteCredentials } {
  const match = /^(https?):\/\/([^/@]*)@/i.exec(remoteUrl);
  if (!match) return { url: remoteUrl };
  const userInfo = match[2] ?? '';
  const colon = userInfo.indexOf(':');
  const decode = (text: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  const user = decode(colon >= 0 ? userInfo.slice(0, colon) : userInfo);
  const password = colon >= 0 ? decode(userInfo.slice(colon + 1)) : '';
  const url = remoteWithoutCredentials(remoteUrl);
  if (user === '' && password === '') return { url };
  // https://TOKEN@host: a bare user part is the token (GitHub accepts any user name with it).
  return { url, credentials: password !== '' ? { username: user || 'x-access-token', password } : { username: 'x-access-token', password: user } };
}

// The helper is a shell function in git's config (not a file): it prints the credentials from two
// variables only the git child's environment holds. Other helpers (system, user) are reset first.
const CREDENTIAL_HELPER = '!f() { test "$1" = get || return 0; printf \'username=%s\\npassword=%s\\n\' "$PROMOTER_GIT_USERNAME" "$PROMOTER_GIT_PASSWORD"; }; f';

/**
 * The environment that hands `credentials` to git through an in-memory credential helper: config
 * given by GIT_CONFIG_COUNT (so no argv carries it) and the secret in a variable of the child only.
 */
export function credentialEnvironment(env: NodeJS.ProcessEnv, credentials: RemoteCredentials | undefined): NodeJS.ProcessEnv {
  if (!credentials) return env;
  const count = Number(env.GIT_CONFIG_COUNT ?? 0) || 0;
  return {
    ...env,
    GIT_CONFIG_COUNT: String(count + 2),
    [`GIT_CONFIG_KEY_${count}`]: 'credential.helper',
    [`GIT_CONFIG_VALUE_${count}`]: '',
    [`GIT_CONFIG_KEY_${count + 1}`]: 'credential.helper',
    [`GIT_CONFIG_VALUE_${count + 1}`]: CREDENTIAL_HELPER,
    PROMOTER_GIT_USERNAME: credentials.username,
    PROMOTER_GIT_PASSWORD: credentials.password,
  };
}
