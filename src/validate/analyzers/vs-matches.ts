// The VirtualService rule checks istiod runs as warnings (analyzeUnreachable{HTTP,TCP,TLS}Rules):
// a rule after a match-less rule, or whose matches all repeat earlier ones, is unreachable (IST0130);
// a match that repeats an earlier one, or whose URI prefix an earlier match covers, is ineffective (IST0131).
import { encodePointer } from '../load.js';
import { arr, at, obj, str } from '../shape.js';
import type { Finding } from '../types.js';
import { K, report, type Resource } from './context.js';
import type { Analyzer } from './types.js';

/** JSON of a match without its name and without empty values (Go's omitempty), keys sorted. */
function canonical(value: unknown, dropName: boolean): string {
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) {
      const items = v.map(norm).filter((x) => x !== undefined);
      return items.length === 0 ? undefined : items;
    }
    const o = obj(v);
    if (o) {
      const entries = Object.keys(o)
        .sort()
        .map((k) => [k, norm(o[k])] as const)
        .filter(([, x]) => x !== undefined);
      return entries.length === 0 ? undefined : Object.fromEntries(entries);
    }
    return v === null || v === false || v === 0 || v === '' ? undefined : v;
  };
  const o = obj(value);
  const copy = o && dropName ? Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'name')) : value;
  return JSON.stringify(norm(copy) ?? {});
}

function routeName(route: unknown, n: number, http: boolean): string {
  const name = http ? str(at(route, 'name')) : undefined;
  return name ? JSON.stringify(name) : `#${n}`;
}

function requestName(match: unknown, n: number, http: boolean): string {
  const name = http ? str(at(match, 'name')) : undefined;
  return name ? JSON.stringify(name) : `#${n}`;
}

interface PrefixMatch {
  route: string;
  match: string;
  prefix: string;
  port: unknown;
  method: string;
  authority: string;
  headers: Record<string, string>;
  queryParams: Record<string, string>;
  withoutHeaders: Record<string, string>;
}

const exactOrPrefix = (m: unknown): string => {
  const exact = str(at(m, 'exact')) ?? '';
  const prefix = str(at(m, 'prefix')) ?? '';
  return exact !== '' ? `exact:${exact}` : prefix !== '' ? `prefix:${prefix}` : '';
};

function prefixMatch(route: string, match: unknown, n: number): PrefixMatch | undefined {
  const prefix = str(at(match, 'uri', 'prefix')) ?? '';
  if (prefix === '') return undefined;
  const mapOf = (field: string) => Object.fromEntries(Object.entries(obj(at(match, field)) ?? {}).map(([k, v]) => [k, exactOrPrefix(v)]));
  return {
    route,
    match: requestName(match, n, true),
    prefix,
    port: at(match, 'port') ?? 0,
    method: exactOrPrefix(at(match, 'method')) || 'exact:GET',
    authority: exactOrPrefix(at(match, 'authority')),
    headers: mapOf('headers'),
    queryParams: mapOf('queryParams'),
    withoutHeaders: mapOf('withoutHeaders'),
  };
}

function mapCovered(a: Record<string, string>, b: Record<string, string>): boolean {
  if (Object.keys(a).length !== Object.keys(b).length) return false;
  return Object.entries(a).every(([k, v]) => k in b && (v === b[k] || v.startsWith(b[k]!)));
}

/** coveredValidation: does the earlier prefix match a cover the later b? */
function covered(a: PrefixMatch, b: PrefixMatch): boolean {
  if (!b.prefix.startsWith(a.prefix) || b.port !== a.port) return false;
  if (a.method !== b.method && !a.method.startsWith(b.method)) return false;
  if (a.authority !== b.authority && !a.authority.startsWith(b.authority)) return false;
  return mapCovered(a.headers, b.headers) && mapCovered(a.queryParams, b.queryParams) && mapCovered(a.withoutHeaders, b.withoutHeaders);
}

function analyzeRules(vs: Resource, protocol: 'http' | 'tcp' | 'tls'): Finding[] {
  const http = protocol === 'http';
  const routes = arr(vs.spec[protocol]);
  const findings: Finding[] = [];
  const unreachable = (n: number, name: string, reason: string) =>
    findings.push(report(vs, 'IST0130', `VirtualService rule ${name} not used (${reason}).`, { pointer: encodePointer(['spec', protocol, n]) }));
  const ineffective = (n: number, k: number | undefined, name: string, match: string, dup: string) =>
    findings.push(
      report(vs, 'IST0131', `VirtualService rule ${name} match ${match} is not used (duplicate/overlapping match in rule ${dup}).`, {
        pointer: encodePointer(k === undefined ? ['spec', protocol, n] : ['spec', protocol, n, 'match', k]),
      }),
    );
  const seen = new Map<string, number>();
  let emptyMatch = -1;
  const prefixes: { m: PrefixMatch; n: number; k: number }[] = [];
  routes.forEach((route, n) => {
    if (route === null || route === undefined) return;
    const name = routeName(route, n, http);
    const matches = arr(at(route, 'match'));
    if (matches.length === 0) {
      if (emptyMatch >= 0) unreachable(n, name, 'only the last rule can have no matches');
      emptyMatch = n;
      return;
    }
    let duplicates = 0;
    matches.forEach((match, k) => {
      if (emptyMatch >= 0) {
        unreachable(n, name, 'route without matches defined before');
        return;
      }
      const key = canonical(match, http);
      const dup = seen.get(key);
      if (dup !== undefined) {
        ineffective(n, k, name, requestName(match, k, http), routeName(routes[dup], dup, http));
        duplicates++;
        return;
      }
      seen.set(key, n);
      if (http) {
        const pm = prefixMatch(name, match, k);
        if (pm) prefixes.push({ m: pm, n, k });
      }
    });
    if (duplicates === matches.length) unreachable(n, name, 'all matches used by prior rules');
  });
  for (let i = 0; i < prefixes.length; i++) {
    for (let j = i + 1; j < prefixes.length; j++) {
      const a = prefixes[i]!;
      const b = prefixes[j]!;
      if (a.m.prefix === b.m.prefix || !covered(a.m, b.m)) continue;
      ineffective(b.n, b.k, b.m.route, `${b.m.match} of prefix ${b.m.prefix}`, `${a.m.match} of prefix ${a.m.prefix} on ${a.m.route}`);
    }
  }
  return findings;
}

export const virtualServiceMatchAnalyzer: Analyzer = {
  name: 'schema.ValidationAnalyzer.VirtualService',
  codes: ['IST0130', 'IST0131'],
  analyze: (ctx) => ctx.of(K.VirtualService).flatMap((vs) => [...analyzeRules(vs, 'http'), ...analyzeRules(vs, 'tcp'), ...analyzeRules(vs, 'tls')]),
};
