// virtualservice.DestinationRuleAnalyzer: a route or mirror destination's subset is defined by a
// DestinationRule for that host (IST0101 "host+subset in destinationrule").
import { arr, at, str } from '../shape.js';
import { K, notFound, report, toFqdn, type Resource } from './context.js';
import type { Analyzer } from './types.js';
import { mirrorDestinations, routeDestinations } from './vs-util.js';

function definedSubsets(rules: Resource[]): Set<string> {
  const out = new Set<string>();
  for (const dr of rules) {
    const host = str(dr.spec.host);
    if (host === undefined) continue;
    const fqdn = toFqdn(host, dr.namespace);
    for (const s of arr(dr.spec.subsets)) {
      const name = str(at(s, 'name'));
      if (name !== undefined) out.add(`${fqdn}|${name}`);
    }
  }
  return out;
}

export const destinationRuleAnalyzer: Analyzer = {
  name: 'virtualservice.DestinationRuleAnalyzer',
  codes: ['IST0101'],
  analyze(ctx) {
    const defined = definedSubsets(ctx.of(K.DestinationRule));
    return ctx.of(K.VirtualService).flatMap((vs) =>
      [...routeDestinations(vs), ...mirrorDestinations(vs)].flatMap((d) => {
        if (d.subset === undefined || defined.has(`${toFqdn(d.host, vs.namespace)}|${d.subset}`)) return [];
        const reftype = d.mirror ? 'mirror+subset in destinationrule' : 'host+subset in destinationrule';
        return [report(vs, 'IST0101', notFound(reftype, `${d.host}+${d.subset}`), { pointer: d.pointer.replace(/\/host$/, '/subset') })];
      }),
    );
  },
};
