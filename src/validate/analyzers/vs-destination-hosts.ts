// virtualservice.DestinationHostAnalyzer: every route and mirror destination host is a Service or
// ServiceEntry (IST0101), its port exists (IST0101 host:port) or is named when the service has several
// (IST0112), and gateway routes to a host that others split by subset are flagged (IST0140).
// The files are only part of the cluster: a host missing from a namespace the files do not describe
// is a warning, and nothing is reported when the files hold no Service or ServiceEntry at all.
import { arr, at, str, strings } from '../shape.js';
import type { Finding, Severity } from '../types.js';
import { K, fullName, goList, namespaceOfHost, notFound, report, toFqdn, type AnalyzerContext, type Resource } from './context.js';
import type { Analyzer } from './types.js';
import { mirrorDestinations, routeDestinations, type RouteDestination } from './vs-util.js';
import { encodePointer } from '../load.js';

/** Error when the files describe the namespace the host lives in, else warning (the cluster may hold it). */
export function lookupSeverity(ctx: AnalyzerContext, host: string, fromNamespace: string): Severity {
  const fqdn = toFqdn(host, fromNamespace);
  const ns = namespaceOfHost(fqdn);
  if (ns !== undefined) return ctx.namespaceModelled(ns) ? 'error' : 'warning';
  return ctx.of(K.ServiceEntry).length > 0 ? 'error' : 'warning';
}

function checkDestination(ctx: AnalyzerContext, vs: Resource, d: RouteDestination): Finding[] {
  const exportTo = strings(vs.spec.exportTo);
  const service = ctx.serviceHosts.lookup(d.host, vs.namespace, exportTo);
  if (!service) {
    return [report(vs, 'IST0101', notFound(d.mirror ? 'mirror host' : 'host', d.host), { pointer: d.pointer, severity: lookupSeverity(ctx, d.host, vs.namespace) })];
  }
  if (d.port === undefined) {
    if (service.ports.length > 1) {
      return [
        report(
          vs,
          'IST0112',
          `This VirtualService routes to a service ${JSON.stringify(d.host)} that exposes multiple ports ${goList(service.ports.map((p) => p.number))}. Specifying a port in the destination is required to disambiguate.`,
          { pointer: d.pointer },
        ),
      ];
    }
    return [];
  }
  if (service.ports.some((p) => p.number === d.port)) return [];
  return [report(vs, 'IST0101', notFound('host:port', `${d.host}:${d.port}`), { pointer: d.pointer })];
}

/** analyzeSubset: a gateway-bound route without subset, to a host another VirtualService splits by subset. */
function ingressSubsets(ctx: AnalyzerContext, vs: Resource, subsetRouted: Map<Resource, Set<string>>): Finding[] {
  if (strings(vs.spec.gateways).length === 0) return [];
  const findings: Finding[] = [];
  arr(vs.spec.http).forEach((rule, i) =>
    arr(at(rule, 'route')).forEach((r, j) => {
      const host = str(at(r, 'destination', 'host'));
      if (host === undefined || (str(at(r, 'destination', 'subset')) ?? '') !== '') return;
      for (const [other, hosts] of subsetRouted) {
        if (!hosts.has(host)) continue;
        findings.push(
          report(vs, 'IST0140', `Subset in virtual service ${fullName(other)} has no effect on ingress gateway ${fullName(vs)} requests`, {
            pointer: encodePointer(['spec', 'http', i, 'route', j, 'destination', 'host']),
          }),
        );
      }
    }),
  );
  return findings;
}

/** initVirtualServiceDestinations: per VirtualService, the subset-routed destination hosts that are also its own hosts. */
function subsetRoutedHosts(vss: Resource[]): Map<Resource, Set<string>> {
  const out = new Map<Resource, Set<string>>();
  for (const vs of vss) {
    const own = strings(vs.spec.hosts);
    for (const rule of arr(vs.spec.http)) {
      for (const r of arr(at(rule, 'route'))) {
        const host = str(at(r, 'destination', 'host'));
        if (host === undefined || (str(at(r, 'destination', 'subset')) ?? '') === '' || !own.includes(host)) continue;
        out.set(vs, new Set([...(out.get(vs) ?? []), host]));
      }
    }
  }
  return out;
}

export const destinationHostAnalyzer: Analyzer = {
  name: 'virtualservice.DestinationHostAnalyzer',
  codes: ['IST0101', 'IST0112', 'IST0140'],
  analyze(ctx) {
    const vss = ctx.of(K.VirtualService);
    const subsetRouted = subsetRoutedHosts(vss);
    return vss.flatMap((vs) => [
      ...(ctx.hasServiceRegistry ? [...routeDestinations(vs), ...mirrorDestinations(vs)].flatMap((d) => checkDestination(ctx, vs, d)) : []),
      ...ingressSubsets(ctx, vs, subsetRouted),
    ]);
  },
};
