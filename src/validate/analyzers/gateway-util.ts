// Shared by the Gateway analyzers: a Gateway's selector, the pods it selects (the files' plus
// istioctl's default ingress gateway pod), and the finding for a selector that selects none.
import { labels } from '../shape.js';
import type { Finding } from '../types.js';
import { notFound, report, selectorMatches, selectorPointer, selectorString, type AnalyzerContext, type Resource, type Workload } from './context.js';

export function gatewaySelector(gw: Resource): Record<string, string> {
  return labels(gw.spec.selector);
}

export function gatewayPods(ctx: AnalyzerContext, gw: Resource): Workload[] {
  const selector = gatewaySelector(gw);
  return ctx.workloads.filter((w) => selectorMatches(selector, w.labels));
}

/** IST0101 "selector" for a Gateway whose selector matches no pod; a warning, the cluster may hold it. */
export function selectorNotFound(gw: Resource): Finding[] {
  const selector = gatewaySelector(gw);
  return [report(gw, 'IST0101', notFound('selector', selectorString(selector)), { pointer: selectorPointer('/spec/selector', selector), severity: 'warning' })];
}

