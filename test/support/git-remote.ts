// A bare Git remote on local disk for tests and the demo: seeded from files in this repository, and
// written to "by a person" (a new canary image, a manual edit) the way CI or a human would.
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PermanentError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { gitEnvironment, runGit, type GitIdentity } from '../../src/promoter/git.js';
import { GitWorkspace, normalizeRepoPath } from '../../src/promoter/workspace.js';

export const SANDBOX_PERSON: GitIdentity = { name: 'Dana Developer', email: 'dana@example.test' };

/**
 * PATH and HOME only, plus the switches that keep system and user git config (and prompts) out,
 * and the suite's fake GIT_TOKEN/GITHUB_TOKEN when set (test/support/secrets.ts): every promoter and
 * git a test starts carries the token, so the leak detector sees it wherever it ends up.
 */
export function cleanGitEnv(home: string): NodeJS.ProcessEnv {
  const tokens: NodeJS.ProcessEnv = {};
  for (const name of ['GIT_TOKEN', 'GITHUB_TOKEN']) if (process.env[name]) tokens[name] = process.env[name];
  return gitEnvironment({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...tokens });
}

export interface SeededRemoteOptions {
  /** the folder to create `remote.git` in (created if missing). */
  dir: string;
  /** repo-relative files or folders under sourceRoot, copied to the same relative paths. */
  seedFrom: string[];
  sourceRoot: string;
  branch?: string;
  identity?: GitIdentity;
}

/** Creates <dir>/remote.git (bare) whose branch holds one commit with the seeded files. */
export async function createSeededRemote(options: SeededRemoteOptions): Promise<{ remoteDir: string; headSha: string }> {
  const branch = options.branch ?? 'main';
  const identity = options.identity ?? SANDBOX_PERSON;
  const dir = resolve(options.dir);
  const remoteDir = join(dir, 'remote.git');
  await mkdir(dir, { recursive: true });
  const env = cleanGitEnv(dir);
  await runGit(['init', '-q', '--bare', `--initial-branch=${branch}`, remoteDir], { cwd: dir, env });

  const work = await mkdtemp(join(tmpdir(), 'seed-'));
  try {
    await runGit(['init', '-q', `--initial-branch=${branch}`], { cwd: work, env });
    for (const entry of options.seedFrom) {
      const relative = normalizeRepoPath(entry);
      if (relative === undefined) throw new PermanentError(`seed path "${entry}" is not a path inside ${options.sourceRoot}`);
      const source = join(options.sourceRoot, relative);
      await stat(source).catch((error: unknown) => {
        throw new PermanentError(`seed path ${source} does not exist`, { cause: error });
      });
      await cp(source, join(work, relative), { recursive: true });
    }
    await runGit(['add', '-A'], { cwd: work, env });
    await runGit(
      ['-c', `user.name=${identity.name}`, '-c', `user.email=${identity.email}`, 'commit', '-q', '--allow-empty', '-m', 'Seed the GitOps repository'],
      { cwd: work, env },
    );
    await runGit(['push', '-q', remoteDir, `HEAD:refs/heads/${branch}`], { cwd: work, env });
    const headSha = (await runGit(['rev-parse', 'HEAD'], { cwd: work, env })).stdout.trim();
    return { remoteDir, headSha };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface CommitToRemoteOptions {
  branch?: string;
  identity?: GitIdentity;
  /** attempts when another writer pushes in between; default 5. */
  attempts?: number;
}

/** A person's commit straight to the remote's branch; returns the new HEAD sha (or the current one if nothing changed). */
export async function commitToRemote(
  remoteDir: string,
  files: Record<string, string>,
  message: string,
  options: CommitToRemoteOptions = {},
): Promise<string> {
  const scratch = await mkdtemp(join(tmpdir(), 'person-'));
  try {
    const workspace = await GitWorkspace.open({
      remoteUrl: remoteDir,
      branch: options.branch ?? 'main',
      dir: join(scratch, 'clone'),
      identity: options.identity ?? SANDBOX_PERSON,
      logger: silentLogger(),
      env: cleanGitEnv(scratch),
    });
    const attempts = options.attempts ?? 5;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      const outcome = await workspace.commitAndPush({ files, message, allowedPaths: Object.keys(files) });
      if (outcome.kind === 'refused') throw new PermanentError(outcome.reason);
      if (outcome.kind !== 'rejected') return outcome.sha;
    }
    throw new PermanentError(`could not commit to ${remoteDir}: the branch kept moving for ${attempts} attempts`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Many files at one revision of a repository in one `git cat-file --batch` process, rather than one
 * `git show` each: followers of a 27-canary fleet read 81 files per commit. A path absent at `rev`
 * is absent from the result; a failed git run rejects.
 */
export function readFilesAt(gitDir: string, rev: string, paths: readonly string[], env: NodeJS.ProcessEnv): Promise<Map<string, string>> {
  const unique = [...new Set(paths)];
  return new Promise((resolvePromise, reject) => {
    const child = spawn('git', [`--git-dir=${gitDir}`, 'cat-file', '--batch'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`git cat-file --batch in ${gitDir} exited ${code}: ${stderr.trim()}`));
      const buffer = Buffer.concat(out);
      const files = new Map<string, string>();
      let at = 0;
      for (const path of unique) {
        const end = buffer.indexOf(0x0a, at);
        if (end < 0) return reject(new Error(`git cat-file --batch in ${gitDir}: output ends before ${path}`));
        const header = buffer.toString('utf8', at, end);
        at = end + 1;
        if (header.endsWith(' missing') || header.endsWith(' ambiguous')) continue;
        const size = Number(header.split(' ')[2]);
        if (!Number.isInteger(size)) return reject(new Error(`git cat-file --batch in ${gitDir}: unexpected header ${JSON.stringify(header)}`));
        if (header.split(' ')[1] === 'blob') files.set(path, buffer.toString('utf8', at, at + size));
        at += size + 1;
      }
      resolvePromise(files);
    });
    child.stdin.on('error', () => undefined); // an early exit is reported by 'close'
    child.stdin.end(unique.map((path) => `${rev}:${path}\n`).join(''));
  });
}
