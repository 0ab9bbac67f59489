// Checks of our own that need every document of the run at once: AuthorizationPolicy principals and
// PeerAuthentication modes, plus host helpers the CanaryPolicy check shares. Istio's own cross-resource
// checks (subsets, gateways, hosts, selectors) are the analyzers in ./analyzers. Pure.
import { findingAt } from './codes.js';
import { encodePointer } from './load.js';
import { arr, at, obj, str, strings } from './shape.js';
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
  return [
    ...principalReferences(docs, options),
    ...mtlsModes(docs, options),
  ];
}
