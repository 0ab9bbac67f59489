// sidecar.SelectorAnalyzer and sidecar.DefaultSelectorAnalyzer: a Sidecar's workloadSelector selects
// a pod in its namespace (IST0101 selector, a warning: the cluster may hold it), no pod is selected by
// two Sidecars (IST0110), and at most one Sidecar per namespace has no selector (IST0111).
import { at, labels } from '../shape.js';
import type { Finding } from '../types.js';
import { K, goList, notFound, report, selectorMatches, selectorPointer, selectorString, type Resource } from './context.js';
import type { Analyzer } from './types.js';

export const sidecarSelectorAnalyzer: Analyzer = {
  name: 'sidecar.SelectorAnalyzer',
  codes: ['IST0101', 'IST0110'],
  analyze(ctx) {
    const findings: Finding[] = [];
    const podsToSidecars = new Map<string, { ns: string; pod: string; sidecars: Resource[] }>();
    for (const sc of ctx.of(K.Sidecar)) {
      const selector = labels(at(sc.spec, 'workloadSelector', 'labels'));
      if (Object.keys(selector).length === 0) continue;
      const pods = ctx.workloads.filter((w) => w.namespace === sc.namespace && selectorMatches(selector, w.labels));
      if (pods.length === 0) {
        findings.push(
          report(sc, 'IST0101', notFound('selector', selectorString(selector)), { pointer: selectorPointer('/spec/workloadSelector/labels', selector), severity: 'warning' }),
        );
      }
      for (const pod of pods) {
        const key = `${pod.namespace}/${pod.resource.kind}/${pod.name}`;
        const entry = podsToSidecars.get(key) ?? { ns: pod.namespace, pod: pod.name, sidecars: [] };
        entry.sidecars.push(sc);
        podsToSidecars.set(key, entry);
      }
    }
    for (const { ns, pod, sidecars } of podsToSidecars.values()) {
      if (sidecars.length < 2) continue;
      const names = goList(sidecars.map((s) => s.name));
      for (const sc of sidecars) {
        findings.push(
          report(sc, 'IST0110', `The Sidecars ${names} in namespace ${JSON.stringify(ns)} select the same workload pod ${JSON.stringify(pod)}, which can lead to undefined behavior.`),
        );
      }
    }
    return findings;
  },
};

export const sidecarDefaultSelectorAnalyzer: Analyzer = {
  name: 'sidecar.DefaultSelectorAnalyzer',
  codes: ['IST0111'],
  analyze(ctx) {
    const byNs = new Map<string, Resource[]>();
    for (const sc of ctx.of(K.Sidecar)) {
      if (Object.keys(labels(at(sc.spec, 'workloadSelector', 'labels'))).length > 0) continue;
      byNs.set(sc.namespace, [...(byNs.get(sc.namespace) ?? []), sc]);
    }
    return [...byNs].flatMap(([ns, list]) => {
      if (list.length < 2) return [];
      const names = goList(list.map((s) => s.name));
      return list.map((sc) => report(sc, 'IST0111', `The Sidecars ${names} in namespace ${JSON.stringify(ns)} have no workload selector, which can lead to undefined behavior.`));
    });
  },
};
