// The CanaryPolicy JSON Schema as an editor uses it: it has an $id, it rejects durations the
// promoter would reject ("1 minute"), and every policy in the repository points at it.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CANARY_POLICY_SCHEMA_ID, parseCanaryPolicy } from './policy.js';

const schema = JSON.parse(readFileSync(new URL('../../schemas/canary-policy.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const POLICIES = ['frontend', 'backend', 'ai-service'].map((name) => `gitops/apps/${name}/canary.yaml`);
const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

describe('CanaryPolicy JSON Schema', () => {
  const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);

  it('has an $id', () => {
    expect(schema.$id).toBe(CANARY_POLICY_SCHEMA_ID);
  });

  it.each(POLICIES)('%s starts with a yaml-language-server modeline to the schema, and validates', (file) => {
    const text = read(file);
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../../../schemas/canary-policy.schema.json');
    expect(validate(parseDocument(text).toJS())).toBe(true);
  });

  it.each([
    ['1 minute', false],
    ['5 m', false],
    ['5m', true],
    ['1h30m', true],
    ['250ms', true],
    ['90', true],
  ])('a duration of "%s" is accepted: %s (schema and promoter agree)', (duration, ok) => {
    const text = read('gitops/apps/backend/canary.yaml').replace(/^(\s*interval:).*$/m, `$1 "${duration}"`);
    expect(validate(parseDocument(text).toJS()), JSON.stringify(validate.errors)).toBe(ok);
    if (ok) expect(() => parseCanaryPolicy(text, 'p.yaml')).not.toThrow();
    else expect(() => parseCanaryPolicy(text, 'p.yaml')).toThrow(/interval: not a duration/);
  });
});
