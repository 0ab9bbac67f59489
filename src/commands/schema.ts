// `promoter schema`: the CanaryPolicy JSON Schema, generated from the zod schema, for editors.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { traceJsonSchema } from '../analysis/record.js';
import { canaryPolicyJsonSchema } from '../promoter/policy.js';

export function canaryPolicySchemaText(): string {
  return `${JSON.stringify(canaryPolicyJsonSchema(), null, 2)}\n`;
}

export function traceSchemaText(): string {
  return `${JSON.stringify(traceJsonSchema(), null, 2)}\n`;
}

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the CanaryPolicy JSON Schema (or with --trace the trace format\'s), generated from the zod schema')
    .option('-o, --out <file>', 'write to this file instead of stdout (the repo keeps schemas/canary-policy.schema.json)')
    .option('--trace', 'the JSON Schema of the trace format (promoter record, analyze --trace; docs/trace-format.md)')
    .action((options: { out?: string; trace?: boolean }) => {
      const text = options.trace ? traceSchemaText() : canaryPolicySchemaText();
      if (options.out) writeFileSync(options.out, text);
      else process.stdout.write(text);
    });
}
