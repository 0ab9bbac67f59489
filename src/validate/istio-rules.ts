// istiod webhook rules the CRD schemas do not hold (istio.md §2-3), plus our weight convention:
// a multi-destination route's weights sum to 100.
import { findingAt } from './codes.js';
import { encodePointer } from './load.js';
import { arr, at, obj, str } from './shape.js';
import type { Finding, LoadedDocument } from './types.js';

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const RETRY_ON_TOKENS = new Set([
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'retriable-4xx', 'refused-stream',
  'retriable-status-codes', 'retriable-headers', 'envoy-ratelimited', 'http3-post-connect-failure', 'cancelled',
  'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);

type Path = (string | number)[];

function weightFindings(doc: LoadedDocument, routes: unknown, path: Path): Finding[] {
  const list = arr(routes);
  const findings: Finding[] = [];
  let total = 0;
  list.forEach((r, j) => {
    const weight = at(r, 'weight');
    if (typeof weight !== 'number') return;
    if (weight < 0) findings.push(findingAt(doc, encodePointer([...path, j, 'weight']), 'DT1001', `weight ${weight} is negative (istiod rejects weight < 0)`));
    total += weight;
  });
  if (list.length > 1) {
    if (total === 0) {
      findings.push(findingAt(doc, encodePointer(path), 'IST0106', 'total destination weight is 0 in a route with more than one destination'));
    } else if (total !== 100 && findings.length === 0) {
      findings.push(findingAt(doc, encodePointer(path), 'DT1001', `destination weights sum to ${total}, not 100`));
    }
  }
  return findings;
}

function destinationFindings(doc: LoadedDocument, destination: unknown, path: Path): Finding[] {
  const findings: Finding[] = [];
  const subset = str(at(destination, 'subset'));
  if (subset !== undefined && !DNS1123_LABEL.test(subset)) {
    findings.push(findingAt(doc, encodePointer([...path, 'subset']), 'IST0106', `subset "${subset}" is not a DNS-1123 label`));
  }
  if (str(at(destination, 'host')) === '*') {
    findings.push(findingAt(doc, encodePointer([...path, 'host']), 'IST0106', 'destination host must not be "*"'));
  }
  return findings;
}

function percentFindings(doc: LoadedDocument, value: unknown, path: Path): Finding[] {
  if (typeof value !== 'number') return [];
  if (value === 0 || (value >= 0.0001 && value <= 100)) return [];
  return [findingAt(doc, encodePointer(path), 'IST0106', `percentage ${value} must be 0 or between 0.0001 and 100`)];
}

function retryFindings(doc: LoadedDocument, retries: unknown, path: Path): Finding[] {
  const r = obj(retries);
  if (!r) return [];
  const findings: Finding[] = [];
  const retryOn = str(r.retryOn);
  if (retryOn !== undefined) {
    const bad = retryOn
      .split(',')
      .map((t) => t.trim())
      .filter((t) => !RETRY_ON_TOKENS.has(t) && !/^[1-5]\d\d$/.test(t));
    if (bad.length > 0) {
      findings.push(findingAt(doc, encodePointer([...path, 'retryOn']), 'IST0106', `retryOn has unknown token(s) ${bad.map((t) => JSON.stringify(t)).join(', ')}`));
    }
  }
  if (r.attempts === 0) {
    for (const field of ['perTryTimeout', 'retryOn', 'retryRemoteLocalities']) {
      if (r[field] !== undefined) {
        findings.push(findingAt(doc, encodePointer([...path, field]), 'IST0106', `${field} must not be set when attempts is 0`));
      }
    }
  } else if (typeof r.attempts === 'number' && r.attempts < 0) {
    findings.push(findingAt(doc, encodePointer([...path, 'attempts']), 'IST0106', 'attempts must be >= 0'));
  }
  return findings;
}

function matchFindings(doc: LoadedDocument, matches: unknown, path: Path): Finding[] {
  const findings: Finding[] = [];
  arr(matches).forEach((m, k) => {
    for (const field of ['headers', 'withoutHeaders']) {
      for (const header of Object.keys(obj(at(m, field)) ?? {})) {
        if (header !== header.toLowerCase()) {
          findings.push(findingAt(doc, encodePointer([...path, k, field, header]), 'IST0106', `header name "${header}" must be lowercase`));
        }
      }
    }
    if (at(m, 'uri', 'prefix') === '') {
      findings.push(findingAt(doc, encodePointer([...path, k, 'uri', 'prefix']), 'IST0106', 'a prefix match must not be empty'));
    }
  });
  return findings;
}

function httpRouteFindings(doc: LoadedDocument, route: unknown, path: Path): Finding[] {
  const r = obj(route);
  if (!r) return [];
  const findings = [
    ...weightFindings(doc, r.route, [...path, 'route']),
    ...arr(r.route).flatMap((d, j) => destinationFindings(doc, at(d, 'destination'), [...path, 'route', j, 'destination'])),
    ...retryFindings(doc, r.retries, [...path, 'retries']),
    ...matchFindings(doc, r.match, [...path, 'match']),
    ...percentFindings(doc, at(r, 'mirrorPercentage', 'value'), [...path, 'mirrorPercentage', 'value']),
    ...percentFindings(doc, at(r, 'fault', 'delay', 'percentage', 'value'), [...path, 'fault', 'delay', 'percentage', 'value']),
    ...percentFindings(doc, at(r, 'fault', 'abort', 'percentage', 'value'), [...path, 'fault', 'abort', 'percentage', 'value']),
  ];
  if (r.mirror !== undefined) findings.push(...destinationFindings(doc, r.mirror, [...path, 'mirror']));
  arr(r.mirrors).forEach((m, k) => {
    findings.push(...destinationFindings(doc, at(m, 'destination'), [...path, 'mirrors', k, 'destination']));
    findings.push(...percentFindings(doc, at(m, 'percentage', 'value'), [...path, 'mirrors', k, 'percentage', 'value']));
  });
  if (r.fault !== undefined && at(r, 'fault', 'delay') === undefined && at(r, 'fault', 'abort') === undefined) {
    findings.push(findingAt(doc, encodePointer([...path, 'fault']), 'IST0106', 'fault needs a delay or an abort'));
  }
  if (r.redirect !== undefined) {
    for (const other of ['route', 'fault', 'rewrite', 'directResponse']) {
      if (r[other] !== undefined) findings.push(findingAt(doc, encodePointer([...path, 'redirect']), 'IST0106', `redirect cannot be combined with ${other}`));
    }
  } else if (r.directResponse !== undefined) {
    for (const other of ['route', 'fault', 'rewrite']) {
      if (r[other] !== undefined) findings.push(findingAt(doc, encodePointer([...path, 'directResponse']), 'IST0106', `directResponse cannot be combined with ${other}`));
    }
  }
  return findings;
}

function virtualServiceFindings(doc: LoadedDocument): Finding[] {
  const spec = obj(at(doc.body, 'spec'));
  if (!spec) return [];
  const findings: Finding[] = [];
  const hosts = arr(spec.hosts);
  hosts.forEach((h, i) => {
    if (hosts.indexOf(h) !== i) findings.push(findingAt(doc, encodePointer(['spec', 'hosts', i]), 'IST0106', `duplicate host ${String(h)}`));
  });
  arr(spec.http).forEach((route, i) => findings.push(...httpRouteFindings(doc, route, ['spec', 'http', i])));
  for (const protocol of ['tcp', 'tls']) {
    arr(spec[protocol]).forEach((route, i) => {
      findings.push(...weightFindings(doc, at(route, 'route'), ['spec', protocol, i, 'route']));
      arr(at(route, 'route')).forEach((d, j) =>
        findings.push(...destinationFindings(doc, at(d, 'destination'), ['spec', protocol, i, 'route', j, 'destination'])),
      );
    });
  }
  return findings;
}

function destinationRuleFindings(doc: LoadedDocument): Finding[] {
  const spec = obj(at(doc.body, 'spec'));
  if (!spec) return [];
  const findings: Finding[] = [];
  const names = arr(spec.subsets).map((s) => str(at(s, 'name')));
  names.forEach((name, i) => {
    if (name === undefined) return;
    if (!DNS1123_LABEL.test(name)) findings.push(findingAt(doc, encodePointer(['spec', 'subsets', i, 'name']), 'IST0106', `subset name "${name}" is not a DNS-1123 label`));
    if (names.indexOf(name) !== i) findings.push(findingAt(doc, encodePointer(['spec', 'subsets', i, 'name']), 'IST0106', `duplicate subset name "${name}"`));
  });
  const policies: [unknown, Path][] = [[spec.trafficPolicy, ['spec', 'trafficPolicy']]];
  arr(spec.subsets).forEach((s, i) => policies.push([at(s, 'trafficPolicy'), ['spec', 'subsets', i, 'trafficPolicy']]));
  for (const [policy, path] of policies) {
    const pool = obj(at(policy, 'connectionPool'));
    if (pool && pool.tcp === undefined && pool.http === undefined) {
      findings.push(findingAt(doc, encodePointer([...path, 'connectionPool']), 'IST0106', 'connectionPool must set tcp or http'));
    }
    const outlier = obj(at(policy, 'outlierDetection'));
    if (outlier && outlier.consecutiveLocalOriginFailures !== undefined && outlier.splitExternalLocalOriginErrors !== true) {
      findings.push(findingAt(doc, encodePointer([...path, 'outlierDetection', 'consecutiveLocalOriginFailures']), 'IST0106', 'consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true'));
    }
  }
  return findings;
}

/** Webhook-rule findings for one Istio document (other kinds give none). */
export function checkIstioRules(doc: LoadedDocument): Finding[] {
  if (!doc.apiVersion?.startsWith('networking.istio.io/')) return [];
  if (doc.kind === 'VirtualService') return virtualServiceFindings(doc);
  if (doc.kind === 'DestinationRule') return destinationRuleFindings(doc);
  return [];
}
