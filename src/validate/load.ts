// Reads the input paths into YAML documents that remember where each node came from, so every
// finding can name a line. A YAML error becomes a finding, never an exception.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Document } from 'yaml';
import { errorMessage } from '../errors.js';
import { findDuplicateKey } from '../promoter/manifest-edits.js';
import type { Finding, K8sObject, LoadedDocument, RepoFiles } from './types.js';

const SKIPPED_DIRS = new Set(['node_modules', '.git', 'dist', 'coverage']);

/** Every *.yaml / *.yml under the given files and folders, sorted, plus findings for paths that do not exist. */
export function expandPaths(paths: string[], cwd: string): { files: string[]; missing: Finding[] } {
  const files = new Set<string>();
  const missing: Finding[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) walk(full);
      } else if (/\.ya?ml$/i.test(entry.name)) {
        files.add(full);
      }
    }
  };
  for (const given of paths) {
    const full = resolve(cwd, given);
    try {
      if (statSync(full).isDirectory()) walk(full);
      else files.add(full);
    } catch (error) {
      missing.push({ file: given, path: '', code: 'DT0005', severity: 'error', message: `cannot read: ${errorMessage(error)}` });
    }
  }
  return { files: [...files].sort(), missing };
}

/** The nearest folder at or above `from` that holds .git; `fallback` when there is none. */
export function findRepoRoot(from: string, fallback: string): string {
  let dir = existsSync(from) && statSync(from).isDirectory() ? from : dirname(from);
  for (;;) {
    if (existsSync(join(dir, '.git'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return fallback;
    dir = parent;
  }
}

export function toPosix(path: string): string {
  return path.split(sep).join('/');
}

/** A file name for findings: relative to cwd when below it, else absolute. */
export function displayName(absolute: string, cwd: string): string {
  const rel = relative(cwd, absolute);
  return rel.startsWith('..') || rel === '' ? toPosix(absolute) : toPosix(rel);
}

export function decodePointer(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .replace(/^\//, '')
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function encodePointer(segments: (string | number)[]): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/** The offset of the deepest node (or map key) a pointer reaches in a parsed YAML document. */
export function offsetOf(doc: Document, pointer: string): number {
  let node: unknown = doc.contents;
  let offset = doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0;
  for (const segment of decodePointer(pointer)) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === segment);
      if (!pair) break;
      const keyRange = isScalar(pair.key) ? pair.key.range : undefined;
      offset = keyRange?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(segment)] as { range?: [number, number, number] } | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Parses one file's text into documents (and syntax-error findings). Pure: no file system. */
export function parseManifestText(text: string, file: string, repoPath: string): { documents: LoadedDocument[]; findings: Finding[] } {
  const lineCounter = new LineCounter();
  const findings: Finding[] = [];
  const documents: LoadedDocument[] = [];
  let parsed: Document.Parsed[];
  try {
    // Repeated keys are found below by the promoter's linear walk: yaml's uniqueKeys is quadratic per map.
    const all = parseAllDocuments(text, { lineCounter, prettyErrors: true, uniqueKeys: false });
    parsed = Array.isArray(all) ? all : [];
  } catch (error) {
    return { documents, findings: [{ file, line: 1, path: '', code: 'DT0001', severity: 'error', message: errorMessage(error) }] };
  }
  /** A YAML syntax finding (DT0001) at a line and column of document `doc`. */
  const yamlError = (doc: number, pos: { line: number; col: number }, message: string): Finding => ({
    file,
    line: pos.line,
    column: pos.col,
    doc,
    path: '',
    code: 'DT0001',
    severity: 'error',
    message: `YAML: ${message}`,
  });
  parsed.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) findings.push(yamlError(index, e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]), e.message.split('\n')[0] ?? e.message));
      return;
    }
    const duplicate = findDuplicateKey(doc);
    if (duplicate) {
      const pos = lineCounter.linePos(duplicate.offset);
      findings.push(yamlError(index, pos, `Map keys must be unique at line ${pos.line}, column ${pos.col} (key "${duplicate.key.slice(0, 100)}")`));
      return;
    }
    let body: unknown;
    try {
      body = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      findings.push({ file, line: 1, doc: index, path: '', code: 'DT0001', severity: 'error', message: `YAML: ${errorMessage(error)}` });
      return;
    }
    if (body === null || body === undefined) return;
    const object = (typeof body === 'object' && !Array.isArray(body) ? body : {}) as K8sObject;
    const metadata = typeof object.metadata === 'object' && object.metadata !== null ? object.metadata : {};
    const apiVersion = str(object.apiVersion);
    const kind = str(object.kind);
    const name = str(metadata.name);
    const namespace = str(metadata.namespace);
    documents.push({
      file,
      repoPath,
      index,
      body,
      ...(apiVersion === undefined ? {} : { apiVersion }),
      ...(kind === undefined ? {} : { kind }),
      ...(name === undefined ? {} : { name }),
      ...(namespace === undefined ? {} : { namespace }),
      text: text.slice(doc.range?.[0] ?? 0, doc.range?.[2] ?? text.length),
      locate(pointer) {
        const pos = lineCounter.linePos(offsetOf(doc, pointer));
        return { line: pos.line, column: pos.col };
      },
    });
  });
  return { documents, findings };
}

/** The repository as the checks see it, backed by the real file system under `root`. */
export function repoFilesAt(root: string): RepoFiles {
  const inside = (repoPath: string): string | undefined => {
    const full = resolve(root, repoPath);
    const rel = relative(root, full);
    return rel.startsWith('..') ? undefined : full;
  };
  return {
    root,
    stat(repoPath) {
      const full = inside(repoPath);
      if (!full) return undefined;
      try {
        return statSync(full).isDirectory() ? 'dir' : 'file';
      } catch {
        return undefined;
      }
    },
    readText(repoPath) {
      const full = inside(repoPath);
      if (!full) return undefined;
      try {
        return readFileSync(full, 'utf8');
      } catch {
        return undefined;
      }
    },
  };
}
