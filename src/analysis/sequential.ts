// The event-share mixture test (anytime-valid rollback) and the two-sided confidence sequence on
// the canary/stable rate ratio (promotion), as in ../shared/reference/canary-statistics.md.
// Pure: a state updated window by window, or recomputed from the whole history, with one result.

/** A bad-event count pair for one guarded metric in one window. */
export interface EventCounts {
  canaryRequests: number;
  stableRequests: number;
  canaryEvents: number;
  stableEvents: number;
}

export interface SequentialParams {
  /** r0: the rate ratio a canary may have and still not be "worse" (the rollback null). */
  ratioTolerated: number;
  /** the per-metric rollback level alpha_m; the threshold is log(1/alpha_m). */
  alphaMetric: number;
  /** the level of the confidence sequence. */
  alphaConfidence: number;
  /** sigma of the half-normal (rollback) and normal (confidence) priors on log ratio. */
  priorScale: number;
  gridPoints: number;
}

/** Half-width of both grids in log-ratio units: ratios up to e^4 (about 55x). */
const GRID_SPAN = 4;

interface Grid {
  delta: Float64Array;
  expDelta: Float64Array;
  logWeight: Float64Array;
}

export interface SequentialState {
  readonly params: SequentialParams;
  readonly oneSided: Grid;
  readonly twoSided: Grid;
  /** delta0 = log r0, and exp(delta0). */
  readonly delta0: number;
  /** L_j - L_null per one-sided grid point (the log likelihood ratio against delta0). */
  readonly rollbackLogLik: Float64Array;
  /** log likelihood per two-sided grid point, up to a constant shared by all points. */
  readonly confidenceLogLik: Float64Array;
  /** the running intersection of the confidence sets. */
  readonly alive: Uint8Array;
  windows: number;
  canaryRequests: number;
  stableRequests: number;
  canaryEvents: number;
  stableEvents: number;
  logM: number;
  /** the largest log M seen: crossing once is a rollback, even if M falls back later. */
  maxLogM: number;
  /** index (0-based, in updates) of the first window whose log M crossed the threshold. */
  crossedAtWindow: number | null;
}

export interface SequentialSummary {
  logM: number;
  logThreshold: number;
  crossed: boolean;
  crossedAtWindow: number | null;
  /** the confidence sequence on the ratio exp(delta); [0, Infinity) before any event. */
  ratioLower: number;
  ratioUpper: number;
}

const gridCache = new Map<string, Grid>();

function buildGrid(from: number, to: number, points: number, centre: number, sigma: number, openLeft: boolean): Grid {
  const key = `${from}|${to}|${points}|${centre}|${sigma}|${openLeft}`;
  const cached = gridCache.get(key);
  if (cached !== undefined) return cached;
  const delta = new Float64Array(points);
  const expDelta = new Float64Array(points);
  const logWeight = new Float64Array(points);
  // An open left end keeps the null point itself out of the alternative (the grid is (delta0, delta0+4]).
  const step = openLeft ? (to - from) / points : (to - from) / (points - 1);
  for (let j = 0; j < points; j++) {
    const d = openLeft ? from + step * (j + 1) : from + step * j;
    delta[j] = d;
    expDelta[j] = Math.exp(d);
    const z = (d - centre) / sigma;
    logWeight[j] = -0.5 * z * z;
  }
  const norm = logSumExp(logWeight);
  for (let j = 0; j < points; j++) logWeight[j] = (logWeight[j] ?? 0) - norm;
  const grid = { delta, expDelta, logWeight };
  gridCache.set(key, grid);
  return grid;
}

function logSumExp(values: Float64Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) if (v > max) max = v;
  if (max === Number.NEGATIVE_INFINITY) return max;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

function logSumExpWeighted(logWeight: Float64Array, logLik: Float64Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < logLik.length; j++) {
    const v = (logWeight[j] ?? 0) + (logLik[j] ?? 0);
    if (v > max) max = v;
  }
  let sum = 0;
  for (let j = 0; j < logLik.length; j++) sum += Math.exp((logWeight[j] ?? 0) + (logLik[j] ?? 0) - max);
  return max + Math.log(sum);
}

/** A fresh state: no windows seen, log M = 0 (M = 1). */
export function createSequentialState(params: SequentialParams): SequentialState {
  const delta0 = Math.log(params.ratioTolerated);
  const points = params.gridPoints;
  const oneSided = buildGrid(delta0, delta0 + GRID_SPAN, points, delta0, params.priorScale, true);
  const twoSided = buildGrid(-GRID_SPAN, GRID_SPAN, points, 0, params.priorScale, false);
  return {
    params,
    oneSided,
    twoSided,
    delta0,
    rollbackLogLik: new Float64Array(points),
    confidenceLogLik: new Float64Array(points),
    alive: new Uint8Array(points).fill(1),
    windows: 0,
    canaryRequests: 0,
    stableRequests: 0,
    canaryEvents: 0,
    stableEvents: 0,
    logM: 0,
    maxLogM: 0,
    crossedAtWindow: null,
  };
}

export function logThreshold(params: SequentialParams): number {
  return Math.log(1 / params.alphaMetric);
}

/**
 * Adds one window. Given n_c, n_b requests the share is rho = n_c/(n_c+n_b); if the canary's
 * bad-event rate is e^delta times stable's, each bad event is the canary's with probability
 * theta(delta) = rho e^delta / (rho e^delta + 1 - rho). The shared baseline rate cancels.
 */
export function updateSequentialState(state: SequentialState, counts: EventCounts): void {
  const { canaryRequests: nc, stableRequests: nb, canaryEvents: c, stableEvents: b } = counts;
  state.windows += 1;
  state.canaryRequests += nc;
  state.stableRequests += nb;
  state.canaryEvents += c;
  state.stableEvents += b;
  // Without requests in both arms the share is degenerate and the window carries no information.
  if (nc > 0 && nb > 0 && c + b > 0) {
    const rho = nc / (nc + nb);
    const rest = 1 - rho;
    const total = c + b;
    // log theta = log rho + delta - log(rho e^delta + rest); the log rho terms cancel between points.
    const nullTerm = c * state.delta0 - total * Math.log(rho * Math.exp(state.delta0) + rest);
    const one = state.oneSided;
    for (let j = 0; j < one.delta.length; j++) {
      const term = c * (one.delta[j] ?? 0) - total * Math.log(rho * (one.expDelta[j] ?? 1) + rest);
      state.rollbackLogLik[j] = (state.rollbackLogLik[j] ?? 0) + term - nullTerm;
    }
    const two = state.twoSided;
    for (let i = 0; i < two.delta.length; i++) {
      const term = c * (two.delta[i] ?? 0) - total * Math.log(rho * (two.expDelta[i] ?? 1) + rest);
      state.confidenceLogLik[i] = (state.confidenceLogLik[i] ?? 0) + term;
    }
    state.logM = logSumExpWeighted(one.logWeight, state.rollbackLogLik);
    const mixture = logSumExpWeighted(two.logWeight, state.confidenceLogLik);
    const level = Math.log(1 / state.params.alphaConfidence);
    for (let i = 0; i < two.delta.length; i++) {
      if (mixture - (state.confidenceLogLik[i] ?? 0) >= level) state.alive[i] = 0;
    }
  }
  if (state.logM > state.maxLogM) state.maxLogM = state.logM;
  if (state.crossedAtWindow === null && state.logM >= logThreshold(state.params)) {
    state.crossedAtWindow = state.windows - 1;
  }
}

/** The same state as updating window by window: what a restarted promoter recomputes. */
export function sequentialFromHistory(params: SequentialParams, history: readonly EventCounts[]): SequentialState {
  const state = createSequentialState(params);
  for (const counts of history) updateSequentialState(state, counts);
  return state;
}

/** Deep copy, so a caller can look ahead without disturbing the running state. */
export function cloneSequentialState(state: SequentialState): SequentialState {
  return {
    ...state,
    rollbackLogLik: state.rollbackLogLik.slice(),
    confidenceLogLik: state.confidenceLogLik.slice(),
    alive: state.alive.slice(),
  };
}

/** The ends of the confidence set as ratios; the current set if the intersection ran empty. */
function confidenceBounds(state: SequentialState): { lower: number; upper: number } {
  const grid = state.twoSided;
  let lo = -1;
  let hi = -1;
  for (let i = 0; i < grid.delta.length; i++) {
    if (state.alive[i] === 1) {
      if (lo < 0) lo = i;
      hi = i;
    }
  }
  if (lo < 0) {
    // A drifting ratio can leave the running intersection empty; the latest set is still valid.
    const mixture = logSumExpWeighted(grid.logWeight, state.confidenceLogLik);
    const level = Math.log(1 / state.params.alphaConfidence);
    for (let i = 0; i < grid.delta.length; i++) {
      if (mixture - (state.confidenceLogLik[i] ?? 0) < level) {
        if (lo < 0) lo = i;
        hi = i;
      }
    }
  }
  if (lo < 0) return { lower: 0, upper: Number.POSITIVE_INFINITY };
  // The grid's ends stand for "this far or beyond".
  const lower = lo === 0 ? 0 : Math.exp(grid.delta[lo] ?? 0);
  const upper = hi === grid.delta.length - 1 ? Number.POSITIVE_INFINITY : Math.exp(grid.delta[hi] ?? 0);
  return { lower, upper };
}

export function summarizeSequential(state: SequentialState): SequentialSummary {
  const { lower, upper } = confidenceBounds(state);
  return {
    logM: state.logM,
    logThreshold: logThreshold(state.params),
    crossed: state.crossedAtWindow !== null,
    crossedAtWindow: state.crossedAtWindow,
    ratioLower: lower,
    ratioUpper: upper,
  };
}

/**
 * How many canary bad events (expected at stable's rate) the confidence sequence needs before an
 * identical canary's upper bound falls below `ratioPromote` with high probability. The mixture's
 * half-width is about sqrt((2 log(1/alpha) + log(1 + E sigma^2)) / E) in log-ratio units, and the
 * estimate itself wanders about 1/sqrt(E); requiring width + 2/sqrt(E) < log(ratioPromote) keeps
 * the bound from turning promotion into a coin flip. Below this the ratio bound cannot be
 * informative, and promotion leans on the absolute guards and the request minimum instead.
 */
export function eventsToBound(ratioPromote: number, alphaConfidence: number, priorScale: number): number {
  const target = Math.log(ratioPromote);
  const level = 2 * Math.log(1 / alphaConfidence);
  for (let events = 1; events < 1e7; events = Math.ceil(events * 1.02)) {
    const width = Math.sqrt((level + Math.log(1 + events * priorScale * priorScale)) / events);
    if (width + 2 / Math.sqrt(events) < target) return events;
  }
  return Number.POSITIVE_INFINITY;
}
