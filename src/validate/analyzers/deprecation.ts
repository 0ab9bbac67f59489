// deprecation.DeprecationAnalyzer: fields Istio has deprecated (HTTPRoute fault.delay.percent,
// Sidecar outboundTrafficPolicy.egressProxy) and Istio CRDs that were removed (IST0002).
import { arr, at } from '../shape.js';
import { K, report } from './context.js';
import type { Analyzer } from './types.js';

const REMOVED_CRDS = ['ClusterRbacConfig', 'RbacConfig', 'ServiceRole', 'ServiceRoleBinding'];

export const fieldDeprecationAnalyzer: Analyzer = {
  name: 'deprecation.DeprecationAnalyzer',
  codes: ['IST0002'],
  analyze: (ctx) => [
    ...ctx.of(K.VirtualService).flatMap((vs) =>
      arr(vs.spec.http).flatMap((rule, i) => {
        const percent = at(rule, 'fault', 'delay', 'percent');
        if (typeof percent !== 'number' || percent <= 0) return [];
        return [
          report(vs, 'IST0002', 'Deprecated: HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage', { pointer: `/spec/http/${i}/fault/delay/percent` }),
        ];
      }),
    ),
    ...ctx.of(K.Sidecar).flatMap((sc) =>
      at(sc.spec, 'outboundTrafficPolicy', 'egressProxy') === undefined
        ? []
        : [report(sc, 'IST0002', 'Deprecated: OutboundTrafficPolicy.EgressProxy ignored', { pointer: '/spec/outboundTrafficPolicy/egressProxy' })],
    ),
    ...ctx.resources
      .filter((r) => r.group === 'apiextensions.k8s.io' && r.kind === 'CustomResourceDefinition' && at(r.spec, 'group') === 'rbac.istio.io' && REMOVED_CRDS.includes(String(at(r.spec, 'names', 'kind'))))
      .map((r) => report(r, 'IST0002', `Deprecated: Custom resource type rbac.istio.io ${String(at(r.spec, 'names', 'kind'))} is removed`)),
    ...ctx.resources
      .filter((r) => r.group === 'rbac.istio.io')
      .map((r) => report(r, 'IST0002', `Deprecated: Custom resource type "rbac.istio.io/${r.doc.apiVersion?.split('/')[1] ?? ''}/${r.kind}" is deprecated`)),
  ],
};
