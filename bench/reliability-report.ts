// Renders docs/reliability.md from the fault suite's case records (test/faults/support/record.ts):
// one table per fault class, plus the soak's figures from its JSON (bench/soak.ts) when present.
// Run through `npm run reliability`, which runs the suite first.
//   node dist/bench/reliability-report.js [records.jsonl] [out.md] [suite seconds] [soak.json]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

interface Row {
  class: string;
  case: string;
  runs: number;
  survived: boolean;
  dataLost: number;
  wrongPromotions: number;
  monitoringRollbacks: number;
  tokensLeaked: number;
}

interface MemoryPoint {
  tick: number;
  rssMB: number;
  heapUsedMB: number;
}

/** What bench/soak.ts writes (the fields this report reads). */
interface Soak {
  command: string;
  finishedAt: string;
  machine: { cpus: number; node: string };
  canaries: number;
  ticks: number;
  gapMs: number;
  requestsPerSecond: number;
  wallSeconds: number;
  memory: {
    start?: MemoryPoint;
    middle?: MemoryPoint;
    end?: MemoryPoint;
    maxRssMB: number;
    maxHeapUsedMB: number;
    secondHalfSlopePer100Ticks: { rssMB: number; heapUsedMB: number };
  };
  tickMs: { p50: number; p95: number; max: number };
  decisions: Record<string, number>;
  imagesLanded: number;
  badImagesRolledBack: number;
  goodImagesRolledBack: number;
  wrongPromotions: number;
  canaryErrors: number;
  tickErrors: number;
  /** what the person who ran it adds (e.g. the machine was shared). */
  note?: string;
}

const [recordFile = '.tmp/reliability.jsonl', outFile = 'docs/reliability.md', seconds = '', soakFile = 'docs/soak.json'] = process.argv.slice(2);
const recorded: Row[] = existsSync(recordFile)
  ? readFileSync(recordFile, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Row)
  : [];
/**
 * Records of one case from several test files are one row: the whole-suite secrets check records
 * once per file (test/support/secrets.ts), so its runs are the files that ran with the fake token.
 */
const rows: Row[] = [];
for (const r of recorded) {
  const same = rows.find((m) => m.class === r.class && m.case === r.case);
  if (!same) rows.push({ ...r });
  else {
    same.runs += r.runs;
    same.survived &&= r.survived;
    same.dataLost += r.dataLost;
    same.wrongPromotions += r.wrongPromotions;
    same.monitoringRollbacks += r.monitoringRollbacks;
    same.tokensLeaked += r.tokensLeaked;
  }
}
const soak: Soak | undefined = existsSync(soakFile) ? (JSON.parse(readFileSync(soakFile, 'utf8')) as Soak) : undefined;

/** The classes the issue asks for, in its order, with what each one's figures mean. */
const CLASSES: { id: string; title: string; note: string }[] = [
  { id: 'metrics', title: 'Metrics', note: 'A real Prometheus scraping a loopback exporter: NaN, Inf, missing, reset and silent series; Prometheus killed, hanging, huge, empty or garbage. A rollback of a canary whose only fault was monitoring counts under "rollbacks caused only by monitoring".' },
  { id: 'kubernetes', title: 'Kubernetes API', note: 'The Argo CD API behind a fault proxy (hang, garbage, 500, huge body, disconnect) while a bad canary must be rolled back; "data lost" counts a rollback that should be in Git and is not.' },
  { id: 'git', title: 'Git', note: 'The remote unreachable, non-fast-forward loops, remote rejected, a remote moving between fetch and push, stale locks, a corrupt clone, a full disk.' },
  { id: 'crash', title: 'Crash consistency', note: 'kill -9 at random points; every run must converge to the uninterrupted run\'s Git history ("data lost": a duplicated, skipped or lost step).' },
  { id: 'concurrency', title: 'Concurrency', note: 'Many canaries on one remote, two promoters without a Lease, people committing beside the promoter.' },
  { id: 'bad-input', title: 'Bad input', note: 'Hostile or careless commits (policies, manifests, symlinks, PromQL in label names and values) and bad promoter configs. Each case checks that the error names the file or field and that nothing is committed; "wrong promotions" counts ANY commit the promoter made because of the input (a start, a step, a finalization or a rollback).' },
  { id: 'secrets', title: 'Secrets', note: 'A recognisable fake token through the whole flow; "tokens leaked" counts every place it was found (logs, errors, commits, PR bodies, the status page, ps, files under the work tree). The "every test file" row is the whole-suite check of test/support/secrets.ts (a vitest setup file): its runs are the test files of this run that ran with the fake GIT_TOKEN/GITHUB_TOKEN, which every promoter and git they started inherited.' },
  { id: 'service', title: 'Service', note: 'The running service: health endpoints, tick liveness.' },
];
const known = new Map(CLASSES.map((c) => [c.id, c]));
const present = [...new Set(rows.map((r) => r.class))].sort((a, b) => {
  const order = (id: string) => (known.has(id) ? CLASSES.findIndex((c) => c.id === id) : CLASSES.length);
  return order(a) - order(b);
});
const titleOf = (id: string) => known.get(id)?.title ?? id;

type Key = 'dataLost' | 'wrongPromotions' | 'monitoringRollbacks' | 'tokensLeaked';
const sum = (list: Row[], key: Key) => list.reduce((n, r) => n + r[key], 0);
const tried = (list: Row[]) => list.reduce((n, r) => n + r.runs, 0);
const survivedRuns = (list: Row[]) => list.filter((r) => r.survived).reduce((n, r) => n + r.runs, 0);
const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

const out: string[] = [
  '# Reliability: the fault suite',
  '',
  'Generated by `npm run reliability` (runs `test/faults/` with real Prometheus, real git and loopback',
  "HTTP servers, then renders this file from each case's record and from the soak's `docs/soak.json`).",
  'Do not edit by hand.',
  '',
  `Cases recorded: ${rows.length} (${tried(rows)} runs)${seconds ? `; suite wall time ${seconds} s` : ''}.`,
  '',
  '| class | cases tried | survived | data lost | wrong promotions | rollbacks caused only by monitoring | tokens leaked |',
  '|---|---:|---:|---:|---:|---:|---:|',
];
for (const c of present) {
  const list = rows.filter((r) => r.class === c);
  out.push(`| ${titleOf(c)} | ${tried(list)} | ${survivedRuns(list)} | ${sum(list, 'dataLost')} | ${sum(list, 'wrongPromotions')} | ${sum(list, 'monitoringRollbacks')} | ${sum(list, 'tokensLeaked')} |`);
}
out.push(`| **all** | **${tried(rows)}** | **${survivedRuns(rows)}** | **${sum(rows, 'dataLost')}** | **${sum(rows, 'wrongPromotions')}** | **${sum(rows, 'monitoringRollbacks')}** | **${sum(rows, 'tokensLeaked')}** |`);

const failed = rows.filter((r) => !r.survived);
if (failed.length > 0) {
  out.push('', '**Cases that did not survive** (an assertion failed):', '');
  for (const r of failed) out.push(`- ${titleOf(r.class)}: ${cell(r.case)}`);
}

for (const c of present) {
  const list = rows.filter((r) => r.class === c);
  out.push('', `## ${titleOf(c)}`, '');
  const note = known.get(c)?.note;
  if (note) out.push(note, '');
  out.push('| case | runs | survived | data lost | wrong promotions | monitoring rollbacks | tokens leaked |', '|---|---:|---|---:|---:|---:|---:|');
  for (const r of list) {
    out.push(`| ${cell(r.case)} | ${r.runs} | ${r.survived ? 'yes' : 'NO'} | ${r.dataLost} | ${r.wrongPromotions} | ${r.monitoringRollbacks} | ${r.tokensLeaked} |`);
  }
}

const missing = CLASSES.filter((c) => c.id !== 'service' && !present.includes(c.id));
if (missing.length > 0) {
  out.push('', '## Not in the suite yet', '', `No case recorded for: ${missing.map((c) => c.title).join(', ')}. Their tables appear above once their tests record cases.`);
}

out.push('', '## Soak', '');
if (soak) {
  const m = soak.memory;
  const fmt = (p: MemoryPoint | undefined, key: 'rssMB' | 'heapUsedMB') => (p ? `${p[key].toFixed(1)} MB (tick ${p.tick})` : 'n/a');
  out.push(
    `${soak.canaries} canaries over ${soak.ticks} ticks against a real Prometheus (mesh simulator at ${soak.requestsPerSecond} requests/s per service, the loopback Argo CD, a bare Git remote, ${soak.gapMs} ms between ticks), the promoter alone in a forked process. CI lands the next image of each canary when its rollout ends; every fourth image is bad. Run with \`${soak.command}\` on ${soak.finishedAt.slice(0, 10)} (${soak.machine.cpus} cores, Node ${soak.machine.node}): ${soak.wallSeconds} s.`,
    '',
    '| promoter process | start | middle | end | max |',
    '|---|---:|---:|---:|---:|',
    `| RSS | ${fmt(m.start, 'rssMB')} | ${fmt(m.middle, 'rssMB')} | ${fmt(m.end, 'rssMB')} | ${m.maxRssMB.toFixed(1)} MB |`,
    `| heap used | ${fmt(m.start, 'heapUsedMB')} | ${fmt(m.middle, 'heapUsedMB')} | ${fmt(m.end, 'heapUsedMB')} | ${m.maxHeapUsedMB.toFixed(1)} MB |`,
    '',
    soak.ticks >= 200
      ? `Second half of the run, least-squares trend per 100 ticks: RSS ${m.secondHalfSlopePer100Ticks.rssMB} MB, heap used ${m.secondHalfSlopePer100Ticks.heapUsedMB} MB.`
      : `No trend is given: ${soak.ticks} ticks are too few for a per-100-tick slope to mean more than where the garbage collector happened to run.`,
    `Tick duration: p50 ${soak.tickMs.p50} ms, p95 ${soak.tickMs.p95} ms, max ${soak.tickMs.max} ms.`,
    `Decisions committed: ${Object.entries(soak.decisions).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}; images landed by CI: ${soak.imagesLanded}.`,
    `Bad images rolled back: ${soak.badImagesRolledBack}; bad images finalized (wrong promotions): ${soak.wrongPromotions}; good images rolled back (statistical false rollbacks, not monitoring): ${soak.goodImagesRolledBack}; canary errors: ${soak.canaryErrors}; ticks that failed as a whole: ${soak.tickErrors}.`,
  );
  if (soak.note) out.push('', `Note on this run: ${soak.note}`);
  if (soak.canaries < 50 || soak.ticks < 1000) {
    out.push('', `This is a shorter run than the issue's 50 canaries over 1000 ticks; \`npm run soak\` runs the full size.`);
  }
} else {
  out.push('No soak figures: `docs/soak.json` is missing. Produce them with `npm run soak` (50 canaries over 1000 ticks;', '`npm run soak -- --canaries 5 --ticks 60` for a short run), then run `npm run reliability` again.');
}
out.push('');
writeFileSync(outFile, out.join('\n'));
console.log(`wrote ${outFile}: ${rows.length} cases in ${present.length} classes${soak ? `; soak ${soak.canaries} x ${soak.ticks}` : '; no soak figures'}`);
