// The decision, as a pure function of what was observed: the state at HEAD, the Argo CD sync gate
// for HEAD, and the analysis verdict. Table-tested; no I/O.
import type { Verdict } from '../analysis/types.js';
import type { CanaryPolicy } from './policy.js';
import type { CanaryState } from './state.js';

/** Whether Argo CD has applied HEAD: synced to that exact commit and Healthy. */
export type Gate =
  /** appliedAt: when Argo CD finished applying HEAD (unix seconds), when it says so. */
  | { ready: true; appliedAt?: number }
  | { ready: false; reason: string; degraded: boolean; degradedResources?: string[] };

/** What the analysis produced this tick: a verdict, or why there is none (Prometheus down...). */
export type Analysis = { verdict: Verdict } | { unavailable: string };

export type Action =
  | { kind: 'hold'; reason: string; alert?: boolean }
  | { kind: 'start'; to: number; replacing?: string }
  | { kind: 'set-weight'; from: number; to: number }
  | { kind: 'finalize-image'; image: string }
  | { kind: 'finalize-traffic' }
  | { kind: 'rollback'; reason: string; image: string };

export type ActionKind = Action['kind'];

export interface PlanInput {
  state: CanaryState;
  policy: CanaryPolicy;
  gate: Gate;
  /** only needed while progressing; absent means the analysis was not run. */
  analysis?: Analysis;
}

export function plan({ state, policy, gate, analysis }: PlanInput): Action {
  const steps = policy.spec.steps;
  if (state.phase === 'manual-override') {
    return {
      kind: 'hold',
      alert: true,
      reason: `weights stable ${state.stableWeight} / canary ${state.canaryWeight} are not a step of the policy (${steps.map((s) => s.weight).join(', ')}); a person set them, so the promoter holds and does not overwrite them`,
    };
  }
  if (state.paused) return { kind: 'hold', reason: 'paused (delivery.docuthinker.io/paused or spec.paused)' };
  switch (state.phase) {
    case 'idle':
      return { kind: 'hold', reason: 'idle: canary and stable run the same image' };
    case 'failed':
      return { kind: 'hold', reason: `canary image ${state.canaryImage} was rolled back before; waiting for a new image` };
    case 'stopped':
      return {
        kind: 'hold',
        alert: true,
        reason: `the weights were set back to 0 by hand while ${state.canaryImage} was rolling out; holding (promoter promote starts it again, promoter abort marks it failed)`,
      };
    case 'ready': {
      if (!gate.ready) return { kind: 'hold', reason: `waiting for Argo CD before starting: ${gate.reason}` };
      const first = steps[0]?.weight ?? 0;
      return { kind: 'start', to: first };
    }
    case 'replaced': {
      if (!gate.ready) return { kind: 'hold', reason: `waiting for Argo CD before restarting with the new canary image: ${gate.reason}` };
      return { kind: 'start', to: steps[0]?.weight ?? 0, ...(state.rolloutImage ? { replacing: state.rolloutImage } : {}) };
    }
    case 'finalizing':
      if (!gate.ready) {
        return {
          kind: 'hold',
          alert: gate.degraded,
          reason: gate.degraded
            ? `stable now runs ${state.stableImage} but Argo CD reports it unhealthy: ${gate.reason}; a person must look before traffic moves`
            : `waiting for Argo CD to apply the new stable image: ${gate.reason}`,
        };
      }
      return { kind: 'finalize-traffic' };
    case 'progressing':
      return planStep(state, policy, gate, analysis);
  }
}

/** Argo CD reports this canary's own Deployment Degraded (not just some resource of a shared app). */
function canaryDeploymentDegraded(gate: Gate, state: CanaryState): boolean {
  return !gate.ready && gate.degraded && (gate.degradedResources ?? []).includes(`Deployment/${state.canaryDeploymentName}`);
}

function planStep(state: CanaryState, policy: CanaryPolicy, gate: Gate, analysis: Analysis | undefined): Action {
  const steps = policy.spec.steps;
  const index = state.stepIndex ?? steps.findIndex((s) => s.weight === state.canaryWeight);
  // A canary already known to be worse is rolled back whatever Argo CD is doing: the test uses the
  // traffic share each window really had, so it needs no synced step, and waiting on a shared
  // Application (another service rolling, a commit not yet polled) must not delay a rollback.
  // A silent canary or a timed-out step, though, is only judged once Argo CD has applied the step.
  const early = analysis && 'verdict' in analysis ? analysis.verdict : undefined;
  if (early?.decision === 'rollback' && (early.cause === 'sequential' || early.cause === 'critical')) {
    return { kind: 'rollback', image: state.canaryImage, reason: early.reason };
  }
  if (canaryDeploymentDegraded(gate, state)) {
    return { kind: 'rollback', image: state.canaryImage, reason: `Argo CD reports the canary unhealthy: ${gate.ready ? '' : gate.reason}` };
  }
  if (!gate.ready) {
    if (gate.degraded) {
      return { kind: 'hold', alert: true, reason: `Argo CD reports something other than this canary unhealthy, holding: ${gate.reason}` };
    }
    return { kind: 'hold', reason: `waiting for Argo CD to apply ${state.canaryWeight}%: ${gate.reason}` };
  }
  if (!analysis) return { kind: 'hold', reason: 'no analysis this tick' };
  if ('unavailable' in analysis) return { kind: 'hold', reason: `no analysis, holding: ${analysis.unavailable}` };
  const { verdict } = analysis;
  switch (verdict.decision) {
    case 'rollback':
      return { kind: 'rollback', image: state.canaryImage, reason: verdict.reason };
    case 'hold':
      return { kind: 'hold', reason: verdict.reason };
    case 'promote': {
      const next = steps[index + 1];
      if (!next) return { kind: 'finalize-image', image: state.canaryImage };
      return { kind: 'set-weight', from: state.canaryWeight, to: next.weight };
    }
  }
}
