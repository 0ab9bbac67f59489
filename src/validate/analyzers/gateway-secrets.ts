// gateway.SecretAnalyzer: a TLS server's credentialName names a Secret in the namespace of the
// gateway's pods (IST0101 credentialName); a cert-manager Certificate that writes that Secret counts.
// Only checked when the files hold the gateway's pods; an error when they hold Secrets or
// Certificates for that namespace, else a warning (the Secret may be made by hand).
import { arr, at, str } from '../shape.js';
import type { Finding } from '../types.js';
import { K, notFound, report, type AnalyzerContext, type Resource } from './context.js';
import { gatewayPods, selectorNotFound } from './gateway-util.js';
import type { Analyzer } from './types.js';

function analyzeGateway(ctx: AnalyzerContext, gw: Resource): Finding[] {
  const pod = gatewayPods(ctx, gw)[0];
  if (!pod) return selectorNotFound(gw);
  const ns = pod.namespace;
  const secrets = ctx.of(K.Secret).filter((s) => s.namespace === ns);
  const certificates = ctx.of(K.Certificate).filter((c) => c.namespace === ns);
  const exists = (name: string) => secrets.some((s) => s.name === name) || certificates.some((c) => str(c.spec.secretName) === name);
  return arr(gw.spec.servers).flatMap((server, i) => {
    const cn = str(at(server, 'tls', 'credentialName')) ?? '';
    if (cn === '') return [];
    const slash = cn.indexOf('/');
    const name = slash >= 0 ? cn.slice(slash + 1) : cn;
    const inNs = slash >= 0 ? cn.slice(0, slash) : ns;
    if (inNs === ns ? exists(name) : ctx.find(K.Secret, inNs, name)) return [];
    const severity = secrets.length + certificates.length > 0 ? 'error' : 'warning';
    return [report(gw, 'IST0101', notFound('credentialName', cn), { pointer: `/spec/servers/${i}/tls/credentialName`, severity })];
  });
}

export const secretAnalyzer: Analyzer = {
  name: 'gateway.SecretAnalyzer',
  codes: ['IST0101'],
  analyze: (ctx) => ctx.of(K.Gateway).flatMap((gw) => analyzeGateway(ctx, gw)),
};
