import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ManifestEditError,
  readAnnotation,
  readImage,
  readRouteWeights,
  setAnnotation,
  setImage,
  setRouteWeights,
} from './manifest-edits.js';

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
