// The Helm checks of `promoter validate` against the real pinned charts (../shared/schemas/helm): they catch
// the Jaeger breakage on a copy of the pre-fix files, and the Service rules they use agree with each chart's services.md.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSchemaRegistry } from '../src/schemas/registry.js';
import { chartServices } from '../src/validate/chart-services.js';
import { keyStatus, keysFromNotes, loadHelmCharts } from '../src/validate/helm-charts.js';
import { serviceAddresses, serviceOf } from '../src/validate/helm-releases.js';
import { validatePaths } from '../src/validate/index.js';

const registry = createSchemaRegistry();
const HELM = join(registry.dir, 'helm');
const catalog = loadHelmCharts(HELM);
const PRE_FIX = 'test/fixtures/validate/pre-fix-mesh';

describe('the Helm checks on a copy of the pre-fix mesh files', () => {
  it('catch every piece of the Jaeger breakage, and the kube-system Services', async () => {
    const report = await validatePaths([PRE_FIX], { registry, repoRoot: PRE_FIX });
    const shown = report.findings
      .filter((f) => f.severity === 'error')
      .map((f) => `${f.code} ${f.file.slice(PRE_FIX.length + 1)}#${f.path}`);
    expect(shown).toEqual([
      'DT5006 argocd/apps/prometheus.yaml#/spec/sources/0',
      'DT5005 gitops/istio/installation/values.yaml#/meshConfig/defaultConfig/tracing/zipkin/address',
      'DT5005 gitops/istio/installation/values.yaml#/meshConfig/extensionProviders/0/zipkin/service',
      'DT5005 gitops/istio/observability/addons/values-grafana.yaml#/datasources/datasources.yaml/datasources/1/url',
      'DT5003 gitops/istio/observability/addons/values-jaeger.yaml#/allInOne',
      'DT5003 gitops/istio/observability/addons/values-jaeger.yaml#/provisionDataStore',
      'DT5003 gitops/istio/observability/addons/values-jaeger.yaml#/agent',
      'DT5003 gitops/istio/observability/addons/values-jaeger.yaml#/collector',
      'DT5003 gitops/istio/observability/addons/values-jaeger.yaml#/query',
      'DT5005 gitops/istio/observability/addons/values-kiali.yaml#/external_services/tracing/internal_url',
    ]);
    const zipkin = report.findings.find((f) => f.path === '/meshConfig/defaultConfig/tracing/zipkin/address');
    expect(zipkin?.message).toContain('monitoring/jaeger-collector');
    expect(zipkin?.message).toContain('monitoring has grafana, jaeger,');
    const kubeSystem = report.findings.find((f) => f.code === 'DT5006');
    expect(kubeSystem?.message).toMatch(/prometheus-kube-prometheus-coredns.*in namespace kube-system, which AppProject docuthinker does not allow/);
  });

  it('find the fixed repository clean: no unknown key, no missing Service, nothing outside the project', async () => {
    const report = await validatePaths(['gitops', 'argocd'], { registry });
    expect(report.findings.filter((f) => ['DT5003', 'DT5005', 'DT5006'].includes(f.code))).toEqual([]);
    // The charts without a schema folder are named, not silently passed over.
    const missing = report.findings.filter((f) => f.code === 'DT5004').map((f) => f.message.split(' has no')[0]);
    expect(missing).toEqual(expect.arrayContaining(['chart istiod 1.30.3', 'chart cert-manager v1.19.1']));
  });
});

describe('values keys against the real values.yaml', () => {
  const charts = {
    jaeger: catalog.get('jaeger', '4.4.7')!,
    grafana: catalog.get('grafana', '9.2.10')!,
    kiali: catalog.get('kiali-server', '2.20.0')!,
    kps: catalog.get('kube-prometheus-stack', '88.0.0')!,
  };

  it.each([
    ['jaeger', ['collector'], 'unknown'],
    ['jaeger', ['jaeger', 'replicas'], 'known'],
    // Read by the Deployment template though values.yaml lacks it (services.md).
    ['jaeger', ['jaeger', 'resources'], 'known'],
    ['jaeger', ['jaeger', 'resourcez'], 'unknown'],
    ['grafana', ['grafana.ini', 'server', 'root_url'], 'free'],
    ['grafana', ['sidecar', 'dashboards', 'label'], 'known'],
    ['grafana', ['sidecar', 'dashboards', 'labell'], 'unknown'],
    ['grafana', ['podAnnotations'], 'known'],
    // Kiali passes its values through as the Kiali CR spec: the CRD knows keys values.yaml lacks.
    ['kiali', ['external_services', 'tracing', 'internal_url'], 'known'],
    ['kiali', ['external_services', 'tracing', 'url_internal'], 'unknown'],
    ['kiali', ['kiali_route_url'], 'known'],
    ['kps', ['prometheus', 'prometheusSpec', 'retention'], 'known'],
    ['kps', ['prometheus', 'prometheusSpec', 'retension'], 'unknown'],
    // The copied kube-state-metrics subchart values are merged under its name.
    ['kps', ['kube-state-metrics', 'selfMonitor', 'enabled'], 'known'],
    // grafana 12.10.0's values were not copied: anything under `grafana` is accepted.
    ['kps', ['grafana', 'forceDeployDashboards'], 'free'],
    // `disabled: {}` in values.yaml: any alert name below it.
    ['kps', ['defaultRules', 'disabled', 'KubeSchedulerDown'], 'free'],
  ] as const)('%s: %j -> %s', (chart, path, status) => {
    expect(keyStatus(charts[chart], [...path])).toBe(status);
  });

  it('reads `{a,b}`, `<a|b>` and `<Placeholder>` paths from services.md', () => {
    const { extraKeys, freeForm } = keysFromNotes(
      'Free-form maps (any sub-key is valid): `env`, `grafana.ini`.\n\n## Keys read by templates but absent from values.yaml\n\n- `a.{b,c}`, `<x|y>.z`, `d.<Name>`, `with`\n\n## Next\n\n`ignored.key`\n',
    );
    expect(extraKeys).toEqual([['a', 'b'], ['a', 'c'], ['x', 'z'], ['y', 'z'], ['d', '*'], ['with']]);
    expect(freeForm).toEqual([['env'], ['grafana.ini']]);
  });
});

describe('the Services each chart renders', () => {
  // The rules in chart-services.ts come from each chart's services.md; every name and port they
  // give for the repository's releases must be written there.
  it.each([
    ['jaeger', '4.4.7', 'jaeger', 'monitoring'],
    ['grafana', '9.2.10', 'grafana', 'monitoring'],
    ['kiali-server', '2.20.0', 'kiali', 'istio-system'],
    ['kube-prometheus-stack', '88.0.0', 'prometheus', 'monitoring'],
  ])('%s %s, release %s: names and ports appear in services.md', (chart, version, release, namespace) => {
    const schema = catalog.get(chart, version)!;
    const notes = readFileSync(join(schema.dir, 'services.md'), 'utf8');
    const services = chartServices(chart, release, namespace, schema.defaults)!;
    expect(services.length).toBeGreaterThan(0);
    for (const service of services) {
      expect(notes, service.name).toContain(service.name);
      for (const port of service.ports) expect(notes, `${service.name}:${port}`).toContain(String(port));
    }
  });

  it('kube-prometheus-stack: with the exporters off nothing lands in kube-system but the operator-run kubelet Service', () => {
    const schema = catalog.get('kube-prometheus-stack', '88.0.0')!;
    const off = Object.fromEntries(['coreDns', 'kubeControllerManager', 'kubeEtcd', 'kubeScheduler', 'kubeProxy'].map((k) => [k, { enabled: false }]));
    const defaults = chartServices('kube-prometheus-stack', 'prometheus', 'monitoring', schema.defaults)!;
    const fixed = chartServices('kube-prometheus-stack', 'prometheus', 'monitoring', { ...schema.defaults, ...off })!;
    expect(defaults.filter((s) => s.namespace === 'kube-system' && !s.runtime)).toHaveLength(5);
    expect(fixed.filter((s) => s.namespace === 'kube-system').map((s) => [s.name, s.runtime])).toEqual([['prometheus-kube-prometheus-kubelet', true]]);
  });
});

describe('Service addresses in values', () => {
  it('finds URLs, host:port strings and { service, port } pairs', () => {
    const found = serviceAddresses({
      a: 'http://grafana.monitoring.svc.cluster.local',
      b: { zipkin: { address: 'jaeger.monitoring:9411' } },
      c: [{ zipkin: { service: 'jaeger.monitoring.svc.cluster.local', port: 9411 } }],
      d: 'https://grafana.com/api',
      e: 'not an address',
    });
    expect(found.map((a) => [a.pointer, a.host, a.port])).toEqual([
      ['/a', 'grafana.monitoring.svc.cluster.local', 80],
      ['/b/zipkin/address', 'jaeger.monitoring', 9411],
      ['/c/0/zipkin/service', 'jaeger.monitoring.svc.cluster.local', 9411],
      ['/d', 'grafana.com', 443],
    ]);
  });

  it('reads name.namespace only for namespaces of the input', () => {
    const namespaces = new Set(['monitoring']);
    expect(serviceOf('jaeger.monitoring.svc.cluster.local', namespaces)).toEqual({ name: 'jaeger', namespace: 'monitoring' });
    expect(serviceOf('jaeger.monitoring', namespaces)).toEqual({ name: 'jaeger', namespace: 'monitoring' });
    expect(serviceOf('grafana.com', namespaces)).toBeUndefined();
    expect(serviceOf('api.openai.com', namespaces)).toBeUndefined();
  });
});
