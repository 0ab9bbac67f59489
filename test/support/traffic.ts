// Seeded synthetic traffic for the mesh simulator: request counts, 5xx and log-normal latencies
// drawn into Envoy's buckets, kept as Istio-style counters. Pure apart from the PRNG it is given.

/** Uniform in [0, 1). */
export type Random = () => number;

/** sfc32 seeded through splitmix32: small, fast and good enough for synthetic traffic. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const splitmix = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}

/** Standard normal (Box-Muller). */
export function normal(random: Random): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Poisson(lambda): Knuth's product method for small means, a rounded normal for large ones. */
export function poisson(random: Random, lambda: number): number {
  if (!(lambda > 0)) return 0;
  if (lambda > 60) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal(random)));
  const limit = Math.exp(-lambda);
  let k = 0;
  let product = random();
  while (product > limit) {
    k++;
    product *= random();
  }
  return k;
}

/** Binomial(n, p): exact Bernoulli trials for small n; beyond, Poisson for rare outcomes, else a clamped normal. */
export function binomial(random: Random, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (n <= 200) {
    let k = 0;
    for (let i = 0; i < n; i++) if (random() < p) k++;
    return k;
  }
  // rare outcomes: the Poisson limit keeps the skew a normal would lose
  if (n * p < 30) return Math.min(n, poisson(random, n * p));
  if (n * (1 - p) < 30) return n - Math.min(n, poisson(random, n * (1 - p)));
  const mean = n * p;
  return Math.min(n, Math.max(0, Math.round(mean + Math.sqrt(mean * (1 - p)) * normal(random))));
}

/** A log-normal duration in ms with the given median (e^mu) and sigma of the log. */
export function lognormalMs(random: Random, medianMs: number, sigma: number): number {
  return medianMs * Math.exp(sigma * normal(random));
}

/** Index of the first bucket edge >= value (Prometheus `le` semantics); edges.length means +Inf. */
export function bucketIndex(edges: readonly number[], value: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((edges[mid] ?? Number.POSITIVE_INFINITY) >= value) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export interface ArmBehaviour {
  /** share of requests answered 503. */
  errorRate: number;
  latencyMedianMs: number;
  /** sigma of log latency; default 0.5. */
  latencySigma?: number;
}

/** One response code's counters: requests, non-cumulative bucket counts (last = +Inf), duration sum. */
export interface CodeCounters {
  requests: number;
  buckets: number[];
  sumMs: number;
}

/** Counters of one arm of one service, by response code ("200", "503"). */
export type ArmCounters = Map<string, CodeCounters>;

export function emptyCodeCounters(edges: readonly number[]): CodeCounters {
  return { requests: 0, buckets: new Array<number>(edges.length + 1).fill(0), sumMs: 0 };
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Per-request draws up to this many requests per tick; beyond, one multinomial draw over the buckets. */
const EXACT_DRAWS_MAX = 200;

/** Adds `count` latencies to the buckets: exact draws for few requests, a multinomial for many. */
function recordLatencies(entry: CodeCounters, random: Random, count: number, behaviour: ArmBehaviour, edges: readonly number[]): void {
  const sigma = behaviour.latencySigma ?? 0.5;
  if (count <= EXACT_DRAWS_MAX || sigma <= 0) {
    for (let i = 0; i < count; i++) {
      const ms = lognormalMs(random, behaviour.latencyMedianMs, sigma);
      const index = bucketIndex(edges, ms);
      entry.buckets[index] = (entry.buckets[index] ?? 0) + 1;
      entry.sumMs += ms;
    }
    return;
  }
  // Sequential conditional binomials: bucket i gets Bin(remaining, p_i / p_remaining).
  const logMedian = Math.log(behaviour.latencyMedianMs);
  let remaining = count;
  let below = 0;
  for (let i = 0; i < edges.length && remaining > 0; i++) {
    const cdf = normalCdf((Math.log(edges[i] ?? Number.POSITIVE_INFINITY) - logMedian) / sigma);
    const share = cdf - below;
    const rest = 1 - below;
    const drawn = rest > 0 ? binomial(random, remaining, Math.min(1, Math.max(0, share / rest))) : 0;
    entry.buckets[i] = (entry.buckets[i] ?? 0) + drawn;
    remaining -= drawn;
    below = cdf;
  }
  entry.buckets[edges.length] = (entry.buckets[edges.length] ?? 0) + remaining;
  // the log-normal mean, for _sum
  entry.sumMs += count * behaviour.latencyMedianMs * Math.exp((sigma * sigma) / 2);
}

/** Adds `requests` requests of one arm drawn from `behaviour` (503 with its error rate, else 200); returns the 503s. */
export function recordRequests(
  counters: ArmCounters,
  random: Random,
  requests: number,
  behaviour: ArmBehaviour,
  edges: readonly number[],
): number {
  if (requests <= 0) return 0;
  const errors = binomial(random, requests, behaviour.errorRate);
  for (const [code, count] of [
    ['200', requests - errors],
    ['503', errors],
  ] as const) {
    if (count === 0) continue;
    let entry = counters.get(code);
    if (!entry) {
      entry = emptyCodeCounters(edges);
      counters.set(code, entry);
    }
    entry.requests += count;
    recordLatencies(entry, random, count, behaviour, edges);
  }
  return errors;
}

/** Splits one tick's requests of a service between the arms by the route weights. */
export function splitByWeight(random: Random, total: number, stableWeight: number, canaryWeight: number): { stable: number; canary: number } {
  const sum = stableWeight + canaryWeight;
  if (sum <= 0) return { stable: 0, canary: 0 };
  const canary = binomial(random, total, canaryWeight / sum);
  return { stable: total - canary, canary };
}
