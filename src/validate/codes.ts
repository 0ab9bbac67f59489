// Finding codes: Istio's analyzer codes where Istio has one (istioctl analyze, messages.yaml @ 1.30),
// our own DTxxxx codes for everything else. docs/validate.md lists the same table.
import type { Finding, LoadedDocument, Severity } from './types.js';

export interface CodeInfo {
  name: string;
  severity: Severity;
  description: string;
}

export const CODES = {
  IST0002: { name: 'Deprecated', severity: 'warning', description: 'A deprecated field is used (HTTPRoute fault.delay.percent, Sidecar outboundTrafficPolicy.egressProxy) or a removed Istio CRD kind is declared.' },
  IST0101: { name: 'ReferencedResourceNotFound', severity: 'error', description: "A referenced resource does not exist: a VirtualService's gateway, destination or mirror host (and host:port), host+subset in a DestinationRule; a Gateway's credentialName Secret; a Gateway or Sidecar selector that matches no pod; an AuthorizationPolicy source namespace. Lookups into the cluster the files only partly describe are warnings." },
  IST0106: { name: 'SchemaValidationError', severity: 'error', description: "An Istio resource breaks its CRD schema (including every CEL x-kubernetes-validations rule) or an istiod webhook rule: subset names, retryOn tokens, zero total weight, percentages, header case, attempts 0 with retry settings." },
  IST0107: { name: 'MisplacedAnnotation', severity: 'warning', description: 'An Istio annotation on a Namespace, Service, Pod or Deployment that belongs on another kind of resource.' },
  IST0108: { name: 'UnknownAnnotation', severity: 'warning', description: 'An annotation in an istio.io domain that Istio does not define.' },
  IST0109: { name: 'ConflictingMeshGatewayVirtualServiceHosts', severity: 'error', description: 'Two VirtualServices bound to the mesh gateway define the same host in the same exportTo scope.' },
  IST0110: { name: 'ConflictingSidecarWorkloadSelectors', severity: 'error', description: 'Two Sidecars in a namespace select the same pod.' },
  IST0111: { name: 'MultipleSidecarsWithoutWorkloadSelectors', severity: 'error', description: 'More than one Sidecar in a namespace has no workloadSelector.' },
  IST0112: { name: 'VirtualServiceDestinationPortSelectorRequired', severity: 'error', description: 'A route destination names no port, and its Service exposes more than one.' },
  IST0116: { name: 'DeploymentAssociatedToMultipleServices', severity: 'warning', description: 'Services selecting an in-mesh Deployment use the same port number with different protocols.' },
  IST0118: { name: 'PortNameIsNotUnderNamingConvention', severity: 'info', description: 'A Service port name (or appProtocol) does not name a protocol Istio knows, so protocol detection applies.' },
  IST0125: { name: 'InvalidAnnotation', severity: 'warning', description: 'An Istio annotation has a value Istio rejects (numbers, ports, CIDRs, interception mode).' },
  IST0127: { name: 'NoMatchingWorkloadsFound', severity: 'warning', description: 'An AuthorizationPolicy selector (or a namespace-wide policy) matches no in-mesh pod in the files.' },
  IST0128: { name: 'NoServerCertificateVerificationDestinationLevel', severity: 'warning', description: 'A DestinationRule uses TLS SIMPLE/MUTUAL without caCertificates.' },
  IST0129: { name: 'NoServerCertificateVerificationPortLevel', severity: 'warning', description: 'A DestinationRule portLevelSettings entry uses TLS SIMPLE/MUTUAL without caCertificates.' },
  IST0130: { name: 'VirtualServiceUnreachableRule', severity: 'warning', description: 'An http/tcp/tls rule can never match: an earlier rule has no match, or all its matches repeat earlier ones.' },
  IST0131: { name: 'VirtualServiceIneffectiveMatch', severity: 'info', description: 'A match repeats (or is covered by the prefix of) a match in an earlier rule.' },
  IST0132: { name: 'VirtualServiceHostNotFoundInGateway', severity: 'warning', description: "No host of a VirtualService is served by a Gateway it binds to." },
  IST0134: { name: 'ServiceEntryAddressesRequired', severity: 'warning', description: 'A ServiceEntry without addresses has a TCP (or protocol-less) port.' },
  IST0135: { name: 'DeprecatedAnnotation', severity: 'info', description: 'A deprecated Istio annotation is used.' },
  IST0137: { name: 'DeploymentConflictingPorts', severity: 'warning', description: 'Services selecting an in-mesh Deployment use the same targetPort behind different ports.' },
  IST0138: { name: 'GatewayDuplicateCertificate', severity: 'warning', description: 'Two Gateways on overlapping workloads serve the same certificate.' },
  IST0140: { name: 'IngressRouteRulesNotAffected', severity: 'warning', description: 'A gateway-bound route sends to a host whose subsets another VirtualService routes by; the subset rules do not apply to ingress traffic.' },
  IST0145: { name: 'ConflictingGateways', severity: 'error', description: 'Two Gateways with the same selector and port serve overlapping hosts.' },
  IST0150: { name: 'ExternalNameServiceTypeInvalidPortName', severity: 'warning', description: 'An ExternalName Service port is named tcp or does not follow the naming convention.' },
  IST0162: { name: 'GatewayPortNotDefinedOnService', severity: 'warning', description: "A Gateway server port is not a TCP port of any Service selecting the gateway's pods." },
  IST0165: { name: 'ReferencedInternalGateway', severity: 'warning', description: 'A VirtualService binds to a Gateway Istio generates for a Kubernetes Gateway.' },
  IST0173: { name: 'DestinationRuleSubsetNotSelectPods', severity: 'warning', description: "A DestinationRule subset's labels match no pod the files describe (Pods, Deployment pod templates). Istio's level is Error; here it is a warning, as the cluster may hold the pods." },
  IST0174: { name: 'UnknownDestinationRuleHost', severity: 'warning', description: 'A DestinationRule host matches no Service or ServiceEntry in the files.' },
  IST0177: { name: 'ConflictingServiceEntryProtocol', severity: 'warning', description: 'ServiceEntries visible in the same scope define the same host and port with different protocols.' },
  DT0001: { name: 'YamlSyntaxError', severity: 'error', description: 'The file is not valid YAML.' },
  DT0002: { name: 'NotAManifest', severity: 'skipped', description: 'A document has no apiVersion/kind and the file is not a known Helm values file or kustomization.' },
  DT0003: { name: 'UnknownKind', severity: 'skipped', description: 'No schema is known for this apiVersion/kind.' },
  DT0004: { name: 'ApiVersionNotServed', severity: 'error', description: 'The kind is known, but not in this apiVersion.' },
  DT0005: { name: 'PathNotFound', severity: 'error', description: 'A path given on the command line does not exist or cannot be read.' },
  DT0006: { name: 'CheckFailed', severity: 'error', description: 'A check could not run on a document (a bug in the validator, reported instead of crashing).' },
  DT0100: { name: 'SchemaValidationError', severity: 'error', description: 'A Kubernetes, Argo CD or Prometheus Operator object breaks its schema.' },
  DT1001: { name: 'CanaryWeights', severity: 'error', description: 'A route weight is negative, or the weights of a multi-destination route do not sum to 100.' },
  DT2001: { name: 'UnknownServiceAccount', severity: 'error', description: 'An AuthorizationPolicy principal names a service account that no ServiceAccount manifest declares (only for namespaces in the input).' },
  DT2002: { name: 'MtlsNotStrict', severity: 'error', description: 'A PeerAuthentication in a namespace that must be STRICT (by default the mesh-wide one in istio-system) is not STRICT.' },
  DT3001: { name: 'ApplicationPathNotFound', severity: 'error', description: 'An Argo CD Application source path does not exist in the repository.' },
  DT3002: { name: 'ApplicationValuesFileNotFound', severity: 'error', description: 'An Argo CD multi-source Application names a $values/<file> that does not exist.' },
  DT3003: { name: 'ApplicationSetElementIncomplete', severity: 'error', description: "An ApplicationSet list element lacks a key its template uses: Argo CD cannot generate that Application (with goTemplate missingkey=error it fails the whole set)." },
  DT3004: { name: 'DestinationOutsideProject', severity: 'error', description: "An Application's destination (written, or generated by an ApplicationSet's list generator) is not among its AppProject's destinations: Argo CD refuses to sync it." },
  DT4001: { name: 'CanaryPolicyInvalid', severity: 'error', description: 'A CanaryPolicy field is invalid (parseCanaryPolicy).' },
  DT4002: { name: 'CanaryPolicyFileNotFound', severity: 'error', description: 'A file a CanaryPolicy names does not exist.' },
  DT4003: { name: 'CanaryPolicyRouteNotFound', severity: 'error', description: 'The VirtualService or the route a CanaryPolicy names does not exist.' },
  DT4004: { name: 'CanaryRouteShape', severity: 'error', description: 'The canary route does not have exactly the stable and canary subsets as destinations.' },
  DT4005: { name: 'CanarySubsetNotDefined', severity: 'error', description: "A CanaryPolicy subset is missing from the DestinationRule for the route's host." },
  DT4006: { name: 'CanaryDeploymentNotFound', severity: 'error', description: 'The Deployment or container a CanaryPolicy names does not exist.' },
  DT5001: { name: 'UnknownHelmValue', severity: 'error', description: "A Helm values file sets a top-level key the chart does not know (Helm would ignore it)." },
  DT5002: { name: 'UnknownChart', severity: 'skipped', description: 'A values file whose chart is not known is not checked.' },
  DT5003: { name: 'HelmValueNotInChart', severity: 'error', description: "A values key (at any depth) that the pinned chart's values.yaml does not have, nor its templates read (services.md), nor the CRD its values feed (Kiali): Helm would ignore it." },
  DT5004: { name: 'HelmChartSchemaMissing', severity: 'info', description: 'An Application pins a chart version with no folder in ../shared/schemas/helm: its values keys and Services are not checked.' },
  DT5005: { name: 'ServiceAddressNotRendered', severity: 'error', description: 'A Service address in Helm values (zipkin address, Grafana or Kiali URL) names a Service, or a port, that no manifest and no pinned chart renders (a warning when a chart without schema deploys into that namespace).' },
  DT5006: { name: 'ChartRendersOutsideProject', severity: 'error', description: "A pinned chart, with the repository's values, renders a Service into a namespace the Application's AppProject does not allow: Argo CD refuses the sync." },
  DT6001: { name: 'KustomizationResourceNotFound', severity: 'error', description: 'A kustomization names a resource, component or patch file that does not exist.' },
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CODES;

/** A finding placed at a JSON pointer of a document. */
export function findingAt(
  doc: LoadedDocument,
  pointer: string,
  code: Code,
  message: string,
  severity: Severity = CODES[code].severity,
): Finding {
  const { line, column } = doc.locate(pointer);
  const namespace = doc.namespace;
  return {
    file: doc.file,
    line,
    column,
    doc: doc.index,
    ...(doc.kind === undefined ? {} : { kind: doc.kind }),
    ...(doc.name === undefined ? {} : { name: doc.name }),
    ...(namespace === undefined ? {} : { namespace }),
    path: pointer,
    code,
    severity,
    message,
  };
}
