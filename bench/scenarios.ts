// Simulated canary traffic for the decision-quality benchmark: Poisson requests per arm, a shared
// 5xx rate, a log-normal latency binned into Envoy's buckets, and the canary's regression if any.
import { ENVOY_BUCKETS_MS } from '../src/analysis/settings.js';
import type { ArmCounts, Window } from '../src/analysis/types.js';
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
};

export const SCENARIOS: Scenario[] = [
  { ...healthy, name: 'healthy A/A 200 rps' },
  { ...healthy, name: 'healthy diurnal', diurnalAmplitude: 0.6 },
  { ...healthy, name: 'healthy bursty (shared)', burstProbability: 0.1, burstFactor: 8 },
  { ...healthy, name: 'healthy low traffic 2 rps', rps: 2 },
  { ...healthy, healthy: false, name: 'errors 1.5x', canaryErrorFactor: 1.5 },
  { ...healthy, healthy: false, name: 'errors 2x', canaryErrorFactor: 2 },
  { ...healthy, healthy: false, name: 'errors 5x', canaryErrorFactor: 5 },
  { ...healthy, healthy: false, name: 'latency +20%', canaryLatencyFactor: 1.2 },
  { ...healthy, healthy: false, name: 'latency +50%', canaryLatencyFactor: 1.5 },
  { ...healthy, healthy: false, name: 'catastrophic 30% 5xx', canaryErrorRate: 0.3 },
];

/** The latency model: log-normal, median 40 ms, sigma 0.9 (p99 about 325 ms, 0.25 % above 500 ms). */
export const LATENCY_MEDIAN_MS = 40;
export const LATENCY_SIGMA = 0.9;
export const BUCKETS: readonly number[] = ENVOY_BUCKETS_MS;

/** The one-minute windows of the fixed ramp: 10 at 5 %, 10 at 10 %, 20 at 50 %. */
export const FIXED_RAMP: number[] = [...Array<number>(10).fill(5), ...Array<number>(10).fill(10), ...Array<number>(20).fill(50)];
export const WINDOW_SECONDS = 60;

/** P(duration falls in bucket k), k = 0..edges.length (the last one is above every edge). */
function bucketProbabilities(scale: number): number[] {
  const cdf = BUCKETS.map((edge) => normalCdf(Math.log(edge / (LATENCY_MEDIAN_MS * scale)) / LATENCY_SIGMA));
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
function bucketsFor(scale: number): number[] {
  let probs = probabilityCache.get(scale);
  if (probs === undefined) {
    probs = bucketProbabilities(scale);
    probabilityCache.set(scale, probs);
  }
  return probs;
}

/** Requests split into (bucket x ok/5xx) cells, each an independent Poisson draw (exact thinning). */
function drawArm(rng: Rng, meanRequests: number, errorRate: number, latencyScale: number): ArmCounts {
  const probs = bucketsFor(latencyScale);
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
    stable: drawArm(rng, perWindow * (1 - share), stableRate, 1),
    canary: drawArm(rng, perWindow * share, canaryRate, scenario.canaryLatencyFactor),
  };
}
