// The fixture suite of `promoter validate`: one deliberately broken manifest per check, each caught
// with the right code at the right place, a good tree that passes, and inputs that must not crash it.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createSchemaRegistry } from '../src/schemas/registry.js';
import { formatText, validatePaths, type Finding } from '../src/validate/index.js';

const registry = createSchemaRegistry();
const GOOD = 'test/fixtures/validate/good';
const BROKEN = 'test/fixtures/validate/broken';

interface Case {
  fixture: string;
  code: string;
  path: string;
  line: number;
  repoRoot?: string;
  /** The file the finding is in, when it is not the fixture itself. */
  file?: string;
  count?: number;
  severity?: Finding['severity'];
  /** Other codes Istio reports for the same input (after the main one, in report order). */
  extra?: string[];
}

const cases: Case[] = [
  { fixture: 'syntax-error.yaml', code: 'DT0001', path: '', line: 7 },
  { fixture: 'schema-unknown-field.yaml', code: 'IST0106', path: '/spec/http/0/colour', line: 11 },
  { fixture: 'schema-kubernetes.yaml', code: 'DT0100', path: '/spec/ports/0/port', line: 11 },
  { fixture: 'cel-duration.yaml', code: 'IST0106', path: '/spec/http/0/timeout', line: 11 },
  { fixture: 'api-version-not-served.yaml', code: 'DT0004', path: '/apiVersion', line: 2 },
  { fixture: 'weight-negative.yaml', code: 'DT1001', path: '/spec/http/0/route/0/weight', line: 13 },
  { fixture: 'weight-sum.yaml', code: 'DT1001', path: '/spec/http/0/route', line: 11 },
  { fixture: 'subset-name.yaml', code: 'IST0106', path: '/spec/subsets/1/name', line: 12 },
  { fixture: 'retry-on.yaml', code: 'IST0106', path: '/spec/http/0/retries/retryOn', line: 15 },
  { fixture: 'missing-subset.yaml', code: 'IST0101', path: '/spec/http/0/route/1/destination/subset', line: 14 },
  { fixture: 'missing-gateway.yaml', code: 'IST0101', path: '/spec/gateways/0', line: 20, extra: ['IST0132'] },
  { fixture: 'subset-no-pods.yaml', code: 'IST0173', path: '/spec/subsets/1/labels', line: 13, severity: 'warning' },
  { fixture: 'conflicting-hosts.yaml', code: 'IST0109', path: '/spec/hosts/0', line: 8, count: 2 },
  { fixture: 'authz-unknown-sa.yaml', code: 'DT2001', path: '/spec/rules/0/from/0/source/principals/1', line: 20 },
  { fixture: 'peerauth-permissive.yaml', code: 'DT2002', path: '/spec/mtls/mode', line: 9 },
  { fixture: 'argocd-missing-path.yaml', code: 'DT3001', path: '/spec/source/path', line: 12 },
  { fixture: 'argocd-missing-values.yaml', code: 'DT3002', path: '/spec/sources/0/helm/valueFiles/0', line: 15 },
  { fixture: 'applicationset-missing-key.yaml', code: 'DT3003', path: '/spec/generators/0/list/elements/1', line: 13 },
  { fixture: 'applicationset-outside-project', code: 'DT3004', path: '/spec/destination', line: 23, file: 'applicationset-outside-project/clusters.yaml' },
  { fixture: 'canary-bad-field.yaml', code: 'DT4001', path: '/spec/steps', line: 18, count: 2 },
  { fixture: 'canary-missing-file.yaml', code: 'DT4002', path: '/spec/virtualService/file', line: 10 },
  { fixture: 'canary-missing-route.yaml', code: 'DT4003', path: '/spec/virtualService/route', line: 12 },
  { fixture: 'canary-route-shape.yaml', code: 'DT4004', path: '/spec/virtualService/route', line: 12 },
  { fixture: 'canary-subset-missing.yaml', code: 'DT4005', path: '/spec/subsets/canary', line: 6 },
  { fixture: 'canary-missing-container.yaml', code: 'DT4006', path: '/spec/deployments/canary/container', line: 15 },
  { fixture: 'installation', code: 'DT5001', path: '/pilott', line: 2, file: 'installation/istiod/values.yaml' },
  { fixture: 'helm-values', code: 'DT5003', path: '/collector', line: 4, file: 'helm-values/addons/values-jaeger.yaml' },
  { fixture: 'chart-no-schema.yaml', code: 'DT5004', path: '/spec/source/targetRevision', line: 12, severity: 'info' },
  { fixture: 'service-address', code: 'DT5005', path: '/datasources/datasources.yaml/datasources/0/url', line: 8, file: 'service-address/addons/values-grafana.yaml' },
  { fixture: 'chart-outside-project', code: 'DT5006', path: '/spec/source', line: 10, file: 'chart-outside-project/prometheus.yaml' },
  { fixture: 'kustomize', code: 'DT6001', path: '/resources/1', line: 6, file: 'kustomize/kustomization.yaml', repoRoot: `${BROKEN}/kustomize` },
  { fixture: 'unknown-kind.yaml', code: 'DT0003', path: '', line: 2, severity: 'skipped' },
  { fixture: 'not-a-manifest.yaml', code: 'DT0002', path: '', line: 2, severity: 'skipped' },
];

describe('promoter validate: broken fixtures', () => {
  it.each(cases)('$fixture -> $code at $path', async (c) => {
    const report = await validatePaths([`${BROKEN}/${c.fixture}`], { registry, repoRoot: c.repoRoot ?? GOOD });
    const severity = c.severity ?? 'error';
    // Each fixture breaks exactly one rule: nothing else may be reported (besides the other codes Istio
    // gives for the same input), except the informational DT5004 for an Istio chart, which has no
    // schema folder of its own.
    const findings = report.findings.filter((f) => f.code !== 'DT5004' || c.code === 'DT5004');
    expect(findings.map((f) => f.code)).toEqual([...Array<string>(c.count ?? 1).fill(c.code), ...(c.extra ?? [])]);
    expect(findings[0]).toMatchObject({
      file: `${BROKEN}/${c.file ?? c.fixture}`,
      path: c.path,
      line: c.line,
      severity,
    });
    expect(report.summary.errors).toBe(report.findings.filter((f) => f.severity === 'error').length);
    expect(report.findings.filter((f) => f.code === c.code && f.severity === severity)).toHaveLength(c.count ?? 1);
  });

  it('covers every code of the catalogue that a fixture can trigger', async () => {
    const { CODES } = await import('../src/validate/codes.js');
    // Istio analyzer codes are covered by test/analyzers.test.ts (a firing and a quiet fixture each).
    const analyzerFixtures = new Set(readdirSync('test/fixtures/validate/analyzers'));
    const untested = Object.keys(CODES).filter((code) => !cases.some((c) => c.code === code) && !analyzerFixtures.has(code));
    // DT0005 (unreadable path), DT0006 (internal) and DT5002 (unknown chart) are tested below.
    expect(untested.sort()).toEqual(['DT0005', 'DT0006', 'DT5002']);
  });
});

describe('promoter validate: the good tree', () => {
  it('passes with no findings at all', async () => {
    const report = await validatePaths([`${GOOD}/gitops`, `${GOOD}/argocd`], { registry, repoRoot: GOOD });
    // Only the note that the istiod chart has no schema folder (its values get the top-level check).
    expect(report.findings.map((f) => [f.code, f.path])).toEqual([['DT5004', '/spec/sources/0/targetRevision']]);
    expect(report.summary).toMatchObject({ errors: 0, warnings: 0 });
    expect(report.summary.files).toBeGreaterThan(10);
  });

  it('sees every file in one run: the good tree plus a second mesh VirtualService for backend conflicts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'validate-'));
    try {
      writeFileSync(
        join(dir, 'extra.yaml'),
        'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: backend-copy, namespace: docuthinker-prod }\nspec:\n  hosts: [backend]\n  http:\n    - route:\n        - destination: { host: backend }\n',
      );
      const report = await validatePaths([`${GOOD}/gitops`, dir], { registry, repoRoot: GOOD });
      expect(report.findings.filter((f) => f.code === 'IST0109')).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('promoter validate: never crashes', () => {
  const inputs: [string, string][] = [
    ['empty', ''],
    ['only comments', '# nothing\n---\n'],
    ['a scalar', '42\n'],
    ['a list', '- a\n- b\n'],
    ['tab indentation', 'a:\n\tb: 1\n'],
    ['duplicate keys', 'apiVersion: v1\napiVersion: v1\nkind: ServiceAccount\n'],
    ['alias bomb', 'a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c]\n'],
    ['kind without apiVersion', 'kind: VirtualService\nspec: {}\n'],
    ['metadata as a list', 'apiVersion: v1\nkind: Service\nmetadata: [1]\nspec: 3\n'],
    ['spec as a string', 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: x }\nspec: hello\n'],
    ['weird http', 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: x }\nspec: { hosts: [x], http: [null, 3, { route: 7 }] }\n'],
    ['policy with a bad body', 'apiVersion: delivery.docuthinker.io/v1alpha1\nkind: CanaryPolicy\nspec: []\n'],
    ['application with sources as a map', 'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: a }\nspec: { sources: { a: 1 } }\n'],
    ['binary-ish', '\u0000\u0001\u0002: [\n'],
  ];
  it.each(inputs)('%s', async (_label, text) => {
    const dir = mkdtempSync(join(tmpdir(), 'validate-'));
    try {
      writeFileSync(join(dir, 'input.yaml'), text);
      const report = await validatePaths([dir], { registry, repoRoot: dir });
      expect(report.summary.files).toBe(1);
      expect(report.findings.every((f) => f.code !== 'DT0006')).toBe(true);
      expect(formatText(report)).toContain('file(s)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a path that does not exist (DT0005) and a values file of an unknown chart (DT5002)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'validate-'));
    try {
      const addons = join(dir, 'addons', 'tempo');
      mkdirSync(addons, { recursive: true });
      writeFileSync(join(addons, 'values.yaml'), 'storage: memory\n');
      const report = await validatePaths([join(dir, 'nope'), dir], { registry, repoRoot: dir });
      // Sorted by file name: <dir>/addons/... comes before <dir>/nope.
      expect(report.findings.map((f) => [f.code, f.severity])).toEqual([
        ['DT5002', 'skipped'],
        ['DT0005', 'error'],
      ]);
      expect(report.summary.errors).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails clearly when the schema folder is missing', async () => {
    await expect(validatePaths([GOOD], { schemasDir: '/nonexistent/schemas' })).rejects.toThrow(/schema directory not found: \/nonexistent\/schemas/);
  });
});

describe('the validate command', () => {
  async function run(...args: string[]): Promise<{ code: number | string | undefined; out: string; err: string }> {
    const { Command } = await import('commander');
    const { registerValidate } = await import('../src/commands/validate.js');
    const program = new Command('promoter');
    registerValidate(program);
    let out = '';
    let err = '';
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
    const before = process.exitCode;
    try {
      await program.parseAsync(['node', 'promoter', 'validate', ...args]);
      return { code: process.exitCode, out, err };
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
      process.exitCode = before;
    }
  }

  it('prints JSON findings and exits 1 when there are errors', async () => {
    const { code, out } = await run(`${BROKEN}/weight-sum.yaml`, '--format', 'json', '--repo', GOOD);
    expect(code).toBe(1);
    const report = JSON.parse(out) as { findings: Finding[]; summary: { errors: number } };
    expect(report.summary.errors).toBe(1);
    expect(report.findings[0]).toMatchObject({ code: 'DT1001', path: '/spec/http/0/route' });
  });

  it('exits 0 on the good tree, and 2 on a usage error or a missing schema folder', async () => {
    expect((await run(GOOD, '--repo', GOOD)).code).toBe(0);
    expect((await run(GOOD, '--format', 'yaml')).code).toBe(2);
    expect((await run()).code).toBe(2);
    const missing = await run(GOOD, '--schemas', '/nonexistent/schemas');
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('/nonexistent/schemas');
  });
});

describe('promoter validate: the repository\'s multi-cluster ApplicationSets', () => {
  const file = 'argocd/multi-cluster/docuthinker-clusters.yaml';

  it('are checked against the ApplicationSet CRD, and generate Applications whose paths exist and whose destinations the AppProject admits', async () => {
    const report = await validatePaths(['argocd'], { registry, repoRoot: '.' });
    expect(report.findings.filter((f) => f.file.includes('multi-cluster') || f.code === 'DT3004' || f.code === 'DT3003')).toEqual([]);

    const dir = mkdtempSync(join(tmpdir(), 'appset-'));
    try {
      const { readFileSync } = await import('node:fs');
      const broken = readFileSync(file, 'utf8')
        .replace('preserveResourcesOnDeletion: true', 'preserveResourcesOnDeletion: "yes"')
        .replace('path: gitops/istio', 'path: gitops/istio-east')
        .replace('server: https://west.mesh.docuthinker.internal', 'server: https://west.example.com');
      mkdirSync(join(dir, 'argocd'));
      writeFileSync(join(dir, 'argocd', 'clusters.yaml'), broken);
      writeFileSync(join(dir, 'argocd', 'project.yaml'), readFileSync('argocd/project.yaml', 'utf8'));
      mkdirSync(join(dir, 'gitops', 'istio'), { recursive: true });
      mkdirSync(join(dir, 'gitops', 'apps', 'overlays', 'prod'), { recursive: true });
      const bad = await validatePaths([join(dir, 'argocd')], { registry, repoRoot: dir });
      const codes = bad.findings.filter((f) => f.severity === 'error').map((f) => `${f.code} ${f.path}`);
      // The CRD's schema (a string where a boolean belongs), the generated mesh Applications' missing
      // path (east and west), and the west element's server, which the project does not admit.
      expect(codes).toEqual(
        expect.arrayContaining([
          'DT0100 /spec/syncPolicy/preserveResourcesOnDeletion',
          'DT3001 /spec/source/path',
          'DT3004 /spec/destination',
        ]),
      );
      expect(bad.findings.filter((f) => f.code === 'DT3001')).toHaveLength(2);
      // Only the mesh set's west element was moved (String.replace changes the first occurrence).
      expect(bad.findings.filter((f) => f.code === 'DT3004').map((f) => f.message)).toEqual([expect.stringContaining('https://west.example.com namespace docuthinker-prod is not among AppProject docuthinker')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
