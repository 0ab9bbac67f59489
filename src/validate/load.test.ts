import { describe, expect, it } from 'vitest';
import { decodePointer, encodePointer, parseManifestText } from './load.js';

const text = `# comment
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
    - name: http
      port: 80
---
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: web, namespace: shop }
`;

describe('parseManifestText', () => {
  const { documents, findings } = parseManifestText(text, 'a.yaml', 'a.yaml');

  it('keeps each non-empty document with its index, kind, name and namespace', () => {
    expect(findings).toEqual([]);
    expect(documents.map((d) => [d.index, d.kind, d.name, d.namespace])).toEqual([
      [0, 'Service', 'web', undefined],
      [2, 'ServiceAccount', 'web', 'shop'],
    ]);
  });

  it('places a JSON pointer on its line, falling back to the nearest existing parent', () => {
    const service = documents[0]!;
    expect(service.locate('/spec/ports/0/port').line).toBe(9);
    expect(service.locate('/spec/ports/0').line).toBe(8);
    expect(service.locate('/spec/ports/0/targetPort').line).toBe(8);
    expect(service.locate('').line).toBe(2);
    expect(documents[1]!.locate('/metadata/namespace').line).toBe(14);
  });

  it('turns a syntax error into a DT0001 finding with its line', () => {
    const broken = parseManifestText('a: 1\nb: [1, 2\nc: 3\n', 'b.yaml', 'b.yaml');
    expect(broken.documents).toEqual([]);
    expect(broken.findings).toEqual([expect.objectContaining({ code: 'DT0001', file: 'b.yaml', severity: 'error', line: expect.any(Number) })]);
  });

  it('turns a repeated key, however deep, into a DT0001 finding at the second key and drops that document', () => {
    const repeated = parseManifestText('kind: A\n---\nkind: B\nspec:\n  x: 1\n  x: 2\n', 'c.yaml', 'c.yaml');
    expect(repeated.documents.map((d) => d.kind)).toEqual(['A']);
    expect(repeated.findings).toEqual([expect.objectContaining({ code: 'DT0001', file: 'c.yaml', doc: 1, line: 6, column: 3, message: expect.stringContaining('Map keys must be unique') })]);
  });

  it('finds a repeat far down a 5 000-key map, on its line', () => {
    const big = `${Array.from({ length: 5_000 }, (_, i) => `k${i}: ${i}`).join('\n')}\nk7: again\n`;
    const { findings } = parseManifestText(big, 'd.yaml', 'd.yaml');
    expect(findings).toEqual([expect.objectContaining({ code: 'DT0001', line: 5_001, message: expect.stringContaining('"k7"') })]);
  });
});

describe('JSON pointers', () => {
  it('round-trips keys with "/" and "~"', () => {
    const segments = ['metadata', 'annotations', 'prometheus.io/port', 'a~b', 0];
    expect(decodePointer(encodePointer(segments))).toEqual(segments.map(String));
  });
});
