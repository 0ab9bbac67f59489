// Finding codes: Istio's analyzer codes where Istio has one (istioctl analyze, messages.yaml @ 1.30),
// our own DTxxxx codes for everything else. docs/validate.md lists the same table.
import type { Finding, LoadedDocument, Severity } from './types.js';

export interface CodeInfo {
  name: string;
  severity: Severity;
  description: string;
}

export const CODES = {
  IST0101: { name: 'ReferencedResourceNotFound', severity: 'error', description: 'A VirtualService routes or mirrors to a subset no DestinationRule defines, or names a Gateway that does not exist.' },
  IST0106: { name: 'SchemaValidationError', severity: 'error', description: "An Istio resource breaks its CRD schema (including the simple CEL rules) or an istiod webhook rule: subset names, retryOn tokens, zero total weight, percentages, header case, attempts 0 with retry settings." },
  IST0109: { name: 'ConflictingMeshGatewayVirtualServiceHosts', severity: 'error', description: 'Two VirtualServices claim the same host on the mesh or on the same Gateway.' },
  IST0173: { name: 'DestinationRuleSubsetNotSelectPods', severity: 'error', description: "A DestinationRule subset's labels match no Deployment pod template (checked statically, against Deployments in the input)." },
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
  DT4001: { name: 'CanaryPolicyInvalid', severity: 'error', description: 'A CanaryPolicy field is invalid (parseCanaryPolicy).' },
  DT4002: { name: 'CanaryPolicyFileNotFound', severity: 'error', description: 'A file a CanaryPolicy names does not exist.' },
  DT4003: { name: 'CanaryPolicyRouteNotFound', severity: 'error', description: 'The VirtualService or the route a CanaryPolicy names does not exist.' },
  DT4004: { name: 'CanaryRouteShape', severity: 'error', description: 'The canary route does not have exactly the stable and canary subsets as destinations.' },
  DT4005: { name: 'CanarySubsetNotDefined', severity: 'error', description: "A CanaryPolicy subset is missing from the DestinationRule for the route's host." },
  DT4006: { name: 'CanaryDeploymentNotFound', severity: 'error', description: 'The Deployment or container a CanaryPolicy names does not exist.' },
  DT5001: { name: 'UnknownHelmValue', severity: 'error', description: "A Helm values file sets a top-level key the chart does not know (Helm would ignore it)." },
  DT5002: { name: 'UnknownChart', severity: 'skipped', description: 'A values file whose chart is not known is not checked.' },
  DT5003: { name: 'HelmValueNotInChart', severity: 'error', description: "A values key (at any depth) that the pinned chart's values.yaml does not have, nor its templates read (services.md), nor the CRD its values feed (Kiali): Helm would ignore it." },
  DT5004: { name: 'HelmChartSchemaMissing', severity: 'skipped', description: 'An Application pins a chart version with no folder in ../shared/schemas/helm: its values keys and Services are not checked.' },
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
  return {
    file: doc.file,
    line,
    column,
    doc: doc.index,
    ...(doc.kind === undefined ? {} : { kind: doc.kind }),
    ...(doc.name === undefined ? {} : { name: doc.name }),
    path: pointer,
    code,
    severity,
    message,
  };
}
