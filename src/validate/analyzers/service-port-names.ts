// service.PortNameAnalyzer: a Service port's name (or appProtocol) names a protocol Istio knows
// (IST0118, Info); on an ExternalName Service an unknown or "tcp" name is a warning (IST0150).
// System namespaces and Istio's own Services are skipped.
import { arr, at, str } from '../shape.js';
import { K, report } from './context.js';
import type { Analyzer } from './types.js';

const SYSTEM_NAMESPACES = new Set(['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']);
const PROTOCOLS = new Set(['tcp', 'udp', 'sctp', 'grpc', 'grpc-web', 'http', 'http_proxy', 'http2', 'https', 'tls', 'mongo', 'redis', 'mysql', 'hbone', 'triple']);

/** kube.ConvertProtocol: is the port's protocol supported? */
export function portProtocolKnown(name: string, protocol: string | undefined, appProtocol: string | undefined): boolean {
  if (protocol === 'UDP' || protocol === 'SCTP') return true;
  if (appProtocol !== undefined) {
    if (['kubernetes.io/h2c', 'kubernetes.io/ws', 'kubernetes.io/wss'].includes(appProtocol)) return true;
    if (PROTOCOLS.has(appProtocol.toLowerCase())) return true;
  }
  if (name === 'grpc-web' || name.startsWith('grpc-web-')) return true;
  const prefix = name.split('-')[0] ?? '';
  return PROTOCOLS.has(prefix.toLowerCase());
}

export const portNameAnalyzer: Analyzer = {
  name: 'service.PortNameAnalyzer',
  codes: ['IST0118', 'IST0150'],
  analyze: (ctx) =>
    ctx.of(K.Service).flatMap((svc) => {
      if (SYSTEM_NAMESPACES.has(svc.namespace) || 'istio' in svc.labels || svc.labels.release === 'istio') return [];
      const externalName = svc.spec.type === 'ExternalName';
      return arr(svc.spec.ports).flatMap((p, i) => {
        const name = str(at(p, 'name')) ?? '';
        const known = portProtocolKnown(name, str(at(p, 'protocol')), str(at(p, 'appProtocol')));
        if (known && !(name === 'tcp' && externalName)) return [];
        const pointer = `/spec/ports/${i}`;
        if (externalName) {
          return [
            report(svc, 'IST0150', 'Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly', { pointer }),
          ];
        }
        const port = at(p, 'port');
        const target = at(p, 'targetPort');
        return [
          report(svc, 'IST0118', `Port name ${name} (port: ${String(port)}, targetPort: ${typeof target === 'number' || typeof target === 'string' ? String(target) : '0'}) doesn't follow the naming convention of Istio port.`, { pointer }),
        ];
      });
    }),
};
