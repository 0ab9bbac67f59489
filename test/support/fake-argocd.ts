// A loopback stand-in for the Kubernetes API serving applications.argoproj.io/v1alpha1 (plus a tiny
// simulated Argo CD controller) and coordination.k8s.io/v1 Leases (get, create, update with the
// resourceVersion precondition). Every object it stores or serves is checked against the real schema.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';
import { createSchemaRegistry, type DocumentValidator, type SchemaIssue, type SchemaRegistry } from '../../src/schemas/registry.js';

export interface ApplicationSeed {
  name: string;
  /** default argocd */
  namespace?: string;
  repoURL: string;
  path: string;
  /** default main */
  targetRevision?: string;
  /** default docuthinker */
  project?: string;
}

export type SimulatedHealth = 'Healthy' | 'Progressing' | 'Degraded' | 'Missing';

/** A managed resource the simulated controller reports Degraded (status.resources). */
export interface DegradedResource {
  kind: string;
  name: string;
  namespace?: string;
  group?: string;
  version?: string;
}

export interface FakeArgoCd {
  /** http://127.0.0.1:<port>, speaking the Kubernetes API for applications.argoproj.io/v1alpha1 */
  url: string;
  /** a kubeconfig (cluster server = url, a user with the bearer token) for @kubernetes/client-node */
  kubeConfigYaml(): string;
  /** the bearer token every request must carry (401 without it) */
  token: string;
  /** a copy of the stored object (schema-valid) */
  application(name: string): Record<string, unknown>;
  /**
   * The simulated controller has applied `revision`: status.sync {Synced, revision}, status.health,
   * status.reconciledAt = now, and, when an operation for that revision was pending, operationState
   * {Succeeded, finishedAt = now, syncResult.revision} and the operation cleared.
   */
  reportSynced(name: string, revision: string, health?: SimulatedHealth, degraded?: DegradedResource[]): void;
  /**
   * Beyond the contract, for tests: the pending operation ends in `phase` (finishedAt = now) without a
   * fresh reconcile, i.e. sync and health still describe the previous comparison.
   */
  reportOperation(name: string, phase: 'Succeeded' | 'Failed' | 'Error', message?: string): void;
  /** sync operations requested through the API (operation.sync.revision), oldest first */
  syncRequests(name: string): string[];
  /** a copy of a stored Lease (schema-valid), or undefined. */
  lease(namespace: string, name: string): Record<string, unknown> | undefined;
  close(): Promise<void>;
}

export interface FakeArgoCdOptions {
  applications: ApplicationSeed[];
  /** default 0: any free port */
  port?: number;
  schemasDir?: string;
  /** beyond the contract: an already-built registry, so many servers share one compiled CRD schema. */
  registry?: SchemaRegistry;
  now?: () => Date;
}

type Json = Record<string, unknown>;

const LEASE_ROUTE = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?\/?$/;
const ROUTE = /^\/apis\/argoproj\.io\/v1alpha1\/(?:namespaces\/([^/]+)\/)?applications(?:\/([^/]+))?\/?$/;
const MERGE_PATCH = 'application/merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';
const MAX_BODY_BYTES = 1024 * 1024;

class HttpFailure extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Json,
  ) {
    super(message);
  }
}

function kubernetesStatus(failure: HttpFailure): Json {
  const body: Json = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: failure.message, reason: failure.reason };
  if (failure.details !== undefined) body.details = failure.details;
  body.code = failure.code;
  return body;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function object(value: unknown): Json {
  return isObject(value) ? value : {};
}

function revisionOf(operation: unknown): string {
  const revision = object(object(operation).sync).revision;
  return typeof revision === 'string' ? revision : '';
}

/** Kubernetes timestamps have second precision. */
function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** RFC 7386 JSON merge patch. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Json = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

function pointer(path: unknown): string[] {
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) {
    throw new HttpFailure(422, 'Invalid', `invalid JSON pointer ${JSON.stringify(path)}`);
  }
  return path === '' ? [] : path.slice(1).split('/').map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902 JSON patch: add, remove, replace and test (what a Kubernetes client sends in practice). */
export function applyJsonPatch(document: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw new HttpFailure(400, 'BadRequest', 'a JSON patch must be an array of operations');
  let root: unknown = structuredClone(document);
  for (const raw of operations) {
    const operation = object(raw);
    const tokens = pointer(operation.path);
    const op = operation.op;
    if (tokens.length === 0) {
      if (op === 'test' && !isDeepStrictEqual(root, operation.value)) throw new HttpFailure(422, 'Invalid', 'test operation failed at ""');
      if (op === 'add' || op === 'replace') root = structuredClone(operation.value);
      continue;
    }
    let parent: unknown = root;
    for (const token of tokens.slice(0, -1)) {
      parent = Array.isArray(parent) ? parent[Number(token)] : isObject(parent) ? parent[token] : undefined;
      if (parent === undefined) throw new HttpFailure(422, 'Invalid', `path ${String(operation.path)} does not exist`);
    }
    const last = tokens[tokens.length - 1] ?? '';
    const container = parent as Json | unknown[];
    const exists = Array.isArray(container) ? Number(last) < container.length : Object.hasOwn(container, last);
    switch (op) {
      case 'test': {
        const current = Array.isArray(container) ? container[Number(last)] : container[last];
        if (!isDeepStrictEqual(current, operation.value)) {
          throw new HttpFailure(422, 'Invalid', `test operation failed at ${String(operation.path)}`);
        }
        break;
      }
      case 'remove':
      case 'replace':
        if (!exists) throw new HttpFailure(422, 'Invalid', `cannot ${op} ${String(operation.path)}: it does not exist`);
        if (Array.isArray(container)) {
          if (op === 'remove') container.splice(Number(last), 1);
          else container[Number(last)] = structuredClone(operation.value);
        } else if (op === 'remove') delete container[last];
        else container[last] = structuredClone(operation.value);
        break;
      case 'add':
        if (Array.isArray(container)) {
          container.splice(last === '-' ? container.length : Number(last), 0, structuredClone(operation.value));
        } else container[last] = structuredClone(operation.value);
        break;
      default:
        throw new HttpFailure(422, 'Invalid', `unsupported JSON patch operation ${JSON.stringify(op)}`);
    }
  }
  return root;
}

function invalid(name: string, issues: SchemaIssue[]): HttpFailure {
  const causes = issues.map((issue) => ({
    reason: 'FieldValueInvalid',
    message: issue.message,
    field: issue.path.replace(/^\//, '').replace(/\//g, '.'),
  }));
  const summary = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  return new HttpFailure(422, 'Invalid', `Application.argoproj.io "${name}" is invalid: ${summary}`, {
    name,
    group: 'argoproj.io',
    kind: 'Application',
    causes,
  });
}

function notFound(name: string): HttpFailure {
  return new HttpFailure(404, 'NotFound', `applications.argoproj.io "${name}" not found`, { name, group: 'argoproj.io', kind: 'applications' });
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new HttpFailure(413, 'RequestEntityTooLarge', 'request body too large');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the server on 127.0.0.1 with the seeded Applications. */
export async function startFakeArgoCd(options: FakeArgoCdOptions): Promise<FakeArgoCd> {
  const now = options.now ?? (() => new Date());
  const registry = options.registry ?? createSchemaRegistry(options.schemasDir);
  const validator = registry.validatorFor('argoproj.io/v1alpha1', 'Application');
  if (!validator) throw new Error(`no Application schema for argoproj.io/v1alpha1 under ${registry.dir}`);
  const validate: DocumentValidator = validator;
  const leaseValidator = registry.validatorFor('coordination.k8s.io/v1', 'Lease');
  if (!leaseValidator) throw new Error(`no Lease schema for coordination.k8s.io/v1 under ${registry.dir}`);
  const validateLease: DocumentValidator = leaseValidator;
  const leases = new Map<string, Json>();
  const token = randomBytes(24).toString('hex');
  const store = new Map<string, Json>();
  const requests = new Map<string, string[]>();
  let resourceVersion = 0;

  const nextVersion = (): string => String((resourceVersion += 1));

  function seed(spec: ApplicationSeed): Json {
    const namespace = spec.namespace ?? 'argocd';
    return {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: {
        name: spec.name,
        namespace,
        uid: randomUUID(),
        resourceVersion: nextVersion(),
        generation: 1,
        creationTimestamp: timestamp(now()),
      },
      spec: {
        project: spec.project ?? 'docuthinker',
        source: { repoURL: spec.repoURL, path: spec.path, targetRevision: spec.targetRevision ?? 'main' },
        destination: { server: 'https://kubernetes.default.svc', namespace: 'docuthinker' },
      },
      status: { sync: { status: 'Unknown' }, health: { status: 'Unknown' } },
    };
  }

  function checked(app: Json): Json {
    const issues = validate(app);
    if (issues.length > 0) throw invalid(String(object(app.metadata).name), issues);
    return app;
  }

  for (const spec of options.applications) {
    const app = seed(spec);
    const issues = validate(app);
    if (issues.length > 0) {
      throw new Error(`seed Application ${spec.name} does not match the CRD schema: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`);
    }
    store.set(`${spec.namespace ?? 'argocd'}/${spec.name}`, app);
    requests.set(spec.name, []);
  }

  function find(name: string): Json {
    const matches = [...store.entries()].filter(([key]) => key.endsWith(`/${name}`));
    if (matches.length !== 1 || !matches[0]) throw new Error(`fake Argo CD: ${matches.length === 0 ? 'no' : 'more than one'} Application named ${name}`);
    return matches[0][1];
  }

  function commit(key: string, app: Json): Json {
    checked(app);
    object(app.metadata).resourceVersion = nextVersion();
    store.set(key, app);
    return app;
  }

  function patch(namespace: string, name: string, contentType: string, bodyText: string, dryRun: boolean): Json {
    const key = `${namespace}/${name}`;
    const current = store.get(key);
    if (!current) throw notFound(name);
    let body: unknown;
    try {
      body = JSON.parse(bodyText);
    } catch {
      throw new HttpFailure(400, 'BadRequest', 'the request body is not valid JSON');
    }
    let patched: unknown;
    if (contentType === MERGE_PATCH) {
      if (!isObject(body)) throw new HttpFailure(400, 'BadRequest', 'a merge patch must be a JSON object');
      patched = applyMergePatch(structuredClone(current), body);
    } else if (contentType === JSON_PATCH) {
      patched = applyJsonPatch(current, body);
    } else {
      throw new HttpFailure(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${JSON_PATCH}, ${MERGE_PATCH}, application/apply-patch+yaml`,
      );
    }
    if (!isObject(patched)) throw new HttpFailure(422, 'Invalid', 'the patched object is not an object');
    const before = object(current.metadata);
    const after = object(patched.metadata);
    if (after.name !== name || after.namespace !== namespace || after.uid !== before.uid) {
      throw new HttpFailure(400, 'BadRequest', 'metadata.name, metadata.namespace and metadata.uid cannot be changed');
    }
    // A resourceVersion in the patch is a precondition, exactly as the real API server treats it.
    if (after.resourceVersion !== undefined && after.resourceVersion !== before.resourceVersion) {
      throw new HttpFailure(
        409,
        'Conflict',
        `Operation cannot be fulfilled on applications.argoproj.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, group: 'argoproj.io', kind: 'applications' },
      );
    }
    // Argo CD's own rule (its API server and controller): one operation at a time.
    const startsOperation = patched.operation !== undefined && !isDeepStrictEqual(patched.operation, current.operation);
    if (startsOperation && current.operation !== undefined) {
      throw new HttpFailure(409, 'Conflict', 'another operation is already in progress', { name, group: 'argoproj.io', kind: 'applications' });
    }
    if (!isDeepStrictEqual(patched.spec, current.spec)) after.generation = Number(before.generation ?? 1) + 1;
    if (startsOperation) {
      // What the real controller does within moments of seeing the operation.
      const status = object(patched.status);
      status.operationState = { operation: structuredClone(patched.operation), phase: 'Running', message: 'simulated controller: sync started', startedAt: timestamp(now()) };
      patched.status = status;
    }
    const issues = validate(patched);
    if (issues.length > 0) throw invalid(name, issues);
    if (dryRun) return patched;
    if (startsOperation) requests.get(name)?.push(revisionOf(patched.operation));
    return commit(key, patched);
  }

  function list(namespace: string | undefined): Json {
    const items = [...store.entries()].filter(([key]) => namespace === undefined || key.startsWith(`${namespace}/`)).map(([, app]) => checked(app));
    return { apiVersion: 'argoproj.io/v1alpha1', kind: 'ApplicationList', metadata: { resourceVersion: String(resourceVersion) }, items };
  }

  function leaseFailure(code: number, reason: string, name: string, message: string): HttpFailure {
    return new HttpFailure(code, reason, message, { name, group: 'coordination.k8s.io', kind: 'leases' });
  }

  function checkedLease(lease: unknown, name: string): Json {
    const issues = validateLease(lease);
    if (!isObject(lease) || issues.length > 0) {
      const summary = issues.map((i) => `${i.path}: ${i.message}`).join(', ');
      throw leaseFailure(422, 'Invalid', name, `Lease.coordination.k8s.io "${name}" is invalid: ${summary}`);
    }
    if (lease.apiVersion !== 'coordination.k8s.io/v1' || lease.kind !== 'Lease') throw leaseFailure(400, 'BadRequest', name, 'not a coordination.k8s.io/v1 Lease');
    return lease;
  }

  /** Leases: what a leader elector needs (get, create, update), with the real conflict semantics. */
  async function leaseRoute(request: IncomingMessage, namespace: string, name: string | undefined): Promise<Json> {
    const method = request.method ?? 'GET';
    if (method === 'GET' && name !== undefined) {
      const lease = leases.get(`${namespace}/${name}`);
      if (!lease) throw leaseFailure(404, 'NotFound', name, `leases.coordination.k8s.io "${name}" not found`);
      return lease;
    }
    if ((method === 'POST' && name === undefined) || (method === 'PUT' && name !== undefined)) {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(request));
      } catch (error) {
        if (error instanceof HttpFailure) throw error;
        throw new HttpFailure(400, 'BadRequest', 'the request body is not valid JSON');
      }
      const metadata = object(object(body).metadata);
      const leaseName = typeof metadata.name === 'string' ? metadata.name : '';
      if (name !== undefined && leaseName !== name) throw leaseFailure(400, 'BadRequest', name, 'the name in the body does not match the URL');
      if (metadata.namespace !== undefined && metadata.namespace !== namespace) throw leaseFailure(400, 'BadRequest', leaseName, 'the namespace in the body does not match the URL');
      const key = `${namespace}/${leaseName}`;
      const current = leases.get(key);
      if (method === 'POST' && current) throw leaseFailure(409, 'AlreadyExists', leaseName, `leases.coordination.k8s.io "${leaseName}" already exists`);
      if (method === 'PUT') {
        if (!current) throw leaseFailure(404, 'NotFound', leaseName, `leases.coordination.k8s.io "${leaseName}" not found`);
        const expected = object(current.metadata).resourceVersion;
        if (metadata.resourceVersion !== undefined && metadata.resourceVersion !== expected) {
          throw leaseFailure(
            409,
            'Conflict',
            leaseName,
            `Operation cannot be fulfilled on leases.coordination.k8s.io "${leaseName}": the object has been modified; please apply your changes to the latest version and try again`,
          );
        }
      }
      const stored = structuredClone(body) as Json;
      const before = current ? object(current.metadata) : {};
      stored.metadata = {
        ...metadata,
        namespace,
        uid: before.uid ?? randomUUID(),
        creationTimestamp: before.creationTimestamp ?? timestamp(now()),
        resourceVersion: nextVersion(),
      };
      leases.set(key, checkedLease(stored, leaseName));
      return stored;
    }
    throw new HttpFailure(405, 'MethodNotAllowed', `${method} is not supported on leases by the fake API (get, create, update only)`);
  }

  async function route(request: IncomingMessage): Promise<Json> {
    const authorization = request.headers.authorization ?? '';
    if (authorization !== `Bearer ${token}`) throw new HttpFailure(401, 'Unauthorized', 'Unauthorized');
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const leaseMatch = LEASE_ROUTE.exec(url.pathname);
    if (leaseMatch) {
      return leaseRoute(request, decodeURIComponent(leaseMatch[1] ?? ''), leaseMatch[2] !== undefined ? decodeURIComponent(leaseMatch[2]) : undefined);
    }
    const match = ROUTE.exec(url.pathname);
    if (!match) throw new HttpFailure(404, 'NotFound', 'the server could not find the requested resource');
    const namespace = match[1] !== undefined ? decodeURIComponent(match[1]) : undefined;
    const name = match[2] !== undefined ? decodeURIComponent(match[2]) : undefined;
    const method = request.method ?? 'GET';
    if (method === 'GET' && name === undefined) return list(namespace);
    if (namespace === undefined || name === undefined) {
      throw new HttpFailure(405, 'MethodNotAllowed', `${method} is not supported on ${url.pathname}`);
    }
    if (method === 'GET') {
      const app = store.get(`${namespace}/${name}`);
      if (!app) throw notFound(name);
      return checked(app);
    }
    if (method === 'PATCH') {
      const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      return patch(namespace, name, contentType, await readBody(request), url.searchParams.get('dryRun') === 'All');
    }
    // The promoter's Role grants get and patch only; nothing else is served here.
    throw new HttpFailure(405, 'MethodNotAllowed', `${method} is not supported by the fake Argo CD API (get, list, patch only)`);
  }

  function respond(response: ServerResponse, code: number, body: Json): void {
    const payload = JSON.stringify(body);
    response.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
    response.end(payload);
  }

  const server = createServer((request, response) => {
    route(request).then(
      (body) => respond(response, 200, body),
      (error: unknown) => {
        const failure = error instanceof HttpFailure ? error : new HttpFailure(500, 'InternalError', `fake Argo CD: ${String(error)}`);
        request.resume();
        respond(response, failure.code, kubernetesStatus(failure));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function keyOf(name: string): string {
    const app = find(name);
    return `${String(object(app.metadata).namespace)}/${name}`;
  }

  return {
    url,
    token,
    kubeConfigYaml: () =>
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        // plain HTTP on loopback: the client refuses http:// unless TLS verification is explicitly off
        clusters: [{ name: 'fake-argocd', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'docuthinker-promoter', user: { token } }],
        contexts: [{ name: 'fake-argocd', context: { cluster: 'fake-argocd', user: 'docuthinker-promoter', namespace: 'argocd' } }],
        'current-context': 'fake-argocd',
      }),
    application: (name) => structuredClone(find(name)),
    reportSynced(name, revision, health = 'Healthy', degraded = []) {
      const app = structuredClone(find(name));
      const at = timestamp(now());
      const spec = object(app.spec);
      const status = object(app.status);
      const previousHealth = object(status.health);
      status.sync = { status: 'Synced', revision, comparedTo: { source: spec.source, destination: spec.destination } };
      status.health = {
        status: health,
        lastTransitionTime: previousHealth.status === health && typeof previousHealth.lastTransitionTime === 'string' ? previousHealth.lastTransitionTime : at,
      };
      status.reconciledAt = at;
      if (degraded.length > 0) {
        status.resources = degraded.map((r) => ({
          group: r.group ?? 'apps',
          version: r.version ?? 'v1',
          kind: r.kind,
          name: r.name,
          ...(r.namespace ? { namespace: r.namespace } : {}),
          status: 'Synced',
          health: { status: 'Degraded', message: 'simulated: pods are not becoming ready' },
        }));
      } else {
        delete status.resources;
      }
      const operation = app.operation;
      // A pending operation for this revision finishes with it. One for an older revision also
      // finishes: the controller ran it, then auto-sync applied the newer commit being reported.
      if (operation !== undefined) {
        const state = object(status.operationState);
        const operationRevision = object(object(operation).sync).revision;
        status.operationState = {
          operation: structuredClone(operation),
          phase: 'Succeeded',
          message: 'successfully synced (all tasks run)',
          startedAt: typeof state.startedAt === 'string' ? state.startedAt : at,
          finishedAt: at,
          syncResult: { revision: typeof operationRevision === 'string' ? operationRevision : revision, source: spec.source },
        };
        delete app.operation;
      }
      app.status = status;
      commit(keyOf(name), app);
    },
    reportOperation(name, phase, message) {
      const app = structuredClone(find(name));
      const operation = app.operation;
      if (operation === undefined) throw new Error(`fake Argo CD: no operation pending on ${name}`);
      const at = timestamp(now());
      const status = object(app.status);
      const state = object(status.operationState);
      const revision = revisionOf(operation);
      status.operationState = {
        operation: structuredClone(operation),
        phase,
        message: message ?? (phase === 'Succeeded' ? 'successfully synced (all tasks run)' : `simulated sync ${phase.toLowerCase()}`),
        startedAt: typeof state.startedAt === 'string' ? state.startedAt : at,
        finishedAt: at,
        syncResult: { revision, source: object(app.spec).source },
      };
      delete app.operation;
      app.status = status;
      commit(keyOf(name), app);
    },
    syncRequests: (name) => [...(requests.get(name) ?? [])],
    lease: (namespace, name) => {
      const lease = leases.get(`${namespace}/${name}`);
      return lease ? structuredClone(lease) : undefined;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
