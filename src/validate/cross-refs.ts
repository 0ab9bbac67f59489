// Checks that need every document of the run at once: VirtualService -> DestinationRule subsets and
// Gateways, conflicting hosts, subsets that select no Deployment, AuthorizationPolicy principals and
// PeerAuthentication modes. Pure: works on the loaded documents only.
import { findingAt } from './codes.js';
import { encodePointer } from './load.js';
import { arr, at, labels, obj, str, strings } from './shape.js';
import type { Finding, LoadedDocument } from './types.js';

export interface CrossRefOptions {
  meshRootNamespace: string;
  strictMtlsNamespaces: string[];
  /** "namespace/name" or "namespace/*"; "*\/default" is always there. */
  externalServiceAccounts: string[];
}

/** A service host as Istio resolves it: a short name is relative to the resource's namespace. */
export type HostKey = { service: string; namespace?: string } | { fqdn: string };

export function hostKey(host: string, namespace: string | undefined): HostKey | undefined {
  if (host.includes('*')) return undefined;
  const parts = host.split('.');
  if (parts.length === 1) return namespace === undefined ? { service: host } : { service: host, namespace };
  const cluster = /^([^.]+)\.([^.]+)\.svc(\.cluster\.local)?$/.exec(host);
  if (cluster) return { service: cluster[1]!, namespace: cluster[2]! };
  return { fqdn: host };
}

export function sameHost(a: HostKey, b: HostKey): boolean {
  if ('fqdn' in a || 'fqdn' in b) return 'fqdn' in a && 'fqdn' in b && a.fqdn === b.fqdn;
  return a.service === b.service && (a.namespace === undefined || b.namespace === undefined || a.namespace === b.namespace);
}

function sameNamespace(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || b === undefined || a === b;
}

function isKind(doc: LoadedDocument, group: string, kind: string): boolean {
  return doc.kind === kind && (doc.apiVersion ?? '').startsWith(group === '' ? 'v1' : `${group}/`) && (group !== '' || doc.apiVersion === 'v1');
}

const isVirtualService = (d: LoadedDocument) => isKind(d, 'networking.istio.io', 'VirtualService');
const isDestinationRule = (d: LoadedDocument) => isKind(d, 'networking.istio.io', 'DestinationRule');
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod', 'ReplicaSet']);

interface DestinationUse {
  destination: unknown;
  path: (string | number)[];
}

/** Every destination a VirtualService routes or mirrors to, with its JSON path. */
export function destinationsOf(vs: LoadedDocument): DestinationUse[] {
  const uses: DestinationUse[] = [];
  arr(at(vs.body, 'spec', 'http')).forEach((route, i) => {
    arr(at(route, 'route')).forEach((d, j) => uses.push({ destination: at(d, 'destination'), path: ['spec', 'http', i, 'route', j, 'destination'] }));
    if (at(route, 'mirror') !== undefined) uses.push({ destination: at(route, 'mirror'), path: ['spec', 'http', i, 'mirror'] });
    arr(at(route, 'mirrors')).forEach((m, k) => uses.push({ destination: at(m, 'destination'), path: ['spec', 'http', i, 'mirrors', k, 'destination'] }));
  });
  for (const protocol of ['tcp', 'tls']) {
    arr(at(vs.body, 'spec', protocol)).forEach((route, i) =>
      arr(at(route, 'route')).forEach((d, j) => uses.push({ destination: at(d, 'destination'), path: ['spec', protocol, i, 'route', j, 'destination'] })),
    );
  }
  return uses;
}

/** The DestinationRule subsets (by name) that apply to a host. */
export function subsetsFor(host: HostKey, rules: LoadedDocument[]): Set<string> {
  const names = new Set<string>();
  for (const dr of rules) {
    const drHost = str(at(dr.body, 'spec', 'host'));
    const key = drHost === undefined ? undefined : hostKey(drHost, dr.namespace);
    if (!key || !sameHost(key, host)) continue;
    for (const s of arr(at(dr.body, 'spec', 'subsets'))) {
      const name = str(at(s, 'name'));
      if (name !== undefined) names.add(name);
    }
  }
  return names;
}

function subsetReferences(vss: LoadedDocument[], rules: LoadedDocument[]): Finding[] {
  const findings: Finding[] = [];
  for (const vs of vss) {
    for (const { destination, path } of destinationsOf(vs)) {
      const subset = str(at(destination, 'subset'));
      const host = str(at(destination, 'host'));
      if (subset === undefined || host === undefined) continue;
      const key = hostKey(host, vs.namespace);
      if (!key || subsetsFor(key, rules).has(subset)) continue;
      findings.push(findingAt(vs, encodePointer([...path, 'subset']), 'IST0101', `subset "${subset}" of host ${host} is not defined by any DestinationRule`));
    }
  }
  return findings;
}

function gatewayName(ref: string, namespace: string | undefined): { name: string; namespace?: string } {
  const slash = ref.indexOf('/');
  if (slash >= 0) return { namespace: ref.slice(0, slash), name: ref.slice(slash + 1) };
  return namespace === undefined ? { name: ref } : { name: ref, namespace };
}

function gatewayReferences(vss: LoadedDocument[], gateways: LoadedDocument[]): Finding[] {
  const findings: Finding[] = [];
  const exists = (ref: string, ns: string | undefined) => {
    const wanted = gatewayName(ref, ns);
    return gateways.some((g) => g.name === wanted.name && sameNamespace(g.namespace, wanted.namespace));
  };
  for (const vs of vss) {
    const refs: [string, (string | number)[]][] = strings(at(vs.body, 'spec', 'gateways')).map((g, i) => [g, ['spec', 'gateways', i]]);
    arr(at(vs.body, 'spec', 'http')).forEach((route, i) =>
      arr(at(route, 'match')).forEach((m, k) =>
        strings(at(m, 'gateways')).forEach((g, n) => refs.push([g, ['spec', 'http', i, 'match', k, 'gateways', n]])),
      ),
    );
    for (const [ref, path] of refs) {
      if (ref === 'mesh' || exists(ref, vs.namespace)) continue;
      findings.push(findingAt(vs, encodePointer(path), 'IST0101', `gateway "${ref}" does not exist`));
    }
  }
  return findings;
}

function describeHost(key: HostKey): string {
  return 'fqdn' in key ? key.fqdn : `${key.service}.${key.namespace ?? '*'}`;
}

function conflictingHosts(vss: LoadedDocument[]): Finding[] {
  const claims: { vs: LoadedDocument; gateway: string; host: HostKey; path: (string | number)[] }[] = [];
  for (const vs of vss) {
    const declared = strings(at(vs.body, 'spec', 'gateways'));
    const bound = declared.length === 0 ? ['mesh'] : declared.map((g) => (g === 'mesh' ? g : `${gatewayName(g, vs.namespace).namespace ?? '*'}/${gatewayName(g, vs.namespace).name}`));
    strings(at(vs.body, 'spec', 'hosts')).forEach((host, i) => {
      const key = hostKey(host, vs.namespace);
      if (!key) return;
      for (const gateway of bound) claims.push({ vs, gateway, host: key, path: ['spec', 'hosts', i] });
    });
  }
  const findings: Finding[] = [];
  for (const claim of claims) {
    const others = claims.filter((c) => c.vs !== claim.vs && c.gateway === claim.gateway && sameHost(c.host, claim.host));
    if (others.length === 0) continue;
    const names = others.map((o) => `${o.vs.namespace ? `${o.vs.namespace}/` : ''}${o.vs.name ?? '?'} (${o.vs.file})`).join(', ');
    findings.push(
      findingAt(claim.vs, encodePointer(claim.path), 'IST0109', `host ${describeHost(claim.host)} on ${claim.gateway} is also claimed by VirtualService ${names}`),
    );
  }
  return findings;
}

function podTemplateLabels(doc: LoadedDocument): Record<string, string> {
  if (doc.kind === 'Pod') return labels(at(doc.body, 'metadata', 'labels'));
  if (doc.kind === 'CronJob') return labels(at(doc.body, 'spec', 'jobTemplate', 'spec', 'template', 'metadata', 'labels'));
  return labels(at(doc.body, 'spec', 'template', 'metadata', 'labels'));
}

function selects(selector: Record<string, string>, podLabels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => podLabels[k] === v);
}

function subsetsSelectPods(rules: LoadedDocument[], workloads: LoadedDocument[], services: LoadedDocument[]): Finding[] {
  const findings: Finding[] = [];
  for (const dr of rules) {
    const host = str(at(dr.body, 'spec', 'host'));
    const key = host === undefined ? undefined : hostKey(host, dr.namespace);
    if (!key || 'fqdn' in key) continue;
    const candidates = workloads.filter((w) => sameNamespace(w.namespace, key.namespace));
    if (candidates.length === 0) continue;
    const service = services.find((s) => s.name === key.service && sameNamespace(s.namespace, key.namespace));
    const serviceSelector = labels(at(service?.body, 'spec', 'selector'));
    arr(at(dr.body, 'spec', 'subsets')).forEach((subset, i) => {
      const subsetLabels = labels(at(subset, 'labels'));
      if (Object.keys(subsetLabels).length === 0) return;
      const wanted = { ...serviceSelector, ...subsetLabels };
      if (candidates.some((w) => selects(wanted, podTemplateLabels(w)))) return;
      const shown = Object.entries(wanted).map(([k, v]) => `${k}=${v}`).join(',');
      findings.push(
        findingAt(dr, encodePointer(['spec', 'subsets', i, 'labels']), 'IST0173', `subset "${str(at(subset, 'name')) ?? i}" selects ${shown}, which no Deployment pod template in the input carries`),
      );
    });
  }
  return findings;
}

const PRINCIPAL = /^[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/;

function principalReferences(docs: LoadedDocument[], options: CrossRefOptions): Finding[] {
  const declared = docs.filter((d) => d.kind === 'ServiceAccount');
  const external = ['*/default', ...options.externalServiceAccounts];
  const namespacesInInput = new Set(
    docs.filter((d) => d.namespace !== undefined && (d.kind === 'ServiceAccount' || WORKLOAD_KINDS.has(d.kind ?? ''))).map((d) => d.namespace),
  );
  const known = (ns: string, sa: string) =>
    declared.some((d) => d.name === sa && sameNamespace(d.namespace, ns)) ||
    external.some((e) => {
      const [ens, esa] = e.split('/');
      return (ens === '*' || ens === ns) && (esa === '*' || esa === sa);
    });
  const findings: Finding[] = [];
  for (const policy of docs.filter((d) => isKind(d, 'security.istio.io', 'AuthorizationPolicy'))) {
    arr(at(policy.body, 'spec', 'rules')).forEach((rule, i) =>
      arr(at(rule, 'from')).forEach((from, j) => {
        for (const field of ['principals', 'notPrincipals']) {
          strings(at(from, 'source', field)).forEach((principal, k) => {
            const match = PRINCIPAL.exec(principal);
            if (!match || principal.includes('*')) return;
            const [, ns, sa] = match as unknown as [string, string, string];
            if (!namespacesInInput.has(ns) || known(ns, sa)) return;
            findings.push(
              findingAt(policy, encodePointer(['spec', 'rules', i, 'from', j, 'source', field, k]), 'DT2001', `service account ${ns}/${sa} is not declared by any ServiceAccount manifest in the input`),
            );
          });
        }
      }),
    );
  }
  return findings;
}

function mtlsModes(docs: LoadedDocument[], options: CrossRefOptions): Finding[] {
  const findings: Finding[] = [];
  for (const pa of docs.filter((d) => isKind(d, 'security.istio.io', 'PeerAuthentication'))) {
    const spec = obj(at(pa.body, 'spec')) ?? {};
    const mode = str(at(spec, 'mtls', 'mode')) ?? 'UNSET';
    const meshWide = pa.namespace === options.meshRootNamespace && spec.selector === undefined;
    const mustBeStrict = pa.namespace !== undefined && options.strictMtlsNamespaces.includes(pa.namespace);
    if (meshWide && mode !== 'STRICT') {
      findings.push(findingAt(pa, '/spec/mtls/mode', 'DT2002', `the mesh-wide PeerAuthentication (${options.meshRootNamespace}, no selector) must be STRICT, is ${mode}${mode === 'UNSET' ? ' (PERMISSIVE)' : ''}`));
    } else if (mode === 'PERMISSIVE' || mode === 'DISABLE') {
      findings.push(
        findingAt(pa, '/spec/mtls/mode', 'DT2002', `mTLS mode ${mode} in namespace ${pa.namespace ?? '(unset)'}${mustBeStrict ? ', which must be STRICT' : ''}`, mustBeStrict ? 'error' : 'warning'),
      );
    }
    for (const [port, setting] of Object.entries(obj(spec.portLevelMtls) ?? {})) {
      const portMode = str(at(setting, 'mode'));
      if (portMode === 'PERMISSIVE' || portMode === 'DISABLE') {
        findings.push(
          findingAt(pa, encodePointer(['spec', 'portLevelMtls', port, 'mode']), 'DT2002', `port ${port} uses mTLS mode ${portMode}`, mustBeStrict || meshWide ? 'error' : 'warning'),
        );
      }
    }
  }
  return findings;
}

/** All cross-reference findings for the documents of one run. */
export function checkCrossReferences(docs: LoadedDocument[], options: CrossRefOptions): Finding[] {
  const vss = docs.filter(isVirtualService);
  const rules = docs.filter(isDestinationRule);
  const gateways = docs.filter((d) => d.kind === 'Gateway' && /^(networking\.istio\.io|gateway\.networking\.k8s\.io)\//.test(d.apiVersion ?? ''));
  const workloads = docs.filter((d) => WORKLOAD_KINDS.has(d.kind ?? ''));
  const services = docs.filter((d) => d.kind === 'Service' && d.apiVersion === 'v1');
  return [
    ...subsetReferences(vss, rules),
    ...gatewayReferences(vss, gateways),
    ...conflictingHosts(vss),
    ...subsetsSelectPods(rules, workloads, services),
    ...principalReferences(docs, options),
    ...mtlsModes(docs, options),
  ];
}
