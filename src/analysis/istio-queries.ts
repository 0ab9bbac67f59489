// PromQL for Istio's standard metrics: label escaping, one batched selector per group of canaries
// that share selector settings, and the series-to-canary mapping. Pure: builds strings, reads labels.
import type { Arm } from './types.js';
import { PermanentError } from '../errors.js';
import { LABEL_NAME, type PrometheusSelector } from './settings.js';

export const REQUESTS_METRIC = 'istio_requests_total';
export const DURATION_BUCKET_METRIC = 'istio_request_duration_milliseconds_bucket';

/** The cluster one target of a multi-cluster canary is judged in. */
export interface TargetCluster {
  name: string;
  /**
   * the label whose value is `name` on a shared query endpoint (one more matcher, and one more `by`
   * label when batched); absent when the target's endpoint serves that cluster alone.
   */
  label?: string;
}

export interface CanaryTarget {
  /** the policy name (policy@cluster for one cluster of a multi-cluster canary); the key of every per-canary result. */
  name: string;
  service: string;
  namespace: string;
  selector: PrometheusSelector;
  cluster?: TargetCluster;
}

/** Escapes a value for a double-quoted PromQL string: backslash, double quote, newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escapes RE2 metacharacters so a literal value can sit in an `=~` alternation. */
export function escapeRegex(value: string): string {
  return value.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** A label name that does not fit Prometheus' grammar: it would be PromQL injected as written. */
export class InvalidLabelNameError extends PermanentError {
  override name = 'InvalidLabelNameError';
}

/** The label name itself, or an InvalidLabelNameError: the schema checks it, the query builder checks again. */
export function checkLabelName(label: string): string {
  if (!LABEL_NAME.test(label)) throw new InvalidLabelNameError(`not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*): ${JSON.stringify(label)}`);
  return label;
}

/** `label=~"a|b"` matching exactly these literal values (anchored by PromQL), or `label="a"` for one. */
export function matchAny(label: string, values: readonly string[]): string {
  checkLabelName(label);
  const distinct = [...new Set(values)].sort();
  if (distinct.length === 1) return `${label}="${escapeLabelValue(distinct[0] ?? '')}"`;
  return `${label}=~"${escapeLabelValue(distinct.map(escapeRegex).join('|'))}"`;
}

/**
 * The spellings a histogram `le` label can take for one bucket edge: JavaScript's and Envoy's
 * ("1800000"), Go's shortest %g ("1.8e+06") and Prometheus 3's normalised floats ("1.0").
 */
export function leLabelSpellings(edgeMs: number): string[] {
  const spellings = new Set<string>([String(edgeMs)]);
  if (Number.isInteger(edgeMs)) spellings.add(`${edgeMs}.0`);
  const exponent = Math.floor(Math.log10(Math.abs(edgeMs)));
  if (edgeMs !== 0 && (exponent < -4 || exponent >= 6)) {
    const [mantissa = '', exp = '0'] = edgeMs.toExponential().split('e');
    const sign = exp.startsWith('-') ? '-' : '+';
    const digits = exp.replace(/^[-+]/, '').padStart(2, '0');
    spellings.add(`${mantissa}e${sign}${digits}`);
  }
  return [...spellings];
}

/** The numeric bucket edge of an `le` label value ("+Inf" -> Infinity); NaN when it is not a number. */
export function parseLe(le: string | undefined): number {
  if (le === undefined) return Number.NaN;
  if (le === '+Inf' || le === 'Inf') return Number.POSITIVE_INFINITY;
  return Number(le);
}

/** Selector settings that change the query text; canaries with the same key share one query. */
export function selectorGroupKey(selector: PrometheusSelector): string {
  return JSON.stringify([
    selector.reporter,
    selector.serviceLabel,
    selector.namespaceLabel,
    selector.armLabel,
    selector.stableValue,
    selector.canaryValue,
    selector.excludeFaultInjected,
  ]);
}

export interface TargetGroup {
  selector: PrometheusSelector;
  targets: CanaryTarget[];
}

/** The cluster label of a target, when its cluster is told apart by a label. */
export function clusterLabelOf(target: CanaryTarget): string | undefined {
  return target.cluster?.label;
}

/** Groups canaries by their selector settings (and cluster label), in first-seen order. */
export function groupTargets(targets: readonly CanaryTarget[]): TargetGroup[] {
  const groups = new Map<string, TargetGroup>();
  for (const target of targets) {
    const key = `${selectorGroupKey(target.selector)}|${clusterLabelOf(target) ?? ''}`;
    const group = groups.get(key);
    if (group) group.targets.push(target);
    else groups.set(key, { selector: target.selector, targets: [target] });
  }
  return [...groups.values()];
}

/** The matchers shared by every query of a group (no braces). `arms` narrows to one arm. */
export function groupMatchers(group: TargetGroup, arms: readonly Arm[] = ['stable', 'canary']): string[] {
  const { selector, targets } = group;
  const armValues = arms.map((arm) => (arm === 'stable' ? selector.stableValue : selector.canaryValue));
  const matchers = [
    `reporter="${escapeLabelValue(selector.reporter)}"`,
    matchAny(selector.serviceLabel, targets.map((t) => t.service)),
    matchAny(selector.namespaceLabel, targets.map((t) => t.namespace)),
    matchAny(selector.armLabel, armValues),
  ];
  // A multi-cluster canary on one endpoint: its clusters are told apart by a label (groupTargets
  // keeps one label per group), so the same batched query carries every cluster.
  const clusterLabel = targets[0] ? clusterLabelOf(targets[0]) : undefined;
  if (clusterLabel !== undefined) matchers.push(matchAny(clusterLabel, targets.map((t) => t.cluster?.name ?? '')));
  // Envoy joins several flags with commas, so FI can sit anywhere in the value.
  if (selector.excludeFaultInjected) matchers.push('response_flags!~".*FI.*"');
  return matchers;
}

/**
 * Raw per-series request counters of every canary in the group, stable and canary arms. Not summed:
 * a sum over pods drops when one pod restarts, which would read as a reset of the whole arm.
 */
export function requestsQuery(group: TargetGroup): string {
  return `${REQUESTS_METRIC}{${groupMatchers(group).join(', ')}}`;
}

/** Raw per-series duration buckets, restricted to the edges asked for and +Inf (the window's count). */
export function latencyBucketsQuery(group: TargetGroup, edgesMs: readonly number[]): string {
  const les = [...edgesMs.flatMap(leLabelSpellings), '+Inf'];
  return `${DURATION_BUCKET_METRIC}{${[...groupMatchers(group), matchAny('le', les)].join(', ')}}`;
}

/** One canary's arm selector, for live guard queries. */
export function armSelector(target: CanaryTarget, arm: Arm): string {
  return groupMatchers({ selector: target.selector, targets: [target] }, [arm]).join(', ');
}

/** Per group, its targets by service, namespace and cluster: a tick classifies ~10^4 series against ~10^3 targets. */
const targetIndexes = new WeakMap<TargetGroup, Map<string, CanaryTarget[]>>();

function targetKey(service: string | undefined, namespace: string | undefined, cluster: string | undefined): string {
  return JSON.stringify([service ?? null, namespace ?? null, cluster ?? null]);
}

function targetIndex(group: TargetGroup): Map<string, CanaryTarget[]> {
  let index = targetIndexes.get(group);
  if (index === undefined) {
    index = new Map();
    for (const t of group.targets) {
      // A target told apart by a cluster label matches that label's value; one without matches any.
      const key = targetKey(t.service, t.namespace, t.cluster?.label !== undefined ? t.cluster.name : undefined);
      index.set(key, [...(index.get(key) ?? []), t]);
    }
    targetIndexes.set(group, index);
  }
  return index;
}

/** Which canary and arm a returned series belongs to, or undefined when it is no one's. */
export function classifySeries(
  labels: Record<string, string>,
  group: TargetGroup,
): { targets: CanaryTarget[]; arm: Arm } | undefined {
  const { selector } = group;
  const armValue = labels[selector.armLabel];
  const arm: Arm | undefined = armValue === selector.stableValue ? 'stable' : armValue === selector.canaryValue ? 'canary' : undefined;
  if (!arm) return undefined;
  const service = labels[selector.serviceLabel];
  const namespace = labels[selector.namespaceLabel];
  const index = targetIndex(group);
  // groupTargets keeps one cluster label per group: its targets either all have it or none does.
  const clusterLabel = group.targets[0]?.cluster?.label;
  const targets = [
    ...(index.get(targetKey(service, namespace, undefined)) ?? []),
    ...(clusterLabel !== undefined && labels[clusterLabel] !== undefined ? (index.get(targetKey(service, namespace, labels[clusterLabel])) ?? []) : []),
  ];
  return targets.length > 0 ? { targets, arm } : undefined;
}

/** Envoy reports HTTP status as a string label; a 5xx is an error for the judgement. */
export function isServerError(responseCode: string | undefined): boolean {
  return responseCode !== undefined && /^5\d\d$/.test(responseCode);
}

/**
 * The labels a batched query keeps: service, namespace, arm. A list, so that a further
 * dimension (a `cluster` label) can be appended and split on in memory the same way.
 */
export function groupingLabels(selector: PrometheusSelector, extra: readonly string[] = []): string[] {
  return [selector.serviceLabel, selector.namespaceLabel, selector.armLabel, ...extra].map(checkLabelName);
}

/** The group's cluster label (a multi-cluster canary on one endpoint) joins the grouping labels. */
function groupExtraLabels(group: TargetGroup, extra: readonly string[] = []): string[] {
  const cluster = group.targets[0] ? clusterLabelOf(group.targets[0]) : undefined;
  return [...new Set([...(cluster !== undefined ? [cluster] : []), ...extra])];
}

/** The labels a group's summed queries keep: service, namespace, arm and the cluster label when there is one. */
export function groupKeyLabels(group: TargetGroup): string[] {
  return groupingLabels(group.selector, groupExtraLabels(group));
}

/**
 * The raw request counters of every canary of the group, summed per service, namespace, arm (and
 * cluster) and response code: a few series per group whatever the pods and sources behind them
 * (5xx are told apart in memory; a `label_replace` to classify them cost Prometheus twice the
 * sum). Differenced in memory only where groupExactnessQuery shows the sum is exact.
 */
export function summedRequestsQuery(group: TargetGroup): string {
  return `sum by (${[...groupKeyLabels(group), 'response_code'].join(', ')}) (${requestsQuery(group)})`;
}

/**
 * The `+Inf` buckets: where a histogram going away is looked for. The buckets of one histogram are
 * one metric in the exposition format, written in the same scrape, so a pod gone or a gap shows in
 * `+Inf` exactly when it shows in every other `le`, at a quarter of the series with three edges.
 */
export function histogramWitnessQuery(group: TargetGroup): string {
  return latencyBucketsQuery(group, []);
}

/** The raw duration buckets at the asked edges and +Inf, summed per service, namespace, arm (cluster) and le. */
export function summedBucketsQuery(group: TargetGroup, edgesMs: readonly number[], at?: string): string {
  return `sum by (${[...groupKeyLabels(group), 'le'].join(', ')}) (${latencyBucketsQuery(group, edgesMs)}${at !== undefined ? ` @ ${at}` : ''})`;
}

/** A PromQL duration of whole milliseconds (a window interval may be fractional in seconds). */
function duration(seconds: number): string {
  const ms = Math.max(1, Math.round(seconds * 1000));
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * Per group, at each evaluation time t: how many series of `selector` had a value at t - interval
 * (the previous grid point) and have none at t, or have a lower value at t than there. Values are
 * what a range query step reads (the latest sample within the backend's lookback), so these are
 * exactly the series whose per-series difference over (t - interval, t] is not their part of the
 * difference of the group's sums: with none, the sum at t minus the sum at t - interval is the sum
 * of the per-series differences (a series born inside counts in full in both). NaN and infinities
 * at a grid point make the sum itself non-finite, which the reader refuses; a fraction makes it not
 * an integer, which it refuses too. Only groups with such a series come back: an exact group, the
 * usual case, sends nothing.
 *
 * `vanishSelector` (default `selector`) is where a series going away is looked for: for a
 * histogram, its `+Inf` buckets, since every bucket of a histogram is written in the same scrape
 * and goes away with it (a lower value is still looked for in every bucket: after a restart a
 * small bucket can be lower while `+Inf` has climbed past its old value).
 * `at` pins every selector to that time (the `@` modifier) for an instant query.
 */
export function groupExactnessQuery(selector: string, by: readonly string[], intervalSeconds: number, options: { vanishSelector?: string; at?: string } = {}): string {
  const pin = options.at !== undefined ? ` @ ${options.at}` : '';
  const back = ` offset ${duration(intervalSeconds)}`;
  const vanish = options.vanishSelector ?? selector;
  return `count by (${by.join(', ')}) ((${vanish}${pin}${back} unless ${vanish}${pin}) or (${selector}${pin} < ${selector}${pin}${back}))`;
}
