// What a person needs to see of one canary at HEAD (step, both weights and images, pause, step
// clock) and of each judged window (5xx rate and p99 per arm). Pure; fed to the status page,
// `promoter status` and /status.
import { histogramQuantile } from '../analysis/quantile.js';
import type { ArmCounts, Window } from '../analysis/types.js';
import { readAnnotation, type ManifestSource } from './manifest-edits.js';
import type { CanaryPolicy } from './policy.js';
import { ANNOTATIONS, type CanaryState, type ManifestTexts } from './state.js';

export interface CanarySnapshot {
  /** 0-based index into the policy's steps while progressing. */
  stepIndex?: number;
  /** the policy's step weights, e.g. [5, 10, 50, 100]. */
  steps: number[];
  stableWeight: number;
  canaryWeight: number;
  stableImage: string;
  canaryImage: string;
  failedImage?: string;
  paused: boolean;
  /** which pause holds it: the VirtualService annotation, spec.paused in the policy, or both. */
  pausedBy?: 'annotation' | 'spec' | 'both';
  /** unix seconds, from the annotations the promoter writes. */
  canaryStartedAt?: number;
  stepStartedAt?: number;
  /** the current step's dwell bounds (seconds), when progressing. */
  minDwellSeconds?: number;
  maxDwellSeconds?: number;
  /** the Argo CD Application(s) that apply the step. */
  application: string;
  file: string;
}

/** Whether the VirtualService carries the pause annotation (as opposed to spec.paused in the policy). */
export function pausedByAnnotation(policy: CanaryPolicy, texts: ManifestTexts<ManifestSource>): boolean {
  const { file, name } = policy.spec.virtualService;
  return readAnnotation(texts.virtualService, file, { kind: 'VirtualService', name }, ANNOTATIONS.paused) === 'true';
}

export function snapshotOf(policy: CanaryPolicy, state: CanaryState, texts?: ManifestTexts<ManifestSource>): CanarySnapshot {
  const step = state.stepIndex !== undefined ? policy.spec.steps[state.stepIndex] : undefined;
  const specPaused = policy.spec.paused;
  // From the state when it was read from the manifests (no second parse of the VirtualService).
  const annotation = state.pausedByAnnotation ?? (texts ? pausedByAnnotation(policy, texts) : state.paused && !specPaused);
  const pausedBy = specPaused && annotation ? 'both' : specPaused ? 'spec' : annotation ? 'annotation' : undefined;
  return {
    ...(state.stepIndex !== undefined ? { stepIndex: state.stepIndex } : {}),
    steps: policy.spec.steps.map((s) => s.weight),
    stableWeight: state.stableWeight,
    canaryWeight: state.canaryWeight,
    stableImage: state.stableImage,
    canaryImage: state.canaryImage,
    ...(state.failedImage !== undefined ? { failedImage: state.failedImage } : {}),
    paused: state.paused,
    ...(pausedBy ? { pausedBy } : {}),
    ...(state.canaryStartedAt !== undefined ? { canaryStartedAt: state.canaryStartedAt } : {}),
    ...(state.stepStartedAt !== undefined ? { stepStartedAt: state.stepStartedAt } : {}),
    ...(step ? { minDwellSeconds: step.minDwell, maxDwellSeconds: step.maxDwell } : {}),
    application: policy.spec.argocd.application ?? (policy.spec.argocd.clusters ?? []).map((c) => `${c.application} (${c.name})`).join(', '),
    file: policy.spec.virtualService.file,
  };
}

export interface ArmPoint {
  requests: number;
  /** 5xx per request; null without requests. */
  errorRate: number | null;
  /** p99 latency in ms from the window's histogram; null without latency data. */
  p99Ms: number | null;
}

/** One judged window: `t` is its start in unix seconds. */
export interface WindowPoint {
  t: number;
  weight: number;
  stable: ArmPoint;
  canary: ArmPoint;
}

function armPoint(arm: ArmCounts, edges: readonly number[]): ArmPoint {
  const p99 = arm.latency && arm.latency.count > 0 ? histogramQuantile(0.99, edges, arm.latency.le, arm.latency.count) : Number.NaN;
  return {
    requests: arm.requests,
    errorRate: arm.requests > 0 ? arm.errors / arm.requests : null,
    p99Ms: Number.isFinite(p99) ? p99 : null,
  };
}

/** Windows relative to `canaryStart` (seconds) as absolute points for charts; the newest 240 only. */
export function windowPoints(windows: readonly Window[], canaryStart: number, edges: readonly number[]): WindowPoint[] {
  return windows.slice(-240).map((w) => ({
    t: canaryStart + w.t,
    weight: w.canaryWeight,
    stable: armPoint(w.stable, edges),
    canary: armPoint(w.canary, edges),
  }));
}
