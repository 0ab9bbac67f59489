// `promoter pause|resume|abort <canary>`: a person's decision, written to Git like any other,
// so Argo CD and every promoter replica see the same thing.
import type { Command } from 'commander';
import { errorMessage, PermanentError } from '../errors.js';
import { createPromoter } from '../promoter/app.js';
import { applyAction, setPaused, type FileContents } from '../promoter/changes.js';
import { TRAILERS } from '../promoter/commit-message.js';
import { parseCanaryPolicy, writablePaths, type CanaryPolicy } from '../promoter/policy.js';
import { readCanaryState, type CanaryState, type ManifestTexts } from '../promoter/state.js';
import type { GitPort } from '../promoter/ports.js';
import { commandLogger, EXIT, loadConfigOrExit } from './common.js';

type Operation = 'pause' | 'resume' | 'abort';

async function findPolicy(git: GitPort, globs: readonly string[], name: string): Promise<CanaryPolicy> {
  const known: string[] = [];
  for (const glob of globs) {
    for (const file of await git.listFiles(glob)) {
      const policy = parseCanaryPolicy((await git.readFile(file)) ?? '', file);
      if (policy.metadata.name === name) return policy;
      known.push(policy.metadata.name);
    }
  }
  throw new PermanentError(`no canary policy named "${name}" (known: ${known.join(', ') || 'none'})`);
}

async function texts(git: GitPort, policy: CanaryPolicy): Promise<ManifestTexts> {
  const read = async (p: string) => {
    const t = await git.readFile(p);
    if (t === undefined) throw new PermanentError(`${p}: missing at HEAD`);
    return t;
  };
  return {
    virtualService: await read(policy.spec.virtualService.file),
    stableDeployment: await read(policy.spec.deployments.stable.file),
    canaryDeployment: await read(policy.spec.deployments.canary.file),
  };
}

function edit(op: Operation, policy: CanaryPolicy, state: CanaryState, t: ManifestTexts, reason: string): FileContents {
  if (op === 'abort') {
    if (state.canaryWeight === 0 || state.phase === 'finalizing') {
      throw new PermanentError(`canary "${policy.metadata.name}" is ${state.phase} at ${state.canaryWeight}%: nothing to abort`);
    }
    return applyAction(policy, state, t, { kind: 'rollback', image: state.canaryImage, reason }, new Date());
  }
  return setPaused(policy, t.virtualService, op === 'pause');
}

function message(op: Operation, name: string, state: CanaryState, reason: string): string {
  const subject = { pause: `canary(${name}): pause at ${state.canaryWeight}%`, resume: `canary(${name}): resume at ${state.canaryWeight}%`, abort: `canary(${name}): abort, roll back ${state.canaryImage}` }[op];
  return `${subject}\n\n${reason}\n\n${TRAILERS.canary}: ${name}\n${TRAILERS.step}: ${state.canaryWeight}\n${TRAILERS.decision}: ${op === 'abort' ? 'rollback' : op}\n${TRAILERS.image}: ${state.canaryImage}\n`;
}

export function registerCanaryOps(program: Command): void {
  const ops: [Operation, string][] = [
    ['pause', 'hold a canary where it is (commits the delivery.docuthinker.io/paused annotation)'],
    ['resume', 'let a paused canary go on'],
    ['abort', 'roll a canary back now: stable 100 / canary 0, and mark its image failed'],
  ];
  for (const [op, description] of ops) {
    program
      .command(`${op} <canary>`)
      .description(description)
      .option('-c, --config <file>', 'promoter config YAML (or PROMOTER_CONFIG)')
      .option('-r, --reason <text>', 'why; goes into the commit message', `${op} requested with promoter ${op}`)
      .action(async (canary: string, options: { config?: string; reason: string }) => {
        const config = loadConfigOrExit(options.config);
        if (!config) return;
        const logger = commandLogger(config, 'warn');
        try {
          const promoter = await createPromoter(config, logger);
          const git = promoter.deps.git;
          for (let attempt = 1; attempt <= config.maxPushAttempts; attempt++) {
            await git.refresh();
            const policy = await findPolicy(git, config.policies, canary);
            const t = await texts(git, policy);
            const state = readCanaryState(policy, t);
            const files = edit(op, policy, state, t, options.reason);
            const outcome = await git.commitAndPush({ files, message: message(op, canary, state, options.reason), allowedPaths: writablePaths(policy) });
            if (outcome.kind === 'rejected') continue;
            process.stdout.write(outcome.kind === 'pushed' ? `${op}: committed ${outcome.sha.slice(0, 10)}\n` : `${op}: already so at HEAD, nothing to commit\n`);
            return;
          }
          throw new PermanentError(`${op}: the push lost ${config.maxPushAttempts} races in a row; try again`);
        } catch (error) {
          process.stderr.write(`promoter ${op}: ${errorMessage(error)}\n`);
          process.exitCode = EXIT.failure;
        }
      });
  }
}
