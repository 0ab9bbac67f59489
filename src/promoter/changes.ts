// What each action writes: pure edits of the policy's files, returned as whole new file contents.
import { formatInstant } from './time.js';
import type { Action } from './plan.js';
import type { CanaryPolicy } from './policy.js';
import { setAnnotation, setImage, setRouteWeights } from './manifest-edits.js';
import { ANNOTATIONS, routeRef, type CanaryState, type ManifestTexts } from './state.js';

export type FileContents = Record<string, string>;

function setWeights(policy: CanaryPolicy, text: string, canary: number): string {
  return setRouteWeights(text, policy.spec.virtualService.file, routeRef(policy), { stable: 100 - canary, canary });
}

function annotateVs(policy: CanaryPolicy, text: string, key: string, value: string): string {
  const { file, name } = policy.spec.virtualService;
  return setAnnotation(text, file, { kind: 'VirtualService', name }, key, value);
}

/** The files an action changes (only those), or an empty object for a hold. */
export function applyAction(
  policy: CanaryPolicy,
  state: CanaryState,
  texts: ManifestTexts,
  action: Action,
  now: Date,
): FileContents {
  const { virtualService, deployments } = policy.spec;
  const stamp = formatInstant(now);
  switch (action.kind) {
    case 'hold':
      return {};
    case 'start': {
      let vs = setWeights(policy, texts.virtualService, action.to);
      vs = annotateVs(policy, vs, ANNOTATIONS.canaryStartedAt, stamp);
      vs = annotateVs(policy, vs, ANNOTATIONS.stepStartedAt, stamp);
      vs = annotateVs(policy, vs, ANNOTATIONS.canaryImage, state.canaryImage);
      return { [virtualService.file]: vs };
    }
    case 'set-weight': {
      let vs = setWeights(policy, texts.virtualService, action.to);
      vs = annotateVs(policy, vs, ANNOTATIONS.stepStartedAt, stamp);
      return { [virtualService.file]: vs };
    }
    case 'finalize-image': {
      const stable = setImage(texts.stableDeployment, deployments.stable.file, {
        deployment: state.stableDeploymentName,
        container: deployments.stable.container,
      }, action.image);
      return { [deployments.stable.file]: stable };
    }
    case 'finalize-traffic':
      return { [virtualService.file]: setWeights(policy, texts.virtualService, 0) };
    case 'rollback': {
      const vs = setWeights(policy, texts.virtualService, 0);
      const canary = setAnnotation(
        texts.canaryDeployment,
        deployments.canary.file,
        { kind: 'Deployment', name: state.canaryDeploymentName },
        ANNOTATIONS.failedImage,
        action.image,
      );
      return { [virtualService.file]: vs, [deployments.canary.file]: canary };
    }
  }
}

/** A pause or resume: the paused annotation on the VirtualService. */
export function setPaused(policy: CanaryPolicy, vsText: string, paused: boolean): FileContents {
  return { [policy.spec.virtualService.file]: annotateVs(policy, vsText, ANNOTATIONS.paused, paused ? 'true' : 'false') };
}
