import { describe, expect, it } from 'vitest';
import { histogramQuantile } from './quantile.js';
import { ENVOY_BUCKETS_MS } from './settings.js';

const edges = [...ENVOY_BUCKETS_MS];
// The example: stable's buckets in one window.
const stableLe = [0, 0, 3, 40, 900, 6000, 10500, 11200, 11350, 11390, 11400, 11400, 11400, 11400, 11400, 11400, 11400, 11400, 11400];

describe('histogramQuantile (PromQL semantics)', () => {
  it('interpolates linearly inside the bucket that holds the rank', () => {
    // rank 0.99 * 11400 = 11286 falls in (250, 500]: 250 + 250 * (11286 - 11200) / 150.
    expect(histogramQuantile(0.99, edges, stableLe, 11400)).toBeCloseTo(250 + (250 * 86) / 150, 9);
    // rank 5700 falls in (25, 50]: 25 + 25 * (5700 - 900) / 5100.
    expect(histogramQuantile(0.5, edges, stableLe, 11400)).toBeCloseTo(25 + (25 * 4800) / 5100, 9);
  });

  it('takes 0 as the lower bound of the first bucket', () => {
    expect(histogramQuantile(0.5, [10, 20], [4, 4], 4)).toBeCloseTo(5, 9);
  });

  it('returns the highest finite edge when the rank is in +Inf', () => {
    expect(histogramQuantile(0.99, [10, 20], [1, 2], 100)).toBe(20);
  });

  it('is NaN without observations, and +-Inf outside [0, 1]', () => {
    expect(histogramQuantile(0.99, [10, 20], [0, 0], 0)).toBeNaN();
    expect(histogramQuantile(1.5, [10, 20], [1, 1], 1)).toBe(Number.POSITIVE_INFINITY);
    expect(histogramQuantile(-1, [10, 20], [1, 1], 1)).toBe(Number.NEGATIVE_INFINITY);
  });

  it('forces non-monotone counts to be monotone as Prometheus does', () => {
    // le=20 reads 3 < 5 at le=10 (a scrape race): treated as 5, so the median is in (0, 10].
    expect(histogramQuantile(0.5, [10, 20], [5, 3], 6)).toBeCloseTo(6, 9);
  });
});
