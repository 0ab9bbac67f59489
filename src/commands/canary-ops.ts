// `promoter pause|resume|abort|promote <canary>`: a person's decision, committed to Git.
import type { Command } from 'commander';
import { errorMessage } from '../errors.js';
import { createPromoter } from '../promoter/app.js';
import { applyOperation, type Operation } from '../promoter/operations.js';
import { commandLogger, EXIT, loadConfigOrExit } from './common.js';

const OPERATIONS: [Operation, string][] = [
  ['pause', 'hold a canary where it is (commits the delivery.docuthinker.io/paused annotation)'],
  ['resume', 'let a paused canary go on'],
  ['abort', 'roll a canary back now: stable 100 / canary 0, and mark its image failed'],
  ['promote', 'move a canary to its next step now, whatever the analysis says (or start / finalize it)'],
];

export function registerCanaryOps(program: Command): void {
  for (const [op, description] of OPERATIONS) {
    program
      .command(`${op} <canary>`)
      .description(description)
      .option('-c, --config <file>', 'promoter config YAML (or PROMOTER_CONFIG)')
      .option('-r, --reason <text>', 'why; goes into the commit message', `${op} requested with promoter ${op}`)
      .addHelpText('after', `\nExample:\n  promoter ${op} backend --config promoter.yaml --reason "..."\n\nThe decision is one commit to the GitOps branch; Argo CD applies it like any other.`)
      .action(async (canary: string, options: { config?: string; reason: string }) => {
        const config = loadConfigOrExit(options.config);
        if (!config) return;
        try {
          const promoter = await createPromoter(config, commandLogger(config, 'warn'));
          const outcome = await applyOperation(promoter.deps.git, { globs: config.policies, canary, op, reason: options.reason, maxAttempts: config.maxPushAttempts });
          process.stdout.write(outcome.kind === 'committed' ? `${outcome.subject}: committed ${outcome.sha.slice(0, 10)}\n` : `${op}: already so at HEAD, nothing to commit\n`);
        } catch (error) {
          process.stderr.write(`promoter ${op}: ${errorMessage(error)}\n`);
          process.exitCode = EXIT.failure;
        }
      });
  }
}
