// What each action writes: pure edits of the policy's files, returned as whole new file contents.
import { formatInstant } from './time.js';
import type { Action } from './plan.js';
import type { CanaryPolicy } from './policy.js';
import { editManifest, setAnnotation, setImage, type ManifestEdit, type ManifestSource } from './manifest-edits.js';
import { ANNOTATIONS, parsedTexts, routeRef, type CanaryState, type ManifestTexts } from './state.js';

export type FileContents = Record<string, string>;

function weights(policy: CanaryPolicy, canary: number): ManifestEdit {
  return { kind: 'weights', ref: routeRef(policy), weights: { stable: 100 - canary, canary } };
}

function vsAnnotation(policy: CanaryPolicy, key: string, value: string): ManifestEdit {
  return { kind: 'annotation', selector: { kind: 'VirtualService', name: policy.spec.virtualService.name }, key, value };
}

/** The VirtualService with all the edits applied on one parse of it. */
function editVs(policy: CanaryPolicy, source: ManifestSource, edits: ManifestEdit[]): string {
  return editManifest(source, policy.spec.virtualService.file, edits);
}

/** The files an action changes (only those), or an empty object for a hold. */
export function applyAction(
  policy: CanaryPolicy,
  state: CanaryState,
  sources: ManifestTexts<ManifestSource>,
  action: Action,
  now: Date,
): FileContents {
  const { virtualService, deployments } = policy.spec;
  const texts = parsedTexts(policy, sources);
  const stamp = formatInstant(now);
  switch (action.kind) {
    case 'hold':
      return {};
    case 'start': {
      const vs = editVs(policy, texts.virtualService, [
        weights(policy, action.to),
        vsAnnotation(policy, ANNOTATIONS.canaryStartedAt, stamp),
        vsAnnotation(policy, ANNOTATIONS.stepStartedAt, stamp),
        vsAnnotation(policy, ANNOTATIONS.canaryImage, state.canaryImage),
      ]);
      return { [virtualService.file]: vs };
    }
    case 'set-weight': {
      const vs = editVs(policy, texts.virtualService, [weights(policy, action.to), vsAnnotation(policy, ANNOTATIONS.stepStartedAt, stamp)]);
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
      return { [virtualService.file]: editVs(policy, texts.virtualService, [weights(policy, 0)]) };
    case 'rollback': {
      const vs = editVs(policy, texts.virtualService, [weights(policy, 0)]);
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
export function setPaused(policy: CanaryPolicy, vsText: ManifestSource, paused: boolean): FileContents {
  return { [policy.spec.virtualService.file]: editVs(policy, vsText, [vsAnnotation(policy, ANNOTATIONS.paused, paused ? 'true' : 'false')]) };
}
