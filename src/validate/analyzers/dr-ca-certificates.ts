// destinationrule.CaCertificateAnalyzer: TLS SIMPLE / MUTUAL without caCertificates leaves the server
// unverified, at the destination level (IST0128) or per port (IST0129). A credentialName on a
// DestinationRule with a workloadSelector carries its own CA, as in Istio.
import { arr, at, obj, str } from '../shape.js';
import { K, fullName, report } from './context.js';
import type { Analyzer } from './types.js';

function unverified(tls: unknown, hasSelector: boolean): string | undefined {
  const mode = str(at(tls, 'mode'));
  if (mode !== 'SIMPLE' && mode !== 'MUTUAL') return undefined;
  if ((str(at(tls, 'caCertificates')) ?? '') !== '') return undefined;
  if (hasSelector && (str(at(tls, 'credentialName')) ?? '') !== '') return undefined;
  return mode;
}

export const caCertificateAnalyzer: Analyzer = {
  name: 'destinationrule.CaCertificateAnalyzer',
  codes: ['IST0128', 'IST0129'],
  analyze: (ctx) =>
    ctx.of(K.DestinationRule).flatMap((dr) => {
      const host = str(dr.spec.host) ?? '';
      const hasSelector = obj(dr.spec.workloadSelector) !== undefined;
      const findings = [];
      const mode = unverified(at(dr.spec, 'trafficPolicy', 'tls'), hasSelector);
      if (mode) {
        findings.push(
          report(dr, 'IST0128', `DestinationRule ${fullName(dr)} in namespace ${dr.namespace} has TLS mode set to ${mode} but no caCertificates are set to validate server identity for host: ${host}`, {
            pointer: '/spec/trafficPolicy/tls/mode',
          }),
        );
      }
      arr(at(dr.spec, 'trafficPolicy', 'portLevelSettings')).forEach((p, i) => {
        const portMode = unverified(at(p, 'tls'), hasSelector);
        if (!portMode) return;
        const port = at(p, 'port', 'number');
        findings.push(
          report(
            dr,
            'IST0129',
            `DestinationRule ${fullName(dr)} in namespace ${dr.namespace} has TLS mode set to ${portMode} but no caCertificates are set to validate server identity for host: ${host} at port number:${String(port)}`,
            { pointer: `/spec/trafficPolicy/portLevelSettings/${i}/tls/mode` },
          ),
        );
      });
      return findings;
    }),
};
