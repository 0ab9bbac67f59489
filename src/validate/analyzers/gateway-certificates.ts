// gateway.CertificateAnalyzer: two Gateways on overlapping workloads (the other's selector contains
// this one's) serving the same certificate: credentialName, or serverCertificate plus privateKey (IST0138).
import { arr, at, str } from '../shape.js';
import { K, fullName, goList, report } from './context.js';
import { gatewaySelector } from './gateway-util.js';
import type { Analyzer } from './types.js';

function sameCertificate(a: unknown, b: unknown): boolean {
  const cn = (t: unknown) => str(at(t, 'credentialName')) ?? '';
  if (cn(a) !== '' && cn(b) !== '') return cn(a) === cn(b);
  if (cn(a) !== '' || cn(b) !== '') return false;
  const cert = (t: unknown) => str(at(t, 'serverCertificate')) ?? '';
  const key = (t: unknown) => str(at(t, 'privateKey')) ?? '';
  return cert(a) !== '' && cert(a) === cert(b) && key(a) !== '' && key(a) === key(b);
}

function selectorSubset(x: Record<string, string>, y: Record<string, string>): boolean {
  return Object.entries(x).every(([k, v]) => y[k] === v);
}

export const certificateAnalyzer: Analyzer = {
  name: 'gateway.CertificateAnalyzer',
  codes: ['IST0138'],
  analyze(ctx) {
    const gateways = ctx.of(K.Gateway);
    return gateways.flatMap((gw) => {
      const selector = gatewaySelector(gw);
      const findings = [];
      for (const other of gateways) {
        if (other === gw || !selectorSubset(selector, gatewaySelector(other))) continue;
        let duplicate = false;
        for (const s of arr(gw.spec.servers)) {
          for (const o of arr(other.spec.servers)) {
            if (at(s, 'tls') !== undefined && at(o, 'tls') !== undefined && sameCertificate(at(s, 'tls'), at(o, 'tls'))) duplicate = true;
          }
        }
        if (duplicate) {
          findings.push(
            report(gw, 'IST0138', `Duplicate certificate in multiple gateways ${goList([fullName(gw), fullName(other)])} may cause 404s if clients re-use HTTP2 connections.`),
          );
        }
      }
      return findings;
    });
  },
};
