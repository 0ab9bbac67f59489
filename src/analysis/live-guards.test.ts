// Live guards: custom check substitution and no-data never passing; the p99 PromQL shown to people.
import { describe, expect, it } from 'vitest';
import type { CanaryTarget } from './istio-queries.js';
import { canaryP99Query, decidingValue, evaluateLiveGuards, substituteCheckQuery } from './live-guards.js';
import { PrometheusQueryError, type InstantSample, type PrometheusClient } from './prometheus.js';
import { analysisSchema, prometheusSelectorSchema } from './settings.js';

const target: CanaryTarget = { name: 'backend', service: 'backend', namespace: 'docuthinker-prod', selector: prometheusSelectorSchema.parse({}) };

function sample(value: number): InstantSample {
  return { labels: {}, value, time: 0 };
}

/** Answers instant queries by the first matching substring; records queries and times. */
function instantClient(answers: [string, InstantSample[] | Error][]): PrometheusClient & { asked: { query: string; time?: number }[] } {
  const asked: { query: string; time?: number }[] = [];
  return {
    asked,
    instant: (query, options) => {
      asked.push({ query, time: options?.time });
      const answer = answers.find(([needle]) => query.includes(needle))?.[1] ?? [];
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
    range: () => Promise.resolve([]),
    ready: () => Promise.resolve(true),
  };
}

describe('canaryP99Query', () => {
  it('takes the quantile of the canary buckets increased over the step', () => {
    expect(canaryP99Query(target, 300)).toBe(
      'histogram_quantile(0.99, sum by (le) (increase(istio_request_duration_milliseconds_bucket{reporter="destination", ' +
        'destination_service_name="backend", destination_workload_namespace="docuthinker-prod", ' +
        'destination_canonical_revision="canary", response_flags!~".*FI.*"}[300s])))',
    );
    expect(canaryP99Query(target, 300, 1_700_000_300)).toContain('[300s] @ 1700000300)))');
  });
});

describe('substituteCheckQuery', () => {
  it.each([
    ['up{service="$service",ns="$namespace"}', 'up{service="backend",ns="docuthinker-prod"}'],
    ['rate(x{v="$canary"}[$interval]) / rate(x{v="$stable"}[$interval])', 'rate(x{v="canary"}[60s]) / rate(x{v="stable"}[60s])'],
    ['x{a="$services"}', 'x{a="$services"}'],
  ])('%s', (query, expected) => {
    expect(substituteCheckQuery(query, target, 60)).toBe(expected);
  });
  it('escapes label values', () => {
    expect(substituteCheckQuery('x{s="$service"}', { ...target, service: 'we"ird' }, 60)).toBe('x{s="we\\"ird"}');
  });
});

describe('decidingValue', () => {
  it.each<[number[], '<=' | '>=', number | null]>([
    [[], '<=', null],
    [[Number.NaN], '<=', null],
    [[1, 5, 3], '<=', 5],
    [[1, 5, 3], '>=', 1],
    [[Number.NaN, 2], '<=', 2],
    [[Number.POSITIVE_INFINITY], '<=', null],
    [[Number.NEGATIVE_INFINITY, 3], '>=', 3],
  ])('%j %s -> %s', (values, op, expected) => {
    expect(decidingValue(values.map(sample), op)).toBe(expected);
  });
});

describe('evaluateLiveGuards', () => {
  const settings = analysisSchema.parse({
    interval: '1m',
    latencyP99: { maxMs: 400 },
    custom: [
      { name: 'cpu', query: 'cpu{svc="$service"}', op: '<=', threshold: 0.8 },
      { name: 'availability', query: 'avail{svc="$service"}', op: '>=', threshold: 0.999 },
      { name: 'silent', query: 'nothing{svc="$service"}', threshold: 1 },
    ],
  });

  it('evaluates the custom checks at now, with empty results as no-data; p99 is left to the judge', async () => {
    const client = instantClient([
      ['histogram_quantile', [sample(250)]],
      ['cpu{', [sample(0.9)]],
      ['avail{', [sample(0.9995)]],
    ]);
    const outcomes = await evaluateLiveGuards(client, target, settings, { stepStart: 1000, now: 1300 });
    expect(outcomes.map((o) => [o.name, o.status, o.value])).toEqual([
      ['cpu', 'fail', 0.9],
      ['availability', 'pass', 0.9995],
      ['silent', 'no-data', null],
    ]);
    expect(client.asked.every((a) => a.time === 1300)).toBe(true);
    expect(client.asked.some((a) => a.query.includes('histogram_quantile'))).toBe(false);
  });

  it('asks Prometheus nothing when the policy has no custom checks', async () => {
    const client = instantClient([]);
    expect(await evaluateLiveGuards(client, target, analysisSchema.parse({}), { stepStart: 1000, now: 1000 })).toEqual([]);
    expect(client.asked).toEqual([]);
  });

  it('throws a rejected custom query instead of failing the canary', async () => {
    const bad = new PrometheusQueryError('Prometheus rejected the query', 'http://127.0.0.1:9090/api/v1/query', 'cpu{', 'bad_data');
    const client = instantClient([['cpu{', bad]]);
    await expect(evaluateLiveGuards(client, target, settings, { stepStart: 0, now: 60 })).rejects.toBe(bad);
  });
});
