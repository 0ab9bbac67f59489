// Fault suite, crash consistency: real `promoter run` processes killed with SIGKILL (the whole
// process group, as a node dying) at seeded random points — before, during or after a chosen git
// command, during finalization between its two commits, or after a random delay — then restarted on
// the same workdir. Every rollout must end with exactly the commits an uninterrupted run makes.
// In .ci/run with 54 kills over 3 lanes in parallel; CRASH_SEED, CRASH_KILLS and CRASH_LANES make
// longer runs (`npm run faults:crash`).
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom, type Random } from '../support/traffic.js';
import { applicationStatusView } from '../../src/promoter/argocd.js';
import { APPS_APP, commitsOf, decisions, Fleet, MESH_APP, type PromoterCommit } from './support/fleet.js';
import { CLI, PromoterProcess, type GitStop } from './support/promoter-process.js';
import { recordCase } from './support/record.js';

const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000_007);
/** Kills in all (the issue asks for at least 50), spread over the lanes. */
const KILLS = Number(process.env.CRASH_KILLS ?? 54);
/** Independent promoters on disjoint canaries of one remote, killed independently. */
const LANES = Number(process.env.CRASH_LANES ?? 3);
const PROMOTER = 'docuthinker-promoter <promoter@docuthinker.invalid>';
/** A round whose remote did not move for this long is stuck (the failure this case looks for). */
const STALL_MS = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What an uninterrupted run commits for a healthy and for a bad canary (checked against a real one below). */
const GOOD_HISTORY = ['start 50', 'set-weight 100', 'finalize-image finalize-image', 'finalize-traffic finalize-traffic'];
const BAD_HISTORY = ['start 50', 'rollback rollback-from-50'];

interface Lane {
  index: number;
  good: string[];
  bad: string;
  /** restarts as pid 1 of a pid namespace: the same clone directory every time, as in a container. */
  pidNamespace: boolean;
}

const lanes: Lane[] = Array.from({ length: LANES }, (_, index) => ({
  index,
  good: [`l${index}-a`, `l${index}-b`],
  bad: `l${index}-x`,
  pidNamespace: index % 2 === 1,
}));

let dir: string;
let fleet: Fleet;

interface KillRecord {
  lane: number;
  round: number;
  how: string;
  /** what the wrapper reported, or "delay"/"fallback". */
  at: string;
  finalizing: boolean;
}

interface RoundResult {
  lane: number;
  round: number;
  histories: Record<string, string[]>;
  images: Record<string, string>;
  converged: boolean;
  /** from the images landing to the last commit of the rollout. */
  seconds: number;
}

/**
 * The commands of a write (and the fetch and checkout around it), where a kill can tear something:
 * the ones the promoter runs (a commit is one `git fast-import`, a refresh a fetch, and a checkout
 * and clean when HEAD moved). A stop on a command that never comes costs a whole patience.
 */
const WRITE_COMMANDS = ['push', 'push', 'fast-import', 'fetch', 'checkout', 'clean', 'rev-parse'];
const PHASES = ['before', 'during', 'after'] as const;

function pick<T>(random: Random, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)] as T;
}

function describeStop(stop: GitStop | undefined, delayMs: number | undefined): string {
  if (delayMs !== undefined) return `after ${delayMs} ms`;
  if (!stop) return 'none';
  return `${stop.phase}${stop.phase === 'during' ? ` (+${stop.ms} ms)` : ''} git ${stop.command}${stop.decision ? ` of ${stop.decision}` : ''} #${stop.nth}`;
}

function imagesFor(lane: Lane, round: number): Record<string, string> {
  const images: Record<string, string> = {};
  for (const s of lane.good) images[s] = `registry.test/${s}:r${round}`;
  images[lane.bad] = `registry.test/${lane.bad}:r${round}-bad`;
  return images;
}

/** Per lane: the remote's HEAD last looked at and whether the lane had converged there (reads only when HEAD moves). */
const lastLook = new Map<number, { head: string; done: boolean }>();

async function converged(lane: Lane, images: Record<string, string>): Promise<boolean> {
  try {
    const head = fleet.head();
    const seen = lastLook.get(lane.index);
    if (seen?.head === head) return seen.done;
    const states = await fleet.states([...lane.good, lane.bad], head);
    const bad = states.get(lane.bad);
    const done =
      lane.good.every((s) => {
        const state = states.get(s);
        return state?.phase === 'idle' && state.stableImage === images[s];
      }) &&
      bad?.phase === 'failed' &&
      bad.failedImage === images[lane.bad];
    lastLook.set(lane.index, { head, done });
    return done;
  } catch {
    return false;
  }
}

/** A good canary of the lane is between finalize-image and finalize-traffic, or before finalize-image. */
async function finalizeAhead(lane: Lane): Promise<'between' | 'before' | 'past'> {
  const states = await fleet.states(lane.good, fleet.head());
  const phases = [...states.values()].map((s) => s.phase);
  if (phases.includes('finalizing')) return 'between';
  if (phases.some((p) => p === 'progressing' || p === 'ready')) return 'before';
  return 'past';
}

/** Polls an async probe every `everyMs` until it holds or `ms` passed (bounded). */
async function until(probe: () => Promise<boolean>, ms: number, everyMs: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await sleep(everyMs);
  }
  return probe();
}

/** What Argo CD says of the lane's Applications: a stalled round usually waits on one of them. */
function argoSummary(lane: Lane): string {
  return [`${MESH_APP}-l${lane.index}`, `${APPS_APP}-l${lane.index}`]
    .map((name) => {
      const view = applicationStatusView(fleet.argo.application(name));
      return `${name}: ${view.syncStatus} ${view.syncedRevision?.slice(0, 12) ?? '-'} ${view.health}${view.operationInProgress ? ` operation ${view.operationPhase ?? 'pending'} for ${view.operationRevision?.slice(0, 12) ?? '?'}` : ''}`;
    })
    .join('; ');
}

/**
 * Per lane, the next promoter process, started ahead of time (node up, modules loaded, waiting to
 * go): a restart after a kill then costs no node start. Each is a fresh process all the same.
 */
const spares = new Map<number, PromoterProcess>();

/** One rollout of every canary in the lane: new images land, the promoter is killed `kills` times, then runs to the end. */
async function round(lane: Lane, index: number, kills: number, random: Random, log: KillRecord[], last: boolean): Promise<RoundResult> {
  const images = imagesFor(lane, index);
  const base = fleet.head();
  await fleet.landImages(images, `CI: lane ${lane.index} round ${index}`);
  const landed = Date.now();
  const workdir = join(dir, `lane-${lane.index}`);
  const spare = () =>
    PromoterProcess.start({
      name: `lane-${lane.index}`,
      dir,
      workdir,
      gitUrl: fleet.gitUrl,
      prometheusUrl: fleet.prometheus.url,
      kubeconfig: fleet.kubeconfig,
      policies: [`gitops/apps/l${lane.index}-*/canary.yaml`],
      pidNamespace: lane.pidNamespace,
      warm: true,
    });
  // The spare goes, and the next one starts warming up while this one runs.
  const start = (stop?: GitStop): PromoterProcess => {
    const ready = spares.get(lane.index);
    const promoter = ready?.running ? ready : spare();
    spares.set(lane.index, spare());
    promoter.go(stop);
    return promoter;
  };
  let finalizeKills = 0;
  for (let k = 0; k < kills && !(await converged(lane, images)); k++) {
    // At least one kill per round lands in finalization, between its two commits when a canary is there.
    const ahead = finalizeKills === 0 && k > 0 ? await finalizeAhead(lane) : 'past';
    let stop: GitStop | undefined;
    let delayMs: number | undefined;
    let finalizing = false;
    // How long a stop may take to come before the kill happens anyway (then it is a delayed kill).
    let patienceMs = 4000;
    const ms = Math.floor(random() * 25);
    if (ahead === 'between') {
      finalizing = true;
      patienceMs = 12_000;
      stop = random() < 0.5 ? { command: 'push', decision: 'finalize-traffic', nth: 1, phase: pick(random, PHASES), ms } : { command: '*', nth: 1 + Math.floor(random() * 12), phase: pick(random, PHASES), ms };
    } else if (ahead === 'before') {
      finalizing = true;
      patienceMs = 12_000;
      stop = { command: 'push', decision: 'finalize-image', nth: 1, phase: pick(random, PHASES), ms };
    } else if (random() < 0.15) {
      delayMs = Math.floor(random() * 2000);
    } else if (random() < 0.45) {
      stop = { command: '*', nth: 1 + Math.floor(random() * 16), phase: pick(random, PHASES), ms };
    } else {
      const command = pick(random, WRITE_COMMANDS);
      stop = { command, nth: command === 'fetch' || command === 'rev-parse' ? 1 + Math.floor(random() * 3) : 1, phase: pick(random, PHASES), ms };
    }
    const promoter = start(stop);
    let at: string;
    // Clocks start once the promoter runs its first git command.
    await promoter.until(() => promoter.alive() || !promoter.running, 60_000);
    if (delayMs !== undefined) {
      await sleep(delayMs);
      at = 'delay';
    } else {
      // A stop that never comes (its command is past for this round) ends as a plain delayed kill.
      const fired = await promoter.until(() => promoter.fired() !== undefined || !promoter.running, patienceMs);
      at = fired ? (promoter.fired() ?? `exited ${promoter.child.exitCode}`) : 'delay (stop not reached)';
    }
    await promoter.kill();
    if (finalizing && at.startsWith('delay')) finalizing = false;
    if (finalizing) finalizeKills += 1;
    log.push({ lane: lane.index, round: index, how: describeStop(stop, delayMs), at, finalizing });
  }
  // Restarted for good: it must finish every rollout with nothing lost or repeated.
  const promoter = start();
  // Given up only on a stall: the remote's HEAD still for STALL_MS (every lane's commits count, as
  // each one slows the others with push races). A loaded machine makes a round slow, not stuck.
  let head = fleet.head();
  let moved = Date.now();
  const done = await until(
    async () => {
      if (await converged(lane, images)) return true;
      const now = fleet.head();
      if (now !== head) [head, moved] = [now, Date.now()];
      if (Date.now() - moved > STALL_MS) throw new Error('stalled');
      return false;
    },
    600_000,
    500,
  ).catch(() => false);
  const seconds = (Date.now() - landed) / 1000;
  // One more tick (two after the lane's last round): a promoter that would commit again after the end shows it now.
  await sleep(last ? 2500 : 1200);
  const tail = promoter.lines
    .filter((l) => l.msg === 'hold' || l.msg === 'committed' || (l.level ?? 0) >= 40)
    .slice(-16)
    .map((l) => `${JSON.stringify(l.time)} ${JSON.stringify(l.canary ?? '')} ${String(l.msg)} ${JSON.stringify(l.reason ?? l.error ?? l.err ?? l.subject ?? '')}`.slice(0, 300))
    .join('\n');
  await promoter.kill();
  if (last) {
    await spares.get(lane.index)?.kill();
    spares.delete(lane.index);
  }
  const commits = fleet.commits(base);
  const histories: Record<string, string[]> = {};
  for (const s of [...lane.good, lane.bad]) histories[s] = decisions(commitsOf(commits, s, PROMOTER));
  if (!done) console.log(`lane ${lane.index} round ${index} did not converge; Argo CD: ${argoSummary(lane)}; last log lines:\n${tail}`);
  // Every promoter commit names the image of this round.
  for (const s of [...lane.good, lane.bad]) {
    const wrong = commitsOf(commits, s, PROMOTER).filter((c: PromoterCommit) => c.image !== images[s]);
    if (wrong.length > 0) histories[s]?.push(...wrong.map((c) => `wrong image ${c.image}`));
  }
  if (process.env.CRASH_DEBUG) console.log(`lane ${lane.index} round ${index}: ${seconds.toFixed(1)} s\n${tail}`);
  return { lane: lane.index, round: index, histories, images, converged: done, seconds };
}

describe('fault suite: crash consistency', () => {
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build, or scripts/setup.sh)`);
    dir = await mkdtemp(join(tmpdir(), 'faults-crash-'));
    // One pair of Applications per lane: the lanes are independent promoters, and one lane's sync
    // operation in progress would otherwise hold the other lanes' gates.
    fleet = await Fleet.start({ dir, services: lanes.flatMap((l) => [...l.good, l.bad]), groupOf: (service) => `-${service.split('-')[0] ?? ''}` });
  }, 180_000);

  afterAll(async () => {
    for (const spare of spares.values()) await spare.kill();
    await fleet?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`kill -9 at ${KILLS} seeded random points, finalization included: every rollout converges to the uninterrupted history`, async () => {
    console.log(`crash seed ${SEED} (CRASH_SEED=${SEED} repeats the kill points)`);
    const kills: KillRecord[] = [];
    const results: RoundResult[] = [];
    const started = Date.now();
    await Promise.all(
      lanes.map(async (lane) => {
        const random = seededRandom(SEED * 31 + lane.index);
        // Round 0 is the uninterrupted reference run.
        results.push(await round(lane, 0, 0, random, kills, false));
        const target = Math.ceil(KILLS / LANES);
        for (let r = 1; kills.filter((k) => k.lane === lane.index).length < target && r <= 30; r++) {
          const left = target - kills.filter((k) => k.lane === lane.index).length;
          const planned = Math.min(left, 4 + Math.floor(random() * 5));
          results.push(await round(lane, r, planned, random, kills, planned === left));
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;

    // Compare each rollout with the uninterrupted one (same lane, round 0), commit by commit.
    let lost = 0;
    let wrongPromotions = 0;
    let monitoringRollbacks = 0;
    const mismatches: string[] = [];
    for (const result of results) {
      const reference = results.find((r) => r.lane === result.lane && r.round === 0);
      for (const [canary, history] of Object.entries(result.histories)) {
        const expected = reference?.histories[canary] ?? [];
        if (JSON.stringify(history) !== JSON.stringify(expected)) {
          mismatches.push(`lane ${result.lane} round ${result.round} ${canary}: ${JSON.stringify(history)} != ${JSON.stringify(expected)}`);
          // Steps missing or repeated, whichever is more.
          const missing = expected.filter((d) => !history.includes(d)).length;
          const extra = Math.max(0, history.length - expected.length);
          lost += Math.max(1, missing + extra);
        }
        const bad = canary.endsWith('-x');
        wrongPromotions += bad ? history.filter((d) => /^(set-weight|finalize)/.test(d)).length : 0;
        monitoringRollbacks += bad ? 0 : history.filter((d) => d.startsWith('rollback')).length;
      }
    }
    const rollouts = results.filter((r) => r.round > 0).length * 3;
    const finalizing = kills.filter((k) => k.finalizing).length;
    const byWhere = new Map<string, number>();
    for (const k of kills) byWhere.set(k.at.replace(/\(\d+\)/, ''), (byWhere.get(k.at.replace(/\(\d+\)/, '')) ?? 0) + 1);
    console.log(
      `crash: seed ${SEED}: ${kills.length} kills (${finalizing} during finalization) over ${rollouts} interrupted rollouts in ${results.length - LANES} rounds, ` +
        `${results.filter((r) => r.converged).length}/${results.length} rounds converged, ${mismatches.length} histories differ, ${seconds.toFixed(0)} s\n` +
        `  kill points: ${[...byWhere.entries()].sort((a, b) => b[1] - a[1]).map(([w, n]) => `${w} ${n}`).join(', ')}`,
    );
    const survived = mismatches.length === 0 && results.every((r) => r.converged);
    const record = { dataLost: lost, wrongPromotions, monitoringRollbacks, tokensLeaked: 0 };
    recordCase({ class: 'crash', case: `kill -9 at seeded random git commands and delays (seed ${SEED})`, runs: kills.length - finalizing, ...record }, survived);
    recordCase({ class: 'crash', case: 'kill -9 during finalization (finalize-image push, between the two commits, finalize-traffic push)', runs: finalizing, dataLost: 0, wrongPromotions: 0, monitoringRollbacks: 0, tokensLeaked: 0 }, survived);

    // The reference run itself is what the design says a rollout is.
    for (const lane of lanes) {
      const reference = results.find((r) => r.lane === lane.index && r.round === 0);
      for (const s of lane.good) expect(reference?.histories[s]).toEqual(GOOD_HISTORY);
      expect(reference?.histories[lane.bad]).toEqual(BAD_HISTORY);
    }
    // A promoter that exits by itself after a kill (a crash loop on what the kill left) is a failure too.
    expect(kills.filter((k) => k.at.startsWith('exited'))).toEqual([]);
    expect(mismatches).toEqual([]);
    expect(results.every((r) => r.converged)).toBe(true);
    expect(kills.length).toBeGreaterThanOrEqual(KILLS);
    expect(finalizing).toBeGreaterThanOrEqual(LANES);
  }, 900_000);
});
