// Every PrometheusRule in gitops/ is unit-tested with promtool: its groups are extracted to a rules file and
// `promtool test rules` runs test/prometheus-rules/<metadata.name>.test.yaml, where each alert fires and stays quiet.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { arr, at, obj, str } from '../src/validate/shape.js';

const TESTS = 'test/prometheus-rules';
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';
const work = mkdtempSync(join(tmpdir(), 'promtool-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

interface RuleManifest {
  file: string;
  name: string;
  groups: unknown[];
}

/** Every PrometheusRule object in gitops/, whatever its folder: a new one is picked up without touching this test. */
const manifests: RuleManifest[] = yamlFiles('gitops')
  .sort()
  .flatMap((file) =>
    parseAllDocuments(readFileSync(file, 'utf8'))
      .map((d) => d.toJS() as unknown)
      .filter((d) => at(d, 'kind') === 'PrometheusRule' && String(at(d, 'apiVersion')).startsWith('monitoring.coreos.com/'))
      .map((d) => ({ file, name: str(at(d, 'metadata', 'name')) ?? '', groups: arr(at(d, 'spec', 'groups')) })),
  );

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { cwd: work, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw new Error(`${PROMTOOL} could not run (scripts/setup.sh installs Debian's prometheus, which ships it)`, { cause: result.error });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const rulesOf = (m: RuleManifest, key: 'alert' | 'record') =>
  m.groups.flatMap((g) => arr(at(g, 'rules'))).map((r) => str(at(r, key))).filter((n): n is string => n !== undefined);

describe('PrometheusRules in gitops/ under promtool', () => {
  it('finds the rules (the mesh alerts and the ingress certificate alerts at least)', () => {
    expect(manifests.map((m) => m.name)).toEqual(expect.arrayContaining(['docuthinker-mesh', 'ingress-certificate']));
  });

  describe.each(manifests.map((m) => [`${m.name} (${m.file})`, m] as const))('%s', (_label, manifest) => {
    const testFile = join(TESTS, `${manifest.name}.test.yaml`);
    const rulesFile = `${manifest.name}.rules.yaml`;

    it(`has unit tests in ${testFile}, where every alert fires once and stays quiet once, and every recording rule is evaluated`, () => {
      expect(existsSync(testFile), `add ${testFile} (promtool rule tests with rule_files: [${rulesFile}])`).toBe(true);
      const tests = arr(at(parse(readFileSync(testFile, 'utf8')), 'tests'));
      expect(strings(at(parse(readFileSync(testFile, 'utf8')), 'rule_files'))).toEqual([rulesFile]);
      const alertCases = tests.flatMap((t) => arr(at(t, 'alert_rule_test')));
      for (const alert of rulesOf(manifest, 'alert')) {
        const cases = alertCases.filter((c) => at(c, 'alertname') === alert);
        expect(cases.some((c) => arr(at(c, 'exp_alerts')).length > 0), `${alert} fires in some test`).toBe(true);
        expect(cases.some((c) => arr(at(c, 'exp_alerts')).length === 0), `${alert} stays quiet in some test`).toBe(true);
      }
      const exprs = tests.flatMap((t) => arr(at(t, 'promql_expr_test'))).map((c) => String(at(c, 'expr')));
      for (const record of rulesOf(manifest, 'record')) {
        expect(exprs.some((e) => e.includes(record)), `${record} is evaluated in a promql_expr_test`).toBe(true);
      }
    });

    it('passes promtool check rules and promtool test rules', () => {
      writeFileSync(join(work, rulesFile), stringify({ groups: manifest.groups }));
      copyFileSync(testFile, join(work, `${manifest.name}.test.yaml`));
      const check = promtool('check', 'rules', rulesFile);
      expect(check.status, check.output).toBe(0);
      const run = promtool('test', 'rules', `${manifest.name}.test.yaml`);
      expect(run.status, run.output).toBe(0);
      expect(run.output).toContain('SUCCESS');
    });
  });
});

function strings(value: unknown): string[] {
  return arr(value).filter((v): v is string => typeof v === 'string');
}

/** The JSON of every Grafana dashboard in gitops/: the chart's inline `dashboards` and the sidecar's ConfigMaps. */
function dashboards(): { source: string; json: unknown }[] {
  const out: { source: string; json: unknown }[] = [];
  for (const file of yamlFiles('gitops')) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as unknown)) {
      if (at(doc, 'kind') === 'ConfigMap' && at(doc, 'metadata', 'labels', 'grafana_dashboard') !== undefined) {
        for (const [key, text] of Object.entries(obj(at(doc, 'data')) ?? {})) out.push({ source: `${file}:${key}`, json: JSON.parse(String(text)) });
      }
      for (const [provider, entries] of Object.entries(obj(at(doc, 'dashboards')) ?? {})) {
        for (const [name, entry] of Object.entries(obj(entries) ?? {})) {
          const json = str(at(entry, 'json'));
          if (json !== undefined) out.push({ source: `${file}:dashboards.${provider}.${name}`, json: JSON.parse(json) });
        }
      }
    }
  }
  return out;
}

describe('Grafana dashboards in gitops/', () => {
  it('every panel query is valid PromQL (promtool check rules), Grafana variables substituted', () => {
    const found = dashboards();
    expect(found.map((d) => d.source).join('\n')).toContain('dashboards.istio.istio-control-plane');
    const rules = found.flatMap(({ source, json }) => {
      const panels = arr(at(json, 'panels')).flatMap((p) => [p, ...arr(at(p, 'panels'))]);
      const exprs = panels.flatMap((p) => arr(at(p, 'targets'))).map((t) => str(at(t, 'expr'))).filter((e): e is string => e !== undefined);
      const variables = arr(at(json, 'templating', 'list')).map((v) => str(at(v, 'query', 'query')) ?? str(at(v, 'query'))).filter((q): q is string => q !== undefined);
      // label_values(metric{...}, label) is Grafana's, not PromQL: its metric selector is what must parse.
      const variableExprs = variables.map((q) => /^label_values\((.*),\s*[\w]+\)$/.exec(q)?.[1] ?? q);
      return [...exprs, ...variableExprs].map((expr, i) => ({
        record: `dashboard:query:${i}`,
        expr: expr
          .replace(/\$__rate_interval|\$__interval|\$__range/g, '5m')
          .replace(/\$\{?\w+\}?/g, '.*'),
        labels: { source: source.slice(0, 200) },
      }));
    });
    expect(rules.length).toBeGreaterThan(40);
    writeFileSync(join(work, 'dashboards.rules.yaml'), stringify({ groups: [{ name: 'dashboards', rules }] }));
    const check = promtool('check', 'rules', 'dashboards.rules.yaml');
    expect(check.status, check.output).toBe(0);
  });
});
