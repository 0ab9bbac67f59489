// serviceentry.Analyzer: a ServiceEntry without addresses needs them for each TCP (or protocol-less)
// port (IST0134), unless DNS auto-allocation is on; the files carry no MeshConfig, so it is taken as off.
import { arr, at, str } from '../shape.js';
import { K, report } from './context.js';
import type { Analyzer } from './types.js';

export const protocolAddressesAnalyzer: Analyzer = {
  name: 'serviceentry.Analyzer',
  codes: ['IST0134'],
  analyze: (ctx) =>
    ctx.of(K.ServiceEntry).flatMap((se) => {
      if (se.spec.addresses !== undefined && se.spec.addresses !== null) return [];
      return arr(se.spec.ports).flatMap((port, i) => {
        const protocol = (str(at(port, 'protocol')) ?? '').toUpperCase();
        if (protocol !== '' && protocol !== 'TCP') return [];
        return [report(se, 'IST0134', 'ServiceEntry addresses are required for this protocol.', { pointer: `/spec/ports/${i}` })];
      });
    }),
};
