// The backend canary at its first step and a judge's evidence for it, as the unit tests of plan,
// the commit message and the metrics fault cases build them: one builder instead of three copies.
import type { Evidence } from '../../src/analysis/types.js';
import type { CanaryState } from '../../src/promoter/state.js';

/** backend at 5 % (stable img:1, canary img:2), with any field overridden. */
export function backendState(over: Partial<CanaryState> = {}): CanaryState {
  return {
    name: 'backend',
    phase: 'progressing',
    stableWeight: 95,
    canaryWeight: 5,
    stableImage: 'img:1',
    canaryImage: 'img:2',
    stepIndex: 0,
    paused: false,
    stableDeploymentName: 'backend-stable',
    canaryDeploymentName: 'backend-canary',
    ...over,
  };
}

/** Six one-minute windows: 600 canary requests with `canaryErrors` 5xx against stable's 57 of 11 400. */
export function sampleEvidence(canaryErrors = 3, over: Partial<Evidence> = {}): Evidence {
  return {
    windows: 6,
    stepWindows: 6,
    stepSeconds: 360,
    canary: { requests: 600, errors: canaryErrors, errorRate: canaryErrors / 600, p99Ms: 210 },
    stable: { requests: 11400, errors: 57, errorRate: 0.005, p99Ms: 205 },
    metrics: [],
    guards: [],
    ...over,
  };
}
