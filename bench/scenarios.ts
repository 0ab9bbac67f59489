// Simulated canary traffic for the decision-quality benchmark: Poisson requests per arm, a shared
// 5xx rate, a log-normal latency binned into Envoy's buckets, and the canary's regression if any.
import { ENVOY_BUCKETS_MS } from '../src/analysis/settings.js';
import type { ArmCounts, LatencyCounts, Window } from '../src/analysis/types.js';
import { normalCdf, type Rng } from './random.js';

export interface Scenario {
  name: string;
  healthy: boolean;
  /** total requests per second over both arms (before the diurnal factor). */
  rps: number;
  baseErrorRate: number;
  /** canary 5xx rate = this x stable's (the regression). */
  canaryErrorFactor: number;
  /** an absolute canary 5xx rate, overriding the factor (the catastrophic canary). */
  canaryErrorRate?: number;
  /** canary durations = this x stable's (a latency regression). */
  canaryLatencyFactor: number;
  /** load varies over the trace as 1 + amplitude x sin(2 pi t / period + random phase). */
  diurnalAmplitude: number;
  /** per window, with this probability, both arms' 5xx rate is multiplied by burstFactor. */
  burstProbability: number;
  burstFactor: number;
  /** median request duration of stable (ms); log-normal with sigma LATENCY_SIGMA. */
  latencyMedianMs: number;
  /**
   * the p99 ceiling a policy for this service would set (latencyP99.maxMs, and Flagger's
   * request-duration threshold): 500 ms for the fast service, 10 s for the 1 s one.
   */
  p99CeilingMs: number;
}

const healthy = {
  healthy: true,
  rps: 200,
  baseErrorRate: 0.005,
  canaryErrorFactor: 1,
  canaryLatencyFactor: 1,
  diurnalAmplitude: 0,
  burstProbability: 0,
  burstFactor: 1,
  latencyMedianMs: 40,
  p99CeilingMs: 500,
};

export const SCENARIOS: Scenario[] = [
  { ...healthy, name: 'healthy A/A 200 rps' },
  { ...healthy, name: 'healthy diurnal', diurnalAmplitude: 0.6 },
  { ...healthy, name: 'healthy bursty (shared)', burstProbability: 0.1, burstFactor: 8 },
  { ...healthy, name: 'healthy low traffic 2 rps', rps: 2 },
  { ...healthy, name: 'healthy slow service 1 s', latencyMedianMs: 1000, p99CeilingMs: 10000 },
  { ...healthy, healthy: false, name: 'errors 1.5x', canaryErrorFactor: 1.5 },
  { ...healthy, healthy: false, name: 'errors 2x', canaryErrorFactor: 2 },
  { ...healthy, healthy: false, name: 'errors 5x', canaryErrorFactor: 5 },
  { ...healthy, healthy: false, name: 'fast latency x1.2', canaryLatencyFactor: 1.2 },
  { ...healthy, healthy: false, name: 'fast latency x1.5', canaryLatencyFactor: 1.5 },
  { ...healthy, healthy: false, name: 'slow 1 s latency x1.2', canaryLatencyFactor: 1.2, latencyMedianMs: 1000, p99CeilingMs: 10000 },
  { ...healthy, healthy: false, name: 'low traffic errors 5x', rps: 2, canaryErrorFactor: 5 },
  { ...healthy, healthy: false, name: 'catastrophic 30% 5xx', canaryErrorRate: 0.3 },
];

/** The latency model: log-normal, sigma 0.9; the fast service's median is 40 ms (p99 about 325 ms, 0.25 % above 500 ms). */
export const LATENCY_SIGMA = 0.9;
export const BUCKETS: readonly number[] = ENVOY_BUCKETS_MS;

/** The one-minute windows of the fixed ramp: 10 at 5 %, 10 at 10 %, 20 at 50 %. */
export const FIXED_RAMP: number[] = [...Array<number>(10).fill(5), ...Array<number>(10).fill(10), ...Array<number>(20).fill(50)];
export const WINDOW_SECONDS = 60;
/** Stable alone before the canary starts: the history the latency edges are chosen from. */
export const BASELINE_WINDOWS = 10;

/** P(duration falls in bucket k), k = 0..edges.length (the last one is above every edge). */
export function bucketProbabilities(medianMs: number): number[] {
  const cdf = BUCKETS.map((edge) => normalCdf(Math.log(edge / medianMs) / LATENCY_SIGMA));
  const probs: number[] = [];
  let previous = 0;
  for (const c of cdf) {
    probs.push(Math.max(0, c - previous));
    previous = c;
  }
  probs.push(Math.max(0, 1 - previous));
  return probs;
}

const probabilityCache = new Map<number, number[]>();
function bucketsFor(medianMs: number): number[] {
  let probs = probabilityCache.get(medianMs);
  if (probs === undefined) {
    probs = bucketProbabilities(medianMs);
    probabilityCache.set(medianMs, probs);
  }
  return probs;
}

/** Requests split into (bucket x ok/5xx) cells, each an independent Poisson draw (exact thinning). */
function drawArm(rng: Rng, meanRequests: number, errorRate: number, medianMs: number): ArmCounts {
  const probs = bucketsFor(medianMs);
  const le: number[] = [];
  let requests = 0;
  let errors = 0;
  for (let k = 0; k < probs.length; k++) {
    const p = probs[k] ?? 0;
    const ok = rng.poisson(meanRequests * (1 - errorRate) * p);
    const bad = rng.poisson(meanRequests * errorRate * p);
    requests += ok + bad;
    errors += bad;
    if (k < BUCKETS.length) le.push(requests);
  }
  return { requests, errors, latency: { le, count: requests } };
}

/** The per-run random context drawn once (the diurnal phase). */
export interface RunContext {
  phase: number;
}

export function startRun(rng: Rng): RunContext {
  return { phase: rng.next() * 2 * Math.PI };
}

/** Stable's histogram over BASELINE_WINDOWS windows before the canary (all traffic on stable). */
export function drawBaseline(rng: Rng, scenario: Scenario): LatencyCounts {
  const arm = drawArm(rng, scenario.rps * WINDOW_SECONDS * BASELINE_WINDOWS, scenario.baseErrorRate, scenario.latencyMedianMs);
  return arm.latency ?? { le: BUCKETS.map(() => 0), count: 0 };
}

/** One window of both arms at `weight` % canary; draws the burst first so the order is fixed. */
export function drawWindow(rng: Rng, scenario: Scenario, run: RunContext, index: number, weight: number): Window {
  const burst = scenario.burstProbability > 0 && rng.next() < scenario.burstProbability ? scenario.burstFactor : 1;
  const load = 1 + scenario.diurnalAmplitude * Math.sin((2 * Math.PI * index) / FIXED_RAMP.length + run.phase);
  const perWindow = scenario.rps * load * WINDOW_SECONDS;
  const stableRate = Math.min(1, scenario.baseErrorRate * burst);
  const canaryRate = Math.min(1, scenario.canaryErrorRate ?? stableRate * scenario.canaryErrorFactor);
  const share = weight / 100;
  return {
    t: index * WINDOW_SECONDS,
    canaryWeight: weight,
    stable: drawArm(rng, perWindow * (1 - share), stableRate, scenario.latencyMedianMs),
    canary: drawArm(rng, perWindow * share, canaryRate, scenario.latencyMedianMs * scenario.canaryLatencyFactor),
  };
}
