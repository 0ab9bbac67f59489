// The registry of Istio analyzers `promoter validate` runs over all documents of a run, and the
// runner: each analyzer is pure; identical findings (Istio de-duplicates them too) are reported once.
import { errorMessage } from '../../errors.js';
import type { Finding, LoadedDocument } from '../types.js';
import { k8sAnnotationsAnalyzer } from './annotations.js';
import { authorizationPoliciesAnalyzer } from './authz.js';
import { createContext, type AnalyzerOptions } from './context.js';
import { serviceAssociationAnalyzer } from './deployment-services.js';
import { fieldDeprecationAnalyzer } from './deprecation.js';
import { caCertificateAnalyzer } from './dr-ca-certificates.js';
import { podNotSelectedAnalyzer } from './dr-pods.js';
import { certificateAnalyzer } from './gateway-certificates.js';
import { conflictingGatewayAnalyzer } from './gateway-conflicts.js';
import { ingressGatewayPortAnalyzer } from './gateway-ports.js';
import { secretAnalyzer } from './gateway-secrets.js';
import { protocolAddressesAnalyzer } from './serviceentry-addresses.js';
import { conflictingServiceEntryProtocolAnalyzer } from './serviceentry-protocols.js';
import { portNameAnalyzer } from './service-port-names.js';
import { sidecarDefaultSelectorAnalyzer, sidecarSelectorAnalyzer } from './sidecar-selectors.js';
import type { Analyzer } from './types.js';
import { conflictingMeshGatewayHostsAnalyzer } from './vs-conflicting-mesh-hosts.js';
import { destinationHostAnalyzer } from './vs-destination-hosts.js';
import { gatewayAnalyzer } from './vs-gateways.js';
import { virtualServiceMatchAnalyzer } from './vs-matches.js';
import { destinationRuleAnalyzer } from './vs-subsets.js';

export type { Analyzer } from './types.js';

export const ANALYZERS: readonly Analyzer[] = [
  k8sAnnotationsAnalyzer,
  authorizationPoliciesAnalyzer,
  serviceAssociationAnalyzer,
  fieldDeprecationAnalyzer,
  caCertificateAnalyzer,
  podNotSelectedAnalyzer,
  certificateAnalyzer,
  conflictingGatewayAnalyzer,
  ingressGatewayPortAnalyzer,
  secretAnalyzer,
  protocolAddressesAnalyzer,
  conflictingServiceEntryProtocolAnalyzer,
  portNameAnalyzer,
  sidecarSelectorAnalyzer,
  sidecarDefaultSelectorAnalyzer,
  conflictingMeshGatewayHostsAnalyzer,
  destinationHostAnalyzer,
  gatewayAnalyzer,
  virtualServiceMatchAnalyzer,
  destinationRuleAnalyzer,
];

/** Runs every analyzer; one that throws is reported (DT0006) and the others still run. */
export function runAnalyzers(docs: LoadedDocument[], options: AnalyzerOptions, analyzers: readonly Analyzer[] = ANALYZERS): Finding[] {
  const ctx = createContext(docs, options);
  const seen = new Set<string>();
  const findings: Finding[] = [];
  for (const analyzer of analyzers) {
    let produced: Finding[];
    try {
      produced = analyzer.analyze(ctx);
    } catch (error) {
      produced = [{ file: docs[0]?.file ?? '', path: '', code: 'DT0006', severity: 'error', message: `analyzer ${analyzer.name} failed: ${errorMessage(error)}` }];
    }
    for (const f of produced) {
      const key = `${f.file}|${f.doc ?? ''}|${f.code}|${f.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      findings.push(f);
    }
  }
  return findings;
}
