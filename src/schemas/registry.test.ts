import { describe, expect, it } from 'vitest';
import { createSchemaRegistry, evaluateCelRule, goDurationMs, re2Patterns } from './registry.js';

const registry = createSchemaRegistry();

describe('schema registry over ../shared/schemas', () => {
  it('knows the Istio, Argo CD, Prometheus Operator and Kubernetes kinds', () => {
    const kinds = registry.knownKinds();
    for (const k of [
      'networking.istio.io/v1/VirtualService',
      'security.istio.io/v1/PeerAuthentication',
      'argoproj.io/v1alpha1/Application',
      'monitoring.coreos.com/v1/PrometheusRule',
      'apps/v1/Deployment',
      'v1/Service',
    ]) {
      expect(kinds).toContain(k);
    }
  });

  it('accepts a valid VirtualService and names the path of a wrong type and an unknown field', () => {
    const validate = registry.validatorFor('networking.istio.io/v1', 'VirtualService')!;
    const good = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'backend' },
      spec: { hosts: ['backend'], http: [{ name: 'primary', route: [{ destination: { host: 'backend', subset: 'stable' }, weight: 100 }] }] },
    };
    expect(validate(good)).toEqual([]);
    const bad = structuredClone(good) as { spec: { http: { route: { weight: unknown }[]; colour?: string }[] } };
    bad.spec.http[0]!.route[0]!.weight = 'heavy';
    bad.spec.http[0]!.colour = 'blue';
    const issues = validate(bad);
    expect(issues).toContainEqual(expect.objectContaining({ path: '/spec/http/0/route/0/weight' }));
    expect(issues).toContainEqual({ path: '/spec/http/0', message: 'unknown field "colour"' });
  });

  it('validates Kubernetes objects against the draft-04 JSON schemas', () => {
    const validate = registry.validatorFor('v1', 'Service')!;
    expect(validate({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: { ports: [{ port: 8080 }] } })).toEqual([]);
    expect(validate({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: { ports: [{ port: 'http' }] } }).length).toBeGreaterThan(0);
  });

  it('returns undefined for a kind it has no schema for', () => {
    expect(registry.validatorFor('example.com/v1', 'Widget')).toBeUndefined();
  });

  it('compiles every known kind, including Go RE2 patterns such as (?i) in the Prometheus Operator CRDs', () => {
    for (const key of registry.knownKinds()) {
      const slash = key.lastIndexOf('/');
      expect(registry.validatorFor(key.slice(0, slash), key.slice(slash + 1)), key).toBeTypeOf('function');
    }
    expect(re2Patterns('(?i)(abort|warn)?', 'u').test('WARN')).toBe(true);
    expect(re2Patterns('(?<!x', 'u').test('anything')).toBe(true);
  });

  it('runs the CEL rules of the Istio CRDs (duration >= 1ms, one-of counts) and lets rules outside the subset pass', () => {
    const validate = registry.validatorFor('networking.istio.io/v1', 'VirtualService')!;
    const vs = (timeout: string) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'a' },
      spec: { hosts: ['a'], http: [{ timeout, route: [{ destination: { host: 'a' } }] }] },
    });
    expect(validate(vs('1h30m'))).toEqual([]);
    expect(validate(vs('500us'))).toEqual([{ path: '/spec/http/0/timeout', message: 'must be a valid duration greater than 1ms' }]);
    expect(validate(vs('soon'))).toHaveLength(1);
    expect(goDurationMs('1.5s')).toBe(1500);
    expect(goDurationMs('15')).toBeUndefined();
    expect(evaluateCelRule('0 < self && self <= 65535', 0)).toBe(false);
    expect(evaluateCelRule('self in ["", "HTTP", "HTTPS"]', 'TCP')).toBe(false);
    expect(evaluateCelRule('has(self.a) || has(self.b)', {})).toBe(false);
    expect(evaluateCelRule('has(self.a) || has(self.b)', { b: 1 })).toBe(true);
    expect(evaluateCelRule('self.quantity().isGreaterThan(1)', {})).toBeUndefined();
  });
});
