// CanaryPolicy: one per service, kept in the GitOps repository beside the service's manifests.
// The zod schema is the source of truth; schemas/canary-policy.schema.json is generated from it.
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { DEFAULT_STEPS, analysisSchema, stepSchema } from '../analysis/settings.js';
import { ConfigError, errorMessage } from '../errors.js';

export const POLICY_API_VERSION = 'delivery.docuthinker.io/v1alpha1';
export const POLICY_KIND = 'CanaryPolicy';

const repoPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a path inside the repository');

const deploymentRef = z
  .object({
    file: repoPath.describe('the Deployment manifest, relative to the repository root'),
    container: z.string().min(1).describe('the container whose image is the version'),
  })
  .strict();

/** One cluster of a multi-cluster canary: its name (the metrics' cluster label value) and its Applications. */
const clusterSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .describe("the cluster: the value of the metrics' cluster label (analysis.prometheus.clusterLabel), or the key of an endpoint under the promoter config's prometheus.clusters"),
    application: z.string().min(1).describe('the Argo CD Application that applies the VirtualService in this cluster'),
    workloadsApplication: z.string().min(1).optional().describe("the Application that applies the Deployments in this cluster, when it is another one"),
  })
  .strict();

export const canaryPolicySchema = z
  .object({
    apiVersion: z.literal(POLICY_API_VERSION),
    kind: z.literal(POLICY_KIND),
    metadata: z
      .object({
        name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label'),
      })
      .loose(),
    spec: z
      .object({
        service: z.string().min(1).describe('the Kubernetes Service (destination_service_name)'),
        namespace: z.string().min(1),
        virtualService: z
          .object({
            file: repoPath,
            name: z.string().min(1),
            route: z.string().min(1).describe('the name of the weighted HTTP route in the VirtualService'),
          })
          .strict(),
        subsets: z
          .object({ stable: z.string().default('stable'), canary: z.string().default('canary') })
          .strict()
          .default({ stable: 'stable', canary: 'canary' }),
        deployments: z.object({ stable: deploymentRef, canary: deploymentRef }).strict(),
        argocd: z
          .object({
            application: z
              .string()
              .min(1)
              .optional()
              .describe('the Argo CD Application that applies the VirtualService (one cluster); or list clusters instead'),
            workloadsApplication: z
              .string()
              .min(1)
              .optional()
              .describe('the Application that applies the Deployments, when it is another one; a step is judged only when both are synced and Healthy'),
            clusters: z
              .array(clusterSchema)
              .min(1)
              .refine((clusters) => new Set(clusters.map((c) => c.name)).size === clusters.length, 'cluster names must be unique')
              .optional()
              .describe(
                'the same canary in several clusters, one Application per cluster as an ApplicationSet generates them: one commit serves them all, each cluster is judged against its own stable, a rollback in any cluster rolls back everywhere, and a step is promoted only when every cluster passes',
              ),
            namespace: z.string().default('argocd'),
          })
          .strict()
          .refine((a) => (a.application === undefined) !== (a.clusters === undefined), {
            message: 'name either application (one cluster) or clusters (one Application per cluster), not both and not neither',
          })
          .refine((a) => a.clusters === undefined || a.workloadsApplication === undefined, {
            message: 'with clusters, set workloadsApplication per cluster',
            path: ['workloadsApplication'],
          }),
        steps: z
          .array(stepSchema)
          .min(1)
          .default(DEFAULT_STEPS)
          .refine(
            (steps) => steps.every((s, i) => i === 0 || s.weight > (steps[i - 1]?.weight ?? 0)),
            'step weights must increase',
          )
          .refine((steps) => steps.at(-1)?.weight === 100, 'the last step must be weight 100'),
        analysis: analysisSchema.default(analysisSchema.parse({})),
        delivery: z
          .never({ error: 'moved to the promoter config (delivery.mode, delivery.merge): how a decision reaches the branch is the repository\'s, not one canary\'s' })
          .optional(),
        paused: z.boolean().default(false).describe('hold this canary where it is'),
      })
      .strict()
      .refine(
        (spec) => new Set([spec.virtualService.file, spec.deployments.stable.file, spec.deployments.canary.file]).size === 3,
        { message: 'the VirtualService and the two Deployments must be in three different files', path: ['deployments'] },
      ),
  })
  .strict();

export type CanaryPolicy = z.output<typeof canaryPolicySchema>;

export interface PolicyCluster {
  name: string;
  application: string;
  workloadsApplication?: string;
}

/** The clusters a policy spans; empty for a single-cluster policy (`spec.argocd.application`). */
export function policyClusters(policy: CanaryPolicy): PolicyCluster[] {
  return policy.spec.argocd.clusters ?? [];
}

/**
 * The Argo CD Applications that must have synced the step's commit, succeeded and be Healthy before
 * a step is judged: every cluster's, when the policy lists clusters.
 */
export function gatedApplications(policy: CanaryPolicy): string[] {
  const { application, workloadsApplication, clusters } = policy.spec.argocd;
  const pairs = clusters ? clusters.map((c) => [c.application, c.workloadsApplication] as const) : [[application ?? '', workloadsApplication] as const];
  const names = pairs.flatMap(([app, workloads]) => (workloads && workloads !== app ? [app, workloads] : [app]));
  return [...new Set(names.filter((n) => n !== ''))];
}

/** The Application that applies the VirtualService (the first cluster's, for a multi-cluster policy). */
export function primaryApplication(policy: CanaryPolicy): string {
  return policy.spec.argocd.application ?? policy.spec.argocd.clusters?.[0]?.application ?? '';
}

/** The files a policy allows the promoter to write; nothing else may change in its commits. */
export function writablePaths(policy: CanaryPolicy): string[] {
  const { virtualService, deployments } = policy.spec;
  return [virtualService.file, deployments.stable.file, deployments.canary.file];
}

function formatIssuePath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

/** Parses one policy file's text; a bad policy is a ConfigError naming the file and each field. */
export function parseCanaryPolicy(text: string, file: string): CanaryPolicy {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0] ?? e.message}`));
  }
  let value: unknown;
  try {
    // toJS resolves aliases; an alias bomb throws here, and the error must still name the file.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(file, [`YAML: ${errorMessage(error)}`], { cause: error });
  }
  const result = canaryPolicySchema.safeParse(value);
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.map((issue) => `${formatIssuePath(issue.path)}: ${issue.message}`),
    );
  }
  return result.data;
}

/** JSON Schema for editors, generated from the zod schema (input side, so defaults are optional). */
export function canaryPolicyJsonSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(canaryPolicySchema, { io: 'input', unrepresentable: 'any' });
  return { $schema, $id: CANARY_POLICY_SCHEMA_ID, title: 'CanaryPolicy', ...rest };
}

/** Where the schema is published; each policy file points editors at it with a yaml-language-server modeline. */
export const CANARY_POLICY_SCHEMA_ID = 'https://raw.githubusercontent.com/docuthinker/docuthinker-gitops/main/schemas/canary-policy.schema.json';

/**
 * The name an unparseable policy is reported and counted under: its metadata.name when the YAML
 * still says one, else the directory it sits in (gitops/apps/frontend/canary.yaml -> frontend).
 * Never the file path, so a broken policy keeps the label its canary's other series have.
 */
export function policyNameOf(text: string, file: string): string {
  try {
    const name = (parseDocument(text).toJS() as { metadata?: { name?: unknown } } | null)?.metadata?.name;
    if (typeof name === 'string' && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) return name;
  } catch {
    // not even YAML: fall back to the directory
  }
  const parts = file.split('/');
  return parts.at(-2) ?? parts.at(-1) ?? file;
}
