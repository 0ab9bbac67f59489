#!/usr/bin/env node
// The `promoter` command: run the service, inspect canaries (status, history), act on one by hand, validate the
// GitOps tree, replay traces, and run the local demo.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerAnalyze } from './commands/analyze.js';
import { registerCanaryOps } from './commands/canary-ops.js';
import { registerDemo } from './commands/demo.js';
import { registerRecord } from './commands/record.js';
import { registerRun } from './commands/run.js';
import { registerSchema } from './commands/schema.js';
import { registerStatus } from './commands/status.js';
import { registerValidate } from './commands/validate.js';

/** The package version, from src/ (tsx, tests) or dist/src/ (the built bin). */
function packageVersion(): string {
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // not at this depth; try the next
    }
  }
  return '0.0.0';
}

const program = new Command('promoter')
  .description('GitOps canary promoter for Istio + Argo CD: judges canary vs stable from Prometheus and writes each step, finalization or rollback to Git')
  .version(packageVersion())
  .showHelpAfterError('(run with --help for usage)');

registerRun(program);
registerStatus(program);
registerAnalyze(program);
registerRecord(program);
registerCanaryOps(program);
registerValidate(program);
registerSchema(program);
registerDemo(program);

program.addHelpText(
  'after',
  `
Start here:
  promoter demo                        the whole loop on loopback: real Prometheus, real git, simulated mesh
  promoter validate gitops argocd      check every manifest against the real CRD schemas
  promoter run --config promoter.yaml  the service`,
);

await program.parseAsync(process.argv);
