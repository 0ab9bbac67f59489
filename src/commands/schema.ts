// `promoter schema`: the CanaryPolicy JSON Schema, generated from the zod schema, for editors.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { canaryPolicyJsonSchema } from '../promoter/policy.js';

export function canaryPolicySchemaText(): string {
  return `${JSON.stringify(canaryPolicyJsonSchema(), null, 2)}\n`;
}

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the CanaryPolicy JSON Schema (generated from the zod schema) or write it to a file')
    .option('-o, --out <file>', 'write to this file instead of stdout (the repo keeps schemas/canary-policy.schema.json)')
    .action((options: { out?: string }) => {
      const text = canaryPolicySchemaText();
      if (options.out) writeFileSync(options.out, text);
      else process.stdout.write(text);
    });
}
