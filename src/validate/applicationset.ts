// Argo CD ApplicationSets and AppProject destinations: a list generator's Applications are rendered
// (Go template or fasttemplate placeholders) and checked like written ones, and every Application's
// destination must be one its AppProject admits, or Argo CD refuses to sync it.
import { checkApplication } from './argocd.js';
import { findingAt } from './codes.js';
import { arr, at, obj, str, type Obj } from './shape.js';
import type { Finding, LoadedDocument, RepoFiles } from './types.js';

const isArgo = (doc: LoadedDocument, kind: string): boolean => doc.kind === kind && doc.apiVersion?.startsWith('argoproj.io/') === true;

/** A placeholder the template uses: {{.cluster}} with goTemplate, {{cluster}} without. */
function placeholders(goTemplate: boolean): RegExp {
  return goTemplate ? /\{\{-?\s*\.([A-Za-z_][\w.]*)\s*-?\}\}/g : /\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}/g;
}

function lookup(element: Obj, key: string): unknown {
  return key.split('.').reduce<unknown>((value, part) => obj(value)?.[part], element);
}

/** Deep copy of `value` with every placeholder replaced from `element`; unknown keys are collected. */
function render(value: unknown, element: Obj, pattern: RegExp, missing: Set<string>): unknown {
  if (typeof value === 'string') {
    return value.replace(pattern, (whole, key: string) => {
      const found = lookup(element, key);
      if (typeof found === 'string' || typeof found === 'number' || typeof found === 'boolean') return String(found);
      missing.add(key);
      return whole;
    });
  }
  if (Array.isArray(value)) return value.map((v) => render(v, element, pattern, missing));
  const o = obj(value);
  if (!o) return value;
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, render(v, element, pattern, missing)]));
}

/** An Application an ApplicationSet generates, located at the template in the ApplicationSet's file. */
export interface GeneratedApplication {
  doc: LoadedDocument;
  /** the ApplicationSet and the pointer of the list element it came from. */
  from: LoadedDocument;
  elementPointer: string;
}

/**
 * The Applications of an ApplicationSet's top-level list generators, one per element. Other
 * generators (clusters, git, matrix) depend on the cluster and are not expanded.
 */
export function generatedApplications(set: LoadedDocument): { applications: GeneratedApplication[]; findings: Finding[] } {
  if (!isArgo(set, 'ApplicationSet')) return { applications: [], findings: [] };
  const spec = obj(at(set.body, 'spec')) ?? {};
  const pattern = placeholders(spec.goTemplate === true);
  const template = obj(spec.template) ?? {};
  const applications: GeneratedApplication[] = [];
  const findings: Finding[] = [];
  arr(spec.generators).forEach((generator, g) => {
    arr(at(generator, 'list', 'elements')).forEach((element, e) => {
      const elementPointer = `/spec/generators/${g}/list/elements/${e}`;
      const missing = new Set<string>();
      const rendered = obj(render(template, obj(element) ?? {}, pattern, missing)) ?? {};
      for (const key of missing) {
        findings.push(findingAt(set, elementPointer, 'DT3003', `the template uses ${key}, which this list element does not set: Argo CD cannot generate its Application`));
      }
      if (missing.size > 0) return;
      const body: Obj = { apiVersion: set.apiVersion, kind: 'Application', ...rendered };
      const name = str(at(rendered, 'metadata', 'name'));
      const doc: LoadedDocument = {
        ...set,
        body,
        kind: 'Application',
        ...(name !== undefined ? { name } : {}),
        // A finding in a generated Application points at the template it came from.
        locate: (pointer) => set.locate(pointer === '' || pointer === '/' ? elementPointer : `/spec/template${pointer}`),
      };
      applications.push({ doc, from: set, elementPointer });
    });
  });
  return { applications, findings };
}

/** Argo CD's glob for project destinations: `*` matches any run of characters (dots and slashes included). */
function globMatch(pattern: string, value: string): boolean {
  const negated = pattern.startsWith('!');
  const body = negated ? pattern.slice(1) : pattern;
  const regex = new RegExp(`^${body.split('*').map((p) => p.replace(/[\\^$.+?()|[\]{}]/g, '\\$&')).join('.*')}$`);
  return regex.test(value) !== negated;
}

/** Whether an AppProject's destinations admit an Application destination (server or name, and namespace). */
export function projectAdmits(project: LoadedDocument, destination: { server?: string; name?: string; namespace?: string }): boolean {
  const entries = arr(at(project.body, 'spec', 'destinations')).map((d) => ({ server: str(at(d, 'server')), name: str(at(d, 'name')), namespace: str(at(d, 'namespace')) }));
  const matches = (d: (typeof entries)[number]): boolean => {
    const cluster =
      (destination.server !== undefined && d.server !== undefined && globMatch(d.server, destination.server)) ||
      (destination.name !== undefined && d.name !== undefined && globMatch(d.name, destination.name));
    if (!cluster) return false;
    return destination.namespace === undefined || destination.namespace === '' || (d.namespace !== undefined && globMatch(d.namespace, destination.namespace));
  };
  // A "!pattern" entry denies what it matches, whatever the other entries allow.
  const denied = entries.some((d) => (d.server?.startsWith('!') || d.namespace?.startsWith('!')) && !matches(d));
  return !denied && entries.some((d) => !d.server?.startsWith('!') && !d.namespace?.startsWith('!') && matches(d));
}

function destinationFinding(app: LoadedDocument, projects: LoadedDocument[]): Finding[] {
  const projectName = str(at(app.body, 'spec', 'project'));
  const project = projects.find((p) => p.name === projectName);
  // The default project (or one defined outside these files) is not ours to check.
  if (!project) return [];
  const destination = obj(at(app.body, 'spec', 'destination')) ?? {};
  const wanted = { server: str(destination.server), name: str(destination.name), namespace: str(destination.namespace) };
  if (wanted.server === undefined && wanted.name === undefined) return [];
  if (projectAdmits(project, wanted)) return [];
  const where = `${wanted.server ?? wanted.name ?? ''}${wanted.namespace ? ` namespace ${wanted.namespace}` : ''}`;
  return [findingAt(app, '/spec/destination', 'DT3004', `destination ${where} is not among AppProject ${projectName ?? ''}'s destinations: Argo CD refuses to sync Application ${app.name ?? ''}`)];
}

/**
 * Findings over all documents: every ApplicationSet's generated Applications (path, values files,
 * destination) and every written Application's destination against its AppProject.
 */
export function checkApplicationSets(documents: readonly LoadedDocument[], files: RepoFiles): Finding[] {
  const projects = documents.filter((d) => isArgo(d, 'AppProject'));
  const findings: Finding[] = [];
  for (const doc of documents) {
    if (isArgo(doc, 'Application')) findings.push(...destinationFinding(doc, projects));
    if (!isArgo(doc, 'ApplicationSet')) continue;
    const generated = generatedApplications(doc);
    findings.push(...generated.findings);
    for (const { doc: app } of generated.applications) findings.push(...checkApplication(app, files), ...destinationFinding(app, projects));
  }
  return findings;
}
