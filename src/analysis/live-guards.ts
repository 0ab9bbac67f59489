// Absolute guards evaluated live in Prometheus over the current step: the canary's p99 latency
// and the policy's custom PromQL checks. No data is reported as `no-data`, never as a pass.
import { guardOutcome as outcome } from './comparison.js';
import { armSelector, DURATION_BUCKET_METRIC, escapeLabelValue, type CanaryTarget } from './istio-queries.js';
import type { InstantSample, PrometheusClient } from './prometheus.js';
import type { AnalysisSettings } from './settings.js';
import type { GuardOutcome } from './types.js';

type Op = GuardOutcome['op'];


/** The p99 of the canary's request durations (ms) over the last `spanSeconds`. */
export function canaryP99Query(target: CanaryTarget, spanSeconds: number): string {
  return `histogram_quantile(0.99, sum by (le) (increase(${DURATION_BUCKET_METRIC}{${armSelector(target, 'canary')}}[${spanSeconds}s])))`;
}

const PLACEHOLDER = /\$(service|namespace|canary|stable|interval)\b/g;

/**
 * A custom check's PromQL with $service, $namespace, $canary, $stable (label values, escaped for a
 * double-quoted string) and $interval (the analysis interval as a range duration, e.g. "60s").
 */
export function substituteCheckQuery(query: string, target: CanaryTarget, intervalSeconds: number): string {
  const values: Record<string, string> = {
    service: escapeLabelValue(target.service),
    namespace: escapeLabelValue(target.namespace),
    canary: escapeLabelValue(target.selector.canaryValue),
    stable: escapeLabelValue(target.selector.stableValue),
    interval: `${Math.max(1, Math.round(intervalSeconds))}s`,
  };
  return query.replace(PLACEHOLDER, (_, name: string) => values[name] ?? '');
}

/**
 * The sample that decides a check: the worst finite value for its operator, so a query that returns
 * several series passes only when every series passes. NaN samples count as no data.
 */
export function decidingValue(samples: readonly InstantSample[], op: Op): number | null {
  const finite = samples.map((s) => s.value).filter((v) => !Number.isNaN(v));
  if (finite.length === 0) return null;
  return op === '<=' || op === '<' ? Math.max(...finite) : Math.min(...finite);
}

/**
 * Evaluates the canary's live guards at `span.now` over the current step (at least one second).
 * A query Prometheus rejects is thrown as PrometheusQueryError, not reported as a `fail`: a typo
 * in a policy is a person's to fix and must not roll back a healthy canary. Unreachable
 * Prometheus is thrown too (transient), so the caller holds instead of judging without data.
 */
export async function evaluateLiveGuards(
  client: PrometheusClient,
  target: CanaryTarget,
  settings: AnalysisSettings,
  span: { stepStart: number; now: number },
): Promise<GuardOutcome[]> {
  const spanSeconds = Math.max(1, Math.round(span.now - span.stepStart));
  const p99Query = canaryP99Query(target, spanSeconds);
  const checks = settings.custom.map((check) => ({ check, query: substituteCheckQuery(check.query, target, settings.interval) }));
  const [p99Samples, ...checkSamples] = await Promise.all([
    client.instant(p99Query, { time: span.now }),
    ...checks.map(({ query }) => client.instant(query, { time: span.now })),
  ]);
  const results: GuardOutcome[] = [outcome('latency-p99', decidingValue(p99Samples ?? [], '<='), '<=', settings.latencyP99.maxMs, p99Query)];
  checks.forEach(({ check, query }, i) => {
    results.push(outcome(check.name, decidingValue(checkSamples[i] ?? [], check.op), check.op, check.threshold, query));
  });
  return results;
}
