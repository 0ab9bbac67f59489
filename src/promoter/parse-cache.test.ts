import { describe, expect, it } from 'vitest';
import { ParseCache } from './parse-cache.js';

describe('ParseCache', () => {
  const counting = () => {
    const calls: string[] = [];
    return { calls, parse: (text: string) => (calls.push(text), { parsed: text.toUpperCase() }) };
  };

  it('parses a file again only when its text changed', () => {
    const cache = new ParseCache();
    const { calls, parse } = counting();
    const first = cache.get('manifest', 'a.yaml', 'x: 1', parse);
    cache.nextTick();
    expect(cache.get('manifest', 'a.yaml', 'x: 1', parse)).toBe(first);
    expect(calls).toEqual(['x: 1']);
    cache.nextTick();
    expect(cache.get('manifest', 'a.yaml', 'x: 2', parse)).toEqual({ parsed: 'X: 2' });
    expect(calls).toEqual(['x: 1', 'x: 2']);
  });

  it('keeps what a file gave as a policy and as a state apart', () => {
    const cache = new ParseCache();
    expect(cache.get('state', 'a.yaml', 't', () => 'state')).toBe('state');
    expect(cache.get('policy', 'a.yaml', 't', () => 'policy')).toBe('policy');
  });

  it('drops what a whole tick did not read', () => {
    const cache = new ParseCache();
    const { calls, parse } = counting();
    cache.get('manifest', 'gone.yaml', 'y', parse);
    cache.nextTick(); // not read in this tick
    cache.nextTick();
    cache.get('manifest', 'gone.yaml', 'y', parse);
    expect(calls).toEqual(['y', 'y']);
  });

  it('keeps no failed parse: the error comes again', () => {
    const cache = new ParseCache();
    const bad = () => {
      throw new Error('bad.yaml: malformed');
    };
    expect(() => cache.get('policy', 'bad.yaml', ':', bad)).toThrow('malformed');
    expect(() => cache.get('policy', 'bad.yaml', ':', bad)).toThrow('malformed');
  });
});
