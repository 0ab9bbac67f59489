// annotations.K8sAnalyzer: Istio annotations on Namespaces, Services, Pods and Deployments (their own
// metadata, not the pod template): unknown in an istio.io domain (IST0108), deprecated (IST0135),
// on the wrong kind of resource (IST0107), or with a value Istio rejects (IST0125).
import { encodePointer } from '../load.js';
import type { Finding } from '../types.js';
import { K, report, type AnalyzerContext, type Resource } from './context.js';
import type { Analyzer } from './types.js';

interface AnnotationDef {
  resources: string[];
  deprecated?: boolean;
}

const POD = ['Pod'];
const ANY = ['Any'];

/** istio.io/api annotation definitions (name -> resource kinds it attaches to). */
export const ISTIO_ANNOTATIONS: Record<string, AnnotationDef> = {
  'alpha.istio.io/kubernetes-serviceaccounts': { resources: ['Service'], deprecated: true },
  'alpha.istio.io/canonical-serviceaccounts': { resources: ['Service'], deprecated: true },
  'alpha.istio.io/identity': { resources: POD, deprecated: true },
  'ambient.istio.io/redirection': { resources: POD },
  'ambient.istio.io/bypass-inbound-capture': { resources: POD },
  'galley.istio.io/analyze-suppress': { resources: ANY },
  'gateway.istio.io/controller-version': { resources: ANY },
  'gateway.istio.io/service-account': { resources: ['Gateway'] },
  'inject.istio.io/templates': { resources: POD },
  'install.operator.istio.io/chart-owner': { resources: ANY },
  'install.operator.istio.io/owner-generation': { resources: ANY },
  'install.operator.istio.io/version': { resources: ANY },
  'istio.io/dry-run': { resources: ['AuthorizationPolicy'] },
  'istio.io/rev': { resources: POD },
  'istio.io/autoRegistrationGroup': { resources: ['WorkloadEntry'] },
  'istio.io/workloadController': { resources: ['WorkloadEntry'] },
  'istio.io/connectedAt': { resources: ['WorkloadEntry'] },
  'istio.io/disconnectedAt': { resources: ['WorkloadEntry'] },
  'kubernetes.io/ingress.class': { resources: ['Ingress'] },
  'networking.alpha.istio.io/serviceVersion': { resources: ['ServiceEntry'] },
  'networking.alpha.istio.io/endpointsVersion': { resources: ['ServiceEntry'] },
  'networking.alpha.istio.io/notReadyEndpoints': { resources: ['ServiceEntry'] },
  'networking.istio.io/exportTo': { resources: ['Service'] },
  'networking.istio.io/traffic-distribution': { resources: ['Service'] },
  'networking.istio.io/service-type': { resources: ['Gateway'] },
  'networking.istio.io/address-type': { resources: ['Gateway'] },
  'prometheus.istio.io/merge-metrics': { resources: POD },
  'proxy.istio.io/config': { resources: POD },
  'proxy.istio.io/overrides': { resources: POD },
  'readiness.status.sidecar.istio.io/applicationPorts': { resources: POD },
  'readiness.status.sidecar.istio.io/failureThreshold': { resources: POD },
  'readiness.status.sidecar.istio.io/initialDelaySeconds': { resources: POD },
  'readiness.status.sidecar.istio.io/periodSeconds': { resources: POD },
  'security.istio.io/autoMTLS': { resources: POD },
  'sidecar.istio.io/agentLogLevel': { resources: POD },
  'sidecar.istio.io/bootstrapOverride': { resources: POD },
  'sidecar.istio.io/componentLogLevel': { resources: POD },
  'sidecar.istio.io/controlPlaneAuthPolicy': { resources: POD, deprecated: true },
  'sidecar.istio.io/discoveryAddress': { resources: POD, deprecated: true },
  'sidecar.istio.io/enableCoreDump': { resources: POD },
  'sidecar.istio.io/extraStatTags': { resources: POD },
  'sidecar.istio.io/inject': { resources: POD, deprecated: true },
  'sidecar.istio.io/interceptionMode': { resources: POD },
  'sidecar.istio.io/logLevel': { resources: POD },
  'sidecar.istio.io/nativeSidecar': { resources: POD },
  'sidecar.istio.io/proxyCPU': { resources: POD },
  'sidecar.istio.io/proxyCPULimit': { resources: POD },
  'sidecar.istio.io/proxyImage': { resources: POD },
  'sidecar.istio.io/proxyImageType': { resources: POD },
  'sidecar.istio.io/proxyMemory': { resources: POD },
  'sidecar.istio.io/proxyMemoryLimit': { resources: POD },
  'sidecar.istio.io/rewriteAppHTTPProbers': { resources: POD },
  'sidecar.istio.io/statsCompression': { resources: POD },
  'sidecar.istio.io/statsFlushInterval': { resources: POD },
  'sidecar.istio.io/statsHistogramBuckets': { resources: POD },
  'sidecar.istio.io/statsInclusionPrefixes': { resources: POD, deprecated: true },
  'sidecar.istio.io/statsInclusionRegexps': { resources: POD, deprecated: true },
  'sidecar.istio.io/statsInclusionSuffixes': { resources: POD, deprecated: true },
  'sidecar.istio.io/status': { resources: POD },
  'sidecar.istio.io/userVolume': { resources: POD },
  'sidecar.istio.io/userVolumeMount': { resources: POD },
  'status.sidecar.istio.io/port': { resources: POD },
  'topology.istio.io/controlPlaneClusters': { resources: ANY },
  'traffic.istio.io/nodeSelector': { resources: ['Service'] },
  'traffic.sidecar.istio.io/excludeInboundPorts': { resources: POD },
  'traffic.sidecar.istio.io/excludeInterfaces': { resources: POD },
  'traffic.sidecar.istio.io/excludeOutboundIPRanges': { resources: POD },
  'traffic.sidecar.istio.io/excludeOutboundPorts': { resources: POD },
  'traffic.sidecar.istio.io/includeInboundPorts': { resources: POD },
  'traffic.sidecar.istio.io/includeOutboundIPRanges': { resources: POD },
  'traffic.sidecar.istio.io/includeOutboundPorts': { resources: POD },
  'traffic.sidecar.istio.io/kubevirtInterfaces': { resources: POD },
};

const DEPRECATION_EXTRA: Record<string, string> = { 'sidecar.istio.io/inject': ' in favor of the "sidecar.istio.io/inject" label' };

const CIDR = /^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/;

function parseUint32(value: string): string | undefined {
  return /^\d+$/.test(value) && Number(value) <= 4294967295 ? undefined : `strconv.ParseUint: parsing ${JSON.stringify(value)}: invalid syntax`;
}

function ports(value: string): string | undefined {
  for (const p of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535) return `port number ${JSON.stringify(p)} must be in the range 1..65535`;
  }
  return undefined;
}

function cidrs(value: string): string | undefined {
  for (const c of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!CIDR.test(c)) return `invalid CIDR address: ${c}`;
  }
  return undefined;
}

/** inject.AnnotationValidation: the annotations whose value Istio checks; undefined when valid. */
const VALIDATORS: Record<string, (value: string) => string | undefined> = {
  'sidecar.istio.io/interceptionMode': (v) => (['REDIRECT', 'TPROXY', 'NONE'].includes(v) ? undefined : `interceptionMode invalid, use REDIRECT,TPROXY,NONE: ${v}`),
  'traffic.sidecar.istio.io/includeOutboundIPRanges': (v) => (v === '*' ? undefined : cidrs(v)),
  'traffic.sidecar.istio.io/excludeOutboundIPRanges': cidrs,
  'traffic.sidecar.istio.io/includeInboundPorts': (v) => (v === '*' ? undefined : ports(v)),
  'traffic.sidecar.istio.io/excludeInboundPorts': ports,
  'traffic.sidecar.istio.io/excludeOutboundPorts': ports,
  'traffic.sidecar.istio.io/includeOutboundPorts': ports,
  'readiness.status.sidecar.istio.io/initialDelaySeconds': parseUint32,
  'readiness.status.sidecar.istio.io/periodSeconds': parseUint32,
  'readiness.status.sidecar.istio.io/failureThreshold': parseUint32,
  'readiness.status.sidecar.istio.io/applicationPorts': (v) => (v === '' || v === '*' ? undefined : ports(v)),
  'status.sidecar.istio.io/port': (v) => (/^\d+$/.test(v) && Number(v) <= 65535 ? undefined : `port number ${JSON.stringify(v)} must be in the range 0..65535`),
  'prometheus.istio.io/merge-metrics': (v) => (['true', 'false'].includes(v) ? undefined : `invalid boolean ${JSON.stringify(v)}`),
};

function isIstioAnnotation(name: string): boolean {
  return name === 'kubernetes.io/ingress.class' || (name.split('/')[0] ?? '').endsWith('istio.io');
}

function analyzeResource(r: Resource, kind: string): Finding[] {
  const findings: Finding[] = [];
  for (const [name, value] of Object.entries(r.annotations)) {
    if (!isIstioAnnotation(name)) continue;
    const pointer = encodePointer(['metadata', 'annotations', name]);
    const def = ISTIO_ANNOTATIONS[name];
    if (!def) {
      findings.push(report(r, 'IST0108', `Unknown annotation: ${name}`, { pointer }));
      continue;
    }
    if (def.deprecated && !(name === 'sidecar.istio.io/inject' && 'sidecar.istio.io/inject' in r.labels)) {
      findings.push(report(r, 'IST0135', `Annotation ${JSON.stringify(name)} has been deprecated${DEPRECATION_EXTRA[name] ?? ''} and may not work in future Istio versions.`, { pointer }));
    }
    if (def.resources.includes('Any')) continue;
    if (!def.resources.includes(kind)) {
      findings.push(report(r, 'IST0107', `Misplaced annotation: ${name} can only be applied to ${def.resources.join(', ')}`, { pointer }));
      continue;
    }
    const problem = VALIDATORS[name]?.(value);
    if (problem !== undefined) findings.push(report(r, 'IST0125', `Invalid annotation ${name}: ${problem}`, { pointer }));
  }
  return findings;
}

export const k8sAnnotationsAnalyzer: Analyzer = {
  name: 'annotations.K8sAnalyzer',
  codes: ['IST0107', 'IST0108', 'IST0125', 'IST0135'],
  analyze: (ctx: AnalyzerContext) => [
    ...ctx.of(K.Namespace).flatMap((r) => analyzeResource(r, 'Namespace')),
    ...ctx.of(K.Service).flatMap((r) => analyzeResource(r, 'Service')),
    ...ctx.of(K.Pod).flatMap((r) => analyzeResource(r, 'Pod')),
    ...ctx.of(K.Deployment).flatMap((r) => analyzeResource(r, 'Deployment')),
  ],
};
