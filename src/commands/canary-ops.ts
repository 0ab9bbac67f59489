// `promoter pause|resume|abort|promote <canary>`: a person's decision, committed to Git.
import { rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { errorMessage } from '../errors.js';
import { createNotifier, createPromoter } from '../promoter/app.js';
import { operationNotification } from '../promoter/notifications.js';
import { applyOperation, type Operation } from '../promoter/operations.js';
import type { Identity } from '../promoter/ports.js';
import { commandLogger, EXIT, loadConfigOrExit } from './common.js';

/** "Name <email>" -> the person; without --author, the local user (the commit's author either way). */
export function parsePerson(text: string | undefined): Identity {
  if (text === undefined) {
    const name = userInfo().username || 'unknown';
    return { name, email: `${name}@localhost` };
  }
  const match = /^\s*([^<>]+?)\s*<([^<>\s]+)>\s*$/.exec(text);
  if (!match?.[1] || !match[2]) throw new Error(`--author must look like "Name <email>", not "${text}"`);
  return { name: match[1], email: match[2] };
}

const OPERATIONS: [Operation, string][] = [
  ['pause', 'hold a canary where it is (commits the delivery.docuthinker.io/paused annotation)'],
  ['resume', 'let a paused canary go on'],
  ['abort', 'roll a canary back now: stable 100 / canary 0, and mark its image failed'],
  ['promote', 'move a canary to its next step now, whatever the analysis says (or start / finalize it)'],
];

export function registerCanaryOps(program: Command): void {
  for (const [op, description] of OPERATIONS) {
    const command = program
      .command(`${op} <canary>`)
      .description(description)
      .option('-c, --config <file>', 'promoter config YAML (or PROMOTER_CONFIG)')
      .option('-r, --reason <text>', 'why; goes into the commit message', `${op} requested with promoter ${op}`)
      .option('--author <person>', 'who decides, "Name <email>": the commit\'s author (the promoter is its committer); default the local user');
    if (op === 'promote') {
      command.option('--retry-failed', 'the canary image was rolled back: clear its failed-image mark so the promoter starts the same image again');
    }
    command
      .addHelpText(
        'after',
        `\nExample:\n  promoter ${op} backend --config promoter.yaml --reason "..."${
          op === 'promote' ? '\n  promoter promote backend --retry-failed --reason "the 5xx came from a dependency outage, not the image"' : ''
        }\n\nThe decision is one commit to the GitOps branch; Argo CD applies it like any other.`,
      )
      .action(async (canary: string, options: { config?: string; reason: string; author?: string; retryFailed?: boolean }) => {
        const config = loadConfigOrExit(options.config);
        if (!config) return;
        const logger = commandLogger(config, 'warn');
        const notifier = createNotifier(config, logger);
        let clone: string | undefined;
        try {
          const person = parsePerson(options.author);
          // A clone of its own, removed afterwards: a running `promoter run` keeps working in its own.
          const promoter = await createPromoter(config, logger, { purpose: 'person' });
          clone = promoter.workspace.dir;
          const effective: Operation = op === 'promote' && options.retryFailed ? 'retry-failed' : op;
          const outcome = await applyOperation(promoter.deps, { globs: config.policies, canary, op: effective, reason: options.reason, maxAttempts: config.maxPushAttempts, person });
          process.stdout.write(
            outcome.kind === 'committed'
              ? `${outcome.subject}: committed ${outcome.sha.slice(0, 10)}\n`
              : outcome.kind === 'proposed'
                ? `${outcome.subject}: ${outcome.reason}\n`
                : `${op}: already so at HEAD, nothing to commit\n`,
          );
          // After the commit: the webhook is told, and the command waits for it (bounded by timeout and retries) before exiting.
          const notification = operationNotification(canary, effective, outcome, { person, reason: options.reason });
          if (notification) notifier.notify([notification]);
          await notifier.drain();
        } catch (error) {
          process.stderr.write(`promoter ${op}: ${errorMessage(error)}\n`);
          process.exitCode = EXIT.failure;
        } finally {
          if (clone) await rm(clone, { recursive: true, force: true });
        }
      });
  }
}
