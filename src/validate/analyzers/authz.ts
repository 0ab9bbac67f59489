// auth.AuthorizationPoliciesAnalyzer: a policy's selector matches an in-mesh pod (in its namespace,
// or anywhere for the root namespace), a namespace-wide policy has in-mesh pods to apply to
// (IST0127, a warning), and the namespaces its sources name exist (IST0101 namespace). Pods are those
// the files describe: IST0127 needs the files to hold some; namespaces need Namespace manifests.
import { arr, at, labels, obj, strings } from '../shape.js';
import type { Finding } from '../types.js';
import { K, inMesh, notFound, report, selectorMatches, selectorString, type AnalyzerContext, type Resource } from './context.js';
import type { Analyzer } from './types.js';

function namespaceMatch(ns: string, exp: string): boolean {
  if (exp === '*') return true;
  if (exp.startsWith('*')) return ns.endsWith(exp.slice(1));
  if (exp.endsWith('*')) return ns.startsWith(exp.slice(0, -1));
  return ns.toLowerCase() === exp.toLowerCase();
}

function noMatchingWorkloads(ctx: AnalyzerContext, ap: Resource): Finding[] {
  const selector = obj(ap.spec.selector) ? labels(at(ap.spec, 'selector', 'matchLabels')) : undefined;
  const pods = ctx.workloads.filter((w) => inMesh(ctx, w));
  if (ap.namespace === ctx.options.meshRootNamespace) {
    if (selector === undefined || pods.some((p) => selectorMatches(selector, p.labels)) || !ctx.hasWorkloads) return [];
    return [report(ap, 'IST0127', `No matching workloads for this resource with the following labels: ${selectorString(selector)}`, { pointer: '/spec/selector' })];
  }
  // Pods come only from the files: without any, nothing can be said about workloads.
  if (!ctx.hasWorkloads) return [];
  const local = pods.filter((p) => p.namespace === ap.namespace);
  if (selector === undefined) {
    return local.length === 0 ? [report(ap, 'IST0127', 'No matching workloads for this resource with the following labels: ')] : [];
  }
  if (local.some((p) => selectorMatches(selector, p.labels))) return [];
  return [report(ap, 'IST0127', `No matching workloads for this resource with the following labels: ${selectorString(selector)}`, { pointer: '/spec/selector' })];
}

function namespacesNotFound(ctx: AnalyzerContext, ap: Resource): Finding[] {
  const declared = ctx.of(K.Namespace).map((n) => n.name);
  const findings: Finding[] = [];
  arr(ap.spec.rules).forEach((rule, i) =>
    arr(at(rule, 'from')).forEach((from, j) => {
      for (const field of ['namespaces', 'notNamespaces']) {
        strings(at(from, 'source', field)).forEach((ns, k) => {
          if (declared.some((d) => namespaceMatch(d, ns))) return;
          // Without Namespace manifests the files cannot say; a namespace other resources live in exists.
          if (declared.length === 0 || (!ns.includes('*') && ctx.namespaceModelled(ns))) return;
          findings.push(report(ap, 'IST0101', notFound('namespace', ns), { pointer: `/spec/rules/${i}/from/${j}/source/${field}/${k}` }));
        });
      }
    }),
  );
  return findings;
}

export const authorizationPoliciesAnalyzer: Analyzer = {
  name: 'auth.AuthorizationPoliciesAnalyzer',
  codes: ['IST0101', 'IST0127'],
  analyze: (ctx) => ctx.of(K.AuthorizationPolicy).flatMap((ap) => [...noMatchingWorkloads(ctx, ap), ...namespacesNotFound(ctx, ap)]),
};
