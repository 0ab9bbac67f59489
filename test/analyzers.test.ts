// Istio's analyzers in `promoter validate`: for every code, a fixture that must fire it and one that
// must not (test/fixtures/validate/analyzers/<CODE>/{fires,quiet}.yaml), with the finding's fields.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

describe('the cluster the files describe', () => {
  async function run(yaml: string) {
    const dir = mkdtempSync(join(tmpdir(), 'analyzers-'));
    try {
      writeFileSync(join(dir, 'input.yaml'), yaml);
      return await validatePaths([dir], { registry, repoRoot: dir });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const gateway = (selector: string, port: number) =>
    `apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: gw, namespace: istio-system }\nspec:\n  selector: { istio: ${selector} }\n  servers: [{ port: { number: ${port}, name: http, protocol: HTTP }, hosts: ["*"] }]\n`;

  it("assumes istioctl's default ingress gateway pod and Service, as Istio's file analysis does", async () => {
    expect((await run(gateway('ingressgateway', 443))).findings).toEqual([]);
    const badPort = await run(gateway('ingressgateway', 8004));
    expect(badPort.findings.map((f) => [f.code, f.level])).toEqual([['IST0162', 'Warning']]);
  });

  it('reports a selector that matches nothing in the files as a warning, never an error', async () => {
    const report = await run(gateway('ingresstypo', 80));
    expect(report.findings.map((f) => [f.code, f.severity, f.namespace, f.message])).toEqual([
      ['IST0101', 'warning', 'istio-system', 'Referenced selector not found: "istio=ingresstypo"'],
    ]);
    expect(report.summary.errors).toBe(0);
  });
});
