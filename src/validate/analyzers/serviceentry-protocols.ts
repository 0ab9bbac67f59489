// serviceentry.ConflictingServiceEntryProtocolAnalyzer: ServiceEntries visible in the same scope that
// define the same host and port with different protocols (IST0177), each reported once.
import { arr, at, str, strings } from '../shape.js';
import type { Finding } from '../types.js';
import { K, exportScopes, fullName, report, type Resource } from './context.js';
import type { Analyzer } from './types.js';

export const conflictingServiceEntryProtocolAnalyzer: Analyzer = {
  name: 'serviceentry.ConflictingServiceEntryProtocolAnalyzer',
  codes: ['IST0177'],
  analyze(ctx) {
    const index = new Map<string, { scope: string; host: string; port: number; entries: { protocol: string; se: Resource }[] }>();
    for (const se of ctx.of(K.ServiceEntry)) {
      for (const scope of exportScopes(se.spec.exportTo, se.namespace)) {
        for (const host of strings(se.spec.hosts)) {
          for (const p of arr(se.spec.ports)) {
            const port = at(p, 'number');
            if (typeof port !== 'number') continue;
            const key = `${scope}|${host}|${port}`;
            const entry = index.get(key) ?? { scope, host, port, entries: [] };
            entry.entries.push({ protocol: str(at(p, 'protocol')) ?? '', se });
            index.set(key, entry);
          }
        }
      }
    }
    const reported = new Set<Resource>();
    const findings: Finding[] = [];
    for (const { scope, host, port, entries: own } of index.values()) {
      const entries = scope === '*' ? own : [...own, ...(index.get(`*|${host}|${port}`)?.entries ?? [])];
      const protocols = [...new Set(entries.map((e) => e.protocol.toUpperCase()))].sort();
      if (protocols.length < 2) continue;
      const names = [...new Set(entries.map((e) => fullName(e.se)))].sort().join(', ');
      for (const { se } of entries) {
        if (reported.has(se)) continue;
        reported.add(se);
        findings.push(
          report(se, 'IST0177', `ServiceEntries ${names} define host ${host} port ${port} with conflicting protocols: ${protocols.join(', ')}. Traffic to this host and port may be handled with the wrong protocol.`),
        );
      }
    }
    return findings;
  },
};
