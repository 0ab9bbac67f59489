// The policy's custom PromQL checks, evaluated live in Prometheus. No data is reported as
// `no-data`, never as a pass. The built-in success-rate and p99 guards are not queried here: the
// judge computes them over the step's complete windows (pooled counts, histogram_quantile over the
// step's bucket increases), from the same integer counts the sequential test uses.
import { guardOutcome as outcome } from './comparison.js';
import { DURATION_BUCKET_METRIC, armSelector, escapeLabelValue, type CanaryTarget } from './istio-queries.js';
import type { InstantSample, PrometheusClient } from './prometheus.js';
import type { AnalysisSettings } from './settings.js';
import type { GuardOutcome } from './types.js';

type Op = GuardOutcome['op'];


/**
 * The PromQL equivalent of the judge's p99 guard, for a person to paste: histogram_quantile over
 * the canary's bucket increases in the `spanSeconds` before `endUnix` (the step's complete windows).
 */
export function canaryP99Query(target: CanaryTarget, spanSeconds: number, endUnix?: number): string {
  const at = endUnix === undefined ? '' : ` @ ${Math.round(endUnix)}`;
  return `histogram_quantile(0.99, sum by (le) (increase(${DURATION_BUCKET_METRIC}{${armSelector(target, 'canary')}}[${spanSeconds}s]${at})))`;
}

const PLACEHOLDER = /\$(service|namespace|canary|stable|interval|cluster)\b/g;

/**
 * A custom check's PromQL with $service, $namespace, $canary, $stable, $cluster (label values, escaped
 * for a double-quoted string; $cluster is the cluster's name in a multi-cluster canary, else empty)
 * and $interval (the analysis interval as a range duration, e.g. "60s").
 */
export function substituteCheckQuery(query: string, target: CanaryTarget, intervalSeconds: number): string {
  const values: Record<string, string> = {
    service: escapeLabelValue(target.service),
    namespace: escapeLabelValue(target.namespace),
    canary: escapeLabelValue(target.selector.canaryValue),
    stable: escapeLabelValue(target.selector.stableValue),
    interval: `${Math.max(1, Math.round(intervalSeconds))}s`,
    cluster: escapeLabelValue(target.cluster?.name ?? ''),
  };
  return query.replace(PLACEHOLDER, (_, name: string) => values[name] ?? '');
}

/**
 * The sample that decides a check: the worst finite value for its operator, so a query that returns
 * several series passes only when every series passes. NaN and ±Inf samples count as no data (a
 * division by a zero rate is missing monitoring, not a measurement), so they hold and never roll back.
 */
export function decidingValue(samples: readonly InstantSample[], op: Op): number | null {
  const finite = samples.map((s) => s.value).filter((v) => Number.isFinite(v));
  if (finite.length === 0) return null;
  return op === '<=' || op === '<' ? Math.max(...finite) : Math.min(...finite);
}

/**
 * Evaluates the policy's custom checks at `span.now`. A query Prometheus rejects is thrown as
 * PrometheusQueryError, not reported as a `fail`: a typo in a policy is a person's to fix and must
 * not roll back a healthy canary. Unreachable Prometheus is thrown too (transient), so the caller
 * holds instead of judging without data. No custom checks: no query at all.
 */
export async function evaluateLiveGuards(
  client: PrometheusClient,
  target: CanaryTarget,
  settings: AnalysisSettings,
  span: { stepStart: number; now: number },
): Promise<GuardOutcome[]> {
  const checks = settings.custom.map((check) => ({ check, query: substituteCheckQuery(check.query, target, settings.interval) }));
  const samples = await Promise.all(checks.map(({ query }) => client.instant(query, { time: span.now })));
  return checks.map(({ check, query }, i) => outcome(check.name, decidingValue(samples[i] ?? [], check.op), check.op, check.threshold, query));
}
