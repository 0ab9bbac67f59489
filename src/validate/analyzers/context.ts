// What every Istio analyzer sees: the run's documents as typed resources, the "cluster" the files
// describe (Pods, Deployment pod templates, Services, ServiceEntries, Namespaces, Secrets, Nodes), and
// host / selector helpers that follow Istio's own rules (short hosts resolve in the resource's
// namespace, exportTo scoping, wildcard matching). Pure: built from LoadedDocuments only.
import { CODES, findingAt, type Code } from '../codes.js';
import { arr, labels, obj, str, type Obj } from '../shape.js';
import type { Finding, LoadedDocument, Severity } from '../types.js';

export const CLUSTER_DOMAIN = 'svc.cluster.local';

export interface Resource {
  doc: LoadedDocument;
  group: string;
  kind: string;
  name: string;
  /** metadata.namespace (or the kustomization's); '' when unset, as in Istio's file-based analysis. */
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  body: Obj;
  spec: Obj;
}

/** A pod the files describe: a Pod, or the pod template of a Deployment / StatefulSet / ... */
export interface Workload {
  resource: Resource;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Obj;
  nodeName?: string;
}

export interface AnalyzerOptions {
  meshRootNamespace: string;
}

export interface AnalyzerContext {
  readonly options: AnalyzerOptions;
  readonly resources: Resource[];
  /** Resources of one kind: 'networking.istio.io/VirtualService', '/Service' (core), 'apps/Deployment'. */
  of(key: string): Resource[];
  find(key: string, namespace: string, name: string): Resource | undefined;
  readonly workloads: Workload[];
  /** Whether the files themselves hold any pod or pod template (the default ingress pod aside). */
  readonly hasWorkloads: boolean;
  /** The Namespace manifest for a name, when the files hold one. */
  namespace(name: string): Resource | undefined;
  /** Whether the files describe a namespace's contents: a Service, a workload, or its Namespace manifest. */
  namespaceModelled(name: string): boolean;
  /** Whether the files hold any Service or ServiceEntry, i.e. model the service registry at all. */
  readonly hasServiceRegistry: boolean;
  readonly serviceHosts: ServiceHostIndex;
  /** The files' Services plus istioctl's default ingress gateway Service (for selector lookups). */
  readonly services: Resource[];
}

export const K = {
  VirtualService: 'networking.istio.io/VirtualService',
  DestinationRule: 'networking.istio.io/DestinationRule',
  Gateway: 'networking.istio.io/Gateway',
  ServiceEntry: 'networking.istio.io/ServiceEntry',
  Sidecar: 'networking.istio.io/Sidecar',
  AuthorizationPolicy: 'security.istio.io/AuthorizationPolicy',
  Service: '/Service',
  Pod: '/Pod',
  Namespace: '/Namespace',
  Secret: '/Secret',
  Node: '/Node',
  Deployment: 'apps/Deployment',
  Certificate: 'cert-manager.io/Certificate',
} as const;

const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

function toResource(doc: LoadedDocument): Resource | undefined {
  const body = obj(doc.body);
  if (!body || doc.apiVersion === undefined || doc.kind === undefined) return undefined;
  const metadata = obj(body.metadata) ?? {};
  return {
    doc,
    group: groupOf(doc.apiVersion),
    kind: doc.kind,
    name: doc.name ?? '',
    namespace: doc.namespace ?? '',
    labels: labels(metadata.labels),
    annotations: labels(metadata.annotations),
    body,
    spec: obj(body.spec) ?? {},
  };
}

function workloadsOf(r: Resource): Workload[] {
  if (r.group === '' && r.kind === 'Pod') {
    const nodeName = str(r.spec.nodeName);
    return [{ resource: r, name: r.name, namespace: r.namespace, labels: r.labels, annotations: r.annotations, spec: r.spec, ...(nodeName ? { nodeName } : {}) }];
  }
  const template = r.kind === 'CronJob' ? obj(obj(obj(r.spec.jobTemplate)?.spec)?.template) : TEMPLATE_KINDS.has(r.kind) ? obj(r.spec.template) : undefined;
  if (!template) return [];
  const metadata = obj(template.metadata) ?? {};
  return [{ resource: r, name: r.name, namespace: r.namespace, labels: labels(metadata.labels), annotations: labels(metadata.annotations), spec: obj(template.spec) ?? {} }];
}

/**
 * The ingress gateway `istioctl analyze` assumes when it reads files (local/defaults.go): a pod
 * labelled istio=ingressgateway and the istio-ingressgateway Service (80, 443, 31400, 15443) in the
 * root namespace, unless the files define that Service themselves.
 */
function defaultIngressGateway(namespace: string): Resource[] {
  const doc: LoadedDocument = {
    file: '(istioctl default resources)',
    repoPath: '',
    index: 0,
    body: {},
    text: '',
    locate: () => ({ line: 0, column: 0 }),
  };
  const base = { doc, group: '', namespace, annotations: {}, body: {} };
  const port = (name: string, n: number) => ({ name, port: n, protocol: 'TCP', targetPort: n });
  return [
    { ...base, kind: 'Pod', name: 'istio-ingressgateway-dummypod', labels: { istio: 'ingressgateway' }, spec: { containers: [{ name: 'istio-proxy' }] } },
    {
      ...base,
      kind: 'Service',
      name: 'istio-ingressgateway',
      labels: {},
      spec: { selector: { istio: 'ingressgateway' }, ports: [port('http2', 80), port('https', 443), port('tcp', 31400), port('tls', 15443)] },
    },
  ];
}

export function createContext(docs: LoadedDocument[], options: AnalyzerOptions): AnalyzerContext {
  const resources = docs.map(toResource).filter((r): r is Resource => r !== undefined);
  const root = options.meshRootNamespace;
  const defaults = resources.some((r) => r.group === '' && r.kind === 'Service' && r.name === 'istio-ingressgateway' && r.namespace === root) ? [] : defaultIngressGateway(root);
  const byKey = new Map<string, Resource[]>();
  for (const r of resources) {
    const key = `${r.group}/${r.kind}`;
    byKey.set(key, [...(byKey.get(key) ?? []), r]);
  }
  const of = (key: string) => byKey.get(key) ?? [];
  const workloads = [...resources, ...defaults].flatMap(workloadsOf);
  const defaultServices = defaults.filter((r) => r.kind === 'Service');
  const modelled = new Set<string>();
  // ServiceEntries describe hosts outside the namespace, so they do not make it "described".
  for (const r of [...of(K.Service), ...resources.flatMap(workloadsOf).map((w) => w.resource)]) modelled.add(r.namespace);
  for (const n of of(K.Namespace)) modelled.add(n.name);
  const ctx: AnalyzerContext = {
    options,
    resources,
    of,
    find: (key, namespace, name) => of(key).find((r) => r.name === name && r.namespace === namespace),
    workloads,
    hasWorkloads: resources.some((r) => workloadsOf(r).length > 0),
    namespace: (name) => of(K.Namespace).find((n) => n.name === name),
    namespaceModelled: (name) => modelled.has(name),
    hasServiceRegistry: of(K.Service).length + of(K.ServiceEntry).length > 0,
    services: [...of(K.Service), ...defaultServices],
    serviceHosts: buildServiceHostIndex([...of(K.Service), ...defaultServices], of(K.ServiceEntry)),
  };
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// Findings

export interface ReportOptions {
  pointer?: string;
  severity?: Severity;
}

/** A finding on a resource, at a JSON pointer (default: its metadata.name). */
export function report(r: Resource, code: Code, message: string, { pointer = '/metadata/name', severity = CODES[code].severity }: ReportOptions = {}): Finding {
  const finding = findingAt(r.doc, pointer, code, message, severity);
  return r.namespace === '' ? finding : { ...finding, namespace: r.namespace };
}

/** Istio's "Referenced %s not found: %q". */
export function notFound(reftype: string, refval: string): string {
  return `Referenced ${reftype} not found: ${JSON.stringify(refval)}`;
}

/** namespace/name as Istio prints a resource's full name ('name' alone without a namespace). */
export function fullName(r: { namespace: string; name: string }): string {
  return r.namespace === '' ? r.name : `${r.namespace}/${r.name}`;
}

/** Go's fmt %v of a []string: [a b c]. */
export function goList(items: (string | number)[]): string {
  return `[${items.join(' ')}]`;
}

// ---------------------------------------------------------------------------------------------
// Selectors

/** klabels.SelectorFromSet(...).String(): "k1=v1,k2=v2", keys sorted. */
export function selectorString(selector: Record<string, string>): string {
  return Object.keys(selector)
    .sort()
    .map((k) => `${k}=${selector[k]}`)
    .join(',');
}

export function selectorMatches(selector: Record<string, string>, podLabels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => podLabels[k] === v);
}

/** A pointer to the first label of a selector map, for the line of a selector finding. */
export function selectorPointer(base: string, selector: Record<string, string>): string {
  const first = Object.keys(selector).sort()[0];
  return first === undefined ? base : `${base}/${first.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

// ---------------------------------------------------------------------------------------------
// Injection (util.DeploymentInMesh / PodInMesh)

const INJECT = 'sidecar.istio.io/inject';

/**
 * Whether a workload gets a sidecar: an istio-proxy container, else the pod's inject label or
 * annotation, else its Namespace's istio-injection (or istio.io/rev) label. A namespace the files
 * do not hold is assumed injected: the cluster may label it.
 */
export function inMesh(ctx: AnalyzerContext, w: Workload): boolean {
  const containers = arr(w.spec.containers).concat(arr(w.spec.initContainers));
  if (containers.some((c) => str(obj(c)?.name) === 'istio-proxy' && (str(obj(c)?.image) ?? '') !== '')) return true;
  if (INJECT in w.labels) return w.labels[INJECT] === 'true';
  if (INJECT in w.annotations) return w.annotations[INJECT] === 'true';
  const ns = ctx.namespace(w.namespace);
  if (!ns) return true;
  return ns.labels['istio-injection'] === 'enabled' || (ns.labels['istio-injection'] === undefined && (ns.labels['istio.io/rev'] ?? '') !== '');
}

// ---------------------------------------------------------------------------------------------
// Hosts (pkg/config/host and analyzers/util)

/** util.ConvertHostToFQDN: a short name (no dot, no wildcard) becomes name.<ns>.svc.cluster.local. */
export function toFqdn(host: string, namespace: string): string {
  return host.startsWith('*') || host.includes('.') ? host : `${host}.${namespace}.${CLUSTER_DOMAIN}`;
}

/** host.Name.Matches: wildcard-aware, in either direction. */
export function hostMatches(a: string, b: string): boolean {
  const aw = a.startsWith('*');
  const bw = b.startsWith('*');
  if (aw && bw) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
  if (aw) return b.endsWith(a.slice(1));
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

export interface ServicePort {
  number: number;
  name?: string;
  protocol?: string;
}

/** A host the registry knows: a Service (as Istio's synthetic ServiceEntry) or a ServiceEntry host. */
export interface ServiceHost {
  fqdn: string;
  /** '*' or a namespace the host is visible in. */
  scope: string;
  ports: ServicePort[];
  resource: Resource;
  workloadSelector: Record<string, string>;
}

export interface ServiceHostIndex {
  /** util.GetDestinationHost: the service a host resolves to from a namespace, honouring exportTo. */
  lookup(host: string, fromNamespace: string, exportTo?: string[]): ServiceHost | undefined;
}

function portsOf(list: unknown, numberKey: 'port' | 'number'): ServicePort[] {
  return (Array.isArray(list) ? list : []).flatMap((p) => {
    const o = obj(p);
    const number = o?.[numberKey];
    if (typeof number !== 'number') return [];
    const name = str(o?.name);
    const protocol = str(o?.protocol);
    return [{ number, ...(name ? { name } : {}), ...(protocol ? { protocol } : {}) }];
  });
}

export function exportScopes(exportTo: unknown, namespace: string): string[] {
  const list = Array.isArray(exportTo) ? exportTo.filter((e): e is string => typeof e === 'string') : [];
  if (list.length === 0 || list.includes('*')) return ['*'];
  return [...new Set(list.map((e) => (e === '.' ? namespace : e)))];
}

function buildServiceHostIndex(services: Resource[], entries: Resource[]): ServiceHostIndex {
  const hosts: ServiceHost[] = [];
  for (const se of entries) {
    const seHosts = Array.isArray(se.spec.hosts) ? se.spec.hosts.filter((h): h is string => typeof h === 'string') : [];
    for (const scope of exportScopes(se.spec.exportTo, se.namespace)) {
      for (const h of seHosts) {
        hosts.push({ fqdn: toFqdn(h, se.namespace), scope, ports: portsOf(se.spec.ports, 'number'), resource: se, workloadSelector: labels(obj(se.spec.workloadSelector)?.labels) });
      }
    }
  }
  for (const svc of services) {
    const anno = svc.annotations['networking.istio.io/exportTo'];
    const scopes = anno === undefined || anno === '' ? ['*'] : anno.split(',').map((s) => (s.trim() === '.' ? svc.namespace : s.trim()));
    for (const scope of scopes) {
      hosts.push({ fqdn: toFqdn(svc.name, svc.namespace), scope, ports: portsOf(svc.spec.ports, 'port'), resource: svc, workloadSelector: {} });
    }
  }
  return {
    lookup(host, fromNamespace, exportTo = []) {
      const fqdn = toFqdn(host, fromNamespace);
      const exact = (scope: string) => hosts.find((h) => h.scope === scope && h.fqdn === fqdn);
      const all = exact('*');
      if (all) return all;
      const scopes = exportTo.length === 0 ? [fromNamespace] : exportTo.map((e) => (e === '.' ? fromNamespace : e));
      for (const scope of scopes) {
        const found = exact(scope);
        if (found) return found;
      }
      const bare = host.replace(/^\*/, '');
      return hosts.find((h) => h.fqdn.startsWith('*') && (h.scope === '*' || h.scope === fromNamespace) && bare.endsWith(h.fqdn.slice(1)));
    },
  };
}

/** The namespace a cluster-local FQDN points into (name.ns.svc.cluster.local), else undefined. */
export function namespaceOfHost(fqdn: string): string | undefined {
  const m = /^[^.]+\.([^.]+)\.svc\.cluster\.local$/.exec(fqdn);
  return m?.[1];
}
