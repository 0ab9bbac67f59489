// Pure `content -> content` edits of the manifests the promoter owns. Each edit splices new
// scalar text into the original bytes at the node's source range, so comments, key order,
// quoting and every other line stay byte-identical; the result is re-parsed to confirm it.
import { isMap, isScalar, isSeq, parseAllDocuments, Scalar, visit, type Document, type Node } from 'yaml';
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

function describePath(path: readonly PathSegment[]): string {
  return path.map((s) => (typeof s === 'string' ? s : `[${s.key}=${s.equals}]`)).join('.');
}

function selectDocument(text: string, file: string, selector: DocumentSelector): Document.Parsed {
  const docs = parseAllDocuments(text, { keepSourceTokens: true });
  if (!Array.isArray(docs)) throw new ManifestEditError(`${file}: no YAML documents`);
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      throw new ManifestEditError(`${file}: YAML error: ${doc.errors[0]?.message.split('\n')[0] ?? 'unparseable'}`);
    }
    refuseAliasBomb(doc, file);
  }
  const match = docs.find((d) => d.get('kind') === selector.kind && d.getIn(['metadata', 'name']) === selector.name);
  if (!match) throw new ManifestEditError(`${file}: no ${selector.kind} named "${selector.name}"`);
  return match;
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

/**
 * Sets the scalar at `path` in the selected document. An existing scalar is replaced in place;
 * missing trailing map keys are inserted as new lines under the deepest existing block map.
 */
export function setScalar(
  text: string,
  file: string,
  selector: DocumentSelector,
  path: readonly PathSegment[],
  value: string | number | boolean,
): string {
  const doc = selectDocument(text, file, selector);
  const { nodes, found } = walk(doc, path);
  let out: string;
  if (found === path.length) {
    const node = nodes[found];
    if (!isScalar(node) || !node.range) {
      throw new ManifestEditError(`${file}: ${selector.kind}/${selector.name} ${describePath(path)} is not a scalar`);
    }
    if (node.value === value) return text;
    out = text.slice(0, node.range[0]) + renderScalar(value, node) + text.slice(node.range[1]);
  } else {
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
    out = `${text.slice(0, insertAt)}\n${lines.join('\n')}${text.slice(insertAt)}`;
  }
  const confirm = walk(selectDocument(out, file, selector), path);
  const node = confirm.nodes[confirm.found];
  if (confirm.found !== path.length || !isScalar(node) || node.value !== value) {
    throw new ManifestEditError(`${file}: the edit of ${describePath(path)} did not re-parse to ${String(value)}`);
  }
  return out;
}

/** Reads the scalar at `path` in the selected document, or undefined when absent. */
export function getScalar(text: string, file: string, selector: DocumentSelector, path: readonly PathSegment[]): unknown {
  const doc = selectDocument(text, file, selector);
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

/** The stable and canary weights of the canary route. Errors name the file and the missing piece. */
export function readRouteWeights(text: string, file: string, ref: RouteRef): { stable: number; canary: number } {
  const doc = selectDocument(text, file, VS(ref.virtualService));
  const { nodes, found } = walk(doc, routeListPath(ref));
  const routes = nodes[found];
  if (found !== 4 || !isSeq(routes)) {
    throw new ManifestEditError(`${file}: VirtualService/${ref.virtualService} has no http route named "${ref.route}" with destinations`);
  }
  const weightOf = (subset: string): number => {
    const destination = routes.items.find((item) => isMap(item) && item.getIn(['destination', 'subset']) === subset);
    if (!isMap(destination)) {
      throw new ManifestEditError(`${file}: VirtualService/${ref.virtualService} route "${ref.route}" has no destination with subset "${subset}"`);
    }
    const weight = destination.get('weight');
    if (typeof weight !== 'number') {
      throw new ManifestEditError(`${file}: VirtualService/${ref.virtualService} route "${ref.route}" subset "${subset}" has no numeric weight`);
    }
    return weight;
  };
  return { stable: weightOf(ref.stableSubset), canary: weightOf(ref.canarySubset) };
}

/** Sets the two weights of the canary route; every other byte of the file stays as it was. */
export function setRouteWeights(text: string, file: string, ref: RouteRef, weights: { stable: number; canary: number }): string {
  readRouteWeights(text, file, ref); // fails early, with the precise reason, on a route we cannot edit
  let out = text;
  for (const [subset, weight] of [
    [ref.stableSubset, weights.stable],
    [ref.canarySubset, weights.canary],
  ] as const) {
    out = setDestinationWeight(out, file, ref, subset, weight);
  }
  return out;
}

function setDestinationWeight(text: string, file: string, ref: RouteRef, subset: string, weight: number): string {
  const doc = selectDocument(text, file, VS(ref.virtualService));
  const routes = walk(doc, routeListPath(ref)).nodes[4];
  if (!isSeq(routes)) throw new ManifestEditError(`${file}: route "${ref.route}" vanished`);
  const destination = routes.items.find((item) => isMap(item) && item.getIn(['destination', 'subset']) === subset);
  const node = isMap(destination) ? destination.get('weight', true) : undefined;
  if (!isScalar(node) || !node.range) {
    throw new ManifestEditError(`${file}: VirtualService/${ref.virtualService} route "${ref.route}" subset "${subset}" has no weight`);
  }
  if (node.value === weight) return text;
  const out = text.slice(0, node.range[0]) + String(weight) + text.slice(node.range[1]);
  const confirmed = readRouteWeights(out, file, ref);
  if ((subset === ref.stableSubset ? confirmed.stable : confirmed.canary) !== weight) {
    throw new ManifestEditError(`${file}: the weight edit for subset "${subset}" did not re-parse`);
  }
  return out;
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
export function readImage(text: string, file: string, ref: ContainerRef): string {
  const image = getScalar(text, file, { kind: 'Deployment', name: ref.deployment }, imagePath(ref));
  if (typeof image !== 'string' || image.length === 0) {
    throw new ManifestEditError(`${file}: Deployment/${ref.deployment} has no container "${ref.container}" with an image`);
  }
  return image;
}

export function setImage(text: string, file: string, ref: ContainerRef, image: string): string {
  readImage(text, file, ref);
  return setScalar(text, file, { kind: 'Deployment', name: ref.deployment }, imagePath(ref), image);
}

export function readAnnotation(text: string, file: string, selector: DocumentSelector, key: string): string | undefined {
  const value = getScalar(text, file, selector, ['metadata', 'annotations', key]);
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
}

/** Sets an annotation (always written as a quoted string, as Kubernetes requires strings). */
export function setAnnotation(text: string, file: string, selector: DocumentSelector, key: string, value: string): string {
  if (readAnnotation(text, file, selector, key) === value) return text;
  return setScalar(text, file, selector, ['metadata', 'annotations', key], value);
}

/** The name of the Deployment in a manifest file (the first Deployment document). */
export function deploymentName(text: string, file: string): string {
  const docs = parseAllDocuments(text);
  const docList = Array.isArray(docs) ? docs : [];
  const deployment = docList.find((d) => d.get('kind') === 'Deployment');
  const name = deployment?.getIn(['metadata', 'name']);
  if (typeof name !== 'string') throw new ManifestEditError(`${file}: no Deployment with a metadata.name`);
  return name;
}
