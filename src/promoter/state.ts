// The canary's state, read from the manifests at HEAD: the promoter keeps no state of its own.
// Weights come from the VirtualService route, versions from the two Deployments, and the few
// facts Git must carry between ticks (start times, a pause, a failed image) from annotations.
import type { CanaryPolicy } from './policy.js';
import { deploymentName, ParsedManifest, readAnnotation, readImage, readRouteWeights, type ManifestSource, type RouteRef } from './manifest-edits.js';

export const ANNOTATIONS = {
  /** on the VirtualService: when the current canary started (RFC 3339). */
  canaryStartedAt: 'delivery.docuthinker.io/canary-started-at',
  /** on the VirtualService: when the current step's weights were committed (RFC 3339). */
  stepStartedAt: 'delivery.docuthinker.io/step-started-at',
  /** on the VirtualService: the canary image the current rollout is for. */
  canaryImage: 'delivery.docuthinker.io/canary-image',
  /** on the VirtualService: "true" holds the canary where it is. */
  paused: 'delivery.docuthinker.io/paused',
  /** on the canary Deployment: an image that was rolled back and must not be started again. */
  failedImage: 'delivery.docuthinker.io/failed-image',
} as const;

export type Phase =
  /** canary image == stable image, canary weight 0: nothing to do. */
  | 'idle'
  /** a canary image waits at weight 0, but it is the image that was rolled back. */
  | 'failed'
  /** a new canary image waits at weight 0: start it. */
  | 'ready'
  /** a person set the weights back to 0 in the middle of this image's rollout: hold, never restart it. */
  | 'stopped'
  /** the canary is at one of the policy's steps. */
  | 'progressing'
  /** a different canary image landed in the middle of a rollout: start over with it. */
  | 'replaced'
  /** stable already runs the canary's image; traffic still has to return to stable. */
  | 'finalizing'
  /** the weights are not a step of the policy (a person set them): hold, never overwrite. */
  | 'manual-override';

/** The three files a canary's state is read from: texts, or texts already parsed (parsed once per tick). */
export interface ManifestTexts<T extends ManifestSource = string> {
  virtualService: T;
  stableDeployment: T;
  canaryDeployment: T;
}

/** The same files, each parsed at most once from here on however often it is read or edited. */
export function parsedTexts(policy: CanaryPolicy, texts: ManifestTexts<ManifestSource>): ManifestTexts<ParsedManifest> {
  const { virtualService, deployments } = policy.spec;
  const parsed = (source: ManifestSource, file: string) => (typeof source === 'string' ? new ParsedManifest(source, file) : source);
  const stableDeployment = parsed(texts.stableDeployment, deployments.stable.file);
  // One file may hold both Deployments: then it is one parse, too.
  const canaryDeployment =
    deployments.canary.file === deployments.stable.file && texts.canaryDeployment === texts.stableDeployment ? stableDeployment : parsed(texts.canaryDeployment, deployments.canary.file);
  return { virtualService: parsed(texts.virtualService, virtualService.file), stableDeployment, canaryDeployment };
}

export interface CanaryState {
  name: string;
  phase: Phase;
  stableWeight: number;
  canaryWeight: number;
  stableImage: string;
  canaryImage: string;
  /** index into policy.spec.steps when progressing. */
  stepIndex?: number;
  failedImage?: string;
  /** the image the running rollout was started for (annotation). */
  rolloutImage?: string;
  paused: boolean;
  /** the VirtualService carries the pause annotation (`paused` is this or spec.paused). */
  pausedByAnnotation?: boolean;
  canaryStartedAt?: number;
  stepStartedAt?: number;
  stableDeploymentName: string;
  canaryDeploymentName: string;
}

export function routeRef(policy: CanaryPolicy): RouteRef {
  return {
    virtualService: policy.spec.virtualService.name,
    route: policy.spec.virtualService.route,
    stableSubset: policy.spec.subsets.stable,
    canarySubset: policy.spec.subsets.canary,
  };
}

function epochSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/** Reads the state from the three manifest texts; throws ManifestEditError naming the file. */
export function readCanaryState(policy: CanaryPolicy, sources: ManifestTexts<ManifestSource>): CanaryState {
  const { virtualService, deployments } = policy.spec;
  const texts = parsedTexts(policy, sources);
  const weights = readRouteWeights(texts.virtualService, virtualService.file, routeRef(policy));
  const stableDeploymentName = deploymentName(texts.stableDeployment, deployments.stable.file);
  const canaryDeploymentName = deploymentName(texts.canaryDeployment, deployments.canary.file);
  const stableImage = readImage(texts.stableDeployment, deployments.stable.file, {
    deployment: stableDeploymentName,
    container: deployments.stable.container,
  });
  const canaryImage = readImage(texts.canaryDeployment, deployments.canary.file, {
    deployment: canaryDeploymentName,
    container: deployments.canary.container,
  });
  const vsSelector = { kind: 'VirtualService', name: virtualService.name };
  const failedImage = readAnnotation(texts.canaryDeployment, deployments.canary.file, { kind: 'Deployment', name: canaryDeploymentName }, ANNOTATIONS.failedImage);
  const pausedByAnnotation = readAnnotation(texts.virtualService, virtualService.file, vsSelector, ANNOTATIONS.paused) === 'true';
  const paused = policy.spec.paused || pausedByAnnotation;
  const canaryStartedAt = epochSeconds(readAnnotation(texts.virtualService, virtualService.file, vsSelector, ANNOTATIONS.canaryStartedAt));
  const rolloutImage = readAnnotation(texts.virtualService, virtualService.file, vsSelector, ANNOTATIONS.canaryImage);
  const stepStartedAt = epochSeconds(readAnnotation(texts.virtualService, virtualService.file, vsSelector, ANNOTATIONS.stepStartedAt));

  const stepIndex = policy.spec.steps.findIndex((s) => s.weight === weights.canary);
  let phase: Phase;
  if (weights.stable + weights.canary !== 100 || weights.stable < 0 || weights.canary < 0) {
    phase = 'manual-override';
  } else if (weights.canary === 0) {
    phase =
      canaryImage === stableImage
        ? 'idle'
        : canaryImage === failedImage
          ? 'failed'
          : rolloutImage === canaryImage
            ? 'stopped'
            : 'ready';
  } else if (canaryImage === stableImage) {
    phase = 'finalizing';
  } else {
    phase = stepIndex < 0 ? 'manual-override' : rolloutImage !== undefined && rolloutImage !== canaryImage ? 'replaced' : 'progressing';
  }
  return {
    name: policy.metadata.name,
    phase,
    stableWeight: weights.stable,
    canaryWeight: weights.canary,
    stableImage,
    canaryImage,
    ...(phase === 'progressing' ? { stepIndex } : {}),
    ...(failedImage !== undefined ? { failedImage } : {}),
    ...(rolloutImage !== undefined ? { rolloutImage } : {}),
    paused,
    pausedByAnnotation,
    ...(canaryStartedAt !== undefined ? { canaryStartedAt } : {}),
    ...(stepStartedAt !== undefined ? { stepStartedAt } : {}),
    stableDeploymentName,
    canaryDeploymentName,
  };
}
