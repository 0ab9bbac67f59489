// A person's decisions about one canary (pause, resume, abort, promote), written to Git like the
// promoter's own, so Argo CD and every promoter replica see the same thing.
import { PermanentError } from '../errors.js';
import { applyAction, setPaused, type FileContents } from './changes.js';
import { actionImage, operationMessage, stepAfter } from './commit-message.js';
import { setAnnotation } from './manifest-edits.js';
import type { Action } from './plan.js';
import { parseCanaryPolicy, writablePaths, type CanaryPolicy } from './policy.js';
import type { DeliveryPort, Identity, RepoReader } from './ports.js';
import { ANNOTATIONS, readCanaryState, type CanaryState, type ManifestTexts } from './state.js';

/** retry-failed: `promote --retry-failed`, clear a rolled-back image's failed mark so it may start again. */
export type Operation = 'pause' | 'resume' | 'abort' | 'promote' | 'retry-failed';

export type OperationOutcome =
  | { kind: 'committed'; sha: string; subject: string }
  | { kind: 'unchanged' }
  /** pull-request delivery: the decision waits in a pull request. */
  | { kind: 'proposed'; subject: string; reason: string; url?: string };

export async function findPolicy(git: RepoReader, globs: readonly string[], name: string): Promise<CanaryPolicy> {
  const known: string[] = [];
  for (const glob of globs) {
    for (const file of await git.listFiles(glob)) {
      let policy: CanaryPolicy;
      try {
        policy = parseCanaryPolicy((await git.readFile(file)) ?? '', file);
      } catch {
        // Another service's broken policy must not block an abort of this one during an incident.
        continue;
      }
      if (policy.metadata.name === name) return policy;
      known.push(policy.metadata.name);
    }
  }
  throw new PermanentError(`no canary policy named "${name}" (known: ${known.join(', ') || 'none'})`);
}

async function readTexts(git: RepoReader, policy: CanaryPolicy): Promise<ManifestTexts> {
  const read = async (path: string) => {
    const text = await git.readFile(path);
    if (text === undefined) throw new PermanentError(`${path}: named by the ${policy.metadata.name} policy but missing at HEAD`);
    return text;
  };
  return {
    virtualService: await read(policy.spec.virtualService.file),
    stableDeployment: await read(policy.spec.deployments.stable.file),
    canaryDeployment: await read(policy.spec.deployments.canary.file),
  };
}

/** The action a person's `promote` means: the next step now, whatever the analysis says. */
function manualPromotion(policy: CanaryPolicy, state: CanaryState): Exclude<Action, { kind: 'hold' }> {
  const steps = policy.spec.steps;
  switch (state.phase) {
    case 'progressing': {
      const next = steps[(state.stepIndex ?? 0) + 1];
      return next ? { kind: 'set-weight', from: state.canaryWeight, to: next.weight } : { kind: 'finalize-image', image: state.canaryImage };
    }
    case 'ready':
    case 'replaced':
    case 'stopped':
      return { kind: 'start', to: steps[0]?.weight ?? 0 };
    case 'finalizing':
      return { kind: 'finalize-traffic' };
    case 'failed':
      throw new PermanentError(
        `canary "${policy.metadata.name}" is failed: ${state.canaryImage} was rolled back and is marked failed, so there is nothing to promote; land a new image, or run \`promoter promote ${policy.metadata.name} --retry-failed\` to clear the mark and start the same image again`,
      );
    default:
      throw new PermanentError(`canary "${policy.metadata.name}" is ${state.phase} at ${state.canaryWeight}%: nothing to promote`);
  }
}

interface OperationEdit {
  files: FileContents;
  subject: string;
  decision: string;
  /** Promoter-Step: where the canary is once the commit applies. */
  step: string;
  image: string;
  urgent: boolean;
}

function edit(op: Operation, policy: CanaryPolicy, state: CanaryState, texts: ManifestTexts, reason: string, now: Date): OperationEdit {
  const name = policy.metadata.name;
  switch (op) {
    case 'pause':
    case 'resume':
      return {
        files: setPaused(policy, texts.virtualService, op === 'pause'),
        subject: `canary(${name}): ${op} at ${state.canaryWeight}%`,
        decision: op,
        step: String(state.canaryWeight),
        image: state.canaryImage,
        urgent: false,
      };
    case 'abort': {
      if ((state.canaryWeight === 0 && state.phase !== 'stopped') || state.phase === 'finalizing' || state.phase === 'manual-override') {
        throw new PermanentError(`canary "${name}" is ${state.phase} at ${state.canaryWeight}%: nothing to abort`);
      }
      const action = { kind: 'rollback', image: state.canaryImage, reason } as const;
      return {
        files: applyAction(policy, state, texts, action, now),
        subject: `canary(${name}): abort, roll back ${state.canaryImage}`,
        decision: 'rollback',
        step: stepAfter(action, state),
        image: actionImage(action, state),
        urgent: true,
      };
    }
    case 'retry-failed': {
      if (state.phase !== 'failed') {
        throw new PermanentError(`canary "${name}" is ${state.phase}, not failed: there is no failed mark on its image ${state.canaryImage} to clear`);
      }
      // Empty values clear the marks (the YAML edit keeps every other line as it is): without the
      // failed-image mark and the rollout's image on the VirtualService, the image reads as new
      // ("ready") and the next tick starts it at the first step, once Argo CD applied this commit.
      const canary = setAnnotation(texts.canaryDeployment, policy.spec.deployments.canary.file, { kind: 'Deployment', name: state.canaryDeploymentName }, ANNOTATIONS.failedImage, '');
      const vs = setAnnotation(texts.virtualService, policy.spec.virtualService.file, { kind: 'VirtualService', name: policy.spec.virtualService.name }, ANNOTATIONS.canaryImage, '');
      return {
        files: { [policy.spec.deployments.canary.file]: canary, [policy.spec.virtualService.file]: vs },
        subject: `canary(${name}): retry ${state.canaryImage}, clear its failed mark`,
        decision: 'retry-failed',
        step: '0',
        image: state.canaryImage,
        urgent: false,
      };
    }
    case 'promote': {
      const action = manualPromotion(policy, state);
      const to = action.kind === 'set-weight' || action.kind === 'start' ? `${action.to}%` : action.kind;
      return {
        files: applyAction(policy, state, texts, action, now),
        subject: `canary(${name}): promote by hand ${state.canaryWeight}% -> ${to}`,
        decision: `manual-${action.kind}`,
        step: stepAfter(action, state),
        image: actionImage(action, state),
        urgent: false,
      };
    }
  }
}

export interface OperationDeps {
  git: RepoReader;
  delivery: DeliveryPort;
}

export interface OperationOptions {
  globs: readonly string[];
  canary: string;
  op: Operation;
  reason: string;
  maxAttempts: number;
  /** the person asking: the commit's author (the promoter stays its committer). */
  person?: Identity;
  now?: () => Date;
}

/**
 * Delivers a person's decision about one canary; on a lost push race, re-reads HEAD and tries again.
 * Refuses (PermanentError) what makes no sense in the canary's state.
 */
export async function applyOperation(deps: OperationDeps, options: OperationOptions): Promise<OperationOutcome> {
  const { git, delivery } = deps;
  for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
    await git.refresh();
    const policy = await findPolicy(git, options.globs, options.canary);
    const texts = await readTexts(git, policy);
    const state = readCanaryState(policy, texts);
    const made = edit(options.op, policy, state, texts, options.reason, (options.now ?? (() => new Date()))());
    const message = operationMessage({
      subject: made.subject,
      reason: options.reason,
      trailers: { canary: options.canary, step: made.step, decision: made.decision, image: made.image },
    });
    const outcome = await delivery.deliver({
      canary: options.canary,
      decision: made.decision,
      step: made.step,
      image: made.image,
      urgent: made.urgent,
      files: made.files,
      message,
      allowedPaths: writablePaths(policy),
      ...(options.person ? { author: options.person } : {}),
    });
    switch (outcome.kind) {
      case 'pushed':
        return { kind: 'committed', sha: outcome.sha, subject: made.subject };
      case 'no-op':
        return { kind: 'unchanged' };
      case 'proposed':
        return { kind: 'proposed', subject: made.subject, reason: outcome.reason, ...(outcome.url ? { url: outcome.url } : {}) };
      case 'held':
        throw new PermanentError(`${options.op}: ${outcome.reason}`);
      case 'rejected':
        break;
    }
  }
  throw new PermanentError(`${options.op}: the push lost ${options.maxAttempts} races in a row; try again`);
}
