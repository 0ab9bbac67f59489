// destinationrule.SubsetSelectPodAnalyzer: a DestinationRule's host is a Service or ServiceEntry
// (IST0174), and each subset's labels (plus the ServiceEntry's workloadSelector) select at least one
// pod (IST0173). Pods are the Pods and pod templates the files hold, with their Node's topology labels.
// Without any Service / ServiceEntry in the files the host is not judged; without pods, the subsets are not.
import { arr, at, labels, str, strings } from '../shape.js';
import { K, report, selectorMatches, type AnalyzerContext, type Workload } from './context.js';
import type { Analyzer } from './types.js';

const TOPOLOGY = ['topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'topology.istio.io/subzone'];

function podLabels(ctx: AnalyzerContext, w: Workload): Record<string, string> {
  if (!w.nodeName) return w.labels;
  const node = ctx.of(K.Node).find((n) => n.name === w.nodeName);
  if (!node) return w.labels;
  const extra: Record<string, string> = { 'kubernetes.io/hostname': w.nodeName };
  // Empty locality labels are not added: Istio does not match on them.
  for (const key of TOPOLOGY) if (node.labels[key]) extra[key] = node.labels[key];
  return { ...w.labels, ...extra };
}

export const podNotSelectedAnalyzer: Analyzer = {
  name: 'destinationrule.SubsetSelectPodAnalyzer',
  codes: ['IST0173', 'IST0174'],
  analyze(ctx) {
    const pods = ctx.workloads.map((w) => podLabels(ctx, w));
    return ctx.of(K.DestinationRule).flatMap((dr) => {
      const host = str(dr.spec.host) ?? '';
      const service = ctx.serviceHosts.lookup(host, dr.namespace, strings(dr.spec.exportTo));
      if (!service && ctx.hasServiceRegistry) {
        return [report(dr, 'IST0174', `The host ${host} defined in the DestinationRule does not match any services in the mesh.`, { pointer: '/spec/host' })];
      }
      // Without any Service in the files the host cannot be judged; its subsets still can.
      if (!ctx.hasWorkloads) return [];
      return arr(dr.spec.subsets).flatMap((subset, i) => {
        const selector = { ...service?.workloadSelector, ...labels(at(subset, 'labels')) };
        if (pods.some((p) => selectorMatches(selector, p))) return [];
        const name = str(at(subset, 'name')) ?? String(i);
        return [report(dr, 'IST0173', `The Subset ${name} defined in the DestinationRule does not select any pods.`, { pointer: `/spec/subsets/${i}/labels` })];
      });
    });
  },
};
