import { describe, expect, it } from 'vitest';
import { chartOf, isHelmValuesFile } from './helm-values.js';

describe('Helm values files', () => {
  it.each([
    ['gitops/istio/installation/values-ingress-gateway.yaml', true, 'gateway'],
    ['gitops/istio/installation/istiod/values.yaml', true, 'istiod'],
    ['gitops/istio/observability/addons/values-kiali.yaml', true, 'kiali-server'],
    ['gitops/istio/installation/values.yaml', true, undefined],
    ['gitops/apps/backend/values.yaml', false, undefined],
  ])('%s', (path, candidate, chart) => {
    expect(isHelmValuesFile(path)).toBe(candidate);
    if (candidate) expect(chartOf(path)).toBe(chart);
  });
});
