// Fault suite, Git: against real git and bare remotes, the remote goes away, moves under every push,
// refuses or loses a push race, a killed git leaves its locks, the clone is corrupted, the disk fills,
// and a committed symlink points outside. Each case: no data lost, no wrong promotion, a clear error.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger, type Logger } from '../../src/logger.js';
import { createPromoter, type Promoter } from '../../src/promoter/app.js';
import { parsePromoterConfig } from '../../src/promoter/config.js';
import { processCloneDir } from '../../src/promoter/delivery.js';
import { setImage } from '../../src/promoter/manifest-edits.js';
import type { CanaryReport, TickReport } from '../../src/promoter/reconcile.js';
import { repoRoot } from '../../src/schemas/registry.js';
import { fastPolicyText } from '../support/environment.js';
import { startFakeArgoCd, type FakeArgoCd } from '../support/fake-argocd.js';
import { cleanGitEnv, commitToRemote, createSeededRemote } from '../support/git-remote.js';
import { startGitHttpsServer } from '../support/git-https-server.js';
import { startGitHubServer } from '../support/github-server.js';
import { newRunRecord, recordTick, startStatusServer } from '../../src/promoter/status-server.js';
import { Writable } from 'node:stream';
import { faultCase } from './support/record.js';

const CANARY = 'gitops/apps/backend/base/deployment-canary.yaml';
const POLICY = 'gitops/apps/backend/canary.yaml';
const VS = 'gitops/istio/traffic-management/virtualservices/backend.yaml';
const START = /^canary\(backend\): (start|restart) /;

let root: string;
let argo: FakeArgoCd;
let counter = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'faults-git-'));
  argo = await startFakeArgoCd({
    applications: [
      { name: 'docuthinker-mesh', repoURL: 'file:///gitops', path: 'gitops/istio' },
      { name: 'docuthinker-apps', repoURL: 'file:///gitops', path: 'gitops/apps/overlays/prod' },
    ],
  });
}, 60_000);

afterAll(async () => {
  await argo?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

/** One case's world: its own seeded bare remote, a promoter with its own workdir, and helpers to look at both. */
class GitCase {
  promoter!: Promoter;
  readonly workdir: string;
  constructor(
    readonly dir: string,
    readonly remoteDir: string,
  ) {
    this.workdir = join(dir, 'work');
  }

  static async create(): Promise<GitCase> {
    counter += 1;
    const dir = join(root, `case-${counter}`);
    const { remoteDir } = await createSeededRemote({ dir, seedFrom: ['gitops'], sourceRoot: repoRoot() });
    const world = new GitCase(dir, remoteDir);
    await commitToRemote(remoteDir, { [POLICY]: fastPolicyText(world.show(POLICY), 1, 3) }, 'test: one-second windows');
    return world;
  }

  git(...args: string[]): string {
    return execFileSync('git', [`--git-dir=${this.remoteDir}`, ...args], { env: cleanGitEnv(this.dir), encoding: 'utf8' });
  }
  head(): string {
    return this.git('rev-parse', 'main').trim();
  }
  show(path: string): string {
    return this.git('show', `main:${path}`);
  }
  subjects(): string[] {
    return this.git('log', '--format=%s', 'main').trim().split('\n');
  }
  clone(): string {
    return processCloneDir(this.workdir, 'run');
  }

  async open(url = this.remoteDir, env: NodeJS.ProcessEnv = cleanGitEnv(this.dir), workdir = this.workdir, logger: Logger = silentLogger(), extra: Record<string, unknown> = {}): Promise<Promoter> {
    const config = parsePromoterConfig(
      {
        ...extra,
        git: { url, workdir },
        // No Prometheus: a progressing canary holds for want of data; these cases are about Git.
        prometheus: { url: 'http://127.0.0.1:9', timeout: '1s', settle: '1s' },
        argocd: { timeout: '2s' },
        tickDeadline: '40s',
      },
      'git faults config',
    );
    this.promoter = await createPromoter(config, logger, { kubeConfigYaml: argo.kubeConfigYaml(), env });
    return this.promoter;
  }

  /** CI lands a new canary image, and Argo CD has applied the remote's HEAD. */
  async landCanary(image: string): Promise<void> {
    const edited = setImage(this.show(CANARY), CANARY, { deployment: 'backend-canary', container: 'backend' }, image);
    await commitToRemote(this.remoteDir, { [CANARY]: edited }, `CI lands ${image}`);
    this.sync();
  }
  sync(): void {
    for (const app of ['docuthinker-mesh', 'docuthinker-apps']) argo.reportSynced(app, this.head());
  }

  /** A hook on the bare remote. */
  hook(name: string, script: string): void {
    const path = join(this.remoteDir, 'hooks', name);
    writeFileSync(path, `#!/bin/sh\n${script}\n`);
    chmodSync(path, 0o755);
  }
  dropHook(name: string): void {
    rmSync(join(this.remoteDir, 'hooks', name), { force: true });
  }
}

const backend = (report: TickReport): CanaryReport | undefined => report.canaries.find((c) => c.canary === 'backend');
const starts = (world: GitCase): number => world.subjects().filter((s) => START.test(s)).length;

/** A person's unrelated empty commit straight on the remote, by plumbing (usable from a hook: quarantine variables cleared). */
const PERSON_COMMIT = (remoteDir: string, label: string): string =>
  [
    `unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_DIR`,
    `old=$(git --git-dir=${remoteDir} rev-parse refs/heads/main)`,
    `new=$(GIT_AUTHOR_NAME=Dana GIT_AUTHOR_EMAIL=dana@example.test GIT_COMMITTER_NAME=Dana GIT_COMMITTER_EMAIL=dana@example.test git --git-dir=${remoteDir} commit-tree "$old^{tree}" -p "$old" -m "${label}")`,
    `git --git-dir=${remoteDir} update-ref refs/heads/main "$new" "$old"`,
  ].join('\n');

describe('fault suite: Git', () => {
  it('the remote unreachable: the tick fails with a clear error, writes nothing, and the next tick after it is back proceeds', async () => {
    await faultCase({ class: 'git', case: 'remote unreachable (moved away, then a closed port)' }, async (observed) => {
      const world = await GitCase.create();
      await world.open();
      await world.landCanary('ghcr.io/docuthinker/backend:7.0.0');
      const before = world.head();
      const away = `${world.remoteDir}.away`;
      execFileSync('mv', [world.remoteDir, away]);
      const report = await world.promoter.tick();
      execFileSync('mv', [away, world.remoteDir]);
      expect(report.error).toMatch(/^git: .*does not appear to be a git repository/);
      expect(report.canaries).toEqual([]);
      if (world.head() !== before) observed.wrongPromotions += 1;
      expect(world.head()).toBe(before);
      const after = await world.promoter.tick();
      expect(backend(after)).toMatchObject({ outcome: 'committed', action: 'start' });
      expect(starts(world)).toBe(1);
      // An https remote nobody answers: a transient error that names the URL, at startup too.
      await expect(world.open('https://127.0.0.1:1/docuthinker/gitops.git', cleanGitEnv(world.dir), join(world.dir, 'other-work'))).rejects.toMatchObject({
        name: 'GitTransientError',
        message: expect.stringMatching(/could not reach the remote/),
      });
    });
  }, 120_000);

  it('non-fast-forward pushes in a loop: a person commits after every fetch; the promoter retries, then lands exactly one start on top', async () => {
    await faultCase({ class: 'git', case: 'non-fast-forward pushes in a loop (6 remote moves, 3 lost races)' }, async (observed) => {
      const world = await GitCase.create();
      await world.open();
      await world.landCanary('ghcr.io/docuthinker/backend:7.1.0');
      // Every fetch the promoter makes is followed by a person's commit (6 times: two fetches per lost
      // race) so its push is always late.
      const wrapper = join(world.dir, 'upload-pack-then-commit.sh');
      const count = join(world.dir, 'moves');
      writeFileSync(count, '0');
      writeFileSync(
        wrapper,
        `#!/bin/sh\ngit-upload-pack "$@"\nrc=$?\nn=$(cat ${count})\nif [ "$n" -lt 6 ]; then\n${PERSON_COMMIT(world.remoteDir, 'person: unrelated edit $n')}\necho $((n + 1)) > ${count}\nfi\nexit $rc\n`,
      );
      chmodSync(wrapper, 0o755);
      execFileSync('git', ['-C', world.clone(), 'config', 'remote.origin.uploadpack', wrapper], { env: cleanGitEnv(world.dir) });
      const first = await world.promoter.tick();
      // Three lost races (the default maxPushAttempts): the tick gives up cleanly and says so.
      expect(backend(first)).toMatchObject({ outcome: 'raced', action: 'start' });
      expect(starts(world)).toBe(0);
      world.sync();
      const second = await world.promoter.tick();
      expect(backend(second)).toMatchObject({ outcome: 'committed', action: 'start' });
      const subjects = world.subjects();
      const persons = subjects.filter((s) => s.startsWith('person: unrelated edit')).length;
      observed.dataLost += Math.max(0, 6 - persons);
      if (starts(world) !== 1) observed.wrongPromotions += Math.abs(starts(world) - 1);
      expect(persons).toBe(6);
      expect(starts(world)).toBe(1);
      expect(subjects[0]).toMatch(START);
      expect(readFileSync(count, 'utf8').trim()).toBe('6');
    });
  }, 120_000);

  it('the remote changes between fetch and push: the lost race is decided again in the same tick', async () => {
    await faultCase({ class: 'git', case: 'remote changes between fetch and push' }, async (observed) => {
      const world = await GitCase.create();
      await world.open();
      await world.landCanary('ghcr.io/docuthinker/backend:7.2.0');
      const once = join(world.dir, 'moved');
      const wrapper = join(world.dir, 'upload-pack-then-commit.sh');
      writeFileSync(wrapper, `#!/bin/sh\ngit-upload-pack "$@"\nrc=$?\nif [ ! -e ${once} ]; then\ntouch ${once}\n${PERSON_COMMIT(world.remoteDir, 'person: bump replicas')}\nfi\nexit $rc\n`);
      chmodSync(wrapper, 0o755);
      execFileSync('git', ['-C', world.clone(), 'config', 'remote.origin.uploadpack', wrapper], { env: cleanGitEnv(world.dir) });
      const report = await world.promoter.tick();
      expect(backend(report)).toMatchObject({ outcome: 'committed', action: 'start' });
      const subjects = world.subjects();
      if (!subjects.includes('person: bump replicas')) observed.dataLost += 1;
      expect(subjects.slice(0, 2)).toEqual([expect.stringMatching(START), 'person: bump replicas']);
      expect(starts(world)).toBe(1);
    });
  }, 120_000);

  it('[remote rejected] (failed to update ref): the remote moved while receiving; a race, retried in the same tick (issue 11 item 8)', async () => {
    await faultCase({ class: 'git', case: '[remote rejected] (failed to update ref) is a race' }, async (observed) => {
      const world = await GitCase.create();
      await world.open();
      await world.landCanary('ghcr.io/docuthinker/backend:7.3.0');
      const once = join(world.dir, 'moved');
      // Another writer updates main after receive-pack advertised it and before it takes the ref lock.
      world.hook('pre-receive', `cat >/dev/null\nif [ ! -e ${once} ]; then\ntouch ${once}\n${PERSON_COMMIT(world.remoteDir, 'person: hotfix config')}\nfi\nexit 0`);
      const report = await world.promoter.tick();
      expect(existsSync(once)).toBe(true);
      expect(backend(report)).toMatchObject({ outcome: 'committed', action: 'start' });
      const subjects = world.subjects();
      if (!subjects.includes('person: hotfix config')) observed.dataLost += 1;
      expect(subjects.slice(0, 2)).toEqual([expect.stringMatching(START), 'person: hotfix config']);
      expect(starts(world)).toBe(1);
    });
  }, 120_000);

  it('[remote rejected] by a hook (a protected branch): the canary holds with the hook named, nothing lands, and it proceeds once allowed', async () => {
    await faultCase({ class: 'git', case: '[remote rejected] by pre-receive and update hooks' }, async (observed) => {
      const world = await GitCase.create();
      await world.open();
      await world.landCanary('ghcr.io/docuthinker/backend:7.4.0');
      const before = world.head();
      for (const name of ['pre-receive', 'update']) {
        world.hook(name, `echo "GH006: Protected branch update failed for refs/heads/main" >&2\nexit 1`);
        const report = await world.promoter.tick();
        const outcome = backend(report);
        expect(outcome).toMatchObject({ outcome: 'error', action: 'start' });
        expect(outcome?.error).toMatch(/refused by the remote: \[remote rejected\]/);
        expect(outcome?.error).toMatch(name === 'pre-receive' ? /pre-receive hook declined/ : /hook declined/);
        if (world.head() !== before) observed.wrongPromotions += 1;
        expect(world.head()).toBe(before);
        world.dropHook(name);
      }
      const report = await world.promoter.tick();
      expect(backend(report)).toMatchObject({ outcome: 'committed', action: 'start' });
      expect(starts(world)).toBe(1);
    });
  }, 120_000);
});

/** Starts a real git that takes a lock in `cwd` and stays in it, so it can be killed -9 there. */
function gitHoldingLock(cwd: string, args: string[], input: string, env: NodeJS.ProcessEnv, lock: string): Promise<ChildProcess> {
  const child = spawn('git', args, { cwd, env, stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.stdin?.write(input);
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 20_000;
    const poll = (): void => {
      if (existsSync(join(cwd, '.git', lock))) resolve(child);
      else if (Date.now() > deadline) reject(new Error(`git ${args.join(' ')} never took ${lock}`));
      else setTimeout(poll, 50);
    };
    poll();
  });
}

function killGroup(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    try {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
    } catch {
      resolve();
    }
  });
}

describe('fault suite: Git locks and broken clones (issue 11 item 2)', () => {
  it('a kill -9 mid-commit and mid-ref-update leaves index.lock and a ref lock; the next tick and a restart remove them (their owner is dead) and commit', async () => {
    await faultCase({ class: 'git', case: 'stale locks after kill -9 of a real git (index.lock, refs/heads/main.lock)' }, async (observed) => {
      const world = await GitCase.create();
      await world.open();
      await world.landCanary('ghcr.io/docuthinker/backend:8.0.0');
      const clone = world.clone();
      const env = { ...cleanGitEnv(world.dir), GIT_EDITOR: 'sleep 120;:', GIT_AUTHOR_NAME: 'x', GIT_AUTHOR_EMAIL: 'x@x', GIT_COMMITTER_NAME: 'x', GIT_COMMITTER_EMAIL: 'x@x' };
      writeFileSync(join(clone, 'debris.txt'), 'half-made\n');
      execFileSync('git', ['add', 'debris.txt'], { cwd: clone, env });
      // A commit waiting in its editor holds index.lock; a transaction prepared on main holds its lock.
      const committing = await gitHoldingLock(clone, ['commit', '-a'], '', env, 'index.lock');
      const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: clone, env, encoding: 'utf8' }).trim();
      const updating = await gitHoldingLock(clone, ['update-ref', '--stdin'], `start\nupdate refs/heads/main ${head}\nprepare\n`, env, 'refs/heads/main.lock');
      // While their owners live, the locks are theirs: the tick fails clearly and writes nothing.
      const blocked = await world.promoter.tick();
      expect(blocked.error ?? backend(blocked)?.error).toMatch(/index\.lock|main\.lock/);
      expect(starts(world)).toBe(0);
      await killGroup(committing);
      await killGroup(updating);
      expect(existsSync(join(clone, '.git', 'index.lock'))).toBe(true);
      expect(existsSync(join(clone, '.git', 'refs', 'heads', 'main.lock'))).toBe(true);
      // A restart (same pid, as pid 1 in a container: the same clone) opens despite them.
      await world.open();
      expect(existsSync(join(clone, '.git', 'index.lock'))).toBe(false);
      expect(existsSync(join(clone, '.git', 'refs', 'heads', 'main.lock'))).toBe(false);
      world.sync();
      const report = await world.promoter.tick();
      expect(backend(report)).toMatchObject({ outcome: 'committed', action: 'start' });
      if (starts(world) !== 1) observed.dataLost += 1;
      expect(starts(world)).toBe(1);
      // The debris of the killed commit did not ride along.
      expect(world.git('ls-tree', '-r', '--name-only', 'main')).not.toMatch(/debris/);

      // And mid-tick: a lock left after the clone was opened is removed by the command that meets it.
      await world.landCanary('ghcr.io/docuthinker/backend:8.0.1');
      writeFileSync(join(clone, CANARY), 'half-written\n');
      const again = await gitHoldingLock(clone, ['commit', '-a'], '', env, 'index.lock');
      await killGroup(again);
      world.sync();
      const next = await world.promoter.tick();
      expect(next.error).toBeUndefined();
      expect(backend(next)).toMatchObject({ outcome: 'committed', action: 'start' });
      expect(starts(world)).toBe(2);
    });
  }, 120_000);

  it('a corrupt clone (garbage index, lost objects, a broken HEAD) is re-cloned, and the canary proceeds', async () => {
    await faultCase({ class: 'git', case: 'corrupt clone re-cloned (index, objects, HEAD)' }, async (observed) => {
      const world = await GitCase.create();
      await world.open();
      const clone = world.clone();
      // Garbage index and every object gone: fetch and checkout fail until the clone is made again.
      await world.landCanary('ghcr.io/docuthinker/backend:8.1.0');
      writeFileSync(join(clone, '.git', 'index'), 'garbage');
      const objects = join(clone, '.git', 'objects');
      for (const entry of readdirSync(objects)) if (entry !== 'info') rmSync(join(objects, entry), { recursive: true, force: true });
      const first = await world.promoter.tick();
      expect(first.error).toBeUndefined();
      expect(backend(first)).toMatchObject({ outcome: 'committed', action: 'start' });
      // A broken HEAD at restart: the clone is unreadable, so it is rebuilt when opened.
      writeFileSync(join(clone, '.git', 'HEAD'), 'not a ref\n');
      await world.open();
      await world.landCanary('ghcr.io/docuthinker/backend:8.1.1');
      const second = await world.promoter.tick();
      expect(backend(second)).toMatchObject({ outcome: 'committed', action: 'start' });
      if (starts(world) !== 2) observed.dataLost += 1;
      expect(starts(world)).toBe(2);
    });
  }, 120_000);
});

/** A small tmpfs for the work tree when this process may mount one (root), else undefined. */
function mountTmpfs(at: string, size: string): boolean {
  mkdirSync(at, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function fill(dir: string): void {
  const chunk = Buffer.alloc(64 * 1024, 1);
  for (let i = 0; i < 100_000; i += 1) {
    try {
      writeFileSync(join(dir, `filler-${i}`), chunk);
    } catch {
      // the last partial write is the point: nothing is left
      try {
        writeFileSync(join(dir, `tail-${i}`), Buffer.alloc(512, 1));
      } catch {
        return;
      }
    }
  }
}

describe('fault suite: Git with a full disk', () => {
  it('the work tree disk full (a small tmpfs): the canary holds with a clear error, nothing lands, and it proceeds once space is back', async () => {
    await faultCase({ class: 'git', case: 'work tree disk full (tmpfs)' }, async (observed) => {
      const world = await GitCase.create();
      const mounted = mountTmpfs(world.workdir, '16m');
      // Without root there is no tmpfs: the case says so instead of passing on a simulation.
      expect(mounted, 'mount -t tmpfs failed (not root?): the full-disk case needs it').toBe(true);
      try {
        await world.open();
        await world.landCanary('ghcr.io/docuthinker/backend:8.2.0');
        const before = world.head();
        const fillers = join(world.workdir, 'fillers');
        mkdirSync(fillers);
        fill(fillers);
        const report = await world.promoter.tick();
        const message = report.error ?? backend(report)?.error ?? '';
        expect(message).toMatch(/the disk holding the git workspace is full/);
        if (world.head() !== before) observed.wrongPromotions += 1;
        expect(world.head()).toBe(before);
        rmSync(fillers, { recursive: true, force: true });
        world.sync();
        const after = await world.promoter.tick();
        expect(after.error).toBeUndefined();
        expect(backend(after)).toMatchObject({ outcome: 'committed', action: 'start' });
        expect(starts(world)).toBe(1);
      } finally {
        execFileSync('umount', ['-l', world.workdir], { stdio: 'ignore' });
      }
    });
  }, 120_000);
});

/** Commits symlinks to the remote the way a person with git would (GitWorkspace writes only regular files). */
function commitSymlinks(world: GitCase, links: Record<string, string>, remove: string[] = []): void {
  const scratch = join(world.dir, `person-${Date.now()}`);
  const env = { ...cleanGitEnv(world.dir), GIT_AUTHOR_NAME: 'Mallory', GIT_AUTHOR_EMAIL: 'm@example.test', GIT_COMMITTER_NAME: 'Mallory', GIT_COMMITTER_EMAIL: 'm@example.test' };
  execFileSync('git', ['clone', '-q', world.remoteDir, scratch], { env });
  for (const path of remove) execFileSync('git', ['rm', '-rq', path], { cwd: scratch, env });
  for (const [path, target] of Object.entries(links)) {
    mkdirSync(join(scratch, path, '..'), { recursive: true });
    execFileSync('ln', ['-sfn', target, join(scratch, path)]);
  }
  execFileSync('git', ['add', '-A'], { cwd: scratch, env });
  execFileSync('git', ['commit', '-qm', 'symlinks'], { cwd: scratch, env });
  execFileSync('git', ['push', '-q', 'origin', 'HEAD:main'], { cwd: scratch, env });
  rmSync(scratch, { recursive: true, force: true });
}

describe('fault suite: symlinks in the repository (issue 11 item 4)', () => {
  it('a VirtualService committed as a symlink to a file outside: refused by name, nothing pushed, the outside file untouched', async () => {
    await faultCase({ class: 'bad-input', case: 'VirtualService is a symlink to a file outside the clone' }, async (observed) => {
      const world = await GitCase.create();
      const outside = join(world.dir, 'outside-secret.yaml');
      writeFileSync(outside, world.show(VS).replace('name: backend', 'name: backend # OUTSIDE-CONTENT'));
      commitSymlinks(world, { [VS]: outside }, [VS]);
      await world.open();
      await world.landCanary('ghcr.io/docuthinker/backend:9.0.0');
      const before = world.head();
      const report = await world.promoter.tick();
      const outcome = backend(report);
      expect(outcome).toMatchObject({ outcome: 'error' });
      expect(outcome?.error).toContain(VS);
      expect(outcome?.error).toMatch(/symlink to a path outside the clone/);
      if (world.head() !== before) observed.wrongPromotions += 1;
      expect(world.head()).toBe(before);
      expect(world.git('log', '-p', 'main')).not.toContain('OUTSIDE-CONTENT');
      expect(readFileSync(outside, 'utf8')).toContain('OUTSIDE-CONTENT');
    });
  }, 120_000);

  it('a policy whose Deployments sit in a symlinked directory: refused by name, no file outside rewritten, nothing committed', async () => {
    await faultCase({ class: 'bad-input', case: 'Deployments through a symlinked directory' }, async (observed) => {
      const world = await GitCase.create();
      const outsideDir = join(world.dir, 'outside-base');
      mkdirSync(outsideDir);
      const base = 'gitops/apps/backend/base';
      for (const name of ['deployment-canary.yaml', 'deployment-stable.yaml']) writeFileSync(join(outsideDir, name), world.show(`${base}/${name}`));
      const canaryOutside = setImage(world.show(CANARY), CANARY, { deployment: 'backend-canary', container: 'backend' }, 'ghcr.io/docuthinker/backend:9.1.0');
      writeFileSync(join(outsideDir, 'deployment-canary.yaml'), canaryOutside);
      const snapshot = Object.fromEntries(readdirSync(outsideDir).map((n) => [n, [readFileSync(join(outsideDir, n), 'utf8'), statSync(join(outsideDir, n)).mtimeMs]]));
      commitSymlinks(world, { [base]: outsideDir }, [base]);
      await world.open();
      world.sync();
      const before = world.head();
      const report = await world.promoter.tick();
      const outcome = backend(report);
      expect(outcome).toMatchObject({ outcome: 'error' });
      expect(outcome?.error).toMatch(new RegExp(`${base} is a symlink to a path outside the clone`));
      if (world.head() !== before) observed.wrongPromotions += 1;
      expect(world.head()).toBe(before);
      for (const name of readdirSync(outsideDir)) {
        const changed = readFileSync(join(outsideDir, name), 'utf8') !== snapshot[name]?.[0] || statSync(join(outsideDir, name)).mtimeMs !== snapshot[name]?.[1];
        if (changed) observed.dataLost += 1;
        expect(changed, `${name} outside the clone was rewritten`).toBe(false);
      }
    });
  }, 120_000);

  it('a canary policy that is itself a symlink (to a file inside the clone): refused by name', async () => {
    await faultCase({ class: 'bad-input', case: 'canary policy file is a symlink' }, async (observed) => {
      const world = await GitCase.create();
      commitSymlinks(world, { 'gitops/apps/backend-copy/canary.yaml': '../backend/canary.yaml' });
      await world.open();
      world.sync();
      const before = world.head();
      const report = await world.promoter.tick();
      const refused = report.canaries.find((c) => c.file === 'gitops/apps/backend-copy/canary.yaml');
      expect(refused?.error ?? refused?.reason).toMatch(/gitops\/apps\/backend-copy\/canary\.yaml.*symlink/);
      if (world.head() !== before) observed.wrongPromotions += 1;
      expect(world.head()).toBe(before);
    });
  }, 120_000);
});

/** Every file under `dir` (the clone, .git included) whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  const walk = (path: string): void => {
    let info;
    try {
      info = statSync(path);
    } catch {
      return; // removed while walking (git's temp files)
    }
    if (info.isDirectory()) {
      for (const name of readdirSync(path)) walk(join(path, name));
    } else if (info.isFile()) {
      try {
        if (readFileSync(path).includes(needle)) found.push(path);
      } catch {
        // gone
      }
    }
  };
  walk(dir);
  return found;
}

/** Every process whose command line contains `needle` (what `ps -ef` / `ps aux` print), with the full listing. */
function processesContaining(needle: string): { hits: string[]; listing: string } {
  const listing = execFileSync('ps', ['-eo', 'pid,args', '--cols', '100000'], { encoding: 'utf8' });
  const hits = listing.split('\n').filter((line) => line.includes(needle));
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmdline = readFileSync(join('/proc', pid, 'cmdline'), 'utf8');
      if (cmdline.includes(needle)) hits.push(`${pid} ${cmdline.replaceAll('\0', ' ')}`);
    } catch {
      // exited
    }
  }
  return { hits, listing };
}

describe('fault suite: secrets', () => {
  const GIT_TOKEN = 'FAKE-GIT-TOKEN-gitfaults-7f3a9c41d2';
  const GITHUB_TOKEN = 'FAKE-GITHUB-TOKEN-gitfaults-2b8e1d55aa';
  const WRONG_TOKEN = 'FAKE-WRONG-TOKEN-gitfaults-c0ffee99';

  it('with recognisable fake tokens over HTTPS, no log, error, commit, PR body, status page, ps listing or file under the work tree holds one (ps and files checked while a push is in flight)', async () => {
    await faultCase({ class: 'secrets', case: 'fake tokens over HTTPS: logs, errors, commits, PR body, status page, ps and work tree during a push' }, async (observed) => {
      const world = await GitCase.create();
      const server = await startGitHttpsServer({ projectRoot: world.dir, dir: world.dir, username: 'x-access-token', token: GIT_TOKEN });
      const gh = await startGitHubServer({ bareRepo: world.remoteDir, tokens: { [GITHUB_TOKEN]: 'docuthinker-promoter[bot]' }, autoMergeWhenClean: 'merge' });
      let logs = '';
      const logger = createLogger({
        level: 'debug',
        destination: new Writable({
          write(chunk: Buffer, _encoding, done) {
            logs += chunk.toString();
            done();
          },
        }),
      });
      const leaks: string[] = [];
      const check = (where: string, text: string): void => {
        for (const token of [GIT_TOKEN, GITHUB_TOKEN, WRONG_TOKEN]) if (text.includes(token)) leaks.push(`${where} holds ${token.slice(0, 14)}…`);
      };
      const url = `${server.url}/remote.git`;
      const env = { ...cleanGitEnv(world.dir), GIT_SSL_CAINFO: server.caFile, GIT_TOKEN, GITHUB_TOKEN };
      try {
        // A push that stays in flight: the remote's hook waits until the test has looked.
        const receiving = join(world.dir, 'receiving');
        const release = join(world.dir, 'release');
        // Released by default, so CI's own pushes (landCanary) pass straight through.
        writeFileSync(release, '');
        world.hook('pre-receive', `cat >/dev/null\ntouch ${receiving}\ni=0\nwhile [ ! -e ${release} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done\nrm -f ${receiving}\nexit 0`);
        for (const [mode, extra] of [
          ['push', {}],
          ['pull-request', { delivery: { mode: 'pull-request', github: { apiUrl: gh.url, owner: gh.owner, repo: gh.repo } } }],
        ] as const) {
          const workdir = join(world.dir, `work-${mode}`);
          await world.open(url, env, workdir, logger, extra);
          await world.landCanary(`ghcr.io/docuthinker/backend:9.9.${mode === 'push' ? 0 : 1}`);
          rmSync(release, { force: true });
          const tick = world.promoter.tick();
          for (let i = 0; i < 400 && !existsSync(receiving); i += 1) await new Promise((r) => setTimeout(r, 50));
          expect(existsSync(receiving), 'the push never reached the remote hook').toBe(true);
          // In flight: git push and git-remote-https are running right now.
          const { hits, listing } = processesContaining(GIT_TOKEN);
          expect(listing).toMatch(/git-remote-https|git push|send-pack/);
          for (const hit of hits) leaks.push(`ps: ${hit.slice(0, 80)}`);
          for (const file of filesContaining(workdir, GIT_TOKEN)) leaks.push(`file ${file}`);
          for (const file of filesContaining(workdir, GITHUB_TOKEN)) leaks.push(`file ${file}`);
          writeFileSync(release, '');
          const report = await tick;
          check(`${mode} tick report`, JSON.stringify(report));
          expect(backend(report)).toMatchObject({ outcome: mode === 'push' ? 'committed' : expect.stringMatching(/proposed|committed/), action: 'start' });
          const clone = processCloneDir(workdir, 'run');
          const config = readFileSync(join(clone, '.git', 'config'), 'utf8');
          expect(config).toContain(`url = ${url}`);
          check(`${mode} .git/config`, config);
          const record = newRunRecord();
          recordTick(record, report, 1);
          const status = await startStatusServer(record, { host: '127.0.0.1', port: 0 }, { history: () => Promise.resolve([]) });
          try {
            for (const path of ['/', '/status', '/metrics', '/healthz', '/readyz']) check(`status page ${path}`, await (await fetch(`${status.url}${path}`)).text());
          } finally {
            await status.close();
          }
        }
        // The pull request the second promoter opened.
        const pulls = await gh.pullRequests();
        expect(pulls.length).toBeGreaterThan(0);
        for (const pr of pulls) check(`PR #${pr.number}`, JSON.stringify(pr));
        // A wrong token: the error names the remote, never the token.
        const failure = await world
          .open(url, { ...env, GIT_TOKEN: WRONG_TOKEN }, join(world.dir, 'work-wrong'), logger)
          .then(() => undefined, (error: unknown) => error as Error);
        expect(failure).toMatchObject({ name: 'GitAuthError', message: expect.stringMatching(/refused by the remote/) });
        check('auth error', `${failure?.message} ${failure?.stack} ${String((failure?.cause as Error | undefined)?.message)}`);
        expect(server.requests.some((r) => !r.authorized)).toBe(true);
        check('commits on the remote', world.git('log', '-p', '--all'));
        check('logs', logs);
        expect(logs).toContain('"msg":"git"');
        for (const file of filesContaining(world.workdir.replace(/work$/, ''), GIT_TOKEN)) if (!file.endsWith('.pem')) leaks.push(`file ${file}`);
      } finally {
        await gh.close();
        await server.close();
      }
      observed.tokensLeaked = leaks.length;
      expect(leaks).toEqual([]);
    });
  }, 180_000);
});
