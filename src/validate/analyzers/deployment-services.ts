// deployment.MultiServiceAnalyzer: for each in-mesh Deployment, the Services selecting its pods must
// not use one port number with different protocols (IST0116) nor one targetPort behind different
// ports (IST0137).
import { arr, at, labels, str } from '../shape.js';
import type { Finding } from '../types.js';
import { K, fullName, goList, inMesh, report, selectorMatches, type AnalyzerContext, type Resource, type Workload } from './context.js';
import type { Analyzer } from './types.js';

function matchingServices(ctx: AnalyzerContext, w: Workload): Resource[] {
  return ctx.of(K.Service).filter((svc) => {
    const selector = labels(svc.spec.selector);
    return Object.keys(selector).length > 0 && svc.namespace === w.namespace && selectorMatches(selector, w.labels);
  });
}

function analyzeDeployment(ctx: AnalyzerContext, w: Workload): Finding[] {
  const services = matchingServices(ctx, w);
  const findings: Finding[] = [];
  const byPort = new Map<number, Map<string, string[]>>();
  const byTarget = new Map<string, Map<number, string>>();
  for (const svc of services) {
    for (const p of arr(svc.spec.ports)) {
      const port = at(p, 'port');
      if (typeof port !== 'number') continue;
      const protocol = str(at(p, 'protocol')) ?? 'TCP';
      const protocols = byPort.get(port) ?? new Map<string, string[]>();
      protocols.set(protocol, [...(protocols.get(protocol) ?? []), fullName(svc)]);
      byPort.set(port, protocols);
      const target = at(p, 'targetPort');
      const tp = typeof target === 'number' && target !== 0 ? String(target) : typeof target === 'string' && target !== '' ? target : String(port);
      const ports = byTarget.get(tp) ?? new Map<number, string>();
      ports.set(port, fullName(svc));
      byTarget.set(tp, ports);
    }
  }
  for (const [port, protocols] of byPort) {
    if (protocols.size < 2) continue;
    const names = [...protocols.values()].flat().sort();
    findings.push(report(w.resource, 'IST0116', `This deployment ${w.name} is associated with multiple services using port ${port} but different protocols: ${goList(names)}`));
  }
  for (const [target, ports] of byTarget) {
    if (ports.size < 2) continue;
    const names = [...ports.values()].sort();
    const numbers = [...ports.keys()].sort((a, b) => a - b);
    findings.push(
      report(w.resource, 'IST0137', `This deployment ${w.name} is associated with multiple services ${goList(names)} using targetPort ${JSON.stringify(target)} but different ports: ${goList(numbers)}.`),
    );
  }
  return findings;
}

export const serviceAssociationAnalyzer: Analyzer = {
  name: 'deployment.MultiServiceAnalyzer',
  codes: ['IST0116', 'IST0137'],
  analyze: (ctx) =>
    ctx.workloads
      .filter((w) => w.resource.kind === 'Deployment' && w.resource.group === 'apps' && w.resource.labels['gateway.istio.io/managed'] !== 'istio.io-mesh-controller' && inMesh(ctx, w))
      .flatMap((w) => analyzeDeployment(ctx, w)),
};
