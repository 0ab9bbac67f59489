// What one weight change costs in git: fetch, read, edit, commit and push to a local bare remote,
// through the promoter's own workspace, beside the floor (a plain `git commit` + `git push` of a
// one-line change) measured in the same run, on this repository's gitops tree and on a generated
// repository of 10 000 files and 5 000 commits. Then 50 canaries stepping at once from several
// promoter clones: every step must land. Prints figures; asserts nothing.
//   npm run bench:git          (= npm run build && node dist/bench/git.js [--runs 30] [--files 10000] [--commits 5000])
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/logger.js';
import { applyAction } from '../src/promoter/changes.js';
import { commitMessage } from '../src/promoter/commit-message.js';
import { runGit } from '../src/promoter/git.js';
import { parseCanaryPolicy, writablePaths, type CanaryPolicy } from '../src/promoter/policy.js';
import { readCanaryState } from '../src/promoter/state.js';
import { GitWorkspace } from '../src/promoter/workspace.js';
import { repoRoot } from '../src/schemas/registry.js';
import { cleanGitEnv } from '../test/support/git-remote.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    files: { type: 'string', default: '10000' },
    commits: { type: 'string', default: '5000' },
    canaries: { type: 'string', default: '50' },
    clones: { type: 'string', default: '5' },
  },
});
const RUNS = Number(values.runs);
const FILES = Number(values.files);
const COMMITS = Number(values.commits);
const CANARIES = Number(values.canaries);
const CLONES = Number(values.clones);
const BRANCH = 'main';
const PROMOTER = { name: 'DocuThinker Promoter', email: 'promoter@example.test' };
const VS = 'gitops/istio/traffic-management/virtualservices/backend.yaml';
const CANARY_DEPLOYMENT = 'gitops/apps/backend/base/deployment-canary.yaml';

const sortedOf = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sortedOf(xs)[Math.floor(xs.length / 2)] ?? Number.NaN;
/** nearest-rank p99: with 30 runs, the slowest. */
const p99 = (xs: number[]) => sortedOf(xs)[Math.min(xs.length - 1, Math.ceil(0.99 * xs.length) - 1)] ?? Number.NaN;
const ms = (x: number) => `${x.toFixed(1)} ms`;

/** The backend canary at 5 % with its rollout annotations: each run moves it 5 -> 10 or back. */
async function gitopsFiles(): Promise<Record<string, string>> {
  const root = repoRoot();
  const files: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    const { readdir } = await import('node:fs/promises');
    for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) files[path] = await readFile(join(root, path), 'utf8');
    }
  };
  await walk('gitops');
  files[VS] = (files[VS] ?? '')
    .replace('metadata:\n', 'metadata:\n  annotations:\n    delivery.docuthinker.io/canary-started-at: "2026-01-01T00:00:00Z"\n    delivery.docuthinker.io/step-started-at: "2026-01-01T00:00:00Z"\n    delivery.docuthinker.io/canary-image: "ghcr.io/docuthinker/backend:1.5.0"\n')
    .replace(/weight: 100\b/, 'weight: 95')
    .replace(/weight: 0\b/, 'weight: 5');
  files[CANARY_DEPLOYMENT] = (files[CANARY_DEPLOYMENT] ?? '').replace('backend:1.4.0', 'backend:1.5.0');
  return files;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, input: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['pipe', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}`))));
    child.stdin.end(input);
  });
}

/** A bare repository written by `git fast-import`: the files in one commit, then `commits - 1` one-file commits. */
async function fastImportRepo(dir: string, env: NodeJS.ProcessEnv, files: Record<string, string>, fillers: number, commits: number): Promise<string> {
  const remote = join(dir, 'remote.git');
  await runGit(['init', '-q', '--bare', `--initial-branch=${BRANCH}`, remote], { cwd: dir, env });
  const chunks: string[] = [];
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  const filler = (i: number, rev: number) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: filler-${i}\ndata:\n  revision: "${rev}"\n`;
  let time = 1_700_000_000;
  const header = (message: string) => `commit refs/heads/${BRANCH}\ncommitter Dana Developer <dana@example.test> ${time++} +0000\n${data(message)}`;
  chunks.push(header('Seed: the gitops tree and the filler services'));
  for (const [path, text] of Object.entries(files)) chunks.push(`M 100644 inline ${path}\n${data(text)}`);
  for (let i = 0; i < fillers; i++) chunks.push(`M 100644 inline services/team-${i % 100}/svc-${i}.yaml\n${data(filler(i, 0))}`);
  for (let c = 1; c < commits; c++) {
    const i = (c * 7919) % fillers;
    chunks.push(header(`team-${i % 100}: bump svc-${i} to revision ${c}`));
    chunks.push(`M 100644 inline services/team-${i % 100}/svc-${i}.yaml\n${data(filler(i, c))}`);
  }
  await run('git', ['fast-import', '--quiet'], remote, env, chunks.join(''));
  return remote;
}

async function seededRemote(dir: string, env: NodeJS.ProcessEnv, files: Record<string, string>): Promise<string> {
  return fastImportRepo(dir, env, files, 0, 1);
}

interface Canary {
  policy: CanaryPolicy;
}

/**
 * refresh, read the three manifests, decide the next weight, edit, commit, push: the promoter's path.
 * The refresh is `GitWorkspace.refresh()`: after our own push it asks `ls-remote` and fetches only
 * when the remote moved, so here (nobody else writes) it is one `ls-remote`.
 * `fetch: false` is a change inside a tick: the tick fetched once at its start for all its canaries,
 * and the change is built on that HEAD (a rejected push is a lost race: the tick re-fetches and decides again).
 */
async function promoterStep(workspace: GitWorkspace, canary: Canary, fetch = true): Promise<'pushed' | 'rejected' | 'no-op'> {
  if (fetch) await workspace.refresh();
  const { policy } = canary;
  const read = async (path: string) => (await workspace.readFile(path)) ?? '';
  const texts = { virtualService: await read(policy.spec.virtualService.file), stableDeployment: await read(policy.spec.deployments.stable.file), canaryDeployment: await read(policy.spec.deployments.canary.file) };
  const state = readCanaryState(policy, texts);
  const action = { kind: 'set-weight' as const, from: state.canaryWeight, to: state.canaryWeight === 5 ? 10 : 5 };
  const files = applyAction(policy, state, texts, action, new Date());
  const outcome = await workspace.commitAndPush({ files, message: commitMessage({ canary: policy.metadata.name, state, action }), allowedPaths: writablePaths(policy) });
  // A lost race on a local remote can read "[remote rejected] (failed to update ref)" (issue 11 #8).
  if (outcome.kind === 'refused' && outcome.reason.includes('failed to update ref')) return 'rejected';
  if (outcome.kind === 'refused') throw new Error(outcome.reason);
  return outcome.kind;
}

/** The floor: a one-line change, `git commit -a` and `git push` in an ordinary clone. */
async function floorStep(clone: string, env: NodeJS.ProcessEnv, n: number): Promise<void> {
  const path = join(clone, VS);
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.replace(/weight: (5|10)( *)$/m, (_m, w: string, pad: string) => `weight: ${w === '5' ? 10 : 5}${pad}`), 'utf8');
  await runGit(['-c', `user.name=${PROMOTER.name}`, '-c', `user.email=${PROMOTER.email}`, 'commit', '-q', '-a', '-m', `floor ${n}`], { cwd: clone, env });
  await runGit(['push', '-q', 'origin', `HEAD:refs/heads/${BRANCH}`], { cwd: clone, env });
}

async function measure(label: string, dir: string, remote: string, env: NodeJS.ProcessEnv, policy: CanaryPolicy): Promise<void> {
  // Two identical remotes, so the floor's pushes never race the promoter's.
  const floorRemote = join(dir, 'floor.git');
  await runGit(['clone', '-q', '--bare', remote, floorRemote], { cwd: dir, env });
  const floorClone = join(dir, 'floor');
  await runGit(['clone', '-q', floorRemote, floorClone], { cwd: dir, env });
  const workspace = await GitWorkspace.open({ remoteUrl: remote, branch: BRANCH, dir: join(dir, 'promoter'), identity: PROMOTER, logger: silentLogger(), env });
  const canary = { policy };
  await promoterStep(workspace, canary); // warm-up: the first fetch, the page cache
  await floorStep(floorClone, env, 0);
  // Interleaved, so load swings hit all three alike: the change as a tick makes it (on the tick's
  // fetched HEAD), the same with its own refresh before it, and the floor.
  const inTick: number[] = [];
  const fetched: number[] = [];
  const floor: number[] = [];
  for (let i = 1; i <= RUNS; i++) {
    let start = performance.now();
    let outcome = await promoterStep(workspace, canary, false);
    inTick.push(performance.now() - start);
    if (outcome !== 'pushed') throw new Error(`run ${i}: ${outcome}`);
    start = performance.now();
    outcome = await promoterStep(workspace, canary, true);
    fetched.push(performance.now() - start);
    if (outcome !== 'pushed') throw new Error(`run ${i}: ${outcome}`);
    start = performance.now();
    await floorStep(floorClone, env, i);
    floor.push(performance.now() - start);
  }
  const spawns = await countSpawns(dir, remote, policy);
  const ratio = (xs: number[]) => `median ${(median(xs) / median(floor)).toFixed(2)}x  p99 ${(p99(xs) / p99(floor)).toFixed(2)}x`;
  console.log(`${label}`);
  console.log(`  promoter weight change in a tick (read, edit, commit, push on the tick's fetch)       median ${ms(median(inTick))}  p99 ${ms(p99(inTick))}  git processes ${spawns.inTick}`);
  console.log(`  the same with its own refresh (ls-remote + fetch if moved; read, edit, commit, push)  median ${ms(median(fetched))}  p99 ${ms(p99(fetched))}  git processes ${spawns.fetched}`);
  console.log(`  floor (git commit -a + git push)                                                      median ${ms(median(floor))}  p99 ${ms(p99(floor))}  git processes 2`);
  console.log(`  ratio to the floor, in a tick                                                         ${ratio(inTick)}  (target <= 1.5x)`);
  console.log(`  ratio to the floor, refresh counted                                                   ${ratio(fetched)}`);
}

/** Git processes one weight change spawns, counted by a `git` on PATH that logs and hands over. */
async function countSpawns(dir: string, remote: string, policy: CanaryPolicy): Promise<{ inTick: number; fetched: number }> {
  const shimDir = join(dir, 'shim');
  await mkdir(shimDir, { recursive: true });
  const log = join(dir, 'spawns.log');
  const real = (await runGit(['--exec-path'], { cwd: dir, env: cleanGitEnv(dir) })).stdout.trim();
  await writeFile(join(shimDir, 'git'), `#!/bin/sh\necho "$1" >> '${log}'\nexec '${real}/git' "$@"\n`);
  await chmod(join(shimDir, 'git'), 0o755);
  const env = { ...cleanGitEnv(dir), PATH: `${shimDir}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  const workspace = await GitWorkspace.open({ remoteUrl: remote, branch: BRANCH, dir: join(dir, 'counted'), identity: PROMOTER, logger: silentLogger(), env });
  await promoterStep(workspace, { policy });
  const count = async (fetch: boolean): Promise<number> => {
    await writeFile(log, '');
    await promoterStep(workspace, { policy }, fetch);
    return (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '').length;
  };
  return { inTick: await count(false), fetched: await count(true) };
}

/** `canaries` canaries, each due a step, spread over `clones` promoter clones writing at once. */
async function stepTogether(dir: string, env: NodeJS.ProcessEnv, base: Record<string, string>): Promise<void> {
  const files: Record<string, string> = {};
  const policies: CanaryPolicy[] = [];
  for (let i = 0; i < CANARIES; i++) {
    const rename = (text: string) => text.replaceAll('backend', `svc${i}`);
    for (const path of [VS, CANARY_DEPLOYMENT, 'gitops/apps/backend/base/deployment-stable.yaml', 'gitops/apps/backend/canary.yaml']) {
      files[rename(path)] = rename(base[path] ?? '');
    }
    const policyPath = `gitops/apps/svc${i}/canary.yaml`;
    policies.push(parseCanaryPolicy(files[policyPath] ?? '', policyPath));
  }
  const remote = await seededRemote(dir, env, files);
  const clones = await Promise.all(
    Array.from({ length: CLONES }, (_, c) => GitWorkspace.open({ remoteUrl: remote, branch: BRANCH, dir: join(dir, `clone-${c}`), identity: PROMOTER, logger: silentLogger(), env })),
  );
  let rejected = 0;
  const start = performance.now();
  await Promise.all(
    clones.map(async (workspace, c) => {
      for (const [i, policy] of policies.entries()) {
        if (i % CLONES !== c) continue;
        for (let attempt = 0; ; attempt++) {
          if (attempt > 100) throw new Error(`${policy.metadata.name}: never landed`);
          const outcome = await promoterStep(workspace, { policy });
          if (outcome === 'pushed') break;
          rejected++;
        }
      }
    }),
  );
  const elapsed = performance.now() - start;
  const log = (await runGit(['log', '--format=%s', BRANCH], { cwd: remote, env })).stdout.split('\n').filter((l) => l !== '');
  const landed = policies.filter((p) => log.some((s) => s.startsWith(`${p.metadata.name}:`) || s.includes(` ${p.metadata.name} `) || s.includes(`${p.metadata.name}`))).length;
  let atTen = 0;
  for (const policy of policies) {
    const text = (await runGit(['show', `${BRANCH}:${policy.spec.virtualService.file}`], { cwd: remote, env })).stdout;
    if (/weight: 10\b/.test(text)) atTen++;
  }
  console.log(`${CANARIES} canaries stepping at once from ${CLONES} clones: ${log.length - 1} commits landed for ${landed} canaries, ${atTen} at 10 % on the remote, ${rejected} pushes lost a race and were decided again, ${ms(elapsed)} in all`);
}

const scratch = await mkdtemp(join(tmpdir(), 'bench-git-'));
try {
  const env = cleanGitEnv(scratch);
  const files = await gitopsFiles();
  const policy = parseCanaryPolicy(files['gitops/apps/backend/canary.yaml'] ?? '', 'gitops/apps/backend/canary.yaml');
  console.log(`git: ${RUNS} runs each, ${(await runGit(['--version'], { cwd: scratch, env })).stdout.trim()}`);

  const small = join(scratch, 'gitops');
  await mkdir(small);
  await measure(`this repository's gitops tree (${Object.keys(files).length} files, 1 commit)`, small, await seededRemote(small, env, files), env, policy);

  const big = join(scratch, 'big');
  await mkdir(big);
  const start = performance.now();
  const bigRemote = await fastImportRepo(big, env, files, FILES, COMMITS);
  const generated = performance.now() - start;
  await measure(`generated repository (${FILES} files + the gitops tree, ${COMMITS} commits; fast-import took ${ms(generated)})`, big, bigRemote, env, policy);

  const together = join(scratch, 'together');
  await mkdir(together);
  await stepTogether(together, env, files);
} finally {
  await rm(scratch, { recursive: true, force: true });
}
