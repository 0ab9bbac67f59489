// The one module that talks to Argo CD, through the Kubernetes API for applications.argoproj.io:
// read an Application's sync/health status, and ask for a sync of an exact Git revision.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { PermanentError, TransientError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  classifyKubernetesError,
  connectKubernetes,
  isApiFailure,
  KubernetesPermanentError,
  KubernetesTransientError,
  type KubernetesLimits,
  type KubernetesSource,
} from './kubernetes.js';

export type SyncStatus = 'Synced' | 'OutOfSync' | 'Unknown';

import type { ApplicationStatusView, OperationPhase, SyncGate, SyncInfo } from './ports.js';

export type { ApplicationStatusView, OperationPhase, SyncGate };

export interface ArgoCdClient {
  getApplication(name: string, namespace: string): Promise<ApplicationStatusView>;
  /**
   * Sets a top-level `operation` (sync of `revision`) and the hard-refresh annotation with one merge
   * patch; 'already-running' when an operation is in progress, because Argo CD refuses a second one.
   */
  requestSync(name: string, namespace: string, revision: string, info?: SyncInfo[]): Promise<'requested' | 'already-running'>;
}

export interface ArgoCdClientOptions extends KubernetesSource, KubernetesLimits {
  logger: Logger;
}

/** Argo CD refused or cannot serve the request; a person has to act (RBAC, a missing app, a bad patch). */
export class ArgoCdPermanentError extends KubernetesPermanentError {
  override name = 'ArgoCdPermanentError';
}

/** The Kubernetes API is unreachable, overloaded or failing; try again next tick. */
export class ArgoCdTransientError extends KubernetesTransientError {
  override name = 'ArgoCdTransientError';
}

export const ARGOCD_GROUP = 'argoproj.io';
export const ARGOCD_VERSION = 'v1alpha1';
export const APPLICATIONS = 'applications';
export const REFRESH_ANNOTATION = 'argocd.argoproj.io/refresh';
export const PROMOTER_USERNAME = 'docuthinker-promoter';

const SYNC_STATUSES: readonly string[] = ['Synced', 'OutOfSync', 'Unknown'];
const OPERATION_PHASES: readonly string[] = ['Running', 'Terminating', 'Failed', 'Error', 'Succeeded'];
const CONFLICT_ATTEMPTS = 3;

type Json = Record<string, unknown>;

function object(value: unknown): Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function firstText(value: unknown): string | undefined {
  return Array.isArray(value) ? text(value[0]) : undefined;
}

/** Pure: the fields of an Application object the promoter waits on. */
export function applicationStatusView(application: unknown): ApplicationStatusView {
  const app = object(application);
  const status = object(app.status);
  const sync = object(status.sync);
  const health = object(status.health);
  const state = object(status.operationState);
  const result = object(state.syncResult);
  const stateOperation = object(object(state.operation).sync);
  const pending = app.operation !== undefined && app.operation !== null;
  const phase = text(state.phase);
  const syncStatus = text(sync.status);

  const view: ApplicationStatusView = {
    name: text(object(app.metadata).name) ?? '',
    syncStatus: syncStatus !== undefined && SYNC_STATUSES.includes(syncStatus) ? (syncStatus as SyncStatus) : 'Unknown',
    health: text(health.status) ?? 'Unknown',
    operationInProgress: pending || phase === 'Running' || phase === 'Terminating',
  };
  const syncedRevision = text(sync.revision) ?? firstText(sync.revisions);
  if (syncedRevision !== undefined) view.syncedRevision = syncedRevision;
  const healthMessage = text(health.message);
  if (healthMessage !== undefined) view.healthMessage = healthMessage;
  if (phase !== undefined && OPERATION_PHASES.includes(phase)) view.operationPhase = phase as OperationPhase;
  const operationRevision =
    text(result.revision) ?? firstText(result.revisions) ?? text(stateOperation.revision) ?? firstText(stateOperation.revisions);
  if (operationRevision !== undefined) view.operationRevision = operationRevision;
  const operationMessage = text(state.message);
  if (operationMessage !== undefined) view.operationMessage = operationMessage;
  const finishedAt = text(state.finishedAt);
  if (finishedAt !== undefined) view.operationFinishedAt = finishedAt;
  const reconciledAt = text(status.reconciledAt);
  if (reconciledAt !== undefined) view.reconciledAt = reconciledAt;
  const resources = Array.isArray(status.resources) ? status.resources.map(object) : [];
  const degraded = resources.filter((r) => text(object(r.health).status) === 'Degraded').map((r) => `${text(r.kind) ?? '?'}/${text(r.name) ?? '?'}`);
  if (degraded.length > 0) view.degradedResources = degraded;
  return view;
}

function short(sha: string): string {
  return /^[0-9a-f]{40}$/.test(sha) ? sha.slice(0, 12) : sha;
}

/**
 * Pure: may the promoter trust that `sha` runs? Ready only when the app is Synced to a revision that
 * contains `sha` (`contains`, answered by the git module: later commits may sit on top of it),
 * Healthy, and its health was computed after the last operation finished (Kargo's lesson: health
 * read before `reconciledAt >= operationState.finishedAt` is the health of the previous revision).
 * degraded=true when the sync of `sha` failed or, once fresh, health is Degraded.
 */
export function syncGate(status: ApplicationStatusView, sha: string, contains: (revision: string) => boolean = (revision) => revision === sha): SyncGate {
  const app = status.name || 'application';
  const wanted = short(sha);
  if (
    (status.operationPhase === 'Failed' || status.operationPhase === 'Error') &&
    status.operationRevision !== undefined &&
    contains(status.operationRevision) &&
    !status.operationInProgress
  ) {
    const detail = status.operationMessage !== undefined ? `: ${status.operationMessage}` : '';
    return { ready: false, degraded: true, reason: `${app}: the sync operation for ${wanted} ended ${status.operationPhase}${detail}` };
  }
  if (status.operationInProgress) {
    const of = status.operationRevision !== undefined ? ` (${short(status.operationRevision)})` : '';
    return { ready: false, degraded: false, reason: `${app}: a sync operation is in progress${of}` };
  }
  if (status.syncedRevision === undefined || !contains(status.syncedRevision)) {
    const at = status.syncedRevision !== undefined ? short(status.syncedRevision) : 'no revision';
    return { ready: false, degraded: false, reason: `${app}: synced to ${at}, waiting for ${wanted} (or a revision on top of it)` };
  }
  if (status.syncStatus !== 'Synced') {
    return { ready: false, degraded: false, reason: `${app}: ${status.syncStatus} at ${wanted}, the live state differs from Git` };
  }
  if (status.operationFinishedAt !== undefined) {
    const finished = Date.parse(status.operationFinishedAt);
    const reconciled = status.reconciledAt !== undefined ? Date.parse(status.reconciledAt) : Number.NaN;
    if (!(reconciled >= finished)) {
      return {
        ready: false,
        degraded: false,
        reason: `${app}: health not reconciled since the sync finished at ${status.operationFinishedAt} (reconciledAt ${status.reconciledAt ?? 'never'})`,
      };
    }
  }
  if (status.health === 'Degraded') {
    const detail = status.healthMessage !== undefined ? `: ${status.healthMessage}` : '';
    const which = status.degradedResources?.length ? ` (${status.degradedResources.join(', ')})` : '';
    return {
      ready: false,
      degraded: true,
      reason: `${app}: Degraded at ${wanted}${which}${detail}`,
      ...(status.degradedResources ? { degradedResources: status.degradedResources } : {}),
    };
  }
  if (status.health !== 'Healthy') {
    return { ready: false, degraded: false, reason: `${app}: health ${status.health} at ${wanted}` };
  }
  return { ready: true };
}

/** Pure: the merge patch that asks Argo CD to sync `revision` and to re-read Git now instead of in ~3 minutes. */
export function syncRequestPatch(revision: string, resourceVersion: string | undefined, info: readonly SyncInfo[] = []): Json {
  const metadata: Json = { annotations: { [REFRESH_ANNOTATION]: 'hard' } };
  // With resourceVersion in a patch the API server refuses (409) when the object changed since we read it,
  // so two promoters cannot both start an operation.
  if (resourceVersion !== undefined) metadata.resourceVersion = resourceVersion;
  return {
    metadata,
    operation: {
      sync: { revision },
      initiatedBy: { username: PROMOTER_USERNAME, automated: true },
      info: [{ name: 'Reason', value: `${PROMOTER_USERNAME} committed ${revision}` }, ...info],
    },
  };
}

type Verb = 'get' | 'patch';

function describeFailure(error: unknown, verb: Verb, name: string, namespace: string, server: string): PermanentError | TransientError {
  return classifyKubernetesError(
    error,
    { verb, resource: 'applications.argoproj.io', name, namespace, server },
    {
      notFound: `Argo CD Application "${name}" not found in namespace "${namespace}" at ${server}`,
      permanent: ArgoCdPermanentError,
      transient: ArgoCdTransientError,
    },
  );
}

/** Builds the client from a kubeconfig, the in-cluster service account, or the default kubeconfig. */
export function createArgoCdClient(options: ArgoCdClientOptions): ArgoCdClient {
  const connection = connectKubernetes(options, options);
  const server = connection.server;
  const api = connection.api(CustomObjectsApi);
  const logger = options.logger.child({ component: 'argocd', server });
  // The generated client would send application/json-patch+json; a merge patch needs its own header.
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

  async function read(name: string, namespace: string): Promise<Json> {
    try {
      const body: unknown = await api.getNamespacedCustomObject({
        group: ARGOCD_GROUP,
        version: ARGOCD_VERSION,
        namespace,
        plural: APPLICATIONS,
        name,
      });
      return object(body);
    } catch (error) {
      throw describeFailure(error, 'get', name, namespace, server);
    }
  }

  return {
    async getApplication(name, namespace) {
      const view = applicationStatusView(await read(name, namespace));
      logger.debug({ app: name, namespace, sync: view.syncStatus, revision: view.syncedRevision, health: view.health }, 'application status');
      return view;
    },

    async requestSync(name, namespace, revision, info = []) {
      for (let attempt = 1; attempt <= CONFLICT_ATTEMPTS; attempt += 1) {
        const app = await read(name, namespace);
        const view = applicationStatusView(app);
        if (view.operationInProgress) {
          logger.info({ app: name, namespace, revision, running: view.operationRevision }, 'sync not requested: an operation is in progress');
          return 'already-running';
        }
        const resourceVersion = text(object(app.metadata).resourceVersion);
        try {
          await api.patchNamespacedCustomObject(
            {
              group: ARGOCD_GROUP,
              version: ARGOCD_VERSION,
              namespace,
              plural: APPLICATIONS,
              name,
              body: syncRequestPatch(revision, resourceVersion, info),
              fieldManager: PROMOTER_USERNAME,
            },
            mergePatch,
          );
          logger.info({ app: name, namespace, revision }, 'sync requested');
          return 'requested';
        } catch (error) {
          // 409: the object changed (often just a status update) or an operation started; read again and decide.
          if (isApiFailure(error) && error.code === 409) {
            logger.debug({ app: name, namespace, attempt }, 'sync request conflicted; re-reading');
            continue;
          }
          throw describeFailure(error, 'patch', name, namespace, server);
        }
      }
      throw new ArgoCdTransientError(
        `Argo CD Application "${name}" in "${namespace}" kept changing for ${CONFLICT_ATTEMPTS} attempts to request a sync; will retry`,
        409,
      );
    },
  };
}
