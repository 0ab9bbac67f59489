import { describe, expect, it } from 'vitest';
import { hostKey, sameHost } from './cross-refs.js';

describe('hostKey / sameHost', () => {
  it.each([
    ['backend', 'prod', 'backend.prod.svc.cluster.local', undefined, true],
    ['backend', undefined, 'backend.prod.svc.cluster.local', undefined, true],
    ['backend', 'prod', 'backend', 'staging', false],
    ['backend.prod.svc', undefined, 'backend.prod.svc.cluster.local', undefined, true],
    ['api.example.com', 'prod', 'api.example.com', 'other', true],
    ['api.example.com', 'prod', 'backend', 'prod', false],
  ])('%s (%s) vs %s (%s) -> %s', (a, nsA, b, nsB, same) => {
    expect(sameHost(hostKey(a, nsA)!, hostKey(b, nsB)!)).toBe(same);
  });

  it('does not resolve wildcard hosts', () => {
    expect(hostKey('*.example.com', 'prod')).toBeUndefined();
  });
});
