// The Helm releases that Argo CD Applications install, checked as the charts would render them: the
// chart version has a schema folder, its Services land in namespaces the AppProject allows, and every
// in-cluster Service address written in a values file (zipkin address, Grafana and Kiali URLs) exists.
import { posix } from 'node:path';
import { findingAt } from './codes.js';
import { chartServices, type RenderedService } from './chart-services.js';
import { chartOf, isHelmValuesFile } from './helm-values.js';
import { deepMerge, loadHelmCharts, type HelmChartCatalog, type HelmChartSchema } from './helm-charts.js';
import { encodePointer } from './load.js';
import { arr, at, obj, str, strings, type Obj } from './shape.js';
import type { Finding, LoadedDocument } from './types.js';

export interface HelmRelease {
  app: LoadedDocument;
  /** JSON pointer of the chart source in the Application. */
  pointer: string;
  chart: string;
  version: string;
  release: string;
  namespace: string;
  project: string | undefined;
  /** Repository paths of the `$ref/<file>` values files, in order. */
  valueFiles: string[];
}

export interface HelmContext {
  catalog: HelmChartCatalog;
  releases: HelmRelease[];
  /** The chart schema a values file is checked against, when one is known. */
  schemaFor(repoPath: string): HelmChartSchema | undefined;
}

/** Every chart source of every Argo CD Application in the input. */
export function helmReleases(docs: LoadedDocument[]): HelmRelease[] {
  const out: HelmRelease[] = [];
  for (const app of docs.filter((d) => d.kind === 'Application' && d.apiVersion?.startsWith('argoproj.io/'))) {
    const spec = obj(obj(app.body)?.spec);
    const single = spec?.source !== undefined;
    const sources = single ? [spec.source] : arr(spec?.sources);
    sources.forEach((source, k) => {
      const chart = str(obj(source)?.chart);
      const version = str(obj(source)?.targetRevision);
      if (chart === undefined || version === undefined) return;
      const helm = obj(obj(source)?.helm);
      out.push({
        app,
        pointer: single ? '/spec/source' : `/spec/sources/${k}`,
        chart,
        version,
        release: str(helm?.releaseName) ?? app.name ?? chart,
        namespace: str(at(spec, 'destination', 'namespace')) ?? 'default',
        project: str(spec?.project),
        valueFiles: strings(helm?.valueFiles)
          .map((file) => /^\$[^/]+\/(.+)$/.exec(file)?.[1])
          .filter((file): file is string => file !== undefined)
          .map((file) => posix.normalize(file)),
      });
    });
  }
  return out;
}

export function helmContext(docs: LoadedDocument[], schemasDir: string): HelmContext {
  const catalog = loadHelmCharts(posix.join(schemasDir.split('\\').join('/'), 'helm'));
  const releases = helmReleases(docs);
  return {
    catalog,
    releases,
    schemaFor(repoPath) {
      const release = releases.find((r) => r.valueFiles.includes(repoPath));
      if (release) return catalog.get(release.chart, release.version);
      // A values file no Application in the input reads: the chart from its name, when exactly one version is pinned.
      const name = chartOf(repoPath);
      const versions = name === undefined ? [] : catalog.versions(name);
      return name !== undefined && versions.length === 1 ? catalog.get(name, versions[0]!) : undefined;
    },
  };
}

const isValuesDoc = (doc: LoadedDocument, releases: HelmRelease[]) =>
  doc.apiVersion === undefined && doc.kind === undefined && (isHelmValuesFile(doc.repoPath) || releases.some((r) => r.valueFiles.includes(doc.repoPath)));

interface KnownService extends RenderedService {
  from: string;
}

/** The cross-document Helm checks: DT5004, DT5005, DT5006. */
export function checkHelmReleases(docs: LoadedDocument[], context: HelmContext): Finding[] {
  const { catalog, releases } = context;
  const findings: Finding[] = [];
  const services: KnownService[] = [];
  /** Namespaces into which a chart deploys whose Services are not known (no schema folder or renderer). */
  const opaque = new Map<string, string[]>();

  for (const r of releases) {
    const schema = catalog.get(r.chart, r.version);
    if (!schema) {
      const others = catalog.versions(r.chart);
      findings.push(
        findingAt(
          r.app,
          `${r.pointer}/targetRevision`,
          'DT5004',
          `chart ${r.chart} ${r.version} has no schema folder in ${catalog.dir}${others.length > 0 ? ` (there is one for ${others.join(', ')})` : ''}: its values keys and Services are not checked`,
        ),
      );
    }
    let values: Obj = schema?.defaults ?? {};
    for (const file of r.valueFiles) {
      const doc = docs.find((d) => d.repoPath === file && obj(d.body) !== undefined && d.kind === undefined);
      if (doc) values = deepMerge(values, obj(doc.body)!);
    }
    const rendered = schema ? chartServices(r.chart, r.release, r.namespace, values) : undefined;
    if (!rendered) {
      opaque.set(r.namespace, [...(opaque.get(r.namespace) ?? []), `${r.chart} ${r.version}`]);
      continue;
    }
    const from = `chart ${r.chart} ${r.version}, release ${r.release}`;
    services.push(...rendered.map((s) => ({ ...s, from })));
    findings.push(...outsideProject(r, rendered, docs));
  }

  for (const doc of docs.filter((d) => d.kind === 'Service' && d.apiVersion === 'v1' && d.name !== undefined)) {
    const ports = arr(at(doc.body, 'spec', 'ports'))
      .map((p) => at(p, 'port'))
      .filter((p): p is number => typeof p === 'number');
    services.push({ name: doc.name!, namespace: doc.namespace ?? 'default', ports, from: `${doc.file}` });
  }

  const namespaces = new Set<string>([
    ...releases.map((r) => r.namespace),
    ...docs.map((d) => d.namespace).filter((n): n is string => n !== undefined),
    ...docs.filter((d) => d.kind === 'Namespace' && d.name !== undefined).map((d) => d.name!),
  ]);
  for (const doc of docs.filter((d) => isValuesDoc(d, releases))) {
    for (const address of serviceAddresses(doc.body)) {
      const finding = checkAddress(doc, address, services, namespaces, opaque);
      if (finding) findings.push(finding);
    }
  }
  return findings;
}

/** A chart's Helm-rendered Services must land in a namespace the Application's AppProject allows. */
function outsideProject(r: HelmRelease, rendered: RenderedService[], docs: LoadedDocument[]): Finding[] {
  const project = docs.find((d) => d.kind === 'AppProject' && d.apiVersion?.startsWith('argoproj.io/') && d.name === r.project);
  if (!project) return [];
  const allowed = arr(at(project.body, 'spec', 'destinations')).map((d) => str(at(d, 'namespace')) ?? '');
  const permits = (ns: string) =>
    allowed.some((pattern) => pattern === '*' || pattern === ns || (pattern.includes('*') && new RegExp(`^${pattern.split('*').map(escape).join('.*')}$`).test(ns)));
  const outside = rendered.filter((s) => !s.runtime && !permits(s.namespace));
  if (outside.length === 0) return [];
  const namespaces = [...new Set(outside.map((s) => s.namespace))];
  return namespaces.map((ns) =>
    findingAt(
      r.app,
      r.pointer,
      'DT5006',
      `chart ${r.chart} ${r.version} (release ${r.release}) renders Service(s) ${outside
        .filter((s) => s.namespace === ns)
        .map((s) => s.name)
        .join(', ')} in namespace ${ns}, which AppProject ${r.project ?? ''} does not allow as a destination: Argo CD refuses the whole sync`,
    ),
  );
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface ServiceAddress {
  /** JSON pointer of the string (or of the `service` field) in the values document. */
  pointer: string;
  text: string;
  host: string;
  port: number | undefined;
}

/**
 * Strings that address a Service: URLs (`http://grafana.monitoring.svc.cluster.local`), `host:port`
 * (Istio's zipkin address), and `{ service, port }` pairs (Istio's extensionProviders).
 */
export function serviceAddresses(body: unknown): ServiceAddress[] {
  const out: ServiceAddress[] = [];
  const walk = (node: unknown, path: (string | number)[]): void => {
    if (typeof node === 'string') {
      const url = /^([a-z][a-z0-9+.-]*):\/\/([^/:?#\s]+)(?::(\d+))?/i.exec(node);
      if (url) {
        const scheme = url[1]!.toLowerCase();
        const port = url[3] !== undefined ? Number(url[3]) : scheme === 'https' ? 443 : scheme === 'http' ? 80 : undefined;
        out.push({ pointer: encodePointer(path), text: node, host: url[2]!.toLowerCase(), port });
        return;
      }
      const hostPort = /^([a-z0-9-]+(?:\.[a-z0-9-]+)+):(\d+)$/i.exec(node);
      if (hostPort) out.push({ pointer: encodePointer(path), text: node, host: hostPort[1]!.toLowerCase(), port: Number(hostPort[2]) });
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, [...path, i]));
      return;
    }
    const map = obj(node);
    if (!map) return;
    const service = str(map.service);
    if (service !== undefined && typeof map.port === 'number' && /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(service)) {
      out.push({ pointer: encodePointer([...path, 'service']), text: `${service}:${map.port}`, host: service.toLowerCase(), port: map.port });
    }
    for (const [key, value] of Object.entries(map)) if (!(key === 'service' && service !== undefined)) walk(value, [...path, key]);
  };
  walk(body, []);
  return out;
}

/** `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local` -> name and namespace; anything else is not a Service address. */
export function serviceOf(host: string, namespaces: Set<string>): { name: string; namespace: string } | undefined {
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+)(\.svc(\.cluster\.local)?)?\.?$/.exec(host);
  if (!m) return undefined;
  // Without `.svc`, `name.ns` is only a Service when ns is a namespace of the input (not `grafana.com`).
  if (m[3] === undefined && !namespaces.has(m[2]!)) return undefined;
  return { name: m[1]!, namespace: m[2]! };
}

function checkAddress(
  doc: LoadedDocument,
  address: ServiceAddress,
  services: KnownService[],
  namespaces: Set<string>,
  opaque: Map<string, string[]>,
): Finding | undefined {
  const target = serviceOf(address.host, namespaces);
  if (!target) return undefined;
  const match = services.find((s) => s.name === target.name && s.namespace === target.namespace);
  if (match) {
    if (address.port === undefined || match.ports.includes(address.port)) return undefined;
    return findingAt(
      doc,
      address.pointer,
      'DT5005',
      `${address.text}: Service ${target.namespace}/${target.name} (${match.from}) has no port ${address.port}; it serves ${match.ports.join(', ')}`,
    );
  }
  const sameNamespace = services.filter((s) => s.namespace === target.namespace && !s.runtime).map((s) => s.name);
  const hint = sameNamespace.length > 0 ? `; ${target.namespace} has ${[...new Set(sameNamespace)].join(', ')}` : '';
  const unknownCharts = opaque.get(target.namespace);
  if (unknownCharts) {
    return findingAt(
      doc,
      address.pointer,
      'DT5005',
      `${address.text}: no manifest or known chart renders Service ${target.namespace}/${target.name}${hint} (not proven: ${unknownCharts.join(', ')} also deploy there, and their Services are not known)`,
      'warning',
    );
  }
  if (!services.some((s) => s.namespace === target.namespace)) return undefined;
  return findingAt(doc, address.pointer, 'DT5005', `${address.text}: no manifest or chart renders Service ${target.namespace}/${target.name}${hint}`);
}
