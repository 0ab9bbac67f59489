// Pure `content -> content` edits of the manifests the promoter owns. Each edit splices new
// scalar text into the original bytes at the node's source range, so comments, key order,
// quoting and every other line stay byte-identical; the result is confirmed by parsing again
// (the spliced scalar alone when that proves the file, otherwise the whole file). A file is
// parsed once (ParsedManifest) however many fields a tick reads and however many it edits.
import { isMap, isPair, isScalar, isSeq, parseAllDocuments, parseDocument, Scalar, visit, type Document, type Node } from 'yaml';
import { errorMessage, PermanentError } from '../errors.js';

/** A manifest the promoter cannot edit as asked: names the file and what is missing or wrong. */
export class ManifestEditError extends PermanentError {
  override name = 'ManifestEditError';
}

/** One step of a path: a map key, or the element of a sequence whose `key` field equals `equals`. */
export type PathSegment = string | { key: string; equals: string };

export interface DocumentSelector {
  kind: string;
  name: string;
}

let parses = 0;

/** How many whole-file parses this module has run (tests and bench/yaml count them). */
export function manifestParseCount(): number {
  return parses;
}

/** "line L, column C" of an offset (1-based), for error messages. */
function position(text: string, offset: number): string {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line += 1;
    start = i + 1;
  }
  return `line ${line}, column ${offset - start + 1}`;
}

/**
 * The first repeated key of any map in the document, in one pass. yaml's own `uniqueKeys` check
 * compares each key with every earlier key of its map: quadratic, 10 s for a 20 000-key map.
 * Same equality as yaml's: scalar keys by value, other keys are never equal.
 */
export function findDuplicateKey(doc: Document): { key: string; offset: number } | undefined {
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const key = pair.key;
        if (isScalar(key)) {
          if (seen.has(key.value)) return { key: String(key.value), offset: key.range?.[0] ?? 0 };
          seen.add(key.value);
        }
        stack.push(key, pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    } else if (isPair(node)) {
      stack.push(node.key, node.value);
    }
  }
  return undefined;
}

/** Every document of a manifest; a YAML error or a repeated key is a ManifestEditError naming the file. */
export function parseManifestDocuments(text: string, file: string): Document.Parsed[] {
  parses += 1;
  const docs = parseAllDocuments(text, { uniqueKeys: false });
  if (!Array.isArray(docs)) throw new ManifestEditError(`${file}: no YAML documents`);
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      throw new ManifestEditError(`${file}: YAML error: ${doc.errors[0]?.message.split('\n')[0] ?? 'unparseable'}`);
    }
  }
  for (const doc of docs) {
    refuseAliasBomb(doc, file);
    const duplicate = findDuplicateKey(doc);
    if (duplicate) {
      throw new ManifestEditError(`${file}: YAML error: Map keys must be unique at ${position(text, duplicate.offset)} (key "${duplicate.key.slice(0, 100)}")`);
    }
  }
  return docs;
}

/** As for a CanaryPolicy: resolving more aliases than this is taken for an alias bomb. */
const MAX_ALIAS_COUNT = 100;

/**
 * The promoter edits manifests without resolving aliases, so an alias bomb would pass through and be
 * committed for Argo CD to choke on. A document with aliases is resolved once, bounded, and refused
 * when it expands too far; the common case (no alias at all) costs one walk.
 */
function refuseAliasBomb(doc: Document.Parsed, file: string): void {
  let aliased = false;
  visit(doc, {
    Alias: () => {
      aliased = true;
      return visit.BREAK;
    },
  });
  if (!aliased) return;
  try {
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    throw new ManifestEditError(`${file}: YAML: ${errorMessage(error)}`, { cause: error });
  }
}

/**
 * One manifest file, parsed at most once: every getter and edit given this object reuses that
 * parse. Immutable; an edit returns new text.
 */
export class ParsedManifest {
  #documents: Document.Parsed[] | undefined;
  constructor(
    readonly text: string,
    readonly file: string,
  ) {}

  get documents(): Document.Parsed[] {
    this.#documents ??= parseManifestDocuments(this.text, this.file);
    return this.#documents;
  }

  /**
   * Lets the parse go (it is made again if asked for): a tick over a thousand canaries reads every
   * state once, and keeping every parse until the tick ends held hundreds of MB.
   */
  release(): void {
    this.#documents = undefined;
  }
}

/** A manifest's text, or its text with the parse. */
export type ManifestSource = string | ParsedManifest;

function parsedOf(source: ManifestSource, file: string): ParsedManifest {
  return typeof source === 'string' ? new ParsedManifest(source, file) : source;
}

/** The text of a manifest source. */
export function textOf(source: ManifestSource): string {
  return typeof source === 'string' ? source : source.text;
}

function describePath(path: readonly PathSegment[]): string {
  return path.map((s) => (typeof s === 'string' ? s : `[${s.key}=${s.equals}]`)).join('.');
}

function selectDocument(manifest: ParsedManifest, file: string, selector: DocumentSelector): Document.Parsed {
  const match = manifest.documents.find((d) => d.get('kind') === selector.kind && d.getIn(['metadata', 'name']) === selector.name);
  if (!match) throw new ManifestEditError(`${file}: no ${selector.kind} named "${selector.name}"`);
  return match;
}

/** Walks `path` from the document root; returns the nodes along the way (root first). */
function walk(doc: Document.Parsed, path: readonly PathSegment[]): { nodes: (Node | null)[]; found: number } {
  const nodes: (Node | null)[] = [doc.contents];
  let current: unknown = doc.contents;
  for (const segment of path) {
    let next: unknown;
    if (typeof segment === 'string') {
      next = isMap(current) ? current.get(segment, true) : undefined;
    } else if (isSeq(current)) {
      next = current.items.find((item) => isMap(item) && item.get(segment.key) === segment.equals);
    }
    if (next === undefined || next === null) break;
    nodes.push(next as Node);
    current = next;
  }
  return { nodes, found: nodes.length - 1 };
}

function renderScalar(value: string | number | boolean, original?: Scalar): string {
  if (typeof value !== 'string') return String(value);
  const style = original?.type;
  if (style === Scalar.QUOTE_SINGLE) return `'${value.replaceAll("'", "''")}'`;
  const plainIsSafe = /^[A-Za-z0-9_./:@+-][A-Za-z0-9_./:@+ -]*$/.test(value) && !/^(true|false|null|yes|no|on|off|~|[-+]?[0-9.]+(e[-+]?\d+)?)$/i.test(value) && !value.endsWith(' ') && !value.includes(': ');
  if (style === Scalar.PLAIN && plainIsSafe) return value;
  return JSON.stringify(value);
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

function lineEnd(text: string, offset: number): number {
  const end = text.indexOf('\n', offset);
  return end === -1 ? text.length : end;
}

/** New text for the source range [start, end) of one scalar, and the value it must read back as. */
interface Splice {
  start: number;
  end: number;
  text: string;
  value: string | number | boolean;
  /** the old scalar has no explicit tag and its document the default (core) schema: its text alone says its value. */
  plain: boolean;
  /** where to read it back in a full re-parse (when the splice alone proves nothing). */
  confirm: { selector: DocumentSelector; path: readonly PathSegment[] } | { ref: RouteRef; subset: string };
}

/**
 * Does the spliced scalar prove the file, without parsing the file again? Yes when the old and the
 * new scalar are each on one line and the new text, parsed alone, is exactly one scalar with the
 * wanted value and no character that could end it early or start something else in a flow or
 * block collection: a single-line token replaced by one of the same extent cannot change how
 * anything around it parses.
 */
function provesItself(text: string, splice: Splice): boolean {
  const old = text.slice(splice.start, splice.end);
  if (!splice.plain) return false;
  if (/[\r\n]/.test(old) || /[\r\n]/.test(splice.text) || old.trim() !== old || old === '') return false;
  const first = splice.text[0];
  if (first !== '"' && first !== "'" && /[#,[\]{}]|: |:$|^[-?:|>!&*%@`]/.test(splice.text)) return false;
  const alone = parseDocument(splice.text, { uniqueKeys: false });
  return alone.errors.length === 0 && alone.warnings.length === 0 && isScalar(alone.contents) && alone.contents.value === splice.value && alone.contents.range?.[0] === 0 && alone.contents.range[1] === splice.text.length;
}

function isPlain(doc: Document.Parsed, node: Scalar): boolean {
  return node.tag === undefined && doc.schema.name === 'core';
}

function readBack(manifest: ParsedManifest, file: string, splice: Splice): unknown {
  if ('ref' in splice.confirm) {
    const weights = readRouteWeights(manifest, file, splice.confirm.ref);
    return splice.confirm.subset === splice.confirm.ref.stableSubset ? weights.stable : weights.canary;
  }
  const { nodes, found } = walk(selectDocument(manifest, file, splice.confirm.selector), splice.confirm.path);
  const node = nodes[found];
  return found === splice.confirm.path.length && isScalar(node) ? node.value : undefined;
}

/** Applies non-overlapping splices to one text and confirms each, parsing the result only if needed. */
function applySplices(manifest: ParsedManifest, file: string, splices: Splice[]): string {
  if (splices.length === 0) return manifest.text;
  const ordered = [...splices].sort((a, b) => b.start - a.start);
  let out = manifest.text;
  let previousStart = Number.POSITIVE_INFINITY;
  for (const splice of ordered) {
    if (splice.end > previousStart) throw new ManifestEditError(`${file}: two edits of the same scalar`);
    out = out.slice(0, splice.start) + splice.text + out.slice(splice.end);
    previousStart = splice.start;
  }
  if (splices.every((splice) => provesItself(manifest.text, splice))) return out;
  const result = new ParsedManifest(out, file);
  for (const splice of splices) {
    if (readBack(result, file, splice) !== splice.value) {
      const what = 'ref' in splice.confirm ? `the weight of subset "${splice.confirm.subset}"` : describePath(splice.confirm.path);
      throw new ManifestEditError(`${file}: the edit of ${what} did not re-parse to ${String(splice.value)}`);
    }
  }
  return out;
}

/** The splice setting an existing scalar, null when it already has the value, undefined when the path is missing. */
function planScalar(
  manifest: ParsedManifest,
  file: string,
  selector: DocumentSelector,
  path: readonly PathSegment[],
  value: string | number | boolean,
): Splice | null | undefined {
  const doc = selectDocument(manifest, file, selector);
  const { nodes, found } = walk(doc, path);
  if (found !== path.length) return undefined;
  const node = nodes[found];
  if (!isScalar(node) || !node.range) {
    throw new ManifestEditError(`${file}: ${selector.kind}/${selector.name} ${describePath(path)} is not a scalar`);
  }
  if (node.value === value) return null;
  return { start: node.range[0], end: node.range[1], text: renderScalar(value, node), value, plain: isPlain(doc, node), confirm: { selector, path } };
}

/** Inserts the missing trailing map keys of `path` as new lines under the deepest existing block map. */
function insertScalar(
  manifest: ParsedManifest,
  file: string,
  selector: DocumentSelector,
  path: readonly PathSegment[],
  value: string | number | boolean,
): string {
  const text = manifest.text;
  const { nodes, found } = walk(selectDocument(manifest, file, selector), path);
  const missing = path.slice(found);
  if (missing.some((s) => typeof s !== 'string')) {
    throw new ManifestEditError(`${file}: ${selector.kind}/${selector.name} has no ${describePath(path.slice(0, found + 1))}`);
  }
  const parent = nodes[found];
  if (!isMap(parent) || parent.flow || parent.items.length === 0 || !parent.range) {
    throw new ManifestEditError(
      `${file}: ${selector.kind}/${selector.name} ${describePath(path.slice(0, found)) || '(root)'} is not a block map the promoter can add ${describePath(missing)} to`,
    );
  }
  const firstKey = parent.items[0]?.key as Node | undefined;
  const keyOffset = firstKey?.range?.[0] ?? parent.range[0];
  const indent = keyOffset - lineStart(text, keyOffset);
  const last = parent.items.at(-1);
  const lastEnd = ((last?.value ?? last?.key) as Node | undefined)?.range?.[1] ?? parent.range[1];
  const insertAt = lineEnd(text, Math.max(lastEnd - 1, 0));
  const lines = (missing as string[]).map((key, i) => {
    const pad = ' '.repeat(indent + 2 * i);
    return i === missing.length - 1 ? `${pad}${key}: ${renderScalar(value)}` : `${pad}${key}:`;
  });
  const out = `${text.slice(0, insertAt)}\n${lines.join('\n')}${text.slice(insertAt)}`;
  // New lines change the structure: only a whole re-parse confirms them.
  const confirm = walk(selectDocument(new ParsedManifest(out, file), file, selector), path);
  const node = confirm.nodes[confirm.found];
  if (confirm.found !== path.length || !isScalar(node) || node.value !== value) {
    throw new ManifestEditError(`${file}: the edit of ${describePath(path)} did not re-parse to ${String(value)}`);
  }
  return out;
}

/**
 * One edit of a manifest. `scalar` sets the value at a path (adding missing map keys);
 * `annotation` sets a metadata annotation unless its string form is already the value;
 * `weights` sets the stable and canary weights of a route.
 */
export type ManifestEdit =
  | { kind: 'scalar'; selector: DocumentSelector; path: readonly PathSegment[]; value: string | number | boolean }
  | { kind: 'annotation'; selector: DocumentSelector; key: string; value: string }
  | { kind: 'weights'; ref: RouteRef; weights: { stable: number; canary: number } };

/** Splices for an edit (null: nothing to change), or undefined when it has to add lines. */
function planEdit(manifest: ParsedManifest, file: string, edit: ManifestEdit): Splice[] | undefined {
  switch (edit.kind) {
    case 'scalar': {
      const splice = planScalar(manifest, file, edit.selector, edit.path, edit.value);
      return splice === undefined ? undefined : splice === null ? [] : [splice];
    }
    case 'annotation': {
      if (readAnnotation(manifest, file, edit.selector, edit.key) === edit.value) return [];
      const splice = planScalar(manifest, file, edit.selector, ['metadata', 'annotations', edit.key], edit.value);
      return splice === undefined ? undefined : splice === null ? [] : [splice];
    }
    case 'weights': {
      const nodes = weightNodes(manifest, file, edit.ref);
      const splices: Splice[] = [];
      for (const [subset, weight] of [
        [edit.ref.stableSubset, edit.weights.stable],
        [edit.ref.canarySubset, edit.weights.canary],
      ] as const) {
        const node = nodes[subset === edit.ref.stableSubset ? 'stable' : 'canary'];
        if (!node.range) throw new ManifestEditError(`${file}: VirtualService/${edit.ref.virtualService} route "${edit.ref.route}" subset "${subset}" has no weight`);
        if (node.value !== weight) {
          splices.push({ start: node.range[0], end: node.range[1], text: String(weight), value: weight, plain: isPlain(nodes.doc, node), confirm: { ref: edit.ref, subset } });
        }
      }
      return splices;
    }
  }
}

/**
 * Applies the edits to one manifest with a single parse of it: each edit is planned on that parse
 * and spliced in. An edit that must add lines (a missing annotations map) changes the structure,
 * so then the edits go one at a time, each on a fresh parse of the text before it.
 */
export function editManifest(source: ManifestSource, file: string, edits: readonly ManifestEdit[]): string {
  const manifest = parsedOf(source, file);
  const planned = edits.map((edit) => planEdit(manifest, file, edit));
  if (planned.every((p): p is Splice[] => p !== undefined)) return applySplices(manifest, file, planned.flat());
  let current = manifest;
  for (const edit of edits) {
    const splices = planEdit(current, file, edit);
    let out: string;
    if (splices !== undefined) {
      out = applySplices(current, file, splices);
    } else if (edit.kind === 'weights') {
      throw new ManifestEditError(`${file}: route "${edit.ref.route}" vanished`);
    } else {
      const path = edit.kind === 'scalar' ? edit.path : ['metadata', 'annotations', edit.key];
      out = insertScalar(current, file, edit.selector, path, edit.value);
    }
    if (out !== current.text) current = new ParsedManifest(out, file);
  }
  return current.text;
}

/**
 * Sets the scalar at `path` in the selected document. An existing scalar is replaced in place;
 * missing trailing map keys are inserted as new lines under the deepest existing block map.
 */
export function setScalar(
  text: ManifestSource,
  file: string,
  selector: DocumentSelector,
  path: readonly PathSegment[],
  value: string | number | boolean,
): string {
  return editManifest(text, file, [{ kind: 'scalar', selector, path, value }]);
}

/** Reads the scalar at `path` in the selected document, or undefined when absent. */
export function getScalar(text: ManifestSource, file: string, selector: DocumentSelector, path: readonly PathSegment[]): unknown {
  const doc = selectDocument(parsedOf(text, file), file, selector);
  const { nodes, found } = walk(doc, path);
  const node = nodes[found];
  return found === path.length && isScalar(node) ? node.value : undefined;
}

export interface RouteRef {
  virtualService: string;
  route: string;
  stableSubset: string;
  canarySubset: string;
}

const VS = (name: string): DocumentSelector => ({ kind: 'VirtualService', name });

/** The destination list of the canary route (destinations are matched by destination.subset below it). */
function routeListPath(ref: RouteRef): PathSegment[] {
  return ['spec', 'http', { key: 'name', equals: ref.route }, 'route'];
}

/** The weight scalars of the canary route's two destinations. Errors name the file and the missing piece. */
function weightNodes(manifest: ParsedManifest, file: string, ref: RouteRef): { stable: Scalar; canary: Scalar; doc: Document.Parsed } {
  const doc = selectDocument(manifest, file, VS(ref.virtualService));
  const { nodes, found } = walk(doc, routeListPath(ref));
  const routes = nodes[found];
  if (found !== 4 || !isSeq(routes)) {
    throw new ManifestEditError(`${file}: VirtualService/${ref.virtualService} has no http route named "${ref.route}" with destinations`);
  }
  const weightOf = (subset: string): Scalar => {
    const destination = routes.items.find((item) => isMap(item) && item.getIn(['destination', 'subset']) === subset);
    if (!isMap(destination)) {
      throw new ManifestEditError(`${file}: VirtualService/${ref.virtualService} route "${ref.route}" has no destination with subset "${subset}"`);
    }
    const weight = destination.get('weight', true);
    if (!isScalar(weight) || typeof weight.value !== 'number') {
      throw new ManifestEditError(`${file}: VirtualService/${ref.virtualService} route "${ref.route}" subset "${subset}" has no numeric weight`);
    }
    return weight;
  };
  return { stable: weightOf(ref.stableSubset), canary: weightOf(ref.canarySubset), doc };
}

/** The stable and canary weights of the canary route. Errors name the file and the missing piece. */
export function readRouteWeights(text: ManifestSource, file: string, ref: RouteRef): { stable: number; canary: number } {
  const nodes = weightNodes(parsedOf(text, file), file, ref);
  return { stable: nodes.stable.value as number, canary: nodes.canary.value as number };
}

/** Sets the two weights of the canary route; every other byte of the file stays as it was. */
export function setRouteWeights(text: ManifestSource, file: string, ref: RouteRef, weights: { stable: number; canary: number }): string {
  return editManifest(text, file, [{ kind: 'weights', ref, weights }]);
}

export interface ContainerRef {
  deployment: string;
  container: string;
}

const imagePath = (ref: ContainerRef): PathSegment[] => [
  'spec',
  'template',
  'spec',
  'containers',
  { key: 'name', equals: ref.container },
  'image',
];

/** The image of a Deployment's container. */
export function readImage(text: ManifestSource, file: string, ref: ContainerRef): string {
  const image = getScalar(text, file, { kind: 'Deployment', name: ref.deployment }, imagePath(ref));
  if (typeof image !== 'string' || image.length === 0) {
    throw new ManifestEditError(`${file}: Deployment/${ref.deployment} has no container "${ref.container}" with an image`);
  }
  return image;
}

export function setImage(text: ManifestSource, file: string, ref: ContainerRef, image: string): string {
  const manifest = parsedOf(text, file);
  readImage(manifest, file, ref);
  return editManifest(manifest, file, [{ kind: 'scalar', selector: { kind: 'Deployment', name: ref.deployment }, path: imagePath(ref), value: image }]);
}

export function readAnnotation(text: ManifestSource, file: string, selector: DocumentSelector, key: string): string | undefined {
  const value = getScalar(text, file, selector, ['metadata', 'annotations', key]);
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
}

/** Sets an annotation (always written as a quoted string, as Kubernetes requires strings). */
export function setAnnotation(text: ManifestSource, file: string, selector: DocumentSelector, key: string, value: string): string {
  return editManifest(text, file, [{ kind: 'annotation', selector, key, value }]);
}

/** The name of the Deployment in a manifest file (the first Deployment document). */
export function deploymentName(text: ManifestSource, file: string): string {
  const deployment = parsedOf(text, file).documents.find((d) => d.get('kind') === 'Deployment');
  const name = deployment?.getIn(['metadata', 'name']);
  if (typeof name !== 'string') throw new ManifestEditError(`${file}: no Deployment with a metadata.name`);
  return name;
}
