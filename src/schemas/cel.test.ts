import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { celRuleSupported, evaluateCel } from './cel.js';

/** Every distinct x-kubernetes-validations rule in a CRD file. */
function rulesIn(file: string): string[] {
  const rules = new Set<string>();
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (n !== null && typeof n === 'object') {
      const v = (n as Record<string, unknown>)['x-kubernetes-validations'];
      if (Array.isArray(v)) for (const r of v as { rule?: unknown }[]) if (typeof r.rule === 'string') rules.add(r.rule);
      Object.values(n).forEach(walk);
    }
  };
  parseAllDocuments(readFileSync(file, 'utf8')).forEach((d) => walk(d.toJS()));
  return [...rules];
}

describe('the CEL interpreter', () => {
  it('evaluates every rule of the Istio CRDs (the list below names any it cannot)', () => {
    const rules = rulesIn('../shared/schemas/istio/crd-all.gen.yaml');
    expect(rules.length).toBeGreaterThan(30);
    expect(rules.filter((r) => !celRuleSupported(r))).toEqual([]);
  });

  it.each([
    ["duration(self) >= duration('1ms')", '500us', false],
    ["duration(self) >= duration('1ms')", '1h30m', true],
    ["duration(self) >= duration('1ms')", 'soon', false],
    ['(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1', { selector: {}, targetRefs: [] }, false],
    ['(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1', { selector: {} }, true],
    ['self.all(l1, self.exists_one(l2, l1.number == l2.number))', [{ number: 80 }, { number: 80 }], false],
    ['self.all(l1, self.exists_one(l2, l1.number == l2.number))', [{ number: 80 }, { number: 443 }], true],
    ['self.all(key, 0 < int(key) && int(key) <= 65535)', { '8080': {} }, true],
    ['self.all(key, 0 < int(key) && int(key) <= 65535)', { '70000': {} }, false],
    ['self.startsWith("unix://") ? (self.substring(7, 8) == "/" || self.substring(7, 8) == "@") : true', 'unix://tmp/x', false],
    ['self.startsWith("unix://") ? (self.substring(7, 8) == "/" || self.substring(7, 8) == "@") : true', 'unix:///tmp/x', true],
    ['url(self).getScheme() in ["http", "https"]', 'ftp://example.com/jwks', false],
    ['url(self).getScheme() in ["http", "https"]', 'https://example.com/jwks', true],
    ['!((has(self.addresses) ? self.addresses : []).exists(k, k.contains("/")) && !((has(self.resolution) ? self.resolution : "NONE") in ["STATIC", "NONE"]))', { addresses: ['10.0.0.0/8'], resolution: 'DNS' }, false],
    ['has(self.portLevelMtls) ? (((has(self.selector) && has(self.selector.matchLabels)) ? self.selector.matchLabels : {}).size() > 0) : true', { portLevelMtls: {} }, false],
    ['self.all(key, size(key) < 63 && key.matches("^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$"))', { 'http-web': 1 }, true],
  ])('%s on %j -> %s', (rule, self, expected) => {
    expect(evaluateCel(rule, self)).toBe(expected);
  });

  it('leaves rules outside its subset unevaluated', () => {
    expect(evaluateCel('self.quantity().isGreaterThan(1)', {})).toBeUndefined();
    expect(celRuleSupported('self ~ 1')).toBe(false);
  });
});
