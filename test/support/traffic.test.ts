// Seeded traffic: reproducible draws, the right means, and counters that add up.
import { describe, expect, it } from 'vitest';
import { ENVOY_BUCKETS_MS } from '../../src/analysis/settings.js';
import { binomial, bucketIndex, normalCdf, poisson, recordRequests, seededRandom, splitByWeight, type ArmCounters } from './traffic.js';

function mean(draw: () => number, n: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += draw();
  return total / n;
}

describe('seededRandom', () => {
  it('repeats for a seed, differs across seeds, stays in [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const first = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(first);
    expect(Array.from({ length: 5 }, c)).not.toEqual(first);
    const r = seededRandom(1);
    for (let i = 0; i < 10_000; i++) {
      const x = r();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });
});

describe('distributions', () => {
  it.each([0.5, 5, 40, 500])('poisson(%d) has that mean', (lambda) => {
    const random = seededRandom(7);
    expect(mean(() => poisson(random, lambda), 20_000)).toBeCloseTo(lambda, lambda < 10 ? 1 : 0);
  });

  it.each<[number, number]>([
    [10, 0.3],
    [1000, 0.005],
    [1000, 0.5],
    [1000, 0.995],
  ])('binomial(%d, %d) has mean n*p and stays within [0, n]', (n, p) => {
    const random = seededRandom(11);
    const draws = Array.from({ length: 5_000 }, () => binomial(random, n, p));
    expect(draws.every((k) => Number.isInteger(k) && k >= 0 && k <= n)).toBe(true);
    expect(mean(() => draws.pop() ?? 0, 5_000) / (n * p)).toBeCloseTo(1, 1);
  });

  it('handles degenerate arguments', () => {
    const random = seededRandom(1);
    expect(poisson(random, 0)).toBe(0);
    expect(binomial(random, 0, 0.5)).toBe(0);
    expect(binomial(random, 10, 0)).toBe(0);
    expect(binomial(random, 10, 1)).toBe(10);
  });

  it.each([
    [0, 0.5],
    [1.96, 0.975],
    [-1.96, 0.025],
  ])('normalCdf(%d) = %d', (z, p) => {
    expect(normalCdf(z)).toBeCloseTo(p, 4);
  });
});

describe('bucketIndex', () => {
  it.each([
    [0.1, 0],
    [0.5, 0],
    [0.6, 1],
    [500, 8],
    [501, 9],
    [4_000_000, ENVOY_BUCKETS_MS.length],
  ])('%d ms falls in bucket %d (le semantics, last is +Inf)', (ms, index) => {
    expect(bucketIndex(ENVOY_BUCKETS_MS, ms)).toBe(index);
  });
});

describe('recordRequests', () => {
  it.each([50, 5_000])('adds %d requests split into 200/503 with every request in one bucket', (requests) => {
    const counters: ArmCounters = new Map();
    const errors = recordRequests(counters, seededRandom(3), requests, { errorRate: 0.1, latencyMedianMs: 40 }, ENVOY_BUCKETS_MS);
    const ok = counters.get('200')!;
    const failed = counters.get('503')!;
    expect(failed.requests).toBe(errors);
    expect(ok.requests + failed.requests).toBe(requests);
    for (const entry of [ok, failed]) {
      expect(entry.buckets.reduce((a, b) => a + b, 0)).toBe(entry.requests);
      expect(entry.buckets.every((b) => Number.isInteger(b) && b >= 0)).toBe(true);
    }
    // median 40 ms: about half the requests at or under the 50 ms edge, few above 250 ms
    const le50 = ok.buckets.slice(0, bucketIndex(ENVOY_BUCKETS_MS, 50) + 1).reduce((a, b) => a + b, 0);
    expect(le50 / ok.requests).toBeGreaterThan(0.5);
    expect(le50 / ok.requests).toBeLessThan(0.8);
    expect(ok.sumMs / ok.requests).toBeGreaterThan(30);
    expect(ok.sumMs / ok.requests).toBeLessThan(60);
  });
});

describe('splitByWeight', () => {
  it.each<[number, number, number, number]>([
    [100, 0, 1000, 0],
    [0, 100, 0, 1000],
    [0, 0, 0, 0],
  ])('stable %d / canary %d', (stableWeight, canaryWeight, stable, canary) => {
    expect(splitByWeight(seededRandom(1), 1000, stableWeight, canaryWeight)).toEqual({ stable, canary });
  });

  it('splits by weight / sum of weights', () => {
    const random = seededRandom(5);
    let canary = 0;
    for (let i = 0; i < 100; i++) canary += splitByWeight(random, 1000, 9, 1).canary;
    expect(canary / 100_000).toBeCloseTo(0.1, 2);
  });
});
