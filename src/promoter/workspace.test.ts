// The workspace and the git runner against real git: bare remotes in temp dirs, a clean environment, a loopback HTTP remote for auth.
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile, chmod, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PermanentError, TransientError } from '../errors.js';
import { createLogger, silentLogger } from '../logger.js';
import { cleanGitEnv, commitToRemote, createSeededRemote } from '../../test/support/git-remote.js';
import { pushDelivery } from './delivery.js';
import { GitAuthError, GitPermanentError, GitTransientError, credentialRedactor, runGit } from './git.js';
import { DEFAULT_MAX_MANIFEST_BYTES, GitWorkspace, ManifestTooLargeError, PathNotAllowedError, normalizeRepoPath, type GitWorkspaceOptions } from './workspace.js';

const PROMOTER = { name: 'docuthinker-promoter', email: 'promoter@docuthinker.test' };
const VS_PATH = 'gitops/istio/traffic/backend-virtualservice.yaml';
const DEPLOY_PATH = 'gitops/apps/backend/deployment-canary.yaml';

let root: string;
let remoteDir: string;
let seedSha: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'git-adapter-'));
  const source = join(root, 'source');
  await mkdir(join(source, 'gitops/istio/traffic'), { recursive: true });
  await mkdir(join(source, 'gitops/apps/backend'), { recursive: true });
  await writeFile(join(source, VS_PATH), 'weight: 0\n');
  await writeFile(join(source, DEPLOY_PATH), 'image: backend:1.0.0\n');
  const seeded = await createSeededRemote({ dir: join(root, 'origin'), seedFrom: ['gitops'], sourceRoot: source });
  remoteDir = seeded.remoteDir;
  seedSha = seeded.headSha;
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function options(name: string, overrides: Partial<GitWorkspaceOptions> = {}): GitWorkspaceOptions {
  return {
    remoteUrl: remoteDir,
    branch: 'main',
    dir: join(root, name),
    identity: PROMOTER,
    logger: silentLogger(),
    env: cleanGitEnv(root),
    timeoutMs: 20_000,
    ...overrides,
  };
}

async function remoteGit(...args: string[]): Promise<string> {
  return (await runGit(args, { cwd: remoteDir, env: cleanGitEnv(root) })).stdout.trim();
}

function weightChange(weight: number, message = `Set backend canary weight to ${weight}`) {
  return {
    files: { [VS_PATH]: `weight: ${weight}\n` },
    message: `${message}\n\nAnalysis passed.\n\nPromoter-Canary: backend\nPromoter-Step: weight-${weight}\n`,
    allowedPaths: [VS_PATH, DEPLOY_PATH],
  };
}

function captureLogs(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), text: () => chunks.join('') };
}

describe('GitWorkspace.open / refresh / readFile', () => {
  it('clones the remote branch and reads files at HEAD', async () => {
    const workspace = await GitWorkspace.open(options('clone'));
    expect(workspace.head).toBe(seedSha);
    expect(await workspace.readFile(VS_PATH)).toBe('weight: 0\n');
    expect(await workspace.readFile('gitops/missing.yaml')).toBeUndefined();
    await expect(workspace.readFile('../outside')).rejects.toBeInstanceOf(PermanentError);
  });

  it('refresh picks up a commit someone else pushed and discards local debris', async () => {
    const workspace = await GitWorkspace.open(options('clone'));
    await writeFile(join(workspace.dir, VS_PATH), 'scribbled\n');
    await writeFile(join(workspace.dir, 'stray.txt'), 'junk\n');
    const sha = await commitToRemote(remoteDir, { [DEPLOY_PATH]: 'image: backend:1.1.0\n' }, 'Release backend 1.1.0');
    expect(await workspace.refresh()).toBe(sha);
    expect(workspace.head).toBe(sha);
    expect(await workspace.readFile(DEPLOY_PATH)).toBe('image: backend:1.1.0\n');
    expect(await workspace.readFile(VS_PATH)).toBe('weight: 0\n');
    expect(existsSync(join(workspace.dir, 'stray.txt'))).toBe(false);
  });

  it('reuses an existing clone of the same remote and refuses a clone of another one', async () => {
    await GitWorkspace.open(options('clone'));
    const again = await GitWorkspace.open(options('clone'));
    expect(again.head).toBe(seedSha);

    const other = await createSeededRemote({ dir: join(root, 'other'), seedFrom: [], sourceRoot: root });
    await expect(GitWorkspace.open(options('clone', { remoteUrl: other.remoteDir }))).rejects.toThrow(/is a clone of/);
  });

  it('refuses a file over the manifest size cap before reading it, naming the file and the cap', async () => {
    const big = `# ${'x'.repeat(2048)}\nweight: 0\n`;
    await commitToRemote(remoteDir, { [VS_PATH]: big }, 'A big VirtualService');
    const workspace = await GitWorkspace.open(options('clone', { maxFileBytes: 1024 }));
    const refused = workspace.readFile(VS_PATH);
    await expect(refused).rejects.toBeInstanceOf(ManifestTooLargeError);
    await expect(refused).rejects.toThrow(
      `${VS_PATH} is ${Buffer.byteLength(big)} bytes, over the manifest size cap of 1024 bytes (git.maxManifestBytes); not read: the canary holds and nothing is committed`,
    );
    expect(await workspace.readFile(DEPLOY_PATH)).toBe('image: backend:1.0.0\n');
    expect(DEFAULT_MAX_MANIFEST_BYTES).toBe(2 * 1024 * 1024);
  });

  it('names the branch when it does not exist on the remote', async () => {
    await expect(GitWorkspace.open(options('clone', { branch: 'release' }))).rejects.toThrow(
      expect.objectContaining({ name: 'GitPermanentError', message: expect.stringMatching(/branch release does not exist/) }),
    );
  });
});

describe('GitWorkspace.commitAndPush', () => {
  it('pushes one commit with the promoter identity, the message and its trailers', async () => {
    const workspace = await GitWorkspace.open(options('clone'));
    const outcome = await workspace.commitAndPush(weightChange(5));
    expect(outcome).toEqual({ kind: 'pushed', sha: expect.stringMatching(/^[0-9a-f]{40}$/) });
    if (outcome.kind !== 'pushed') return;

    expect(await remoteGit('rev-parse', 'refs/heads/main')).toBe(outcome.sha);
    expect(await remoteGit('log', '-1', '--format=%an <%ae>|%cn <%ce>|%P', 'main')).toBe(
      `docuthinker-promoter <promoter@docuthinker.test>|docuthinker-promoter <promoter@docuthinker.test>|${seedSha}`,
    );
    expect(await remoteGit('show', `main:${VS_PATH}`)).toBe('weight: 5');
    expect(workspace.head).toBe(outcome.sha);

    const [latest] = await workspace.log({ max: 1 });
    expect(latest).toMatchObject({
      sha: outcome.sha,
      subject: 'Set backend canary weight to 5',
      author: 'docuthinker-promoter <promoter@docuthinker.test>',
      trailers: { 'Promoter-Canary': 'backend', 'Promoter-Step': 'weight-5' },
    });
    expect(latest?.body).toContain('Analysis passed.');
  });

  it('keeps markdown-style lines that start with #', async () => {
    const workspace = await GitWorkspace.open(options('clone'));
    await workspace.commitAndPush({ ...weightChange(5), message: 'Set weight 5\n\n# Evidence\ncanary 0 errors\n' });
    expect(await remoteGit('log', '-1', '--format=%B', 'main')).toBe('Set weight 5\n\n# Evidence\ncanary 0 errors');
  });

  it('is a no-op when the wanted content is already at HEAD', async () => {
    const workspace = await GitWorkspace.open(options('clone'));
    const outcome = await workspace.commitAndPush({ ...weightChange(0), files: { [VS_PATH]: 'weight: 0\n' } });
    expect(outcome).toEqual({ kind: 'no-op', sha: seedSha });
    expect(await remoteGit('rev-parse', 'main')).toBe(seedSha);

    const pushed = await workspace.commitAndPush(weightChange(10));
    const again = await workspace.commitAndPush(weightChange(10));
    expect(again).toEqual({ kind: 'no-op', sha: pushed.kind === 'pushed' ? pushed.sha : 'unexpected' });
  });

  it('refuses a file outside the allowed paths and writes nothing', async () => {
    const workspace = await GitWorkspace.open(options('clone'));
    const change = {
      files: { [VS_PATH]: 'weight: 50\n', 'argocd/root-app.yaml': 'evil: true\n' },
      message: 'Sneak in an edit',
      allowedPaths: [VS_PATH],
    };
    await expect(workspace.commitAndPush(change)).rejects.toBeInstanceOf(PathNotAllowedError);
    await expect(workspace.commitAndPush({ ...change, files: { '../escape.yaml': 'x' }, allowedPaths: ['../escape.yaml'] })).rejects.toBeInstanceOf(
      PathNotAllowedError,
    );
    await expect(workspace.commitAndPush({ ...change, files: { '.git/config': 'x' }, allowedPaths: ['.git/config'] })).rejects.toBeInstanceOf(
      PathNotAllowedError,
    );
    expect(await readFile(join(workspace.dir, VS_PATH), 'utf8')).toBe('weight: 0\n');
    expect(existsSync(join(workspace.dir, 'argocd/root-app.yaml'))).toBe(false);
    expect(await remoteGit('rev-parse', 'main')).toBe(seedSha);
  });

  it('returns rejected when another clone pushed first, resets to the new tip, and a retry lands on top', async () => {
    const mine = await GitWorkspace.open(options('mine'));
    const theirs = await GitWorkspace.open(options('theirs'));
    const theirPush = await theirs.commitAndPush({
      files: { [DEPLOY_PATH]: 'image: backend:2.0.0\n' },
      message: 'Release backend 2.0.0',
      allowedPaths: [DEPLOY_PATH],
    });
    expect(theirPush.kind).toBe('pushed');
    if (theirPush.kind !== 'pushed') return;

    const lost = await mine.commitAndPush(weightChange(5));
    expect(lost).toEqual({ kind: 'rejected', reason: expect.stringMatching(/rejected/) });
    expect(mine.head).toBe(theirPush.sha);
    expect(await mine.readFile(DEPLOY_PATH)).toBe('image: backend:2.0.0\n');
    expect(await mine.readFile(VS_PATH)).toBe('weight: 0\n');
    expect(await remoteGit('rev-parse', 'main')).toBe(theirPush.sha);

    const retry = await mine.commitAndPush(weightChange(5));
    expect(retry.kind).toBe('pushed');
    expect(await remoteGit('log', '--format=%s', 'main')).toBe(['Set backend canary weight to 5', 'Release backend 2.0.0', 'Seed the GitOps repository'].join('\n'));
  });

  it('reports a push the remote refuses (protection, a hook) as refused, and leaves nothing half-made', async () => {
    const hook = join(remoteDir, 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\necho "protected branch: pushes need review" >&2\nexit 1\n');
    await chmod(hook, 0o755);
    const workspace = await GitWorkspace.open(options('clone'));
    expect(await workspace.commitAndPush(weightChange(5))).toEqual({ kind: 'refused', reason: expect.stringMatching(/remote rejected/) });
    expect(workspace.head).toBe(seedSha);
    expect(await workspace.readFile(VS_PATH)).toBe('weight: 0\n');
    expect((await workspace.log()).map((c) => c.sha)).toEqual([seedSha]);
    // Push delivery has nowhere else to go: a permanent error that names the refusal.
    await expect(pushDelivery(workspace).deliver({ ...weightChange(5), canary: 'backend', decision: 'set-weight', step: '5', image: 'b:1', urgent: false })).rejects.toThrow(
      expect.objectContaining({ name: 'GitPermanentError', message: expect.stringMatching(/remote rejected|pre-receive/) }),
    );
  });

  it('makes a person the author and the promoter the committer', async () => {
    const workspace = await GitWorkspace.open(options('clone'));
    await workspace.commitAndPush({ ...weightChange(5), author: { name: 'Dana Developer', email: 'dana@example.test' } });
    expect(await remoteGit('log', '-1', '--format=%an <%ae>|%cn <%ce>', 'main')).toBe('Dana Developer <dana@example.test>|docuthinker-promoter <promoter@docuthinker.test>');
  });

  it('serialises overlapping calls on one workspace', async () => {
    const workspace = await GitWorkspace.open(options('clone'));
    const [a, b] = await Promise.all([workspace.commitAndPush(weightChange(5)), workspace.commitAndPush(weightChange(10))]);
    expect([a.kind, b.kind]).toEqual(['pushed', 'pushed']);
    expect(await remoteGit('show', `main:${VS_PATH}`)).toBe('weight: 10');
  });
});

describe('one weight change in few git processes (issue 12 item 4)', () => {
  it('commits only the change on the observed HEAD: work-tree leftovers never ride along, and the next refresh needs no checkout', async () => {
    const workspace = await GitWorkspace.open(options('clone'));
    await writeFile(join(workspace.dir, 'stray.txt'), 'junk\n');
    await writeFile(join(workspace.dir, DEPLOY_PATH), 'image: scribbled\n');
    const outcome = await workspace.commitAndPush(weightChange(5));
    expect(outcome.kind).toBe('pushed');
    expect(await remoteGit('ls-tree', '-r', '--name-only', 'main')).not.toContain('stray.txt');
    expect(await remoteGit('show', `main:${DEPLOY_PATH}`)).toBe('image: backend:1.0.0');
    expect(await remoteGit('show', `main:${VS_PATH}`)).toBe('weight: 5');
    // The work tree holds the pushed content, so reads at the new HEAD are right without a checkout.
    expect(await workspace.refresh()).toBe(outcome.kind === 'pushed' ? outcome.sha : '');
    expect(await workspace.readFile(VS_PATH)).toBe('weight: 5\n');
  });

  it('answers every canary\'s last commit and containment in one walk each, as the per-canary calls do', async () => {
    const a = await commitToRemote(remoteDir, { 'gitops/a.yaml': 'a: 1\n' }, 'a');
    const b = await commitToRemote(remoteDir, { 'gitops/b.yaml': 'b: 1\n' }, 'b');
    const ab = await commitToRemote(remoteDir, { 'gitops/a.yaml': 'a: 2\n', 'gitops/b.yaml': 'b: 2\n' }, 'a and b');
    // A person's merge that changes a file against both parents counts, as in `git log -- path`.
    const person = await GitWorkspace.open(options('person'));
    const git = (...args: string[]) => runGit(args, { cwd: person.dir, env: cleanGitEnv(root) }).then((r) => r.stdout.trim());
    await git('checkout', '-q', '-b', 'side', `${ab}~1`);
    await writeFile(join(person.dir, 'gitops/c.yaml'), 'c: 1\n');
    await git('add', '.');
    await git('-c', 'user.name=p', '-c', 'user.email=p@x', 'commit', '-q', '-m', 'c on a side branch');
    await git('checkout', '-q', 'main');
    await git('-c', 'user.name=p', '-c', 'user.email=p@x', 'merge', '-q', '--no-ff', '--no-commit', 'side');
    await writeFile(join(person.dir, 'gitops/c.yaml'), 'c: merged\n');
    await git('add', '.');
    await git('-c', 'user.name=p', '-c', 'user.email=p@x', 'commit', '-q', '-m', 'merge side');
    await git('push', '-q', 'origin', 'main');
    const workspace = await GitWorkspace.open(options('clone'));
    const sets = [[VS_PATH], [VS_PATH, DEPLOY_PATH], ['gitops/a.yaml'], ['gitops/b.yaml', VS_PATH], ['gitops/c.yaml'], ['gitops/none.yaml']];
    const one = [];
    for (const set of sets) one.push(await workspace.lastCommitTouching(set));
    const batched = await workspace.lastCommitsTouching(sets);
    expect(batched).toEqual(one);
    expect(batched.slice(0, 4)).toEqual([seedSha, seedSha, ab, ab]);
    expect(batched[5]).toBeUndefined();
    const head = workspace.head;
    const all = await workspace.containsAll(a, [seedSha, a, b, ab, head]);
    expect(all).toEqual(new Set([seedSha, a]));
    for (const sha of [seedSha, a, b, ab, head]) expect(await workspace.contains(a, sha)).toBe(all !== 'unknown' && all.has(sha));
    expect(await workspace.containsAll(head, [seedSha, a, b, ab])).toEqual(new Set([seedSha, a, b, ab]));
    expect(await workspace.containsAll('1'.repeat(40), [a])).toBe('unknown');
  });

  it('sends several decisions as their own commits in one push, skips a no-op, and loses a race as a whole', async () => {
    await commitToRemote(remoteDir, { 'gitops/c1.yaml': 'weight: 0\n', 'gitops/c2.yaml': 'weight: 0\n', 'gitops/c3.yaml': 'weight: 5\n' }, 'three canaries');
    const workspace = await GitWorkspace.open(options('clone'));
    const change = (i: number, weight: number) => ({ files: { [`gitops/c${i}.yaml`]: `weight: ${weight}\n` }, message: `c${i}: -> ${weight}%`, allowedPaths: [`gitops/c${i}.yaml`] });
    const outcome = await workspace.commitAllAndPush([change(1, 10), change(3, 5), change(2, 50)]);
    expect(outcome.kind).toBe('pushed-all');
    const each = outcome.kind === 'pushed-all' ? outcome.each : [];
    expect(each.map((o) => o.kind)).toEqual(['pushed', 'no-op', 'pushed']);
    expect(await remoteGit('log', '--format=%s', '-3', 'main')).toBe('c2: -> 50%\nc1: -> 10%\nthree canaries');
    expect(await remoteGit('rev-parse', 'main')).toBe(each[2]?.sha);
    expect(await remoteGit('rev-parse', 'main~1')).toBe(each[0]?.sha);
    expect(await remoteGit('show', 'main:gitops/c1.yaml')).toBe('weight: 10');
    expect(await workspace.readFile('gitops/c2.yaml')).toBe('weight: 50\n');
    // Two writers of one file in one push are refused before anything is written.
    await expect(workspace.commitAllAndPush([change(1, 50), change(1, 100)])).rejects.toThrow(/two changes of one push write gitops\/c1.yaml/);
    // Someone else pushed: the whole batch is rejected, nothing of it lands.
    await commitToRemote(remoteDir, { 'gitops/other.yaml': 'x: 1\n' }, 'a person');
    const raced = await workspace.commitAllAndPush([change(1, 50), change(2, 100)]);
    expect(raced.kind).toBe('rejected');
    expect(await remoteGit('log', '--format=%s', '-1', 'main')).toBe('a person');
    expect(await remoteGit('show', 'main:gitops/c1.yaml')).toBe('weight: 10');
  });

  it('50 canaries stepping at once from 5 clones all land, none lost or doubled', async () => {
    const files = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`gitops/canaries/c${i}.yaml`, 'weight: 0\n']));
    await commitToRemote(remoteDir, files, 'Fifty canaries at 0 %');
    const clones = await Promise.all(Array.from({ length: 5 }, (_, c) => GitWorkspace.open(options(`clone-${c}`))));
    let races = 0;
    await Promise.all(
      clones.map(async (workspace, c) => {
        for (let i = c; i < 50; i += 5) {
          const path = `gitops/canaries/c${i}.yaml`;
          // As a tick does: read at HEAD, decide, commit on it; a lost race reads the new HEAD and decides again.
          for (let attempt = 0; attempt < 60; attempt++) {
            await workspace.refresh();
            if ((await workspace.readFile(path)) === 'weight: 10\n') break;
            const outcome = await workspace.commitAndPush({ files: { [path]: 'weight: 10\n' }, message: `c${i}: 0% -> 10%`, allowedPaths: [path] });
            if (outcome.kind === 'pushed') break;
            expect(outcome.kind).toBe('rejected');
            races += 1;
          }
        }
      }),
    );
    const subjects = (await remoteGit('log', '--format=%s', 'main')).split('\n');
    for (let i = 0; i < 50; i++) {
      expect(subjects.filter((s) => s === `c${i}: 0% -> 10%`), `c${i}`).toHaveLength(1);
      expect(await remoteGit('show', `main:gitops/canaries/c${i}.yaml`)).toBe('weight: 10');
    }
    expect(subjects).toHaveLength(50 + 2);
    expect(races).toBeGreaterThan(0);
  }, 300_000);
});

describe('credentials in the remote URL', () => {
  const TOKEN = 'ghp_S3cretT0kenValue1234567890';
  let server: Server | undefined;

  afterEach(async () => {
    await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
    server = undefined;
  });

  it('never shows the token when the remote rejects the credentials', async () => {
    server = createServer((request, response) => {
      response.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
      response.end('denied');
      request.resume();
    });
    await new Promise<void>((done) => server?.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    const { logger, text } = captureLogs();
    const url = `http://x-access-token:${TOKEN}@127.0.0.1:${port}/docuthinker/gitops.git`;

    const failure = await GitWorkspace.open(options('clone', { remoteUrl: url, logger })).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(GitAuthError);
    const error = failure as GitAuthError;
    expect(error).toBeInstanceOf(PermanentError);
    for (const shown of [error.message, error.command, String((error.cause as Error).message), error.stack ?? '']) {
      expect(shown).not.toContain(TOKEN);
    }
    expect(text()).toContain('"msg":"git"');
    expect(text()).not.toContain(TOKEN);
  });

  it('reports an unreachable remote as transient, without the token', async () => {
    const { logger, text } = captureLogs();
    const url = `https://${TOKEN}@127.0.0.1:1/docuthinker/gitops.git`;
    const failure = await GitWorkspace.open(options('clone', { remoteUrl: url, logger })).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(GitTransientError);
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).not.toContain(TOKEN);
    expect(text()).not.toContain(TOKEN);
  });

  it('redacts passwords and bare tokens, but not an ssh user name', () => {
    expect(credentialRedactor(`https://bot:${TOKEN}@github.com/x.git`)(`failed for ${TOKEN} at https://bot:${TOKEN}@github.com`)).toBe(
      'failed for *** at https://***@github.com',
    );
    expect(credentialRedactor('ssh://git@github.com/x.git')('git@github.com: git failed')).toBe('git@github.com: git failed');
  });
});

describe('normalizeRepoPath', () => {
  it.each([
    ['gitops/a.yaml', 'gitops/a.yaml'],
    ['./gitops//a.yaml', 'gitops/a.yaml'],
    ['gitops/../argocd/x.yaml', 'argocd/x.yaml'],
    ['../x', undefined],
    ['/etc/passwd', undefined],
    ['.git/config', undefined],
    ['', undefined],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeRepoPath(input)).toBe(expected);
  });
});

it('GitPermanentError and GitTransientError keep the typed error hierarchy', () => {
  expect(new GitPermanentError('x', 'git push')).toBeInstanceOf(PermanentError);
  expect(new GitTransientError('x', 'git fetch')).toBeInstanceOf(TransientError);
});
