// `promoter demo`: the main job on an embedded default, all on loopback.
import type { Command } from 'commander';
import { errorMessage } from '../errors.js';
import { createLogger } from '../logger.js';
import { runDemo } from '../sandbox/demo.js';
import { EXIT } from './common.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the whole loop locally: promote a healthy canary through 5/10/50/100 % and finalize, then roll a bad one back')
    .option('--timeout <seconds>', 'give up after this many seconds', '170')
    .option('--log-file <file>', 'also write the promoter JSON logs to this file')
    .addHelpText(
      'after',
      `
Needs Debian's prometheus package (scripts/setup.sh installs it) and git. Everything listens on
127.0.0.1 and is removed at the end; nothing outside a temp directory is touched.`,
    )
    .action(async (options: { timeout: string; logFile?: string }) => {
      const timeoutSeconds = Number(options.timeout);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
        process.stderr.write(`promoter demo: --timeout must be a positive number of seconds, not "${options.timeout}"\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      const { createWriteStream } = await import('node:fs');
      const logger = options.logFile ? createLogger({ level: 'debug', destination: createWriteStream(options.logFile) }) : createLogger({ level: 'silent' });
      try {
        const result = await runDemo({ out: (line) => process.stdout.write(`${line}\n`), logger, timeoutSeconds });
        process.exitCode = result.ok ? EXIT.ok : EXIT.failure;
      } catch (error) {
        process.stderr.write(`promoter demo: ${errorMessage(error)}\n`);
        process.exitCode = EXIT.failure;
      }
    });
}
