// A person's decisions about one canary (pause, resume, abort, promote), written to Git like the
// promoter's own, so Argo CD and every promoter replica see the same thing.
import { PermanentError } from '../errors.js';
import { applyAction, setPaused, type FileContents } from './changes.js';
import { TRAILERS } from './commit-message.js';
import type { Action } from './plan.js';
import { parseCanaryPolicy, writablePaths, type CanaryPolicy } from './policy.js';
import type { GitPort } from './ports.js';
import { readCanaryState, type CanaryState, type ManifestTexts } from './state.js';

export type Operation = 'pause' | 'resume' | 'abort' | 'promote';

export type OperationOutcome = { kind: 'committed'; sha: string; subject: string } | { kind: 'unchanged' };

export async function findPolicy(git: GitPort, globs: readonly string[], name: string): Promise<CanaryPolicy> {
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

async function readTexts(git: GitPort, policy: CanaryPolicy): Promise<ManifestTexts> {
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
    default:
      throw new PermanentError(`canary "${policy.metadata.name}" is ${state.phase} at ${state.canaryWeight}%: nothing to promote`);
  }
}

function edit(op: Operation, policy: CanaryPolicy, state: CanaryState, texts: ManifestTexts, reason: string, now: Date): { files: FileContents; subject: string; decision: string } {
  const name = policy.metadata.name;
  switch (op) {
    case 'pause':
    case 'resume':
      return { files: setPaused(policy, texts.virtualService, op === 'pause'), subject: `canary(${name}): ${op} at ${state.canaryWeight}%`, decision: op };
    case 'abort':
      if ((state.canaryWeight === 0 && state.phase !== 'stopped') || state.phase === 'finalizing' || state.phase === 'manual-override') {
        throw new PermanentError(`canary "${name}" is ${state.phase} at ${state.canaryWeight}%: nothing to abort`);
      }
      return {
        files: applyAction(policy, state, texts, { kind: 'rollback', image: state.canaryImage, reason }, now),
        subject: `canary(${name}): abort, roll back ${state.canaryImage}`,
        decision: 'rollback',
      };
    case 'promote': {
      const action = manualPromotion(policy, state);
      const to = action.kind === 'set-weight' || action.kind === 'start' ? `${action.to}%` : action.kind;
      return { files: applyAction(policy, state, texts, action, now), subject: `canary(${name}): promote by hand ${state.canaryWeight}% -> ${to}`, decision: `manual-${action.kind}` };
    }
  }
}

/**
 * Commits a person's decision about one canary; on a lost push race, re-reads HEAD and tries again.
 * Refuses (PermanentError) what makes no sense in the canary's state.
 */
export async function applyOperation(
  git: GitPort,
  options: { globs: readonly string[]; canary: string; op: Operation; reason: string; maxAttempts: number; now?: () => Date },
): Promise<OperationOutcome> {
  for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
    await git.refresh();
    const policy = await findPolicy(git, options.globs, options.canary);
    const texts = await readTexts(git, policy);
    const state = readCanaryState(policy, texts);
    const { files, subject, decision } = edit(options.op, policy, state, texts, options.reason, (options.now ?? (() => new Date()))());
    const message = `${subject}\n\n${options.reason}\n\n${TRAILERS.canary}: ${options.canary}\n${TRAILERS.step}: ${state.canaryWeight}\n${TRAILERS.decision}: ${decision}\n${TRAILERS.image}: ${state.canaryImage}\n`;
    const outcome = await git.commitAndPush({ files, message, allowedPaths: writablePaths(policy) });
    if (outcome.kind === 'pushed') return { kind: 'committed', sha: outcome.sha, subject };
    if (outcome.kind === 'no-op') return { kind: 'unchanged' };
  }
  throw new PermanentError(`${options.op}: the push lost ${options.maxAttempts} races in a row; try again`);
}
