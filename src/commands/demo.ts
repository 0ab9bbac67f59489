// `promoter demo`: the main job on an embedded default, all on loopback. The harness (Prometheus
// launcher, mesh simulator, loopback Argo CD, bare remote) lives in test/support and is not part
// of the image: this command loads it only from a source checkout.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { errorMessage } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { EXIT } from './common.js';

interface DemoModule {
  runDemo: (options: { out: (line: string) => void; logger: Logger; timeoutSeconds: number; delivery?: 'push' | 'pull-request' }) => Promise<{ ok: boolean }>;
}

/** dist/src/commands/demo.js -> dist/test/support/demo.js, present only in a source checkout's build. */
const DEMO_MODULE = new URL('../../test/support/demo.js', import.meta.url);

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the whole loop locally: promote a healthy canary through 5/10/50/100 % and finalize, then roll a bad one back')
    .option('--timeout <seconds>', 'give up after this many seconds', '170')
    .option('--log-file <file>', 'also write the promoter JSON logs to this file')
    .option('--delivery <mode>', 'push, or pull-request: every decision a pull request on a loopback GitHub API, merged once its checks pass', 'push')
    .addHelpText(
      'after',
      `
Needs Debian's prometheus package (scripts/setup.sh installs it) and git. Everything listens on
127.0.0.1 and is removed at the end; nothing outside a temp directory is touched. The demo runs
from a source checkout (bash scripts/demo.sh); the container image ships only \`promoter run\`.`,
    )
    .action(async (options: { timeout: string; logFile?: string; delivery: string }) => {
      if (options.delivery !== 'push' && options.delivery !== 'pull-request') {
        process.stderr.write(`promoter demo: --delivery must be push or pull-request, not "${options.delivery}"\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      const delivery = options.delivery;
      const timeoutSeconds = Number(options.timeout);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
        process.stderr.write(`promoter demo: --timeout must be a positive number of seconds, not "${options.timeout}"\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      if (!existsSync(DEMO_MODULE)) {
        process.stderr.write('promoter demo: the demo harness is not in this build (it ships with the source checkout, not the image); run `bash scripts/demo.sh` from a clone\n');
        process.exitCode = EXIT.usage;
        return;
      }
      const { createWriteStream } = await import('node:fs');
      const logger = options.logFile ? createLogger({ level: 'debug', destination: createWriteStream(options.logFile) }) : createLogger({ level: 'silent' });
      try {
        const { runDemo } = (await import(DEMO_MODULE.href)) as DemoModule;
        const result = await runDemo({ out: (line) => process.stdout.write(`${line}\n`), logger, timeoutSeconds, delivery });
        process.exitCode = result.ok ? EXIT.ok : EXIT.failure;
      } catch (error) {
        process.stderr.write(`promoter demo: ${errorMessage(error)}\n`);
        process.exitCode = EXIT.failure;
      }
    });
}
