// The soak (issue 11): N canaries over T ticks against a real Prometheus scraping the mesh
// simulator, the loopback Argo CD and a bare Git remote, with the promoter alone in a forked
// process whose RSS and heap are sampled after every tick. CI keeps landing images (every fourth
// one bad), so canaries start, step, finalize and roll back for the whole run. Writes the figures
// to a JSON file that bench/reliability-report.ts puts in docs/reliability.md. Not run in CI.
//   npm run soak                                   # 50 canaries, 1000 ticks (about 20-30 min)
//   npm run soak -- --canaries 5 --ticks 60        # a short run
//   npm run soak -- --minutes 20                   # full size, but no new tick after 20 minutes
//   options: --canaries N --ticks T --minutes M --gap-ms MS (pause between ticks) --rps R (per service) --out FILE
import { fork } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/logger.js';
import { setImage } from '../src/promoter/manifest-edits.js';
import { GitWorkspace } from '../src/promoter/workspace.js';
import { repoRoot } from '../src/schemas/registry.js';
import { defaultBehaviour, fastPolicyText } from '../test/support/environment.js';
import { cleanGitEnv } from '../test/support/git-remote.js';
import { startMeshStack, TEMPLATE } from './mesh-stack.js';
import type { SoakTickMessage, SoakWorkerStart } from './soak-worker.js';

const { values } = parseArgs({
  options: {
    canaries: { type: 'string', default: '50' },
    ticks: { type: 'string', default: '1000' },
    minutes: { type: 'string' },
    'gap-ms': { type: 'string', default: '250' },
    rps: { type: 'string', default: '2000' },
    out: { type: 'string', default: 'docs/soak.json' },
  },
});
const canaries = Number(values.canaries);
const ticks = Number(values.ticks);
const gapMs = Number(values['gap-ms']);
const rps = Number(values.rps);
const outFile = values.out ?? 'docs/soak.json';
const minutes = values.minutes === undefined ? undefined : Number(values.minutes);
if (![canaries, ticks, gapMs, rps, minutes ?? 1].every((n) => Number.isFinite(n) && n >= 0) || canaries < 1 || ticks < 1) {
  console.error('usage: node dist/bench/soak.js [--canaries N] [--ticks T] [--minutes M] [--gap-ms MS] [--rps R] [--out FILE]');
  process.exit(2);
}

const nameOf = (i: number) => `svc${i}`;
const canaryFile = (name: string) => TEMPLATE.canary.replaceAll('backend', name);
/** Image v of canary i; every fourth one is bad (2 % 5xx against 0.5 %), and the mesh behaves so. */
const imageOf = (name: string, i: number, v: number) => `ghcr.io/docuthinker/${name}:1.${v}.0${(i + v) % 4 === 0 ? '-bad' : ''}`;
const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** N copies of the backend canary, each with a new image waiting (v1) and one-second windows. */
async function writeTree(root: string): Promise<void> {
  const source = repoRoot();
  const template = Object.fromEntries(await Promise.all(Object.entries(TEMPLATE).map(async ([k, p]) => [k, await readFile(join(source, p), 'utf8')] as const))) as Record<keyof typeof TEMPLATE, string>;
  for (let i = 1; i <= canaries; i++) {
    const name = nameOf(i);
    const rename = (text: string) => text.replaceAll('backend', name);
    const files: Record<string, string> = {
      [TEMPLATE.policy.replaceAll('backend', name)]: fastPolicyText(rename(template.policy), 1, 3),
      [TEMPLATE.vs.replaceAll('backend', name)]: rename(template.vs),
      [TEMPLATE.stable.replaceAll('backend', name)]: rename(template.stable),
      [canaryFile(name)]: setImage(rename(template.canary), canaryFile(name), { deployment: `${name}-canary`, container: name }, imageOf(name, i, 1)),
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    }
  }
}

interface Sample {
  tick: number;
  ms: number;
  rssMB: number;
  heapUsedMB: number;
  heapTotalMB: number;
  externalMB: number;
}

const round = (n: number) => Math.round(n * 10) / 10;
const sampleOf = (m: SoakTickMessage): Sample => ({
  tick: m.tick,
  ms: Math.round(m.ms),
  rssMB: round(m.memory.rss / MB),
  heapUsedMB: round(m.memory.heapUsed / MB),
  heapTotalMB: round(m.memory.heapTotal / MB),
  externalMB: round(m.memory.external / MB),
});
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;

/** Least-squares slope of y over x, per 100 ticks: a leak shows as a steady climb. */
function slopePer100(points: Sample[], key: 'rssMB' | 'heapUsedMB'): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.tick, 0) / n;
  const my = points.reduce((s, p) => s + p[key], 0) / n;
  const num = points.reduce((s, p) => s + (p.tick - mx) * (p[key] - my), 0);
  const den = points.reduce((s, p) => s + (p.tick - mx) ** 2, 0);
  return den === 0 ? 0 : round((num / den) * 100);
}

const dir = await mkdtemp(join(tmpdir(), 'soak-'));
const cleanup: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
const began = Date.now();
try {
  console.log(`soak: ${canaries} canaries, ${ticks} ticks, ${gapMs} ms between ticks, ${rps} requests/s per service; setting up in ${dir}`);
  const tree = join(dir, 'tree');
  await writeTree(tree);
  // Images with "bad" in their tag fail 2 % of requests against 0.5 % (the demo's behaviour).
  const { remoteDir, argo, prometheus } = await startMeshStack({
    dir,
    tree,
    names: Array.from({ length: canaries }, (_, k) => nameOf(k + 1)),
    requestsPerSecond: rps,
    behaviour: defaultBehaviour,
    seed: 11,
    cleanup,
  });
  await sleep(3000); // a few scrapes before the first canary starts

  // CI: lands the next image of every canary whose rollout ended (finalized or rolled back).
  const ci = await GitWorkspace.open({
    remoteUrl: remoteDir,
    branch: 'main',
    dir: join(dir, 'ci'),
    identity: { name: 'ci', email: 'ci@example.test' },
    logger: silentLogger(),
    env: cleanGitEnv(dir),
  });
  const version = new Map<number, number>(Array.from({ length: canaries }, (_, k) => [k + 1, 1]));
  const waiting = new Set<number>();
  let landing: Promise<void> | undefined;
  let landed = 0;
  const land = async (batch: number[]): Promise<void> => {
    for (let attempt = 0; attempt < 5; attempt++) {
      await ci.refresh();
      const files: Record<string, string> = {};
      for (const i of batch) {
        const name = nameOf(i);
        const v = (version.get(i) ?? 1) + 1;
        files[canaryFile(name)] = setImage((await ci.readFile(canaryFile(name))) ?? '', canaryFile(name), { deployment: `${name}-canary`, container: name }, imageOf(name, i, v));
      }
      const outcome = await ci.commitAndPush({ files, message: `ci: next images for ${batch.map(nameOf).join(', ')}`, allowedPaths: Object.keys(files) });
      if (outcome.kind === 'pushed' || outcome.kind === 'no-op') {
        for (const i of batch) version.set(i, (version.get(i) ?? 1) + 1);
        landed += batch.length;
        return;
      }
    }
  };

  const samples: Sample[] = [];
  const decisions: Record<string, number> = {};
  let wrongPromotions = 0;
  let badRolledBack = 0;
  let goodRolledBack = 0;
  let canaryErrors = 0;
  let tickErrors = 0;
  const errorReasons = new Map<string, number>();
  const every = Math.max(1, Math.floor(ticks / 20));
  // SOAK_WORKER_ARGS: node flags for the promoter process alone (e.g. --cpu-prof --cpu-prof-dir=DIR).
  const workerArgs = (process.env.SOAK_WORKER_ARGS ?? '').split(' ').filter((a) => a !== '');
  const worker = fork(new URL('./soak-worker.js', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, ...workerArgs] });
  cleanup.push(() => {
    if (worker.exitCode === null) worker.kill('SIGKILL');
    return Promise.resolve();
  });
  const finished = new Promise<void>((resolve, reject) => {
    worker.on('message', (raw) => {
      const message = raw as SoakTickMessage | { kind: 'done' } | { kind: 'failed'; error: string };
      if (message.kind === 'done') return resolve();
      if (message.kind === 'failed') return reject(new Error(`soak worker failed: ${message.error}`));
      const sample = sampleOf(message);
      samples.push(sample);
      canaryErrors += message.errors;
      for (const reason of message.errorReasons) errorReasons.set(reason, (errorReasons.get(reason) ?? 0) + 1);
      if (message.tickError !== undefined) tickErrors += 1;
      if (message.errorReasons.length > 0 && (message.tick <= 3 || message.tick % every === 0)) console.log(`tick ${message.tick}: ${message.errors} canary errors: ${message.errorReasons.join(' | ')}`);
      for (const c of message.committed) {
        decisions[c.action] = (decisions[c.action] ?? 0) + 1;
        const i = Number(c.canary.replace(/^svc/, ''));
        if (c.action === 'finalize-image' && /-bad\b/.test(c.subject)) wrongPromotions += 1;
        if (c.action === 'rollback') {
          if (/-bad\b/.test(c.subject)) badRolledBack += 1;
          else goodRolledBack += 1;
        }
        if (c.action === 'rollback' || c.action === 'finalize-traffic') waiting.add(i);
      }
      if (waiting.size > 0 && landing === undefined) {
        const batch = [...waiting];
        waiting.clear();
        landing = land(batch).finally(() => (landing = undefined));
      }
      if (message.tick % every === 0 || message.tick === ticks || (minutes !== undefined && message.tick % 5 === 0)) {
        const counts = Object.entries(decisions).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
        console.log(
          `tick ${String(message.tick).padStart(5)}/${ticks}  rss ${sample.rssMB.toFixed(1).padStart(6)} MB  heap ${sample.heapUsedMB.toFixed(1).padStart(6)} MB  tick ${String(sample.ms).padStart(5)} ms  ${Math.round((Date.now() - began) / 1000)} s  commits: ${counts}; images landed ${landed}`,
        );
      }
    });
    worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`soak worker exited with ${code}`))));
  });
  const start: SoakWorkerStart = {
    config: {
      git: { url: remoteDir, workdir: join(dir, 'promoter') },
      prometheus: { url: prometheus.url, timeout: '10s', settle: '1s' },
      argocd: { timeout: '5s' },
      policies: ['gitops/apps/*/canary.yaml'],
      tickDeadline: '60s',
    },
    kubeConfigYaml: argo.kubeConfigYaml(),
    env: cleanGitEnv(dir) as Record<string, string>,
    ticks,
    gapMs,
    ...(minutes !== undefined ? { stopAt: Date.now() + minutes * 60_000 } : {}),
  };
  worker.send(start);
  await finished;
  await landing;

  const at = (tick: number) => samples.find((s) => s.tick >= tick) ?? samples.at(-1);
  const done = samples.length;
  const point = (s: Sample | undefined) => (s ? { tick: s.tick, rssMB: s.rssMB, heapUsedMB: s.heapUsedMB } : undefined);
  const second = samples.filter((s) => s.tick > samples.length / 2);
  const durations = samples.map((s) => s.ms);
  const result = {
    command: `npm run soak -- --canaries ${canaries} --ticks ${ticks}${minutes !== undefined ? ` --minutes ${minutes}` : ''} --gap-ms ${gapMs} --rps ${rps}`,
    ticksAsked: ticks,
    minutes: minutes ?? null,
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    canaries,
    ticks: samples.length,
    gapMs,
    requestsPerSecond: rps,
    wallSeconds: Math.round((Date.now() - began) / 1000),
    memory: {
      start: point(samples[0]),
      middle: point(at(Math.ceil(done / 2))),
      end: point(samples.at(-1)),
      maxRssMB: Math.max(...samples.map((s) => s.rssMB)),
      maxHeapUsedMB: Math.max(...samples.map((s) => s.heapUsedMB)),
      secondHalfSlopePer100Ticks: { rssMB: slopePer100(second, 'rssMB'), heapUsedMB: slopePer100(second, 'heapUsedMB') },
    },
    tickMs: { p50: percentile(durations, 50), p95: percentile(durations, 95), max: Math.max(...durations) },
    decisions,
    imagesLanded: landed,
    badImagesRolledBack: badRolledBack,
    goodImagesRolledBack: goodRolledBack,
    wrongPromotions,
    canaryErrors,
    tickErrors,
    /** distinct canary error reasons, with the number of ticks each was seen in. */
    errorReasons: Object.fromEntries(errorReasons),
    samples: samples.filter((s, k) => k % Math.max(1, Math.floor(samples.length / 200)) === 0 || k === samples.length - 1),
  };
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, `${JSON.stringify(result, null, 2)}\n`);
  const m = result.memory;
  console.log(`soak: ${result.ticks} ticks in ${result.wallSeconds} s; tick p50 ${result.tickMs.p50} ms, p95 ${result.tickMs.p95} ms, max ${result.tickMs.max} ms`);
  console.log(`soak: RSS start ${m.start?.rssMB} MB, middle ${m.middle?.rssMB} MB, end ${m.end?.rssMB} MB (max ${m.maxRssMB}); heap used start ${m.start?.heapUsedMB} MB, middle ${m.middle?.heapUsedMB} MB, end ${m.end?.heapUsedMB} MB`);
  console.log(`soak: decisions ${JSON.stringify(decisions)}; bad images rolled back ${badRolledBack}, good images rolled back ${goodRolledBack}, bad images finalized ${wrongPromotions}; canary errors ${canaryErrors}, tick errors ${tickErrors}`);
  console.log(`soak: wrote ${outFile}`);
} finally {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
}
