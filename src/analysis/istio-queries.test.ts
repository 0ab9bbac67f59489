// PromQL builders: escaping, one query per selector group, le spellings, series classification.
import { describe, expect, it } from 'vitest';
import {
  armSelector,
  classifySeries,
  escapeLabelValue,
  escapeRegex,
  groupTargets,
  InvalidLabelNameError,
  isServerError,
  latencyBucketsQuery,
  leLabelSpellings,
  matchAny,
  parseLe,
  requestsQuery,
  type CanaryTarget,
} from './istio-queries.js';
import { ENVOY_BUCKETS_MS, prometheusSelectorSchema } from './settings.js';

const defaults = prometheusSelectorSchema.parse({});

function target(name: string, overrides: Partial<typeof defaults> = {}, namespace = 'docuthinker-prod'): CanaryTarget {
  return { name, service: name, namespace, selector: { ...defaults, ...overrides } };
}

describe('escapeLabelValue', () => {
  it.each([
    ['plain', 'plain'],
    ['a"b', 'a\\"b'],
    ['back\\slash', 'back\\\\slash'],
    ['two\nlines', 'two\\nlines'],
    ['\\"', '\\\\\\"'],
  ])('%j -> %j', (input, expected) => {
    expect(escapeLabelValue(input)).toBe(expected);
  });
});

describe('escapeRegex and matchAny', () => {
  it('escapes RE2 metacharacters', () => {
    expect(escapeRegex('a.b|c*(d)')).toBe('a\\.b\\|c\\*\\(d\\)');
  });
  it('uses equality for one value and a sorted alternation for several', () => {
    expect(matchAny('x', ['b'])).toBe('x="b"');
    expect(matchAny('x', ['frontend', 'backend', 'frontend'])).toBe('x=~"backend|frontend"');
  });
  it('escapes regex, then the string, so a dot stays literal inside the quotes', () => {
    expect(matchAny('x', ['v1.2', 'v2'])).toBe('x=~"v1\\\\.2|v2"');
  });
});

describe('le spellings', () => {
  it.each([
    [0.5, ['0.5']],
    [500, ['500', '500.0']],
    [600000, ['600000', '600000.0']],
    [1800000, ['1800000', '1800000.0', '1.8e+06']],
  ])('%d -> %j', (edge, expected) => {
    expect(leLabelSpellings(edge)).toEqual(expected);
  });
  it('parses every spelling back to the edge', () => {
    for (const edge of ENVOY_BUCKETS_MS) for (const s of leLabelSpellings(edge)) expect(parseLe(s)).toBe(edge);
    expect(parseLe('+Inf')).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('batched queries', () => {
  it('groups canaries by selector settings: one query per group', () => {
    const groups = groupTargets([
      target('backend'),
      target('frontend'),
      target('ai-service', { armLabel: 'destination_version' }),
    ]);
    expect(groups.map((g) => g.targets.map((t) => t.name))).toEqual([['backend', 'frontend'], ['ai-service']]);
    expect(requestsQuery(groups[0]!)).toBe(
      'istio_requests_total{reporter="destination", destination_service_name=~"backend|frontend", ' +
        'destination_workload_namespace="docuthinker-prod", destination_canonical_revision=~"canary|stable", response_flags!~".*FI.*"}',
    );
    expect(requestsQuery(groups[1]!)).toContain('destination_version=~"canary|stable"');
  });

  it('keeps fault-injected requests when asked to', () => {
    const [group] = groupTargets([target('backend', { excludeFaultInjected: false })]);
    expect(requestsQuery(group!)).not.toContain('response_flags');
  });

  it('restricts the latency query to the edges needed and +Inf', () => {
    const [group] = groupTargets([target('backend')]);
    const query = latencyBucketsQuery(group!, [500, 1000]);
    expect(query.startsWith('istio_request_duration_milliseconds_bucket{reporter="destination"')).toBe(true);
    expect(query).toContain('le=~"\\\\+Inf|1000|1000\\\\.0|500|500\\\\.0"');
  });

  it('never sums: raw series keep each pod counter separate', () => {
    const [group] = groupTargets([target('backend')]);
    expect(requestsQuery(group!)).not.toMatch(/\bsum\b|\bincrease\b|\brate\b/);
  });

  it('builds one arm selector for a live guard', () => {
    expect(armSelector(target('backend'), 'canary')).toBe(
      'reporter="destination", destination_service_name="backend", destination_workload_namespace="docuthinker-prod", ' +
        'destination_canonical_revision="canary", response_flags!~".*FI.*"',
    );
  });
});

describe('classifySeries', () => {
  const groups = groupTargets([target('backend'), target('frontend')]);
  const group = groups[0]!;
  const base = { destination_service_name: 'backend', destination_workload_namespace: 'docuthinker-prod' };
  it.each([
    [{ ...base, destination_canonical_revision: 'stable' }, ['backend'], 'stable'],
    [{ ...base, destination_canonical_revision: 'canary' }, ['backend'], 'canary'],
    [{ ...base, destination_canonical_revision: 'latest' }, undefined, undefined],
    [{ ...base, destination_workload_namespace: 'other', destination_canonical_revision: 'canary' }, undefined, undefined],
  ])('%j', (labels, names, arm) => {
    const owner = classifySeries(labels, group);
    expect(owner?.targets.map((t) => t.name)).toEqual(names);
    expect(owner?.arm).toBe(arm);
  });
});

describe('isServerError', () => {
  it.each([
    ['503', true],
    ['500', true],
    ['200', false],
    ['404', false],
    ['0', false],
    [undefined, false],
  ])('%s -> %s', (code, expected) => {
    expect(isServerError(code)).toBe(expected);
  });
});

// Issue 11 item 7: `armLabel: x=~".+"} or vector(1) or up{x` was sent to Prometheus as written.
describe('label names from a policy', () => {
  const injection = 'x=~".+"} or vector(1) or up{x';

  it('are refused by the policy schema', () => {
    for (const field of ['armLabel', 'serviceLabel', 'namespaceLabel']) {
      const result = prometheusSelectorSchema.safeParse({ [field]: injection });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.message).toContain('must be a Prometheus label name');
    }
    expect(prometheusSelectorSchema.safeParse({ armLabel: '1abc' }).success).toBe(false);
    expect(prometheusSelectorSchema.safeParse({ armLabel: '_ok_Label9' }).success).toBe(true);
  });

  it('are refused by the query builder even when the schema was bypassed', () => {
    const group = groupTargets([target('backend', { armLabel: injection })])[0]!;
    expect(() => requestsQuery(group)).toThrow(InvalidLabelNameError);
    expect(() => latencyBucketsQuery(group, [500])).toThrow(/not a Prometheus label name/);
    expect(() => armSelector(target('backend', { serviceLabel: 'a b' }), 'canary')).toThrow(InvalidLabelNameError);
  });

  it('keep label values escaped, so PromQL in a value stays a string', () => {
    const query = requestsQuery(groupTargets([target('x"} or vector(1) or up{x="')])[0]!);
    expect(query).toContain('destination_service_name="x\\"} or vector(1) or up{x=\\""');
  });
});

describe('a multi-cluster canary on one endpoint', () => {
  const inCluster = (name: string, cluster: string, label = 'cluster'): CanaryTarget => ({ ...target(name), name: `${name}@${cluster}`, cluster: { name: cluster, label } });

  it('carries every cluster in one query, with one more matcher', () => {
    const groups = groupTargets([inCluster('backend', 'east'), inCluster('backend', 'west'), target('frontend')]);
    expect(groups).toHaveLength(2);
    expect(requestsQuery(groups[0]!)).toContain('cluster=~"east|west"');
    expect(requestsQuery(groups[1]!)).not.toContain('cluster');
  });

  it("classifies a series to its own cluster's target only", () => {
    const [group] = groupTargets([inCluster('backend', 'east'), inCluster('backend', 'west')]);
    const labels = { reporter: 'destination', destination_service_name: 'backend', destination_workload_namespace: 'docuthinker-prod', destination_canonical_revision: 'canary', cluster: 'west' };
    expect(classifySeries(labels, group!)?.targets.map((t) => t.name)).toEqual(['backend@west']);
    expect(classifySeries({ ...labels, cluster: 'north' }, group!)).toBeUndefined();
  });

  it('refuses a cluster label that is not a Prometheus label name', () => {
    const [group] = groupTargets([inCluster('backend', 'east', 'cluster"} or vector(1) #')]);
    expect(() => requestsQuery(group!)).toThrow(InvalidLabelNameError);
  });

  it("a cluster's own endpoint needs no cluster matcher", () => {
    const [group] = groupTargets([{ ...target('backend'), name: 'backend@east', cluster: { name: 'east' } }]);
    expect(requestsQuery(group!)).not.toContain('east');
  });
});
