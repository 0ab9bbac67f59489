// The analysis part of a CanaryPolicy: one zod schema, with the documented defaults.
// Lives in src/analysis so the analysis never needs to import the promoter.
import { z } from 'zod';
import { parseDurationSeconds } from './duration.js';

/** A duration written as "30s" / "5m" / "1h", or a number of seconds; parsed to seconds. */
/** What parseDurationSeconds accepts, as a pattern the JSON Schema carries, so editors flag "1 minute". */
export const DURATION_PATTERN = '^(\\d+(\\.\\d+)?|(\\d+(\\.\\d+)?(ms|s|m|h|d))+)$';

export const durationSeconds = z
  // The pattern is metadata for the JSON Schema only: parseDurationSeconds below gives the message.
  .union([z.string().meta({ pattern: DURATION_PATTERN }), z.number().nonnegative()])
  .transform((value, ctx) => {
    if (typeof value === 'number') return value;
    try {
      return parseDurationSeconds(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });

/** Envoy's default histogram bucket edges in ms (Envoy HistogramSettingsImpl::defaultBuckets). */
export const ENVOY_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000,
] as const;

export const stepSchema = z
  .object({
    weight: z.number().int().min(1).max(100).describe('canary traffic share in percent'),
    minDwell: durationSeconds.default(300).describe('earliest promotion from this step'),
    maxDwell: durationSeconds.default(1800).describe('when neither promote nor rollback happened by then, act as onMaxDwell says'),
  })
  .strict();
export type StepSpec = z.output<typeof stepSchema>;

export const DEFAULT_STEPS: StepSpec[] = [
  { weight: 5, minDwell: 300, maxDwell: 1800 },
  { weight: 10, minDwell: 300, maxDwell: 1800 },
  { weight: 50, minDwell: 600, maxDwell: 3600 },
  { weight: 100, minDwell: 300, maxDwell: 1800 },
];

/** Prometheus' label-name grammar; a label name goes into PromQL unquoted, so nothing else may. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const labelName = z.string().regex(LABEL_NAME, 'must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)');

export const prometheusSelectorSchema = z
  .object({
    reporter: z.enum(['destination', 'source', 'waypoint']).default('destination'),
    serviceLabel: labelName.default('destination_service_name'),
    namespaceLabel: labelName.default('destination_workload_namespace'),
    armLabel: labelName
      .default('destination_canonical_revision')
      .describe('the Istio label whose value tells stable and canary apart'),
    clusterLabel: labelName
      .default('cluster')
      .describe("a multi-cluster canary (spec.argocd.clusters) on one query endpoint: the label whose value is the cluster's name, e.g. cluster (an external label under Thanos or Mimir) or destination_cluster (Istio's own)"),
    stableValue: z.string().default('stable'),
    canaryValue: z.string().default('canary'),
    excludeFaultInjected: z
      .boolean()
      .default(true)
      .describe('drop requests with Envoy response flag FI (fault injection) from the judgement'),
  })
  .strict();
export type PrometheusSelector = z.output<typeof prometheusSelectorSchema>;

export const customCheckSchema = z
  .object({
    name: z.string().min(1),
    query: z.string().min(1).describe('PromQL returning one number; $canary, $stable, $service, $namespace, $cluster and $interval are substituted'),
    op: z.enum(['<=', '>=', '<', '>']).default('<='),
    threshold: z.number(),
  })
  .strict();

export const sequentialSchema = z
  .object({
    alpha: z.number().gt(0).lt(1).default(0.05).describe('false-rollback budget per rollout, split over the guarded metrics'),
    alphaConfidence: z.number().gt(0).lt(1).default(0.05).describe('level of the confidence sequence used to promote'),
    errorRatioTolerated: z.number().gte(1).default(1).describe('r0 for 5xx: a canary up to this many times stable is not worse'),
    latencyRatioTolerated: z.number().gte(1).default(1.1).describe('r0 for slow requests at each edge'),
    errorRatioPromote: z.number().gt(1).default(1.5).describe('promote when the upper confidence bound of the 5xx ratio is below this'),
    latencyRatioPromote: z.number().gt(1).default(1.3).describe('the same for slow requests'),
    latencyEdgesMs: z
      .array(z.number().positive())
      .optional()
      .describe('fixed Envoy bucket edges (ms) overriding latencyQuantiles; a request slower than an edge is a bad event for that edge'),
    latencyQuantiles: z
      .array(z.number().gt(0).lt(1))
      .default([0.75, 0.95])
      .describe("choose the slow-request edges where the service's own latency lives: for each quantile, the bucket edge nearest it in stable's histogram before the canary (or both arms pooled)"),
    errorShare: z
      .number()
      .gt(0)
      .lte(1)
      .default(0.6)
      .describe("the 5xx test's weight in the averaged e-value (its share of alpha); the latency edges share the rest equally"),
    baselineMinRequests: z
      .number()
      .int()
      .positive()
      .default(200)
      .describe('requests the distribution that chooses the latency edges needs; below it, both arms of the first windows are pooled until it is reached'),
    priorScale: z
      .number()
      .positive()
      .default(0.75)
      .describe("sigma of the priors on the log rate ratio: the rollback mixture's half-normal above log r0 and the confidence sequence's normal around 0"),
    gridPoints: z.number().int().min(20).max(2000).default(200),
  })
  .strict();

export const criticalSchema = z
  .object({
    errorRatio: z.number().gt(1).default(5).describe('roll back at once when canary 5xx rate >= this many times stable'),
    minCanaryRequests: z.number().int().nonnegative().default(200),
    maxErrorRate: z.number().gt(0).lte(1).default(0.2).describe('roll back at once above this absolute canary 5xx rate'),
    minCanaryErrors: z
      .number()
      .int()
      .nonnegative()
      .default(5)
      .describe('canary 5xx the fast path needs before it may fire, so a handful of errors on a quiet canary is left to the sequential test'),
  })
  .strict();

export const analysisSchema = z
  .object({
    interval: durationSeconds.default(60).describe('length of one analysis window'),
    prometheus: prometheusSelectorSchema.default(prometheusSelectorSchema.parse({})),
    successRate: z
      .object({ min: z.number().gt(0).lte(1).default(0.99) })
      .strict()
      .default({ min: 0.99 }),
    latencyP99: z
      .object({ maxMs: z.number().positive().default(500) })
      .strict()
      .default({ maxMs: 500 }),
    custom: z.array(customCheckSchema).default([]),
    sequential: sequentialSchema.default(sequentialSchema.parse({})),
    critical: criticalSchema.default(criticalSchema.parse({})),
    minCanaryRequests: z
      .number()
      .int()
      .nonnegative()
      .default(300)
      .describe('canary requests before promotion to 100 % (rule of three: 0 errors in n -> rate < 3/n); a step promoting to weight w needs w/100 of it unless scaleMinRequestsByWeight is false'),
    scaleMinRequestsByWeight: z
      .boolean()
      .default(true)
      .describe("scale minCanaryRequests by the weight the step promotes to, so the bound holds on the canary's share of the service's errors (weight x rate) and a quiet service can finish"),
    baselineSeconds: durationSeconds
      .default(3600)
      .describe("how much of stable's history before the canary started chooses the latency edges (live; a trace carries its own)"),
    noTrafficTimeout: durationSeconds
      .default(600)
      .describe('roll back a canary above weight 0 that serves no requests (while stable does) for this long'),
    onMaxDwell: z.enum(['hold', 'rollback']).default('hold'),
  })
  .strict();

export type AnalysisSettings = z.output<typeof analysisSchema>;
export const DEFAULT_ANALYSIS: AnalysisSettings = analysisSchema.parse({});
