// The one module that opens connections to the Kubernetes API: kubeconfig loading, a bounded HTTP
// transport (a timeout and a response-size cap on every call, so a hanging API never freezes a tick)
// and API-error classification. argocd.ts (Applications) and leader.ts (the Lease) build on it.
import { createConfiguration, KubeConfig, ResponseContext, ServerConfiguration, wrapHttpLibrary, type RequestContext } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import fetch, { type RequestInit as FetchInit } from 'node-fetch';
import { PermanentError, TransientError, errorMessage } from '../errors.js';
import { stripCredentials } from '../logger.js';

export interface KubernetesSource {
  /** a kubeconfig document; otherwise in-cluster service-account credentials or the default kubeconfig. */
  kubeConfigYaml?: string;
  inCluster?: boolean;
}

export interface KubernetesLimits {
  /** per call, connection to last body byte (default 10 s). */
  timeoutMs?: number;
  /** the largest response body accepted (default 4 MiB): one Application with a few hundred resources is ~200 KB. */
  maxResponseBytes?: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** The API refused or cannot serve the request; a person has to act (RBAC, a missing object, a bad patch). */
export class KubernetesPermanentError extends PermanentError {
  override name = 'KubernetesPermanentError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The API is unreachable, slow, overloaded or failing; try again next tick. */
export class KubernetesTransientError extends TransientError {
  override name = 'KubernetesTransientError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface KubernetesConnection {
  /** the API server URL, credentials stripped (for messages and logs). */
  readonly server: string;
  /** a generated API client (CustomObjectsApi, CoordinationV1Api, ...) over the bounded transport. */
  api<T>(type: new (configuration: ReturnType<typeof createConfiguration>) => T): T;
}

/** Thrown when neither a kubeconfig nor in-cluster credentials are there: says where it looked and how to set one. */
export class NoKubeconfigError extends PermanentError {
  override name = 'NoKubeconfigError';
}

/**
 * The default kubeconfig files client-node reads ($KUBECONFIG's entries, else ~/.kube/config), and
 * whether any exists. Without one, client-node falls back to http://localhost:8080, which only
 * yields a confusing "HTTP protocol is not allowed" on the first call.
 */
export function defaultKubeconfigPaths(env: NodeJS.ProcessEnv = process.env): { paths: string[]; found: boolean } {
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  const paths = fromEnv.length > 0 ? fromEnv : [join(env.HOME ?? homedir(), '.kube', 'config')];
  return { paths, found: paths.some((p) => existsSync(p)) };
}

export function loadKubeConfig(source: KubernetesSource): KubeConfig {
  const config = new KubeConfig();
  if (source.kubeConfigYaml === undefined && source.inCluster !== true) {
    const { paths, found } = defaultKubeconfigPaths();
    if (!found) {
      throw new NoKubeconfigError(
        `no kubeconfig: argocd.inCluster is false and argocd.kubeconfig is not set, so the default kubeconfig was looked for at ${paths.join(', ')}${
          process.env.KUBECONFIG ? ' (from $KUBECONFIG)' : ' ($KUBECONFIG is not set)'
        }, and it does not exist. Set argocd.kubeconfig: /path/to/kubeconfig in the promoter config, export KUBECONFIG=/path/to/kubeconfig, or set argocd.inCluster: true when running in a cluster`,
      );
    }
  }
  try {
    if (source.kubeConfigYaml !== undefined) config.loadFromString(source.kubeConfigYaml);
    else if (source.inCluster === true) config.loadFromCluster();
    else config.loadFromDefault();
  } catch (error) {
    // The kubeconfig holds the token: name the source, never echo the content.
    const from = source.kubeConfigYaml !== undefined ? 'the given kubeconfig' : source.inCluster === true ? 'the in-cluster service account' : 'the default kubeconfig';
    throw new PermanentError(`cannot load Kubernetes credentials from ${from}`, { cause: new Error(stripCredentials(errorMessage(error))) });
  }
  if (config.getCurrentCluster() === null) {
    throw new PermanentError('the kubeconfig has no current cluster (set current-context)');
  }
  return config;
}

/** A timeout this module raised (not the caller's abort). */
export class KubernetesTimeoutError extends Error {
  override name = 'KubernetesTimeoutError';
}

/** The transport: node-fetch (the client's own, so the kubeconfig's TLS agent applies) with a deadline and a body cap. */
function boundedHttpLibrary(limits: Required<KubernetesLimits>) {
  return wrapHttpLibrary({
    async send(request: RequestContext): Promise<ResponseContext> {
      const deadline = AbortSignal.timeout(limits.timeoutMs);
      const callerSignal = request.getSignal();
      const signal = callerSignal ? AbortSignal.any([deadline, callerSignal]) : deadline;
      const timedOut = (error: unknown): unknown =>
        deadline.aborted ? new KubernetesTimeoutError(`no complete answer within ${limits.timeoutMs} ms`, { cause: error }) : error;
      try {
        const response = await fetch(request.getUrl(), {
          method: request.getHttpMethod().toString(),
          body: request.getBody() as string | undefined,
          headers: request.getHeaders(),
          // node-fetch v2 accepts any spec AbortSignal; its own type predates AbortSignal.any.
          signal: signal as unknown as FetchInit['signal'],
          agent: request.getAgent(),
          // node-fetch stops reading and fails with type "max-size" past this many bytes.
          size: limits.maxResponseBytes,
        });
        // Read the body now, under the same deadline, rather than lazily after it.
        const body = await response.buffer();
        const headers: Record<string, string> = {};
        response.headers.forEach((value, name) => {
          headers[name] = value;
        });
        return new ResponseContext(response.status, headers, { text: () => Promise.resolve(body.toString('utf8')), binary: () => Promise.resolve(body) });
      } catch (error) {
        throw timedOut(error);
      }
    },
  });
}

/** Connects to the cluster the source names; every call it makes is bounded by `limits`. */
export function connectKubernetes(source: KubernetesSource, limits: KubernetesLimits = {}): KubernetesConnection {
  const kubeConfig = loadKubeConfig(source);
  const cluster = kubeConfig.getCurrentCluster();
  const server = stripCredentials(cluster?.server ?? 'unknown server');
  const httpApi = boundedHttpLibrary({ timeoutMs: limits.timeoutMs ?? DEFAULT_TIMEOUT_MS, maxResponseBytes: limits.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES });
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster?.server ?? '', {}),
    authMethods: { default: kubeConfig },
    httpApi,
  });
  return { server, api: (type) => new type(configuration) };
}

interface ApiFailure {
  code: number;
  body?: unknown;
}

export function isApiFailure(error: unknown): error is ApiFailure {
  return error instanceof Error && typeof (error as Partial<ApiFailure>).code === 'number';
}

/** HTTP status of an API refusal, or undefined for a transport failure. */
export function apiStatus(error: unknown): number | undefined {
  return isApiFailure(error) ? error.code : undefined;
}

/** node-fetch's system errors (ECONNREFUSED, ETIMEDOUT, ...), oversize bodies and aborts; anything else is a local mistake. */
function isNetworkFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    error instanceof KubernetesTimeoutError ||
    error.name === 'FetchError' ||
    error.name === 'AbortError' ||
    (typeof code === 'string' && /^(E[A-Z]+|UND_ERR)/.test(code))
  );
}

function statusMessage(body: unknown): string | undefined {
  try {
    const parsed: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    const message = parsed !== null && typeof parsed === 'object' ? (parsed as { message?: unknown }).message : undefined;
    return typeof message === 'string' && message !== '' ? message : undefined;
  } catch {
    return undefined;
  }
}

export interface FailureContext {
  verb: string;
  /** e.g. applications.argoproj.io, leases.coordination.k8s.io */
  resource: string;
  name: string;
  namespace: string;
  server: string;
}

export interface FailureWording {
  /** the message for a 404 (default: `<resource> "<name>" not found in namespace ...`). */
  notFound?: string;
  permanent?: new (message: string, status?: number, options?: { cause?: unknown }) => PermanentError;
  transient?: new (message: string, status?: number, options?: { cause?: unknown }) => TransientError;
}

/** Pure: one failed call as a transient (retry next tick) or permanent (a person acts) error, credentials stripped. */
export function classifyKubernetesError(error: unknown, context: FailureContext, wording: FailureWording = {}): PermanentError | TransientError {
  const Permanent = wording.permanent ?? KubernetesPermanentError;
  const Transient = wording.transient ?? KubernetesTransientError;
  const { verb, resource, name, namespace, server } = context;
  const target = `${resource} "${name}" in namespace "${namespace}"`;
  if (!isApiFailure(error)) {
    const detail = stripCredentials(errorMessage(error));
    if (isNetworkFailure(error)) {
      const tooBig = error instanceof Error && (error as { type?: unknown }).type === 'max-size';
      return new Transient(
        tooBig ? `the Kubernetes API at ${server} sent more than the response limit to ${verb} ${target}: ${detail}` : `cannot reach the Kubernetes API at ${server} to ${verb} ${target}: ${detail}`,
      );
    }
    return new Permanent(`cannot call the Kubernetes API at ${server} to ${verb} ${target}: ${detail}`);
  }
  const { code } = error;
  const detail = statusMessage(error.body);
  const suffix = detail !== undefined ? `: ${stripCredentials(detail)}` : '';
  const cause = new Error(`HTTP ${code}${suffix}`);
  if (code === 404) {
    return new Permanent(wording.notFound ?? `${resource} "${name}" not found in namespace "${namespace}" at ${server}`, code, { cause });
  }
  if (code === 401) {
    return new Permanent(
      `the Kubernetes API at ${server} rejected the promoter's credentials (401) when it tried to ${verb} ${target}; check the service account token`,
      code,
      { cause },
    );
  }
  if (code === 403) {
    return new Permanent(`the promoter's Role lacks "${verb}" on ${resource} in namespace "${namespace}" (403 for "${name}")${suffix}`, code, { cause });
  }
  if (code === 429 || code >= 500) {
    return new Transient(`the Kubernetes API at ${server} answered ${code} to ${verb} ${target}${suffix}`, code, { cause });
  }
  return new Permanent(`the Kubernetes API at ${server} refused to ${verb} ${target} (${code})${suffix}`, code, { cause });
}
