// virtualservice.ConflictingMeshGatewayHostsAnalyzer: two VirtualServices bound to the mesh gateway
// (no gateways, or "mesh") defining the same host in the same exportTo scope (IST0109).
import { strings } from '../shape.js';
import { K, exportScopes, fullName, report, toFqdn, type Resource } from './context.js';
import type { Analyzer } from './types.js';

export const conflictingMeshGatewayHostsAnalyzer: Analyzer = {
  name: 'virtualservice.ConflictingMeshGatewayHostsAnalyzer',
  codes: ['IST0109'],
  analyze(ctx) {
    const groups = new Map<string, { vs: Resource; index: number }[]>();
    for (const vs of ctx.of(K.VirtualService)) {
      const gateways = strings(vs.spec.gateways);
      if (gateways.length > 0 && !gateways.includes('mesh')) continue;
      for (const scope of exportScopes(vs.spec.exportTo, vs.namespace)) {
        strings(vs.spec.hosts).forEach((host, index) => {
          const key = `${scope}/${toFqdn(host, vs.namespace)}`;
          const group = groups.get(key) ?? [];
          if (!group.some((g) => g.vs === vs)) groups.set(key, [...group, { vs, index }]);
        });
      }
    }
    return [...groups].flatMap(([key, list]) => {
      if (list.length < 2) return [];
      const names = list.map((g) => fullName(g.vs)).join(',');
      return list.map(({ vs, index }) =>
        report(
          vs,
          'IST0109',
          `The VirtualServices ${names} associated with mesh gateway define the same host ${key} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.`,
          { pointer: `/spec/hosts/${index}` },
        ),
      );
    });
  },
};
