// Kustomization files: every local resource, component and patch must exist; and the namespace a
// kustomization sets is what the documents it includes will be deployed into.
import { posix } from 'node:path';
import { parse } from 'yaml';
import { findingAt } from './codes.js';
import { arr, at, obj, str } from './shape.js';
import type { Finding, LoadedDocument, RepoFiles } from './types.js';

export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

export function isKustomization(doc: LoadedDocument): boolean {
  return KUSTOMIZATION_FILES.includes(posix.basename(doc.repoPath)) || doc.kind === 'Kustomization' || doc.kind === 'Component';
}

const isRemote = (entry: string) => /^[a-z]+:\/\//i.test(entry) || entry.startsWith('github.com/') || entry.includes('?ref=');

function kustomizationIn(dir: string, files: RepoFiles): string | undefined {
  return KUSTOMIZATION_FILES.map((f) => posix.join(dir, f)).find((f) => files.stat(f) === 'file');
}

interface Reference {
  entry: string;
  pointer: string;
  /** Whether a folder is acceptable (it must then hold a kustomization). */
  folder: boolean;
}

function referencesOf(body: unknown): Reference[] {
  const refs: Reference[] = [];
  for (const field of ['resources', 'bases', 'components']) {
    arr(at(body, field)).forEach((e, i) => {
      if (typeof e === 'string') refs.push({ entry: e, pointer: `/${field}/${i}`, folder: true });
    });
  }
  arr(at(body, 'patchesStrategicMerge')).forEach((e, i) => {
    if (typeof e === 'string' && !e.includes('\n')) refs.push({ entry: e, pointer: `/patchesStrategicMerge/${i}`, folder: false });
  });
  for (const field of ['patches', 'patchesJson6902']) {
    arr(at(body, field)).forEach((p, i) => {
      const path = str(at(p, 'path'));
      if (path !== undefined) refs.push({ entry: path, pointer: `/${field}/${i}/path`, folder: false });
    });
  }
  for (const field of ['configMapGenerator', 'secretGenerator']) {
    arr(at(body, field)).forEach((g, i) =>
      arr(at(g, 'files')).forEach((f, j) => {
        if (typeof f === 'string') refs.push({ entry: f.includes('=') ? f.slice(f.indexOf('=') + 1) : f, pointer: `/${field}/${i}/files/${j}`, folder: false });
      }),
    );
  }
  return refs;
}

/** Findings for one kustomization document. */
export function checkKustomization(doc: LoadedDocument, files: RepoFiles): Finding[] {
  const dir = posix.dirname(doc.repoPath);
  const findings: Finding[] = [];
  for (const ref of referencesOf(doc.body)) {
    if (isRemote(ref.entry)) continue;
    const target = posix.normalize(posix.join(dir, ref.entry));
    const kind = files.stat(target);
    if (kind === undefined) {
      findings.push(findingAt(doc, ref.pointer, 'DT6001', `${ref.entry} does not exist (looked for ${target})`));
    } else if (kind === 'dir' && (!ref.folder || kustomizationIn(target, files) === undefined)) {
      findings.push(findingAt(doc, ref.pointer, 'DT6001', ref.folder ? `${ref.entry} is a folder without a kustomization.yaml` : `${ref.entry} is a folder, not a file`));
    }
  }
  return findings;
}

/** The files (repository paths) a kustomization pulls in, following nested kustomizations. */
function reachable(kustomizationPath: string, body: unknown, files: RepoFiles, seen = new Set<string>()): { files: Set<string>; kustomizations: Set<string> } {
  const out = { files: new Set<string>(), kustomizations: new Set<string>() };
  if (seen.has(kustomizationPath) || seen.size > 200) return out;
  seen.add(kustomizationPath);
  const dir = posix.dirname(kustomizationPath);
  for (const field of ['resources', 'bases', 'components']) {
    for (const entry of arr(at(body, field))) {
      if (typeof entry !== 'string' || isRemote(entry)) continue;
      const target = posix.normalize(posix.join(dir, entry));
      const kind = files.stat(target);
      if (kind === 'file') out.files.add(target);
      if (kind !== 'dir') continue;
      const nested = kustomizationIn(target, files);
      if (nested === undefined) continue;
      out.kustomizations.add(nested);
      let nestedBody: unknown;
      try {
        nestedBody = parse(files.readText(nested) ?? '');
      } catch {
        continue;
      }
      const inner = reachable(nested, nestedBody, files, seen);
      inner.files.forEach((f) => out.files.add(f));
      inner.kustomizations.forEach((k) => out.kustomizations.add(k));
    }
  }
  return out;
}

/**
 * repository path -> namespace, from the kustomizations in the input that set `namespace`.
 * The outermost kustomization wins, as kustomize's namespace transformer would have it.
 */
export function kustomizeNamespaces(docs: LoadedDocument[], files: RepoFiles): Map<string, string> {
  const setting = docs
    .filter((d) => isKustomization(d) && str(obj(d.body)?.namespace) !== undefined)
    .map((d) => ({ path: d.repoPath, namespace: str(obj(d.body)?.namespace)!, reach: reachable(d.repoPath, d.body, files) }));
  const nested = new Set(setting.flatMap((k) => [...k.reach.kustomizations]));
  const ordered = [...setting.filter((k) => !nested.has(k.path)), ...setting.filter((k) => nested.has(k.path))];
  const namespaces = new Map<string, string>();
  for (const k of ordered) {
    for (const file of k.reach.files) if (!namespaces.has(file)) namespaces.set(file, k.namespace);
  }
  return namespaces;
}
