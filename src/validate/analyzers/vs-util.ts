// VirtualService traversal shared by the VirtualService analyzers: route and mirror destinations
// with their JSON pointers, and the gateways a VirtualService binds to.
import { encodePointer } from '../load.js';
import { arr, at, obj, str, strings } from '../shape.js';
import type { Resource } from './context.js';

export interface RouteDestination {
  host: string;
  subset?: string;
  port?: number;
  /** Pointer to destination.host. */
  pointer: string;
  mirror: boolean;
}

function destination(d: unknown, path: (string | number)[], mirror: boolean): RouteDestination[] {
  const host = str(at(d, 'host'));
  if (host === undefined) return [];
  const subset = str(at(d, 'subset'));
  const port = at(d, 'port', 'number');
  return [{ host, ...(subset ? { subset } : {}), ...(typeof port === 'number' ? { port } : {}), pointer: encodePointer([...path, 'host']), mirror }];
}

/** getRouteDestinations: every http / tcp / tls route destination. */
export function routeDestinations(vs: Resource): RouteDestination[] {
  const out: RouteDestination[] = [];
  for (const protocol of ['http', 'tcp', 'tls']) {
    arr(vs.spec[protocol]).forEach((rule, i) =>
      arr(at(rule, 'route')).forEach((r, j) => out.push(...destination(at(r, 'destination'), ['spec', protocol, i, 'route', j, 'destination'], false))),
    );
  }
  return out;
}

/** getHTTPMirrorDestinations: http mirror and mirrors[]. */
export function mirrorDestinations(vs: Resource): RouteDestination[] {
  const out: RouteDestination[] = [];
  arr(vs.spec.http).forEach((rule, i) => {
    if (obj(at(rule, 'mirror'))) out.push(...destination(at(rule, 'mirror'), ['spec', 'http', i, 'mirror'], true));
    arr(at(rule, 'mirrors')).forEach((m, k) => out.push(...destination(at(m, 'destination'), ['spec', 'http', i, 'mirrors', k, 'destination'], true)));
  });
  return out;
}

export function vsGateways(vs: Resource): string[] {
  return strings(vs.spec.gateways);
}

export function vsHosts(vs: Resource): string[] {
  return strings(vs.spec.hosts);
}

/** resource.NewShortOrFullName: "ns/name" or a name in the VirtualService's namespace. */
export function gatewayRef(ref: string, namespace: string): { namespace: string; name: string } {
  const slash = ref.indexOf('/');
  if (slash >= 0) return { namespace: ref.slice(0, slash), name: ref.slice(slash + 1) };
  return { namespace, name: ref };
}
