// Istio's analyzers in `promoter validate`: for every code, a fixture that must fire it and one that
// must not (test/fixtures/validate/analyzers/<CODE>/{fires,quiet}.yaml), with the finding's fields.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSchemaRegistry } from '../src/schemas/registry.js';
import { CODES, validatePaths } from '../src/validate/index.js';

const registry = createSchemaRegistry();
const DIR = 'test/fixtures/validate/analyzers';
const codes = readdirSync(DIR).sort();

describe('Istio analyzers: one fixture fires, one stays quiet', () => {
  it('covers every IST code of the catalogue', () => {
    expect(codes).toEqual(Object.keys(CODES).filter((c) => c.startsWith('IST')).sort());
  });

  it.each(codes)('%s', async (code) => {
    const fires = await validatePaths([`${DIR}/${code}/fires.yaml`], { registry, repoRoot: DIR });
    const hits = fires.findings.filter((f) => f.code === code);
    expect(hits.length, JSON.stringify(fires.findings, null, 1)).toBeGreaterThan(0);
    for (const f of hits) {
      expect(f).toMatchObject({ code, file: `${DIR}/${code}/fires.yaml`, kind: expect.any(String), name: expect.any(String) });
      expect(f.line).toBeGreaterThan(0);
      expect(f.level).toMatch(/^(Error|Warning|Info)$/);
      expect(f.message.length).toBeGreaterThan(10);
    }
    const quiet = await validatePaths([`${DIR}/${code}/quiet.yaml`], { registry, repoRoot: DIR });
    expect(quiet.findings.filter((f) => f.code === code), JSON.stringify(quiet.findings, null, 1)).toEqual([]);
  });
});
