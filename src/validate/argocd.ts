// Argo CD Applications that point into this repository: the path (and $values files) must exist.
import { posix } from 'node:path';
import { findingAt } from './codes.js';
import { arr, at, obj, str, strings } from './shape.js';
import type { Finding, LoadedDocument, RepoFiles } from './types.js';

function normalise(path: string): string {
  const clean = posix.normalize(path.replace(/^\.\//, '')).replace(/\/$/, '');
  return clean === '' ? '.' : clean;
}

const templated = (value: string) => value.includes('{{');

/** Findings for one Application document (other documents give none). */
export function checkApplication(doc: LoadedDocument, files: RepoFiles): Finding[] {
  if (doc.kind !== 'Application' || !doc.apiVersion?.startsWith('argoproj.io/')) return [];
  const spec = obj(at(doc.body, 'spec')) ?? {};
  const single = spec.source !== undefined;
  const sources = single ? [spec.source] : arr(spec.sources);
  const pointer = (k: number, ...rest: (string | number)[]) => [single ? '/spec/source' : `/spec/sources/${k}`, ...rest].join('/');
  const localRefs = new Set(
    sources.filter((s) => str(at(s, 'ref')) !== undefined && at(s, 'chart') === undefined).map((s) => str(at(s, 'ref'))!),
  );
  const findings: Finding[] = [];
  sources.forEach((source, k) => {
    const path = str(at(source, 'path'));
    const local = path !== undefined && at(source, 'chart') === undefined && !templated(path);
    if (local) {
      const target = normalise(path);
      if (files.stat(target) !== 'dir') {
        findings.push(findingAt(doc, pointer(k, 'path'), 'DT3001', `path ${path} does not exist in the repository (${files.root})`));
      }
    }
    strings(at(source, 'helm', 'valueFiles')).forEach((valueFile, m) => {
      if (templated(valueFile) || /^[a-z]+:\/\//.test(valueFile)) return;
      const ref = /^\$([^/]+)\/(.+)$/.exec(valueFile);
      let target: string | undefined;
      if (ref) target = localRefs.has(ref[1]!) ? normalise(ref[2]!) : undefined;
      else if (local) target = normalise(posix.join(path, valueFile));
      if (target !== undefined && files.stat(target) !== 'file') {
        findings.push(findingAt(doc, pointer(k, 'helm', 'valueFiles', m), 'DT3002', `values file ${valueFile} does not exist in the repository (looked for ${target})`));
      }
    });
  });
  return findings;
}
