// gateway.ConflictingGatewayAnalyzer: two Gateways with the same selector and the same server port
// whose hosts overlap (IST0145). Selectors are compared as strings, as Istio does.
import { arr, at, strings } from '../shape.js';
import { K, fullName, hostMatches, report, selectorString, type Resource } from './context.js';
import { gatewaySelector } from './gateway-util.js';
import type { Analyzer } from './types.js';

export const conflictingGatewayAnalyzer: Analyzer = {
  name: 'gateway.ConflictingGatewayAnalyzer',
  codes: ['IST0145'],
  analyze(ctx) {
    const gateways = ctx.of(K.Gateway);
    // selector~port -> gateway -> hosts (the last server on that port wins, as in Istio)
    const byKey = new Map<string, Map<Resource, string[]>>();
    for (const gw of gateways) {
      const selector = selectorString(gatewaySelector(gw));
      for (const server of arr(gw.spec.servers)) {
        const port = at(server, 'port', 'number');
        if (typeof port !== 'number') continue;
        const key = `${selector}~${port}`;
        const entry = byKey.get(key) ?? new Map<Resource, string[]>();
        entry.set(gw, strings(at(server, 'hosts')));
        byKey.set(key, entry);
      }
    }
    return gateways.flatMap((gw) => {
      const selector = selectorString(gatewaySelector(gw));
      return arr(gw.spec.servers).flatMap((server, i) => {
        const port = at(server, 'port', 'number');
        if (typeof port !== 'number') return [];
        const hosts = strings(at(server, 'hosts'));
        const conflicting: string[] = [];
        for (const [other, otherHosts] of byKey.get(`${selector}~${port}`) ?? []) {
          if (other === gw) continue;
          for (const h of hosts) if (otherHosts.some((o) => hostMatches(h, o))) conflicting.push(fullName(other));
        }
        if (conflicting.length === 0) return [];
        return [
          report(gw, 'IST0145', `Conflict with gateways ${conflicting.join(',')} (workload selector ${selector}, port ${port}, hosts ${hosts.join(',')}).`, {
            pointer: `/spec/servers/${i}/port/number`,
          }),
        ];
      });
    });
  },
};
