// The Services a pinned chart renders for a release, from the naming rules and ports that each chart's
// services.md (../shared/schemas/helm) reads out of its templates. Pure: values in, Services out.
import { arr, at, obj, str, type Obj } from './shape.js';

export interface RenderedService {
  name: string;
  namespace: string;
  ports: number[];
  /** Created by an operator at run time rather than rendered by Helm: Argo CD never applies it. */
  runtime?: boolean;
}

type Renderer = (release: string, namespace: string, values: Obj) => RenderedService[];

const on = (value: unknown) => value !== false;
const num = (value: unknown, fallback: number) => (typeof value === 'number' ? value : fallback);

/** Helm's usual `<chart>.fullname`: fullnameOverride, else the release if it contains the name, else release-name. */
export function fullname(release: string, chartName: string, values: Obj, limit = 63): string {
  const override = str(values.fullnameOverride);
  const trim = (s: string) => s.slice(0, limit).replace(/-+$/, '');
  if (override) return trim(override);
  const name = str(values.nameOverride) || chartName;
  return trim(release.includes(name) ? release : `${release}-${name}`);
}

const ports = (list: unknown) => arr(list).map((p) => at(p, 'port')).filter((p): p is number => typeof p === 'number');

const jaeger: Renderer = (release, namespace, values) => [
  {
    name: fullname(release, 'jaeger', values),
    namespace,
    // The template has no `if`: the Service exists even with jaeger.enabled false.
    ports: [5775, 5778, 6831, 6832, 9411, 14250, 14267, 14268, 4317, 4318, 16686, 16685, 8888, 8889, ...ports(at(values, 'jaeger', 'service', 'extraPorts'))],
  },
];

const grafana: Renderer = (release, namespace, values) => {
  const ns = str(values.namespaceOverride) || namespace;
  const f = fullname(release, 'grafana', values);
  const out: RenderedService[] = [];
  if (on(at(values, 'service', 'enabled'))) out.push({ name: f, namespace: ns, ports: [num(at(values, 'service', 'port'), 80), ...ports(values.extraExposePorts)] });
  if (values.headlessService === true) out.push({ name: `${f}-headless`, namespace: ns, ports: [9094] });
  if (at(values, 'imageRenderer', 'enabled') === true && on(at(values, 'imageRenderer', 'service', 'enabled'))) {
    out.push({ name: `${f}-image-renderer`, namespace: ns, ports: [num(at(values, 'imageRenderer', 'service', 'port'), 8081)] });
  }
  return out;
};

const kiali: Renderer = (_release, namespace, values) => {
  if (at(values, 'deployment', 'remote_cluster_resources_only') === true) return [];
  const metrics = on(at(values, 'server', 'observability', 'metrics', 'enabled')) ? [num(at(values, 'server', 'observability', 'metrics', 'port'), 9090)] : [];
  return [{ name: str(at(values, 'deployment', 'instance_name')) || 'kiali', namespace, ports: [num(at(values, 'server', 'port'), 20001), ...metrics] }];
};

/** kube-system exporters: values key, Service suffix, port. */
const EXPORTERS: [string, string, number[]][] = [
  ['coreDns', 'coredns', [9153]],
  ['kubeControllerManager', 'kube-controller-manager', [10257]],
  ['kubeEtcd', 'kube-etcd', [2381]],
  ['kubeScheduler', 'kube-scheduler', [10259]],
  ['kubeProxy', 'kube-proxy', [10249]],
];

const kubePrometheusStack: Renderer = (release, namespace, values) => {
  const f = fullname(release, 'kube-prometheus-stack', values, 26);
  const ns = str(values.namespaceOverride) || namespace;
  const out: RenderedService[] = [];
  if (on(at(values, 'prometheus', 'enabled')) && on(at(values, 'prometheus', 'service', 'enabled'))) {
    out.push({ name: `${f}-prometheus`, namespace: ns, ports: [num(at(values, 'prometheus', 'service', 'port'), 9090), 8080] });
    out.push({ name: 'prometheus-operated', namespace: ns, ports: [9090], runtime: true });
  }
  if (on(at(values, 'alertmanager', 'enabled')) && on(at(values, 'alertmanager', 'service', 'enabled'))) {
    const amNs = str(at(values, 'alertmanager', 'namespaceOverride')) || ns;
    out.push({ name: `${f}-alertmanager`, namespace: amNs, ports: [num(at(values, 'alertmanager', 'service', 'port'), 9093), 8080] });
    out.push({ name: 'alertmanager-operated', namespace: amNs, ports: [9093, 9094], runtime: true });
  }
  const operator = obj(values.prometheusOperator) ?? {};
  if (on(operator.enabled)) {
    const name = str(operator.fullnameOverride)?.slice(0, 35) || `${f}-operator`;
    out.push({ name, namespace: ns, ports: [on(at(operator, 'tls', 'enabled')) ? 443 : 8080] });
    const kubelet = obj(operator.kubeletService) ?? {};
    if (on(kubelet.enabled)) {
      out.push({ name: str(kubelet.name) || `${f}-kubelet`, namespace: str(kubelet.namespace) || 'kube-system', ports: [10250, 10255, 4194], runtime: true });
    }
  }
  if (on(at(values, 'kubeStateMetrics', 'enabled'))) out.push({ name: fullname(release, 'kube-state-metrics', obj(values['kube-state-metrics']) ?? {}), namespace: ns, ports: [8080] });
  if (on(at(values, 'nodeExporter', 'enabled'))) out.push({ name: fullname(release, 'prometheus-node-exporter', obj(values['prometheus-node-exporter']) ?? {}), namespace: ns, ports: [9100] });
  if (on(at(values, 'grafana', 'enabled'))) out.push({ name: fullname(release, 'grafana', obj(values.grafana) ?? {}), namespace: ns, ports: [80] });
  if (on(at(values, 'kubernetesServiceMonitors', 'enabled'))) {
    for (const [key, suffix, exporterPorts] of EXPORTERS) {
      if (on(at(values, key, 'enabled')) && on(at(values, key, 'service', 'enabled'))) out.push({ name: `${f}-${suffix}`, namespace: 'kube-system', ports: exporterPorts });
    }
    if (at(values, 'kubeDns', 'enabled') === true) out.push({ name: `${f}-kube-dns`, namespace: 'kube-system', ports: [10054, 10055] });
  }
  return out;
};

const RENDERERS: Record<string, Renderer> = {
  jaeger,
  grafana,
  'kiali-server': kiali,
  'kube-prometheus-stack': kubePrometheusStack,
};

/** The Services a chart renders, or undefined for a chart whose Services this module does not know. */
export function chartServices(chart: string, release: string, namespace: string, values: Obj): RenderedService[] | undefined {
  return RENDERERS[chart]?.(release, namespace, values);
}
