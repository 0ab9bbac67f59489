// The promoter's own configuration (not a canary policy): where the GitOps repo, Prometheus and
// Argo CD are, and how often to tick. One zod schema; file values, then env, then flags.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { durationSeconds } from '../analysis/settings.js';
import { ConfigError } from '../errors.js';
import { NOTIFICATION_EVENTS } from './notifications.js';
import { DEFAULT_MAX_MANIFEST_BYTES } from './workspace.js';

/** How to reach a Prometheus-compatible endpoint (Thanos Querier, Mimir, VictoriaMetrics) besides its URL. */
const endpointAccess = {
  headers: z
    .record(z.string(), z.string())
    .default({})
    .describe('extra HTTP headers on every query, e.g. X-Scope-OrgID: <tenant> for Mimir or Cortex'),
  bearerTokenFile: z.string().min(1).optional().describe('a file holding a bearer token, re-read when it changes (a projected service-account token)'),
  basicAuth: z
    .object({ username: z.string().min(1), passwordFile: z.string().min(1).describe('a file holding the password, re-read when it changes') })
    .strict()
    .optional(),
  tls: z
    .object({ caFile: z.string().min(1).describe('PEM of the CA that signed the query endpoint certificate') })
    .strict()
    .optional(),
};

const oneCredential = (p: { bearerTokenFile?: string | undefined; basicAuth?: unknown }): boolean => !(p.bearerTokenFile !== undefined && p.basicAuth !== undefined);
const credentialIssue = { message: 'set bearerTokenFile or basicAuth, not both', path: ['bearerTokenFile'] };

/** One cluster's own query endpoint; timeout, size limit and settle are the main endpoint's. */
const endpointSchema = z
  .object({ url: z.string().url(), ...endpointAccess })
  .strict()
  .refine(oneCredential, credentialIssue);

export type EndpointConfig = z.output<typeof endpointSchema>;

export const promoterConfigSchema = z
  .object({
    git: z
      .object({
        url: z.string().min(1).describe('the GitOps remote: https URL, ssh URL, or a path to a bare repository'),
        branch: z.string().default('main'),
        workdir: z
          .string()
          .default('/var/lib/promoter/repo')
          .describe('where the promoter keeps its clones: one per process (<purpose>-<host>-<pid>), never shared by two'),
        author: z
          .object({ name: z.string().default('docuthinker-promoter'), email: z.string().default('promoter@docuthinker.invalid') })
          .strict()
          .default({ name: 'docuthinker-promoter', email: 'promoter@docuthinker.invalid' }),
        tokenEnv: z.string().default('GIT_TOKEN').describe('environment variable holding an HTTPS token (never logged)'),
        maxManifestBytes: z
          .number()
          .int()
          .positive()
          .default(DEFAULT_MAX_MANIFEST_BYTES)
          .describe('a bigger file in the GitOps repository is refused before it is read or parsed: its canary holds and nothing is committed'),
      })
      .strict(),
    prometheus: z
      .object({
        url: z.string().url(),
        timeout: durationSeconds.default(10).describe('per query, including reading and parsing the answer'),
        maxResponseBytes: z
          .number()
          .int()
          .positive()
          .default(32 * 1024 * 1024)
          .describe('a bigger answer is refused while streaming (the canary holds) instead of being buffered whole'),
        settle: durationSeconds
          .default(30)
          .describe('how far behind now the newest judged window must end: about one scrape interval, so a window is complete in Prometheus when judged'),
        ...endpointAccess,
        clusters: z
          .record(z.string().min(1), endpointSchema)
          .default({})
          .describe(
            "one query endpoint per cluster, keyed by the cluster names of multi-cluster policies (spec.argocd.clusters); a cluster not listed here is read from url above, told apart by the policy's clusterLabel",
          ),
      })
      .strict()
      .refine(oneCredential, credentialIssue),
    argocd: z
      .object({
        kubeconfig: z.string().optional().describe('path to a kubeconfig; omit in a cluster to use the pod service account'),
        inCluster: z.boolean().default(false),
        timeout: durationSeconds.default(10).describe('deadline of every Kubernetes API call (Applications and the Lease), body included'),
      })
      .strict()
      .default({ inCluster: false, timeout: 10 }),
    http: z
      .object({
        listen: z
          .string()
          .default('127.0.0.1:8080')
          .describe('host:port for the status page, /healthz, /readyz, /metrics and /status while `promoter run` is up; empty to turn it off'),
        commitUrl: z
          .string()
          .regex(/\{sha\}/, 'must contain {sha}')
          .optional()
          .describe('link for a commit on the status page, e.g. https://github.com/org/repo/commit/{sha}'),
        staleTicks: z
          .number()
          .int()
          .min(1)
          .default(3)
          .describe('/readyz fails when no tick has finished within this many tick intervals'),
      })
      .strict()
      .default({ listen: '127.0.0.1:8080', staleTicks: 3 }),
    leaderElection: z
      .object({
        enabled: z.boolean().default(false).describe('run several replicas: only the holder of the Lease ticks and writes'),
        namespace: z.string().min(1).default('docuthinker-promoter'),
        name: z.string().min(1).default('docuthinker-promoter').describe('the Lease (the Role grants get/update on this name only)'),
        identity: z.string().min(1).optional().describe('this replica in the Lease; default $POD_NAME, then the host name'),
        leaseDuration: durationSeconds.default(15).describe('how long a silent leader keeps the Lease before the other replica takes it'),
        renewPeriod: durationSeconds.default(5).describe('how often the leader renews; writes stop one renew period after a missed renewal'),
      })
      .strict()
      .refine((l) => l.leaseDuration > 2 * l.renewPeriod, {
        message: 'leaseDuration must be more than twice renewPeriod, so a leader stops writing before another can take over',
        path: ['leaseDuration'],
      })
      .default({ enabled: false, namespace: 'docuthinker-promoter', name: 'docuthinker-promoter', leaseDuration: 15, renewPeriod: 5 }),
    delivery: z
      .object({
        mode: z
          .enum(['push', 'pull-request'])
          .default('push')
          .describe('push: one commit per decision straight to git.branch; pull-request: one pull request per canary, merged on green checks'),
        merge: z
          .enum(['api', 'auto-merge'])
          .default('api')
          .describe('pull-request mode: api merges once the required checks pass (guarded by the head sha); auto-merge enables GitHub auto-merge'),
        rollbacks: z
          .enum(['direct', 'pull-request'])
          .default('direct')
          .describe('rollbacks and aborts: direct pushes them (a bad canary serves users while a PR waits); a refused push falls back to a PR with auto-merge'),
        github: z
          .object({
            apiUrl: z.string().url().default('https://api.github.com'),
            owner: z.string().min(1),
            repo: z.string().min(1),
            tokenEnv: z.string().default('GITHUB_TOKEN').describe('environment variable holding a token (never logged); unused when app is set'),
            app: z
              .object({
                appId: z.union([z.string().min(1), z.number().int()]).transform(String),
                privateKeyFile: z.string().min(1),
                installationId: z.number().int().positive(),
              })
              .strict()
              .optional()
              .describe('a GitHub App: its installation token is fetched and refreshed before it expires'),
            requiredChecks: z
              .array(z.string().min(1))
              .optional()
              .describe('checks that must pass before an api merge; default: the branch protection\'s required checks'),
          })
          .strict()
          .optional(),
        links: z
          .object({
            argocd: z.string().url().optional().describe('Argo CD base URL, for links in pull requests'),
            grafana: z.string().url().optional().describe('Grafana dashboard URL, for links in pull requests'),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({ mode: 'push', merge: 'api', rollbacks: 'direct', links: {} })
      .refine((d) => d.mode === 'push' || d.github !== undefined, {
        message: 'pull-request delivery needs delivery.github (owner, repo, and a token or an app)',
        path: ['github'],
      }),
    notifications: z
      .object({
        webhooks: z
          .array(
            z
              .object({
                url: z.string().url().describe('a Slack-compatible incoming webhook; its path is a secret and is never logged (only the origin)'),
                events: z.array(z.enum(NOTIFICATION_EVENTS)).min(1).optional().describe('only these events; default all'),
                timeout: durationSeconds.default(5).describe('per request; a target that does not answer in time is abandoned and retried'),
              })
              .strict(),
          )
          .default([]),
        queueLimit: z.number().int().min(1).default(100).describe('messages waiting per target; beyond it the oldest is dropped and counted'),
        attempts: z.number().int().min(1).max(10).default(3).describe('tries per message, with exponential backoff between them'),
        backoff: durationSeconds.default(1).describe('the first retry delay; doubled on each further retry'),
      })
      .strict()
      .default({ webhooks: [], queueLimit: 100, attempts: 3, backoff: 1 }),
    policies: z.array(z.string().min(1)).min(1).default(['gitops/apps/*/canary.yaml']),
    schedule: z
      .string()
      .default('*/30 * * * * *')
      .describe('node-cron expression (with seconds) for reconcile ticks; ticks never overlap'),
    maxPushAttempts: z.number().int().min(1).max(10).default(3),
    tickDeadline: durationSeconds
      .default(120)
      .describe('a tick that has not finished by then stops waiting and writes nothing more; the next tick starts over'),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  })
  .strict();

export type PromoterConfig = z.output<typeof promoterConfigSchema>;

export function parsePromoterConfig(value: unknown, source: string): PromoterConfig {
  const result = promoterConfigSchema.safeParse(value);
  if (!result.success) {
    throw new ConfigError(source, result.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`));
  }
  return result.data;
}

export function loadPromoterConfig(file: string): PromoterConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read: ${(error as Error).message}`]);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new ConfigError(file, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0] ?? ''}`));
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(file, [`YAML: ${(error as Error).message}`], { cause: error });
  }
  return parsePromoterConfig(value, file);
}

/** The remote URL with the token from the environment added for HTTPS remotes. */
export function remoteUrlWithToken(config: PromoterConfig, env: NodeJS.ProcessEnv = process.env): string {
  const token = env[config.git.tokenEnv];
  if (!token || !config.git.url.startsWith('https://')) return config.git.url;
  const url = new URL(config.git.url);
  url.username = 'x-access-token';
  url.password = token;
  return url.toString();
}
