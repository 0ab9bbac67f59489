// Fault suite, concurrency: real `promoter run` processes on one remote (behind git daemon) while
// others write to it: 20 canaries stepping at once while CI keeps landing images, two promoters
// without a Lease (split brain), a person committing unrelated files, and a person editing weights
// by hand, once plainly and once right between the promoter's commit and its push.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setRouteWeights } from '../../src/promoter/manifest-edits.js';
import { readCanaryState, routeRef, type CanaryState } from '../../src/promoter/state.js';
import { silentLogger } from '../../src/logger.js';
import { GitWorkspace } from '../../src/promoter/workspace.js';
import { cleanGitEnv, readFilesAt } from '../support/git-remote.js';
import { commitsOf, decisions, Fleet, paths, type PromoterCommit } from './support/fleet.js';
import { CLI, PromoterProcess, type GitStop } from './support/promoter-process.js';
import { faultCase, type CaseRecord } from './support/record.js';

const PROMOTER = { name: 'docuthinker-promoter', email: 'promoter@docuthinker.invalid' };
const AUTHOR = `${PROMOTER.name} <${PROMOTER.email}>`;
const GOOD_HISTORY = ['start 50', 'set-weight 100', 'finalize-image finalize-image', 'finalize-traffic finalize-traffic'];
const BAD_HISTORY = ['start 50', 'rollback rollback-from-50'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const run = promisify(execFile);

const MANY = Array.from({ length: 20 }, (_, i) => `c${String(i).padStart(2, '0')}`);
/** Of the 20, these get a bad image and must be rolled back. */
const MANY_BAD = new Set(['c03', 'c11']);
const SPLIT = ['s0', 's1', 's2'];
const PERSON = ['p0', 'p1'];
const HAND = ['h0', 'h1'];

let dir: string;
let fleet: Fleet;
const processes: PromoterProcess[] = [];

function startPromoter(name: string, glob: string, options: { stop?: GitStop; email?: string } = {}): PromoterProcess {
  const promoter = PromoterProcess.start({
    name,
    dir,
    workdir: join(dir, `work-${name}`),
    gitUrl: fleet.gitUrl,
    prometheusUrl: fleet.prometheus.url,
    kubeconfig: fleet.kubeconfig,
    policies: [glob],
    author: { name: PROMOTER.name, email: options.email ?? PROMOTER.email },
    ...(options.stop ? { stop: options.stop } : {}),
  });
  processes.push(promoter);
  return promoter;
}

/**
 * Every canary's state at the remote's HEAD, read without blocking this process: the loopback Argo CD
 * and the mesh live in it, and the promoter times out on an Argo CD that cannot answer. One rev-parse
 * per look, and one cat-file for all files only when HEAD moved (synchronous `git show` per canary
 * starved them under load, and the 20-canary case failed on "no answer within 2000 ms").
 */
class HeadStates {
  head = '';
  states = new Map<string, CanaryState>();
  /** when HEAD last moved: a rollout that still commits is progressing. */
  movedAt = Date.now();

  async refresh(): Promise<void> {
    const env = cleanGitEnv(dir);
    const head = (await run('git', [`--git-dir=${fleet.remoteDir}`, 'rev-parse', 'main'], { env })).stdout.trim();
    if (head === this.head) return;
    const services = [...fleet.policies.keys()];
    const files = await readFilesAt(fleet.remoteDir, head, services.flatMap((s) => Object.values(paths(s))), env);
    const read = (path: string) => files.get(path) ?? '';
    this.states = new Map(
      services.map((s) => {
        const p = paths(s);
        const policy = fleet.policies.get(s);
        if (!policy) throw new Error(`no canary ${s}`);
        return [s, readCanaryState(policy, { virtualService: read(p.virtualService), stableDeployment: read(p.stable), canaryDeployment: read(p.canary) })];
      }),
    );
    this.head = head;
    this.movedAt = Date.now();
  }

  state(service: string): CanaryState {
    const state = this.states.get(service);
    if (!state) throw new Error(`no state for ${service}: refresh() first`);
    return state;
  }
}

const atHead = new HeadStates();

function idleOn(service: string, image: string): boolean {
  const state = atHead.state(service);
  return state.phase === 'idle' && state.stableImage === image;
}

function failedOn(service: string, image: string): boolean {
  const state = atHead.state(service);
  return state.phase === 'failed' && state.failedImage === image;
}

/** Compares each canary's promoter commits with what it should be; counts what is missing or repeated. */
function compare(commits: PromoterCommit[], expected: Record<string, string[]>, observed: CaseRecord, author = AUTHOR): string[] {
  const mismatches: string[] = [];
  for (const [canary, history] of Object.entries(expected)) {
    const got = decisions(commitsOf(commits, canary, author));
    if (JSON.stringify(got) !== JSON.stringify(history)) {
      mismatches.push(`${canary}: ${JSON.stringify(got)} != ${JSON.stringify(history)}`);
      observed.dataLost += Math.max(1, history.filter((d) => !got.includes(d)).length + Math.max(0, got.length - history.length));
    }
    const bad = history === BAD_HISTORY;
    if (bad) observed.wrongPromotions += got.filter((d) => /^(set-weight|finalize)/.test(d)).length;
    else observed.monitoringRollbacks += got.filter((d) => d.startsWith('rollback')).length;
  }
  return mismatches;
}

/** Files each promoter commit changed must be its canary's own. */
function strayFiles(commits: PromoterCommit[]): string[] {
  const stray: string[] = [];
  for (const c of commits.filter((x) => x.canary !== '')) {
    const p = paths(c.canary);
    const allowed = new Set([p.virtualService, p.stable, p.canary]);
    for (const file of fleet.git('show', '--name-only', '--format=', c.sha).split('\n').filter(Boolean)) {
      if (!allowed.has(file)) stray.push(`${c.sha.slice(0, 12)} ${c.subject}: ${file}`);
    }
  }
  return stray;
}

/**
 * Waits for `probe` over the states at HEAD. Convergence, not speed: it fails when HEAD has not moved
 * for `stallMs` (nothing progresses) or after `capMs` in all, so a loaded machine only makes it slower.
 */
async function waitFor(what: string, probe: () => boolean, stallMs: number, promoters: PromoterProcess[], capMs = 4 * stallMs): Promise<void> {
  const start = Date.now();
  await atHead.refresh();
  atHead.movedAt = Math.max(atHead.movedAt, start);
  for (;;) {
    if (probe()) return;
    const now = Date.now();
    if (now - atHead.movedAt > stallMs || now - start > capMs) break;
    await sleep(250);
    await atHead.refresh();
  }
  throw new Error(
    `${what}: not reached (HEAD ${atHead.head.slice(0, 12)} unchanged for ${Math.round((Date.now() - atHead.movedAt) / 1000)} s, ${Math.round((Date.now() - start) / 1000)} s in all)\n${promoters.map((p) => `${p.name}:\n${p.tail(12)}`).join('\n')}`,
  );
}

/**
 * A person's commit from their own clone, pushed again on top of whatever the promoter pushed
 * meanwhile (as `git pull --rebase && git push` would), bounded.
 */
async function pushAsPerson(person: GitWorkspace, files: Record<string, string>, message: string): Promise<string> {
  for (let attempt = 1; attempt <= 30; attempt++) {
    try {
      await person.refresh();
      const outcome = await person.commitAndPush({ files, message, allowedPaths: Object.keys(files) });
      if (outcome.kind === 'refused') throw new Error(outcome.reason);
      if (outcome.kind !== 'rejected') return outcome.sha;
    } catch (error) {
      // Two pushes racing into a bare repository on disk: the promoter's won the ref lock.
      if (!/failed to update ref|cannot lock ref/.test(String(error))) throw error;
    }
    await sleep(50 * Math.min(attempt, 5));
  }
  throw new Error(`the person could not push "${message}" in 30 attempts`);
}

/** A person's hand edit of a canary's weights. */
function weightsEdit(service: string, stable: number, canary: number): Record<string, string> {
  const policy = fleet.policies.get(service);
  if (!policy) throw new Error(`no canary ${service}`);
  const file = paths(service).virtualService;
  return { [file]: setRouteWeights(fleet.show(file), file, routeRef(policy), { stable, canary }) };
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build, or scripts/setup.sh)`);
  dir = await mkdtemp(join(tmpdir(), 'faults-concurrency-'));
  fleet = await Fleet.start({ dir, services: [...MANY, ...SPLIT, ...PERSON, ...HAND] });
}, 180_000);

/** Kills every promoter a case started, whether it passed or not, so none runs into the next case. */
async function killAll(): Promise<void> {
  for (const p of processes.splice(0)) await p.kill();
}

afterEach(killAll);

afterAll(async () => {
  await killAll();
  await fleet?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('fault suite: concurrency', () => {
  it('20 canaries stepping at once while CI lands their images one commit each: every step lands once, none lost', async () => {
    await faultCase({ class: 'concurrency', case: '20 canaries stepping at once on one remote, CI pushing meanwhile', runs: MANY.length }, async (observed) => {
      const base = fleet.head();
      const promoter = startPromoter('many', 'gitops/apps/c*/canary.yaml');
      const images = Object.fromEntries(MANY.map((s) => [s, `registry.test/${s}:2${MANY_BAD.has(s) ? '-bad' : ''}`]));
      // Four CI commits of five images, pushed while the promoter already starts the first ones.
      for (let i = 0; i < MANY.length; i += 5) {
        await fleet.landImages(Object.fromEntries(MANY.slice(i, i + 5).map((s) => [s, images[s] ?? ''])), `CI: ${MANY.slice(i, i + 5).join(', ')}`);
      }
      await waitFor('all 20 rollouts ended', () => MANY.every((s) => (MANY_BAD.has(s) ? failedOn(s, images[s] ?? '') : idleOn(s, images[s] ?? ''))), 120_000, [promoter], 600_000);
      await sleep(2500);
      await promoter.kill();
      const commits = fleet.commits(base);
      const mismatches = compare(commits, Object.fromEntries(MANY.map((s) => [s, MANY_BAD.has(s) ? BAD_HISTORY : GOOD_HISTORY])), observed);
      const ci = commits.filter((c) => c.subject.startsWith('CI: '));
      console.log(`concurrency: 20 canaries: ${commits.length - ci.length} promoter commits, ${ci.length} CI commits, ${promoter.lines.filter((l) => l.msg === 'push lost a race; re-reading HEAD and deciding again').length} lost push races`);
      expect(mismatches).toEqual([]);
      expect(ci).toHaveLength(MANY.length / 5);
      expect(strayFiles(commits)).toEqual([]);
    });
  }, 720_000);

  it('two promoters without a Lease on one remote (split brain): no step duplicated, none conflicting', async () => {
    await faultCase({ class: 'concurrency', case: 'two promoters without a Lease (split brain)', runs: 2 }, async (observed) => {
      const mismatches: string[] = [];
      const authors = new Set<string>();
      let races = 0;
      // Two rounds: each promoter starts from its own clone, both tick every second on the same canaries.
      for (const round of [1, 2]) {
        const base = fleet.head();
        const a = startPromoter(`split-a-${round}`, 'gitops/apps/s*/canary.yaml', { email: 'promoter-a@replicas.test' });
        const b = startPromoter(`split-b-${round}`, 'gitops/apps/s*/canary.yaml', { email: 'promoter-b@replicas.test' });
        const images = { s0: `registry.test/s0:split-${round}`, s1: `registry.test/s1:split-${round}`, s2: `registry.test/s2:split-${round}-bad` };
        await fleet.landImages(images, `CI: split brain round ${round}`);
        await waitFor('the split-brain rollouts ended', () => idleOn('s0', images.s0) && idleOn('s1', images.s1) && failedOn('s2', images.s2), 120_000, [a, b], 300_000);
        await sleep(2500);
        await a.kill();
        await b.kill();
        races += [a, b].flatMap((p) => p.lines).filter((l) => l.msg === 'push lost a race; re-reading HEAD and deciding again' || l.msg === 'could not write the decision; holding').length;
        // Whoever wrote each step, each canary's steps are the uninterrupted sequence, once.
        const commits = fleet.commits(base).map((c) => ({ ...c, author: c.author.replace(/promoter-[ab]@replicas\.test/, PROMOTER.email) }));
        for (const c of fleet.commits(base)) if (c.canary) authors.add(c.author);
        mismatches.push(...compare(commits, { s0: GOOD_HISTORY, s1: GOOD_HISTORY, s2: BAD_HISTORY }, observed).map((m) => `round ${round} ${m}`));
      }
      console.log(`concurrency: split brain: commits by ${[...authors].sort().join(', ')}; ${races} pushes lost a race and were decided again`);
      expect(mismatches).toEqual([]);
    });
  }, 700_000);

  it('a person committing unrelated files while the promoter steps: every one of their commits is kept', async () => {
    await faultCase({ class: 'concurrency', case: 'a person committing unrelated changes while the promoter steps' }, async (observed) => {
      const base = fleet.head();
      const promoter = startPromoter('person', 'gitops/apps/p*/canary.yaml');
      const images = { p0: 'registry.test/p0:2', p1: 'registry.test/p1:2-bad' };
      await fleet.landImages(images, 'CI: p0 and p1');
      const theirs: string[] = [];
      let n = 0;
      const done = async () => {
        await atHead.refresh();
        return idleOn('p0', images.p0) && failedOn('p1', images.p1);
      };
      // The person pushes every ~200 ms until the rollouts end (bounded), from one clone of their own:
      // a fresh clone per commit took seconds under load, and the rollout ended after three of them.
      const person = await GitWorkspace.open({
        remoteUrl: fleet.remoteDir,
        branch: 'main',
        dir: join(dir, 'person'),
        identity: { name: 'Dana Developer', email: 'dana@example.test' },
        logger: silentLogger(),
        env: cleanGitEnv(dir),
      });
      for (const deadline = Date.now() + 180_000; !(await done()) && Date.now() < deadline; n++) {
        theirs.push(await pushAsPerson(person, { 'docs/notes.md': `# notes\n\nedit ${n}\n`, [`docs/log/${n % 5}.md`]: `entry ${n}\n` }, `docs: note ${n}`));
        await sleep(200);
      }
      await sleep(2500);
      await promoter.kill();
      const onMain = new Set(fleet.git('rev-list', `${base}..main`).split('\n').filter(Boolean));
      const lost = theirs.filter((sha) => !onMain.has(sha));
      observed.dataLost += lost.length;
      const commits = fleet.commits(base);
      const mismatches = compare(commits, { p0: GOOD_HISTORY, p1: BAD_HISTORY }, observed);
      console.log(`concurrency: person: ${theirs.length} unrelated commits during the rollout, ${lost.length} lost; ${promoter.lines.filter((l) => l.msg === 'push lost a race; re-reading HEAD and deciding again').length} promoter pushes lost a race`);
      expect(await done()).toBe(true);
      expect(theirs.length).toBeGreaterThan(5);
      expect(lost).toEqual([]);
      expect(fleet.show('docs/notes.md')).toBe(`# notes\n\nedit ${n - 1}\n`);
      expect(mismatches).toEqual([]);
      expect(strayFiles(commits)).toEqual([]);
    });
  }, 300_000);

  it('a person editing weights by hand: the promoter holds with an alert and never overwrites them, even when the edit lands between its commit and its push', async () => {
    await faultCase({ class: 'concurrency', case: 'a person editing weights by hand (plainly, and between commit and push)', runs: 2 }, async (observed) => {
      const base = fleet.head();
      const images = { h0: 'registry.test/h0:2', h1: 'registry.test/h1:2' };
      // h1's promoter stops right before it pushes the promotion it committed: the person edits then.
      const promoter = startPromoter('hand', 'gitops/apps/h*/canary.yaml', { stop: { command: 'push', decision: 'set-weight', nth: 1, phase: 'wait' } });
      await fleet.landImages(images, 'CI: h0 and h1');
      await waitFor('a promotion is about to be pushed', () => promoter.fired() !== undefined, 120_000, [promoter]);
      // Both canaries are at 50 % (the held push is the first promotion): the person sets both to 70/30.
      expect([fleet.state('h0').canaryWeight, fleet.state('h1').canaryWeight]).toEqual([50, 50]);
      const edit = await fleet.commitAsPerson({ ...weightsEdit('h0', 70, 30), ...weightsEdit('h1', 70, 30) }, 'ops: hold backend traffic at 30 % by hand');
      promoter.release();
      const held = (canary: string) => promoter.lines.some((l) => l.msg === 'hold' && l.canary === canary && String(l.reason).includes('a person set them'));
      await waitFor('the promoter holds both', () => held('h0') && held('h1'), 60_000, [promoter]);
      // A few more ticks: still nothing written over the person's weights.
      await sleep(3000);
      const after = fleet.commits(edit).filter((c) => c.canary !== '');
      const weights = HAND.map((s) => fleet.state(s)).map((s) => `${s.stableWeight}/${s.canaryWeight} ${s.phase}`);
      observed.dataLost += after.length;
      expect(after).toEqual([]);
      expect(weights).toEqual(['70/30 manual-override', '70/30 manual-override']);
      expect(promoter.lines.some((l) => l.msg === 'push lost a race; re-reading HEAD and deciding again')).toBe(true);
      expect(promoter.lines.filter((l) => l.msg === 'hold' && String(l.reason).includes('a person set them')).every((l) => l.level === 40)).toBe(true);

      // The person puts the step back: the rollouts go on from there and end as usual.
      await fleet.commitAsPerson({ ...weightsEdit('h0', 50, 50), ...weightsEdit('h1', 50, 50) }, 'ops: back to the 50 % step');
      await waitFor('both rollouts ended', () => idleOn('h0', images.h0) && idleOn('h1', images.h1), 120_000, [promoter]);
      await promoter.kill();
      const mismatches = compare(fleet.commits(base), { h0: GOOD_HISTORY, h1: GOOD_HISTORY }, observed);
      expect(mismatches).toEqual([]);
    });
  }, 300_000);
});
