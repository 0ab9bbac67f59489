import { describe, expect, it } from 'vitest';
import { mapConcurrent } from './concurrent.js';

describe('mapConcurrent', () => {
  it('keeps the items’ order and never runs more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const results = await mapConcurrent([5, 1, 4, 2, 3, 0], 2, async (ms, i) => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, ms));
      running--;
      return `${i}:${ms}`;
    });
    expect(results).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3', '5:0']);
    expect(most).toBe(2);
  });

  it('rejects with the first failure and handles no items', async () => {
    await expect(mapConcurrent([1, 2], 4, (x) => (x === 2 ? Promise.reject(new Error('two')) : Promise.resolve(x)))).rejects.toThrow('two');
    expect(await mapConcurrent([], 4, () => Promise.resolve(1))).toEqual([]);
  });
});
