// gateway.IngressGatewayPortAnalyzer: the pods a Gateway selects exist (IST0101 selector), and each
// server port is a TCP port of a Service that selects those pods (IST0162).
import { arr, at, labels } from '../shape.js';
import type { Finding } from '../types.js';
import { K, report, selectorMatches, selectorString, type AnalyzerContext, type Resource } from './context.js';
import { gatewayPods, gatewaySelector, selectorNotFound } from './gateway-util.js';
import type { Analyzer } from './types.js';

function analyzeGateway(ctx: AnalyzerContext, gw: Resource): Finding[] {
  const pods = gatewayPods(ctx, gw);
  if (pods.length === 0) return selectorNotFound(gw);
  const servicePorts = new Set<number>();
  for (const pod of pods) {
    for (const svc of ctx.services) {
      if (svc.namespace !== pod.namespace) continue;
      const selector = labels(svc.spec.selector);
      if (!selectorMatches(selector, pod.labels)) continue;
      for (const p of arr(svc.spec.ports)) {
        const protocol = at(p, 'protocol') ?? 'TCP';
        const port = at(p, 'port');
        if (protocol === 'TCP' && typeof port === 'number') servicePorts.add(port);
      }
    }
  }
  const selector = gatewaySelector(gw);
  return arr(gw.spec.servers).flatMap((server, i) => {
    const port = at(server, 'port', 'number');
    if (typeof port !== 'number' || servicePorts.has(port)) return [];
    return [
      report(
        gw,
        'IST0162',
        `The gateway is listening on a target port (port ${port}) that is not defined in the Service associated with its workload instances (Pod selector ${selectorString(selector)}). If you need to access the gateway port through the gateway Service, it will not be available.`,
        { pointer: `/spec/servers/${i}/port/number` },
      ),
    ];
  });
}

export const ingressGatewayPortAnalyzer: Analyzer = {
  name: 'gateway.IngressGatewayPortAnalyzer',
  codes: ['IST0101', 'IST0162'],
  analyze: (ctx) => ctx.of(K.Gateway).flatMap((gw) => analyzeGateway(ctx, gw)),
};
