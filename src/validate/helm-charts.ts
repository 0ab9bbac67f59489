// The pinned Helm charts as `promoter validate` knows them: ../shared/schemas/helm/<chart>-<version>/
// holds each chart's real values.yaml, Chart.yaml and services.md, and a values file is checked key by key against them.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { arr, obj, str, type Obj } from './shape.js';

/** A key path pattern: literal segments, or '*' for any one segment. */
type Pattern = string[];

export interface HelmChartSchema {
  name: string;
  version: string;
  dir: string;
  /** values.yaml, with the copied subcharts' values.yaml merged under their names. */
  defaults: Obj;
  /** Paths below which any key is valid (free-form maps, subcharts whose values are not copied, `global`). */
  freeForm: Pattern[];
  /** Paths the templates read although values.yaml does not list them (services.md), or Helm-only keys. */
  extraKeys: Pattern[];
  /** The `spec` schema of a CRD the chart passes its values through as (Kiali: values are the Kiali CR spec). */
  crdSpec?: Obj;
}

export interface HelmChartCatalog {
  readonly dir: string;
  get(name: string, version: string): HelmChartSchema | undefined;
  /** Versions with a schema folder for a chart name, sorted. */
  versions(name: string): string[];
}

/** Charts under `helmDir` (a missing folder is an empty catalog). Folders are read lazily, once. */
export function loadHelmCharts(helmDir: string): HelmChartCatalog {
  const folders = new Map<string, { name: string; version: string }>();
  if (existsSync(helmDir)) {
    for (const entry of readdirSync(helmDir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const chart = obj(readYaml(join(helmDir, entry.name, 'Chart.yaml')));
      const name = str(chart?.name);
      const version = str(chart?.version);
      if (name !== undefined && version !== undefined) folders.set(entry.name, { name, version });
    }
  }
  const cache = new Map<string, HelmChartSchema>();
  return {
    dir: helmDir,
    get(name, version) {
      const wanted = version.replace(/^v/, '');
      const entry = [...folders].find(([, f]) => f.name === name && f.version.replace(/^v/, '') === wanted);
      if (!entry) return undefined;
      const [folder] = entry;
      const cached = cache.get(folder);
      if (cached) return cached;
      const loaded = loadChart(join(helmDir, folder), name, version);
      cache.set(folder, loaded);
      return loaded;
    },
    versions: (name) => [...folders.values()].filter((f) => f.name === name).map((f) => f.version).sort(),
  };
}

function readYaml(file: string): unknown {
  try {
    return parse(readFileSync(file, 'utf8'), { maxAliasCount: 1000 }) as unknown;
  } catch {
    return undefined;
  }
}

function loadChart(dir: string, name: string, version: string): HelmChartSchema {
  const defaults = obj(readYaml(join(dir, 'values.yaml'))) ?? {};
  const freeForm: Pattern[] = [['global']];
  // Subcharts: copied values are merged in (the parent's block wins); a subchart whose values were
  // not copied is free-form, since only its own values.yaml could say which keys it has.
  const subchartsDir = join(dir, 'subcharts');
  const copied = existsSync(subchartsDir) ? readdirSync(subchartsDir) : [];
  for (const dependency of arr(obj(readYaml(join(dir, 'Chart.yaml')))?.dependencies)) {
    const depName = str(obj(dependency)?.alias) ?? str(obj(dependency)?.name);
    if (depName === undefined) continue;
    const folder = copied.find((f) => f.startsWith(`${str(obj(dependency)?.name) ?? depName}-`));
    const subValues = folder === undefined ? undefined : obj(readYaml(join(subchartsDir, folder, 'values.yaml')));
    if (subValues === undefined) freeForm.push([depName]);
    else defaults[depName] = deepMerge(subValues, obj(defaults[depName]) ?? {});
  }
  const notes = existsSync(join(dir, 'services.md')) ? readFileSync(join(dir, 'services.md'), 'utf8') : '';
  const { extraKeys, freeForm: freeFromNotes } = keysFromNotes(notes);
  const crdFile = readdirSync(dir).find((f) => /crd\.ya?ml$/.test(f));
  const crdSpec = crdFile === undefined ? undefined : crdSpecSchema(join(dir, crdFile));
  return { name, version, dir, defaults, freeForm: [...freeForm, ...freeFromNotes], extraKeys, ...(crdSpec ? { crdSpec } : {}) };
}

export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const a = obj(out[key]);
    const b = obj(value);
    out[key] = a && b ? deepMerge(a, b) : value;
  }
  return out;
}

function crdSpecSchema(file: string): Obj | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const part of text.split(/^---\s*$/m)) {
    const crd = obj(readYamlText(part));
    for (const version of arr(obj(crd?.spec)?.versions)) {
      const spec = obj(obj(obj(obj(obj(version)?.schema)?.openAPIV3Schema)?.properties)?.spec);
      if (spec) return spec;
    }
  }
  return undefined;
}

function readYamlText(text: string): unknown {
  try {
    return parse(text, { maxAliasCount: 1000 }) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The key paths services.md vouches for: the section "Keys read by templates but absent from
 * values.yaml", the paragraph on Helm-only keys, and the "Free-form maps" paragraph. Paths are
 * written in backticks with `{a,b}` and `<a|b>` alternatives and `<Placeholder>` wildcards.
 */
export function keysFromNotes(markdown: string): { extraKeys: Pattern[]; freeForm: Pattern[] } {
  const extraKeys: Pattern[] = [];
  const freeForm: Pattern[] = [];
  const sections = markdown.split(/^(?=## )/m);
  const paragraphs = markdown.split(/\n\s*\n/);
  const extraText = [
    ...sections.filter((s) => /^## Keys read by templates but absent/.test(s)),
    ...paragraphs.filter((p) => /^Helm-only keys/.test(p.trim())),
  ].join('\n');
  for (const span of backticks(extraText)) extraKeys.push(...expand(span));
  // Free-form maps are top-level keys, some with a dot in their name (`grafana.ini`): kept whole.
  for (const p of paragraphs.filter((p) => /^Free-form maps/.test(p.trim()))) {
    for (const span of backticks(p)) freeForm.push([span]);
  }
  return { extraKeys, freeForm };
}

function backticks(text: string): string[] {
  return [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!).filter((s) => /^[A-Za-z_{<][\w.{}<>|,-]*$/.test(s));
}

/** `a.{b,c}.<x|y>.<Name>` -> [a,b,x,*], [a,b,y,*], [a,c,x,*], [a,c,y,*]. */
function expand(span: string): Pattern[] {
  const m = /\{([^{}]*)\}|<([^<>]*)>/.exec(span);
  if (!m) return [splitKey(span)];
  const options = m[1] !== undefined ? m[1].split(',') : m[2]!.includes('|') ? m[2]!.split('|') : ['\u0000'];
  return options.flatMap((option) => expand(span.slice(0, m.index) + option + span.slice(m.index + m[0].length)));
}

function splitKey(key: string): Pattern {
  // Keys with dots in their name (`grafana.ini`) exist as one key in values.yaml too; the walk
  // below tries the literal key first, so a split pattern only adds leniency.
  return key.split('.').map((s) => (s === '\u0000' ? '*' : s));
}

const matches = (pattern: Pattern, path: string[]) =>
  pattern.length <= path.length && pattern.every((segment, i) => segment === '*' || segment === path[i]);

export type KeyStatus = 'known' | 'free' | 'unknown';

/** Whether a values key path exists in the chart: in values.yaml, the CRD spec it feeds, or the notes. */
export function keyStatus(chart: HelmChartSchema, path: string[]): KeyStatus {
  if (chart.freeForm.some((p) => p.length < path.length && matches(p, path))) return 'free';
  const inDefaults = statusIn(chart.defaults, path);
  if (inDefaults !== 'unknown') return inDefaults;
  if (chart.crdSpec) {
    const inCrd = statusInSchema(chart.crdSpec, path);
    if (inCrd !== 'unknown') return inCrd;
  }
  if (chart.extraKeys.some((p) => matches(p, path))) return 'known';
  return 'unknown';
}

function statusIn(defaults: Obj, path: string[]): KeyStatus {
  let node: unknown = defaults;
  for (let i = 0; i < path.length; i++) {
    const map = obj(node);
    // An empty map, a list, a scalar or null default says nothing about the keys below it.
    if (!map || Object.keys(map).length === 0) return i === 0 ? 'unknown' : 'free';
    if (!(path[i]! in map)) return 'unknown';
    node = map[path[i]!];
  }
  return 'known';
}

function statusInSchema(schema: Obj, path: string[]): KeyStatus {
  let node: Obj | undefined = schema;
  for (const segment of path) {
    if (!node) return 'free';
    if (node['x-kubernetes-preserve-unknown-fields'] === true || node.additionalProperties !== undefined) return 'free';
    const properties = obj(node.properties);
    if (!properties) return 'free';
    if (!(segment in properties)) return 'unknown';
    node = obj(properties[segment]);
  }
  return 'known';
}

export interface UnknownKey {
  path: string[];
}

/** Every key of `values` that the chart does not have (the walk stops at unknown and free-form keys). */
export function unknownValueKeys(chart: HelmChartSchema, values: Obj): UnknownKey[] {
  const found: UnknownKey[] = [];
  const walk = (node: Obj, path: string[]): void => {
    for (const [key, value] of Object.entries(node)) {
      const here = [...path, key];
      const status = keyStatus(chart, here);
      if (status === 'unknown') found.push({ path: here });
      else if (status === 'known') {
        const child = obj(value);
        if (child) walk(child, here);
      }
    }
  };
  walk(values, []);
  return found;
}
