// The decision-quality benchmark: seeded canary traces judged by four judges side by side.
// Prints figures and asserts nothing. Usage: node dist/bench/decision-quality.js [--seeds N]
// [--only TEXT] [--settings JSON] [--write-traces DIR]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analysisSchema, DEFAULT_ANALYSIS, type StepSpec } from '../src/analysis/settings.js';
import type { Decision, LatencyCounts, Window } from '../src/analysis/types.js';
import { flaggerJudge, oracleJudge, sequentialJudge, zTestJudge, type JudgeFactory } from './judges.js';
import { Rng } from './random.js';
import { BASELINE_WINDOWS, BUCKETS, FIXED_RAMP, SCENARIOS, WINDOW_SECONDS, drawBaseline, drawWindow, startRun, type Scenario } from './scenarios.js';

/** The bench's ramp: the 5 -> 10 -> 50 %, then 100 %; minimum dwells 5, 5 and 10 minutes. */
export const BENCH_STEPS: StepSpec[] = [
  { weight: 5, minDwell: 300, maxDwell: 1800 },
  { weight: 10, minDwell: 300, maxDwell: 1800 },
  { weight: 50, minDwell: 600, maxDwell: 3600 },
  { weight: 100, minDwell: 300, maxDwell: 1800 },
];
const SUM_MIN_DWELL_WINDOWS = BENCH_STEPS.slice(0, -1).reduce((sum, s) => sum + s.minDwell / WINDOW_SECONDS, 0);
const MAX_WINDOWS = FIXED_RAMP.length;

interface Options {
  seeds: number;
  writeTraces: string | null;
  /** run only scenarios whose name contains one of these (comma-separated). */
  only: string[];
  /** analysis settings overriding the defaults (JSON, parsed by the policy schema): for tuning. */
  settings: unknown;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { seeds: 200, writeTraces: null, only: [], settings: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--seeds') options.seeds = Math.max(1, Number.parseInt(argv[++i] ?? '200', 10) || 200);
    else if (arg === '--write-traces') options.writeTraces = argv[++i] ?? null;
    else if (arg === '--only') options.only = (argv[++i] ?? '').split(',').filter((x) => x.length > 0);
    else if (arg === '--settings') options.settings = JSON.parse(argv[++i] ?? '{}') as unknown;
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: decision-quality [--seeds N (default 200)] [--only TEXT[,TEXT]] [--settings JSON] [--write-traces DIR]');
      process.exit(0);
    }
  }
  return options;
}

function seedFor(scenarioIndex: number, seed: number, stream: number): number {
  return (Math.imul(scenarioIndex + 1, 0x9e3779b1) ^ Math.imul(seed + 1, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35)) >>> 0;
}

/** Stable's histogram before the canary; the same for the open- and closed-loop runs of a seed. */
function baselineFor(scenario: Scenario, scenarioIndex: number, seed: number): LatencyCounts {
  return drawBaseline(new Rng(seedFor(scenarioIndex, seed, 2)), scenario);
}

/** The open-loop trace on the fixed ramp; every judge sees the same windows. */
function fixedTrace(scenario: Scenario, scenarioIndex: number, seed: number): Window[] {
  const rng = new Rng(seedFor(scenarioIndex, seed, 0));
  const run = startRun(rng);
  return FIXED_RAMP.map((weight, i) => drawWindow(rng, scenario, run, i, weight));
}

/** 1-based window of the first rollback, or null. */
function firstRollback(factory: JudgeFactory, windows: Window[], scenario: Scenario, baseline: LatencyCounts): number | null {
  const judge = factory({ scenario, baseline });
  for (let i = 0; i < windows.length; i++) {
    const window = windows[i];
    if (window !== undefined && judge.observe(window) === 'rollback') return i + 1;
  }
  return null;
}

/**
 * Closed loop: start at 5 %, move to the next step's weight on each promote, stop at a rollback.
 * Returns the 1-based window whose verdict promoted out of 50 % (the last step, 100 %, is then
 * reached), or null if that did not happen within 40 windows.
 */
function windowsToFinalStep(factory: JudgeFactory, scenario: Scenario, scenarioIndex: number, seed: number): number | null {
  const rng = new Rng(seedFor(scenarioIndex, seed, 1));
  const run = startRun(rng);
  const judge = factory({ scenario, baseline: baselineFor(scenario, scenarioIndex, seed) });
  let stepIndex = 0;
  for (let i = 0; i < MAX_WINDOWS; i++) {
    const weight = BENCH_STEPS[stepIndex]?.weight ?? 100;
    const decision: Decision = judge.observe(drawWindow(rng, scenario, run, i, weight));
    if (decision === 'rollback') return null;
    if (decision === 'promote') {
      stepIndex += 1;
      if (stepIndex === BENCH_STEPS.length - 1) return i + 1;
    }
  }
  return null;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? null) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The median where runs that never got there count as infinitely late. */
function medianWithMisses(values: (number | null)[]): string {
  const sorted = values.map((v) => v ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const mid = Math.floor((sorted.length - 1) / 2);
  const value = sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid] ?? 0) + (sorted[mid + 1] ?? 0)) / 2;
  return value === undefined || !Number.isFinite(value) ? `>${MAX_WINDOWS}` : String(value);
}

const pct = (x: number, n: number): string => `${((100 * x) / n).toFixed(1)}%`;

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  const settings = analysisSchema.parse({ ...DEFAULT_ANALYSIS, ...(options.settings as object), sequential: { ...DEFAULT_ANALYSIS.sequential, ...((options.settings as { sequential?: object }).sequential ?? {}) } });
  const judges: { name: string; factory: JudgeFactory }[] = [
    { name: 'sequential (this)', factory: sequentialJudge(settings, BENCH_STEPS) },
    { name: 'flagger-style', factory: flaggerJudge(BENCH_STEPS, WINDOW_SECONDS) },
    { name: 'z-test re-run', factory: zTestJudge(BENCH_STEPS, WINDOW_SECONDS) },
    { name: 'oracle SPRT', factory: oracleJudge(BENCH_STEPS, WINDOW_SECONDS) },
  ];
  console.log(`decision-quality: ${options.seeds} seeds per scenario, ${MAX_WINDOWS} one-minute windows (10 at 5%, 10 at 10%, 20 at 50%)`);
  console.log(`closed-loop ramp for "to final step": 5 -> 10 -> 50 -> 100 %, min dwells 5/5/10 windows (sum ${SUM_MIN_DWELL_WINDOWS}; target <= ${SUM_MIN_DWELL_WINDOWS + 2})`);
  if (JSON.stringify(options.settings) !== '{}') console.log(`settings: ${JSON.stringify(options.settings)}`);
  console.log('');
  const widths = [40, 34, 34, 24];
  const header = [pad('scenario', 28), ...judges.map((j, k) => pad(j.name, widths[k] ?? 34))].join('');
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const [scenarioIndex, scenario] of SCENARIOS.entries()) {
    if (options.only.length > 0 && !options.only.some((o) => scenario.name.includes(o))) continue;
    const cells: string[] = [];
    const traces = Array.from({ length: options.seeds }, (_, seed) => fixedTrace(scenario, scenarioIndex, seed));
    const baselines = Array.from({ length: options.seeds }, (_, seed) => baselineFor(scenario, scenarioIndex, seed));
    const medians: (number | null)[] = [];
    for (const [k, judge] of judges.entries()) {
      const width = widths[k] ?? 34;
      const isOracle = judge.name.startsWith('oracle');
      const detections = traces.map((trace, seed) => firstRollback(judge.factory, trace, scenario, baselines[seed] ?? { le: [], count: 0 }));
      const rolled = detections.filter((d): d is number => d !== null);
      if (scenario.healthy) {
        if (isOracle) {
          cells.push(pad('-', width));
          continue;
        }
        const reached = Array.from({ length: options.seeds }, (_, seed) => windowsToFinalStep(judge.factory, scenario, scenarioIndex, seed));
        const reachedCount = reached.filter((r) => r !== null).length;
        cells.push(pad(`FR ${pct(rolled.length, options.seeds)}, final ${medianWithMisses(reached)} (${pct(reachedCount, options.seeds)})`, width));
      } else {
        const med = median(rolled);
        medians.push(med);
        cells.push(pad(isOracle ? `${pct(rolled.length, options.seeds)}, median ${med ?? '-'}` : `det ${pct(rolled.length, options.seeds)}, median ${med ?? '-'}`, width));
      }
    }
    // The sequential judge's median as a multiple of the oracle's.
    const ours = medians[0];
    const oracle = medians.at(-1);
    if (!scenario.healthy && ours !== null && ours !== undefined && oracle !== null && oracle !== undefined && oracle > 0) {
      cells[0] = pad(`${(cells[0] ?? '').trimEnd()} (${(ours / oracle).toFixed(2)}x)`, widths[0] ?? 40);
    }
    console.log([pad(scenario.name, 28), ...cells].join(''));
  }
  console.log('');
  console.log('FR = runs with any rollback on the fixed ramp (healthy: false rollbacks); det = runs rolled back (regressions);');
  console.log('median = median 1-based window of the first rollback among detected runs, (N x) = as a multiple of the oracle');
  console.log("SPRT's median; final = median closed-loop window at which the judge promoted out of 50 % (runs that never did");
  console.log('count as late), with the share of runs that got there in 40.');
  if (options.writeTraces !== null) writeTraces(options.writeTraces);
}

/** One trace per scenario (seed 0) in the `promoter analyze --trace` format. */
function writeTraces(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [scenarioIndex, scenario] of SCENARIOS.entries()) {
    const name = scenario.name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
    const trace = {
      name: `bench-${name}-seed0`,
      intervalSeconds: WINDOW_SECONDS,
      latencyBucketsMs: BUCKETS,
      baseline: { seconds: BASELINE_WINDOWS * WINDOW_SECONDS, stable: baselineFor(scenario, scenarioIndex, 0) },
      windows: fixedTrace(scenario, scenarioIndex, 0),
    };
    writeFileSync(join(dir, `${name}.json`), JSON.stringify(trace) + '\n');
  }
  console.log(`wrote ${SCENARIOS.length} traces to ${dir}`);
}

main();
