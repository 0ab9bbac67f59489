// Helm values files under the Istio installation and addons folders: each top-level key must be one
// the chart reads (Helm silently ignores a misspelt key). The allow-lists come from the charts'
// values.yaml (Istio 1.30 charts, kube-prometheus-stack, prometheus, grafana, jaeger, kiali-server). A chart
// pinned in ../shared/schemas/helm is checked at every depth against its real values.yaml instead (helm-charts.ts).
import { posix } from 'node:path';
import { findingAt } from './codes.js';
import { unknownValueKeys, type HelmChartSchema } from './helm-charts.js';
import { encodePointer } from './load.js';
import { obj } from './shape.js';
import type { Finding, LoadedDocument } from './types.js';

const ISTIO_COMMON = ['global', 'defaults', '_internal_defaults_do_not_set', 'profile', 'compatibilityVersion', 'platform', 'revision', 'experimental'];

export const CHART_KEYS: Record<string, string[]> = {
  istiod: [
    ...ISTIO_COMMON, 'pilot', 'sidecarInjectorWebhook', 'istiodRemote', 'telemetry', 'revisionTags', 'ownerName', 'meshConfig',
    'base', 'istio_cni', 'gateways', 'gatewayClasses', 'resourceScope', 'defaultRevision',
  ],
  gateway: [
    ...ISTIO_COMMON, 'name', 'replicaCount', 'kind', 'rbac', 'serviceAccount', 'podAnnotations', 'podLabels', 'securityContext',
    'containerSecurityContext', 'service', 'resources', 'autoscaling', 'podDisruptionBudget', 'env', 'envVarFrom', 'labels',
    'annotations', 'nodeSelector', 'tolerations', 'topologySpreadConstraints', 'affinity', 'networkGateway', 'imagePullPolicy',
    'imagePullSecrets', 'terminationGracePeriodSeconds', 'volumes', 'volumeMounts', 'priorityClassName', 'strategy',
    'minReadySeconds', 'readinessProbe', 'lifecycle', 'initContainers', 'additionalContainers', 'networkPolicy', 'vpa',
    'hostNetwork', 'dnsPolicy',
  ],
  base: [...ISTIO_COMMON, 'base', 'defaultRevision', 'crds'],
  cni: [...ISTIO_COMMON, 'cni'],
  ztunnel: [
    ...ISTIO_COMMON, 'hub', 'tag', 'variant', 'image', 'resourceName', 'istioNamespace', 'podLabels', 'podAnnotations', 'resources',
    'env', 'nodeSelector', 'tolerations', 'affinity', 'logLevel', 'logAsJson', 'caAddress', 'xdsAddress', 'meshConfig',
    'multiCluster', 'terminationGracePeriodSeconds', 'priorityClassName', 'imagePullSecrets', 'imagePullPolicy', 'annotations',
    'labels', 'volumes', 'volumeMounts', 'updateStrategy', 'network', 'clusterName', 'trustDomain', 'seLinuxOptions',
  ],
  prometheus: [
    'global', 'nameOverride', 'fullnameOverride', 'rbac', 'podSecurityPolicy', 'imagePullSecrets', 'serviceAccounts',
    'commonMetaLabels', 'configmapReload', 'server', 'scrapeConfigFiles', 'serverFiles', 'extraScrapeConfigs',
    'alertRelabelConfigs', 'networkPolicy', 'forceNamespace', 'extraManifests', 'alertmanager', 'kube-state-metrics',
    'prometheus-node-exporter', 'prometheus-pushgateway', 'ruleFiles',
  ],
  'kube-prometheus-stack': [
    'nameOverride', 'namespaceOverride', 'kubeTargetVersionOverride', 'kubeVersionOverride', 'fullnameOverride', 'commonLabels',
    'crds', 'customRules', 'defaultRules', 'additionalPrometheusRulesMap', 'global', 'windowsMonitoring',
    'prometheus-windows-exporter', 'alertmanager', 'grafana', 'kubernetesServiceMonitors', 'kubeApiServer', 'kubelet',
    'kubeControllerManager', 'coreDns', 'kubeDns', 'kubeEtcd', 'kubeScheduler', 'kubeProxy', 'kubeStateMetrics',
    'kube-state-metrics', 'nodeExporter', 'prometheus-node-exporter', 'prometheusOperator', 'prometheus', 'thanosRuler',
    'cleanPrometheusOperatorObjectNames', 'extraManifests',
  ],
  grafana: [
    'global', 'nameOverride', 'fullnameOverride', 'namespaceOverride', 'rbac', 'serviceAccount', 'replicas', 'headlessService',
    'automountServiceAccountToken', 'autoscaling', 'podDisruptionBudget', 'deploymentStrategy', 'readinessProbe',
    'livenessProbe', 'image', 'testFramework', 'dnsPolicy', 'dnsConfig', 'securityContext', 'containerSecurityContext',
    'createConfigmap', 'extraConfigmapMounts', 'extraEmptyDirMounts', 'extraLabels', 'downloadDashboardsImage',
    'downloadDashboards', 'podAnnotations', 'podLabels', 'podPortName', 'gossipPortName', 'service', 'serviceMonitor',
    'extraExposePorts', 'hostAliases', 'ingress', 'route', 'resources', 'nodeSelector', 'tolerations', 'affinity',
    'topologySpreadConstraints', 'extraInitContainers', 'extraContainers', 'extraContainerVolumes', 'persistence',
    'initChownData', 'adminUser', 'adminPassword', 'admin', 'env', 'envValueFrom', 'envFromSecret', 'envRenderSecret',
    'envFromSecrets', 'envFromConfigMaps', 'enableServiceLinks', 'extraSecretMounts', 'extraVolumeMounts', 'extraVolumes',
    'lifecycleHooks', 'plugins', 'datasources', 'alerting', 'notifiers', 'dashboardProviders', 'dashboards',
    'dashboardsConfigMaps', 'grafana.ini', 'ldap', 'smtp', 'sidecar', 'revisionHistoryLimit', 'imageRenderer',
    'networkPolicy', 'enableKubeBackwardCompatibility', 'useStatefulSet', 'extraObjects', 'assertNoLeakedSecrets',
    'priorityClassName', 'schedulerName', 'shareProcessNamespace', 'terminationGracePeriodSeconds', 'hostUsers',
    'imagePullSecrets', 'annotations', 'labels',
  ],
  jaeger: [
    'global', 'nameOverride', 'fullnameOverride', 'tag', 'provisionDataStore', 'allInOne', 'storage', 'ingester', 'agent',
    'collector', 'query', 'spark', 'esIndexCleaner', 'esRollover', 'esLookback', 'hotrod', 'extraObjects', 'cassandra',
    'elasticsearch', 'kafka', 'serviceAccount', 'networkPolicy', 'schema',
  ],
  'kiali-server': [
    'nameOverride', 'fullnameOverride', 'istio_namespace', 'auth', 'deployment', 'external_services', 'identity',
    'kiali_feature_flags', 'login_token', 'server', 'clustering', 'kubernetes_config', 'kiali_route_url', 'api',
    'istio_labels', 'additional_display_details', 'health_config', 'extensions', 'installation_tag', 'kiali_internal',
  ],
};

const CHART_HINTS: [RegExp, string][] = [
  [/istiod|discovery|pilot|control-?plane/, 'istiod'],
  [/gateway|ingress|egress/, 'gateway'],
  [/ztunnel/, 'ztunnel'],
  [/cni/, 'cni'],
  [/kiali/, 'kiali-server'],
  [/grafana/, 'grafana'],
  [/jaeger/, 'jaeger'],
  [/prometheus/, 'prometheus'],
  [/^base$|istio-base|values-base/, 'base'],
];

/** A values*.yaml under an installation/ or addons/ folder. */
export function isHelmValuesFile(repoPath: string): boolean {
  const segments = repoPath.split('/');
  return /^values.*\.ya?ml$|-values\.ya?ml$/.test(posix.basename(repoPath)) && segments.some((s) => s === 'installation' || s === 'addons');
}

/** The chart a values file belongs to, from its file name first, then its folders (deepest first). */
export function chartOf(repoPath: string): string | undefined {
  const segments = repoPath.split('/');
  const names = [posix.basename(repoPath).replace(/\.ya?ml$/, ''), ...segments.slice(0, -1).reverse()];
  for (const name of names) {
    const stripped = name.replace(/^values-?/, '').replace(/-?values$/, '');
    for (const [hint, chart] of CHART_HINTS) if (stripped !== '' && hint.test(stripped)) return chart;
    if (name === 'installation' || name === 'addons') break;
  }
  return undefined;
}

/**
 * values file (repository path) -> chart name, from the Argo CD Applications in the input that
 * read it as `$<ref>/<file>` next to a `chart:` source: better evidence than the file's name.
 */
export function chartsFromApplications(docs: LoadedDocument[]): Map<string, string> {
  const charts = new Map<string, string>();
  for (const app of docs.filter((d) => d.kind === 'Application' && d.apiVersion?.startsWith('argoproj.io/'))) {
    const spec = obj(obj(app.body)?.spec);
    const sources = spec?.source !== undefined ? [spec.source] : Array.isArray(spec?.sources) ? (spec.sources as unknown[]) : [];
    for (const source of sources) {
      const chart = obj(source)?.chart;
      const valueFiles = obj(obj(source)?.helm)?.valueFiles;
      if (typeof chart !== 'string' || !Array.isArray(valueFiles)) continue;
      for (const file of valueFiles) {
        const ref = typeof file === 'string' ? /^\$[^/]+\/(.+)$/.exec(file) : null;
        if (ref) charts.set(posix.normalize(ref[1]!), chart);
      }
    }
  }
  return charts;
}

export function checkHelmValues(doc: LoadedDocument, chartHint?: string, schema?: HelmChartSchema): Finding[] {
  if (schema) {
    // The pinned chart's own values.yaml (and services.md, and Kiali's CRD) knows every key, at every depth.
    const values = obj(doc.body) ?? {};
    return unknownValueKeys(schema, values).map(({ path }) =>
      findingAt(doc, encodePointer(path), 'DT5003', `"${path.join('.')}" is not a value of chart ${schema.name} ${schema.version} (not in its values.yaml${schema.crdSpec ? ' nor in the CRD it configures' : ''}): Helm would ignore it`),
    );
  }
  const chart = chartHint ?? chartOf(doc.repoPath);
  if (chart === undefined || CHART_KEYS[chart] === undefined) {
    return [findingAt(doc, '', 'DT5002', `a values file for ${chart === undefined ? 'a chart' : `chart ${chart}, which`} this tool does not know; not checked`)];
  }
  const keys = CHART_KEYS[chart] ?? [];
  return Object.keys(obj(doc.body) ?? {})
    .filter((key) => !keys.includes(key))
    .map((key) => findingAt(doc, encodePointer([key]), 'DT5001', `"${key}" is not a top-level value of the ${chart} chart`));
}
