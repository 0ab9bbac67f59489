// Invariants of the mesh configuration in gitops/ that no schema can see: the JWT rule still holds after
// Envoy's path normalization, retries never repeat a request that ran, and istiod can roll out on 3 nodes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { arr, at, obj, str, strings } from '../src/validate/shape.js';

const load = (file: string): unknown[] => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as unknown);
const istiodValues = load('gitops/istio/installation/values.yaml')[0];

/**
 * Envoy's path normalization as Istio configures it (meshConfig.pathNormalization): BASE is RFC 3986
 * dot-segment removal; DECODE_AND_MERGE_SLASHES first decodes %2F / %5C, and MERGE_SLASHES merges `//`.
 */
function normalize(path: string, mode: string): string {
  let p = path;
  if (mode === 'DECODE_AND_MERGE_SLASHES') p = p.replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  // Envoy treats a backslash as a slash when it normalizes (RFC 3986 + Windows-style separators).
  if (mode !== 'NONE') p = p.replace(/\\/g, '/');
  if (mode === 'MERGE_SLASHES' || mode === 'DECODE_AND_MERGE_SLASHES') p = p.replace(/\/{2,}/g, '/');
  if (mode === 'NONE') return p;
  const out: string[] = [];
  for (const segment of p.split('/').slice(1)) {
    if (segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  const last = p.split('/').at(-1);
  return '/' + out.join('/') + (last === '.' || last === '..' ? '/' : '');
}

/** Istio AuthorizationPolicy path matching: exact, `prefix*`, `*suffix`, or `*`. */
function pathMatches(pattern: string, path: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return path.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return path.endsWith(pattern.slice(1));
  return path === pattern;
}

describe('the JWT rule under path normalization', () => {
  const mode = str(at(istiodValues, 'meshConfig', 'pathNormalization', 'normalization')) ?? 'BASE';
  const policy = load('gitops/istio/policies/request-authentication.yaml').find((d) => at(d, 'metadata', 'name') === 'require-jwt-for-api');
  const rules = arr(at(policy, 'spec', 'rules'));
  // The DENY applies to a request without a principal when one of its operations matches the path.
  const denied = (rawPath: string) =>
    rules.some((rule) =>
      arr(at(rule, 'to')).some((to) => {
        const operation = obj(at(to, 'operation')) ?? {};
        // A hosts condition would add spellings to get wrong; the rule must hold for any host.
        if (operation.hosts !== undefined || operation.notHosts !== undefined) return false;
        return strings(operation.paths).some((p) => pathMatches(p, normalize(rawPath.split('?')[0]!, mode)));
      }),
    );

  it('normalizes with slashes merged and %2F decoded', () => {
    expect(mode).toBe('DECODE_AND_MERGE_SLASHES');
    expect(at(policy, 'spec', 'action')).toBe('DENY');
  });

  it.each([
    '/api',
    '/api/',
    '/api/documents',
    '/api/documents?id=1',
    '//api/documents',
    '/api//documents',
    '///api',
    '/./api/documents',
    '/static/../api/documents',
    '/api%2Fdocuments',
    '/%2Fapi/documents',
    '/%2fapi%2fdocuments',
    '/%5Capi/documents',
    '/api/./documents',
  ])('denies %s without a token', (path) => {
    expect(denied(path)).toBe(true);
  });

  it.each(['/', '/index.html', '/static/app.js', '/documents/42', '/favicon.ico'])('leaves the single-page app public: %s', (path) => {
    expect(denied(path)).toBe(false);
  });
});

describe('retries and timeouts', () => {
  const SAFE = new Set(['connect-failure', 'refused-stream', 'reset-before-request']);
  const routes = (service: string) => arr(at(load(`gitops/istio/traffic-management/virtualservices/${service}.yaml`)[0], 'spec', 'http'));
  const seconds = (d: unknown) => Number(/^(\d+)s$/.exec(String(d))?.[1]);

  it.each(['frontend', 'backend', 'ai-service'])('%s: every route retries only requests that never reached a pod', (service) => {
    for (const route of routes(service)) {
      const retryOn = String(at(route, 'retries', 'retryOn')).split(',');
      expect(retryOn.filter((t) => !SAFE.has(t)), String(at(route, 'name'))).toEqual([]);
    }
  });

  it('ai-service has a budget for a model completion, and the callers budgets nest around it', () => {
    const budget = (service: string) => new Set(routes(service).map((r) => seconds(at(r, 'timeout'))));
    const [ai, backend, frontend] = ['ai-service', 'backend', 'frontend'].map((s) => [...budget(s)]);
    // One budget per service, the same on the opt-in canary routes as on primary.
    expect([ai, backend, frontend].map((b) => b!.length)).toEqual([1, 1, 1]);
    expect(ai![0]).toBeGreaterThanOrEqual(30);
    expect(backend![0]).toBeGreaterThan(ai![0]!);
    expect(frontend![0]).toBeGreaterThan(backend![0]!);
    // A per-try timeout shorter than the budget would cut a completion off and fail it.
    for (const route of routes('ai-service')) expect(at(route, 'retries', 'perTryTimeout')).toBeUndefined();
  });
});

describe('istiod on a cluster of 3 nodes', () => {
  const pilot = obj(at(istiodValues, 'pilot')) ?? {};

  it('spreads by preference only', () => {
    expect(at(pilot, 'affinity', 'podAntiAffinity', 'requiredDuringSchedulingIgnoredDuringExecution')).toBeUndefined();
    expect(arr(at(pilot, 'affinity', 'podAntiAffinity', 'preferredDuringSchedulingIgnoredDuringExecution')).length).toBeGreaterThan(0);
  });

  it('may take one pod down during a rollout, so a rollout progresses without a free node', () => {
    const replicas = Number(pilot.autoscaleMin ?? pilot.replicaCount);
    const unavailable = pilot.rollingMaxUnavailable;
    // Kubernetes rounds a percentage of maxUnavailable down.
    const pods = typeof unavailable === 'string' && unavailable.endsWith('%') ? Math.floor((replicas * Number(unavailable.slice(0, -1))) / 100) : Number(unavailable);
    expect(replicas).toBe(3);
    expect(pods).toBeGreaterThanOrEqual(1);
  });
});
