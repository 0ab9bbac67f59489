import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyAction } from './changes.js';
import {
  ManifestEditError,
  manifestParseCount,
  readAnnotation,
  readImage,
  readRouteWeights,
  setAnnotation,
  setImage,
  setRouteWeights,
} from './manifest-edits.js';
import { parseCanaryPolicy } from './policy.js';
import { snapshotOf } from './snapshot.js';
import { parsedTexts, readCanaryState } from './state.js';

const VS_FILE = 'gitops/istio/traffic-management/virtualservices/backend.yaml';
const vs = readFileSync(new URL('../../test/fixtures/manifests/virtualservice.yaml', import.meta.url), 'utf8');
const deployment = readFileSync(new URL('../../test/fixtures/manifests/deployment-canary.yaml', import.meta.url), 'utf8');
const ref = { virtualService: 'backend', route: 'primary', stableSubset: 'stable', canarySubset: 'canary' };

/** The lines that differ between two texts of the same line count. */
function changedLines(before: string, after: string): { before: string; after: string }[] {
  const a = before.split('\n');
  const b = after.split('\n');
  expect(b.length).toBe(a.length);
  return a.flatMap((line, i) => (line === b[i] ? [] : [{ before: line, after: b[i] ?? '' }]));
}

describe('setRouteWeights', () => {
  it('reads the weights of the named route', () => {
    expect(readRouteWeights(vs, VS_FILE, ref)).toEqual({ stable: 100, canary: 0 });
  });

  it.each([
    [95, 5],
    [90, 10],
    [50, 50],
    [0, 100],
  ])('changes only the two weight lines for %i/%i, keeping comments and quoting', (stable, canary) => {
    const out = setRouteWeights(vs, VS_FILE, ref, { stable, canary });
    expect(readRouteWeights(out, VS_FILE, ref)).toEqual({ stable, canary });
    expect(changedLines(vs, out)).toEqual([
      { before: '          weight: 100 # stable', after: `          weight: ${stable} # stable` },
      { before: '          weight: 0   # canary', after: `          weight: ${canary}   # canary` },
    ]);
    expect(out).toContain("perTryTimeout: '2s'");
    expect(out).toContain('exact: "v2"');
    expect(out.startsWith('# backend VirtualService')).toBe(true);
  });

  it('is a no-op when the weights are already there', () => {
    expect(setRouteWeights(vs, VS_FILE, ref, { stable: 100, canary: 0 })).toBe(vs);
  });

  it('names the file and the missing route or subset', () => {
    expect(() => readRouteWeights(vs, VS_FILE, { ...ref, route: 'main' })).toThrow(
      `${VS_FILE}: VirtualService/backend has no http route named "main"`,
    );
    expect(() => setRouteWeights(vs, VS_FILE, { ...ref, canarySubset: 'v2' }, { stable: 95, canary: 5 })).toThrow(
      'has no destination with subset "v2"',
    );
    expect(() => readRouteWeights(vs, VS_FILE, { ...ref, virtualService: 'frontend' })).toThrow(ManifestEditError);
  });

  it('refuses malformed YAML with the file name instead of writing anything', () => {
    expect(() => setRouteWeights(`${vs}\n  bad: [unclosed`, VS_FILE, ref, { stable: 95, canary: 5 })).toThrow(
      new RegExp(`^${VS_FILE}: YAML error`),
    );
  });
});

describe('images and annotations', () => {
  const file = 'gitops/apps/backend/base/deployment-canary.yaml';
  const dep = { deployment: 'backend-canary', container: 'backend' };

  it('reads and sets the named container image only', () => {
    expect(readImage(deployment, file, dep)).toBe('ghcr.io/docuthinker/backend:1.4.0');
    const out = setImage(deployment, file, dep, 'ghcr.io/docuthinker/backend:1.5.0');
    expect(changedLines(deployment, out)).toEqual([
      {
        before: '          image: ghcr.io/docuthinker/backend:1.4.0 # the version under test',
        after: '          image: ghcr.io/docuthinker/backend:1.5.0 # the version under test',
      },
    ]);
    expect(() => readImage(deployment, file, { ...dep, container: 'api' })).toThrow('has no container "api"');
  });

  it('adds a missing annotations map under metadata, quoted, and then updates it in place', () => {
    const sel = { kind: 'Deployment', name: 'backend-canary' };
    const key = 'delivery.docuthinker.io/failed-image';
    const added = setAnnotation(deployment, file, sel, key, 'ghcr.io/docuthinker/backend:1.5.0');
    expect(readAnnotation(added, file, sel, key)).toBe('ghcr.io/docuthinker/backend:1.5.0');
    expect(added.split('\n').length).toBe(deployment.split('\n').length + 2);
    expect(added).toContain(`  annotations:\n    ${key}: "ghcr.io/docuthinker/backend:1.5.0"\n`);
    const updated = setAnnotation(added, file, sel, key, 'ghcr.io/docuthinker/backend:1.6.0');
    expect(changedLines(added, updated)).toHaveLength(1);
    expect(readAnnotation(updated, file, sel, 'other')).toBeUndefined();
  });

  it('writes timestamps and numbers as strings', () => {
    const sel = { kind: 'VirtualService', name: 'backend' };
    const out = setAnnotation(vs, VS_FILE, sel, 'delivery.docuthinker.io/step', '10');
    expect(readAnnotation(out, VS_FILE, sel, 'delivery.docuthinker.io/step')).toBe('10');
    expect(out).toContain('delivery.docuthinker.io/step: "10"');
  });
});

describe('one parse per file (issue 12 item 4)', () => {
  const policyText = readFileSync(new URL('../../test/fixtures/manifests/canary.yaml', import.meta.url), 'utf8');
  const policy = parseCanaryPolicy(policyText, 'gitops/apps/backend/canary.yaml');
  const started = vs.replace(
    'metadata:\n',
    'metadata:\n  annotations:\n    delivery.docuthinker.io/canary-started-at: "2026-01-01T00:00:00Z"\n    delivery.docuthinker.io/step-started-at: "2026-01-01T00:00:00Z"\n    delivery.docuthinker.io/canary-image: "ghcr.io/docuthinker/backend:1.5.0"\n',
  ).replace('weight: 100 # stable', 'weight: 95 # stable').replace('weight: 0   # canary', 'weight: 5   # canary');
  const texts = {
    virtualService: started,
    stableDeployment: readFileSync(new URL('../../test/fixtures/manifests/deployment-stable.yaml', import.meta.url), 'utf8'),
    canaryDeployment: deployment.replace('backend:1.4.0', 'backend:1.5.0'),
  };

  it('reads the state and writes a step with one parse of each file, changing only the weight and stamp lines', () => {
    const before = manifestParseCount();
    const parsed = parsedTexts(policy, texts);
    const state = readCanaryState(policy, parsed);
    expect(state.phase).toBe('progressing');
    snapshotOf(policy, state, parsed);
    const files = applyAction(policy, state, parsed, { kind: 'set-weight', from: 5, to: 10 }, new Date('2026-01-01T00:10:00Z'));
    expect(manifestParseCount() - before).toBe(3);
    const out = files[policy.spec.virtualService.file] ?? '';
    expect(changedLines(started, out)).toEqual([
      { before: '    delivery.docuthinker.io/step-started-at: "2026-01-01T00:00:00Z"', after: '    delivery.docuthinker.io/step-started-at: "2026-01-01T00:10:00Z"' },
      { before: '          weight: 95 # stable', after: '          weight: 90 # stable' },
      { before: '          weight: 5   # canary', after: '          weight: 10   # canary' },
    ]);
  });

  it('re-parses the whole file only when the spliced text alone cannot prove it (a tag, a flow map)', () => {
    const tagged = vs.replace('weight: 0   # canary', 'weight: !!int 0   # canary');
    let before = manifestParseCount();
    const out = setRouteWeights(tagged, VS_FILE, ref, { stable: 95, canary: 5 });
    expect(manifestParseCount() - before).toBe(2);
    expect(out).toContain('weight: !!int 5   # canary');
    expect(readRouteWeights(out, VS_FILE, ref)).toEqual({ stable: 95, canary: 5 });

    const flow = vs.replace(/- destination:\n +host: (\S+)\n +subset: canary\n +port: \{ number: 8080 \}\n +weight: 0 {3}# canary/, '- { destination: { host: $1, subset: canary, port: { number: 8080 } }, weight: 0 }');
    expect(flow).not.toBe(vs);
    before = manifestParseCount();
    const flowOut = setRouteWeights(flow, VS_FILE, ref, { stable: 90, canary: 10 });
    expect(manifestParseCount() - before).toBe(1);
    expect(flowOut).toContain('port: { number: 8080 } }, weight: 10 }');
    expect(readRouteWeights(flowOut, VS_FILE, ref)).toEqual({ stable: 90, canary: 10 });
  });

  it('confirms an annotation value that cannot be written plain by parsing the file again', () => {
    const sel = { kind: 'VirtualService', name: 'backend' };
    const once = setAnnotation(vs, VS_FILE, sel, 'delivery.docuthinker.io/note', 'plain');
    const out = setAnnotation(once, VS_FILE, sel, 'delivery.docuthinker.io/note', 'a: "quoted" # value');
    expect(readAnnotation(out, VS_FILE, sel, 'delivery.docuthinker.io/note')).toBe('a: "quoted" # value');
    expect(changedLines(once, out)).toHaveLength(1);
  });
});

describe('big manifests (issue 11 defect 5)', () => {
  const withLabels = (keys: string[]) => `${vs}---\nkind: ConfigMap\ndata:\n${keys.map((k, i) => `    ${k}: value-${i}`).join('\n')}\n`;

  it('checks a 20 000-key map for repeated keys in one pass and names the file, line and key', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `label-${i}`);
    expect(readRouteWeights(withLabels(keys), VS_FILE, ref)).toEqual({ stable: 100, canary: 0 });
    const repeated = withLabels([...keys, 'label-123']);
    const line = repeated.split('\n').findIndex((l) => l.startsWith('    label-123: value-20000')) + 1;
    expect(() => readRouteWeights(repeated, VS_FILE, ref)).toThrow(`${VS_FILE}: YAML error: Map keys must be unique at line ${line}, column 5 (key "label-123")`);
  });

  it('finds repeated keys in flow maps and nested maps as yaml did', () => {
    expect(() => readRouteWeights(`${vs}\n---\nkind: X\nspec: { a: 1, b: 2, a: 3 }\n`, VS_FILE, ref)).toThrow('Map keys must be unique');
    expect(() => readRouteWeights(vs.replace('  name: backend\n', '  name: backend\n  name: other\n'), VS_FILE, ref)).toThrow(ManifestEditError);
    // Equal text, different scalars: 1 and "1" are two keys, as in yaml's own check.
    expect(readRouteWeights(`${vs}\n---\nkind: X\nspec: { 1: a, "1": b }\n`, VS_FILE, ref)).toEqual({ stable: 100, canary: 0 });
  });
});

describe('alias bombs', () => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]'];
  const file = 'gitops/apps/backend/base/deployment-canary.yaml';
  const ref = { deployment: 'backend-canary', container: 'backend' };

  it('refuses a manifest whose aliases expand too far, naming the file, though the bomb is not on the path read', () => {
    const bombed = deployment.replace('\nmetadata:\n', `\nx-padding:\n${bomb.map((l) => `  ${l}`).join('\n')}\nmetadata:\n`);
    expect(() => readImage(bombed, file, ref)).toThrow(ManifestEditError);
    expect(() => readImage(bombed, file, ref)).toThrow(/deployment-canary\.yaml: YAML: .*alias/i);
    expect(() => readImage(`${deployment}\n---\n${bomb.join('\n')}\n`, file, ref)).toThrow(/alias/i);
  });

  it('keeps reading a manifest with a few ordinary anchors', () => {
    const anchored = deployment.replace('\nmetadata:\n', '\nx-common: &common { team: docs }\nx-copy: *common\nmetadata:\n');
    expect(readImage(anchored, file, ref)).toBe(readImage(deployment, file, ref));
  });
});
