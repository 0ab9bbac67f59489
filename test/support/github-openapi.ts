// Checks HTTP traffic against GitHub's own REST description (../shared/schemas/github/openapi-subset.json)
// with ajv: path and query parameters, request bodies, response status codes, bodies and headers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { defaultSchemasDir } from '../../src/schemas/registry.js';

type Json = Record<string, unknown>;

export interface OpenApiIssue {
  /** JSON pointer into the checked value (body), or the parameter / header name */
  path: string;
  message: string;
}

export interface OpenApiOperation {
  operationId: string;
  method: string;
  /** the path template, e.g. /repos/{owner}/{repo}/pulls/{pull_number} */
  template: string;
  /** externalDocs.url of the operation, for GitHub-style error bodies */
  documentationUrl: string;
}

export interface OperationMatch {
  operation: OpenApiOperation;
  /** decoded path parameters */
  params: Record<string, string>;
}

export interface GitHubOpenApi {
  /** every operation of the subset */
  operations(): OpenApiOperation[];
  /** the operation a request targets; `methods` lists the methods the path has when the method does not match */
  match(method: string, pathname: string): OperationMatch | { methods: string[] } | undefined;
  checkRequest(operation: OpenApiOperation, params: Record<string, string>, query: URLSearchParams, body: unknown, hasBody: boolean): OpenApiIssue[];
  /** `headers` with lower-case names */
  checkResponse(operation: OpenApiOperation, status: number, headers: Record<string, string>, body: unknown): OpenApiIssue[];
  /** validates `value` against #/components/schemas/<name> (for tests and for builders) */
  checkSchema(name: string, value: unknown): OpenApiIssue[];
}

/**
 * Statuses GitHub answers on any operation although the description lists them only on some:
 * bad credentials (401), rate limiting / missing permission (403) and a request its schema rejects
 * (422). Their bodies are still checked (basic-error, validation-error).
 */
const UNIVERSAL_STATUSES = new Set([401, 403, 422]);

const SCHEMA_ID = 'https://github.test/openapi-subset.json';

interface CompiledOperation extends OpenApiOperation {
  regex: RegExp;
  paramNames: string[];
  raw: Json;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * OpenAPI 3.0 `nullable: true` is not JSON Schema, and ajv's own support needs a sibling `type`
 * (GitHub's `commit.author` has none), so every nullable schema becomes anyOf [null, schema].
 * Local `#/components/...` references are made absolute so fragments compile on their own.
 */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'x-github-breaking-changes' || key === 'example' || key === 'examples') continue;
    if (key === '$ref' && typeof value === 'string' && value.startsWith('#/')) out[key] = `${SCHEMA_ID}${value}`;
    else out[key] = toJsonSchema(value);
  }
  if (out.nullable === true) {
    delete out.nullable;
    return { anyOf: [{ type: 'null' }, out] };
  }
  return out;
}

function issuesOf(errors: ErrorObject[] | null | undefined, prefix = ''): OpenApiIssue[] {
  return (errors ?? []).map((e) => {
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      message = `unknown field "${String((e.params as { additionalProperty?: string }).additionalProperty)}"`;
    } else if (e.keyword === 'enum') {
      message = `${message}: ${JSON.stringify((e.params as { allowedValues?: unknown[] }).allowedValues)}`;
    }
    return { path: `${prefix}${e.instancePath || '/'}`, message };
  });
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Loads openapi-subset.json (from ../shared/schemas/github unless `path` says otherwise) and compiles lazily. */
export function loadGitHubOpenApi(path: string = join(defaultSchemasDir(), 'github', 'openapi-subset.json')): GitHubOpenApi {
  const document = JSON.parse(readFileSync(path, 'utf8')) as Json;
  const components = isObject(document.components) ? document.components : {};
  const ajv = new Ajv({ strict: false, allErrors: true, discriminator: false, logger: false });
  (addFormatsModule as unknown as (a: Ajv) => Ajv)(ajv);
  // GitHub's own formats carry no rule JSON Schema could check beyond the type.
  for (const format of ['int64', 'int32', 'timestamp', 'repo.nwo']) ajv.addFormat(format, true);
  ajv.addSchema({ $id: SCHEMA_ID, components: toJsonSchema(components) });

  const resolve = (value: unknown): Json => {
    let current = value;
    for (let depth = 0; depth < 10 && isObject(current) && typeof current.$ref === 'string'; depth += 1) {
      const ref: string = current.$ref;
      const parts = ref.replace(/^#\//, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
      let target: unknown = document;
      for (const part of parts) target = isObject(target) ? target[part] : undefined;
      current = target;
    }
    return isObject(current) ? current : {};
  };

  const operations: CompiledOperation[] = [];
  for (const [template, item] of Object.entries(isObject(document.paths) ? document.paths : {})) {
    if (!isObject(item)) continue;
    for (const [method, raw] of Object.entries(item)) {
      if (!isObject(raw) || typeof raw.operationId !== 'string') continue;
      const paramNames: string[] = [];
      const multi = new Set(
        (Array.isArray(raw.parameters) ? raw.parameters : []).map(resolve).filter((p) => p['x-multi-segment'] === true).map((p) => String(p.name)),
      );
      const pattern = template
        .split(/(\{[^}]+\})/)
        .map((piece) => {
          const name = /^\{([^}]+)\}$/.exec(piece)?.[1];
          if (name === undefined) return escapeRegex(piece);
          paramNames.push(name);
          return multi.has(name) ? '(.+)' : '([^/]+)';
        })
        .join('');
      const documentationUrl = isObject(raw.externalDocs) && typeof raw.externalDocs.url === 'string' ? raw.externalDocs.url : 'https://docs.github.com/rest';
      operations.push({ operationId: raw.operationId, method: method.toUpperCase(), template, documentationUrl, regex: new RegExp(`^${pattern}$`), paramNames, raw });
    }
  }
  // Literal segments win over parameters (e.g. git/ref/{ref} before anything shorter).
  operations.sort((a, b) => b.template.replace(/\{[^}]+\}/g, '').length - a.template.replace(/\{[^}]+\}/g, '').length);

  const cache = new Map<string, ValidateFunction>();
  const compiled = (key: string, schema: () => unknown): ValidateFunction => {
    let validate = cache.get(key);
    if (!validate) {
      validate = ajv.compile(toJsonSchema(schema()) as Json);
      cache.set(key, validate);
    }
    return validate;
  };
  const byId = new Map(operations.map((o) => [o.operationId, o]));
  const get = (operation: OpenApiOperation): CompiledOperation => {
    const found = byId.get(operation.operationId);
    if (!found) throw new Error(`no operation ${operation.operationId} in ${path}`);
    return found;
  };

  function coerce(value: string, schema: Json): unknown {
    if (schema.type === 'integer' || schema.type === 'number') return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    if (schema.type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
    return value;
  }

  return {
    operations: () => operations.map(({ operationId, method, template, documentationUrl }) => ({ operationId, method, template, documentationUrl })),
    match(method, pathname) {
      const methods: string[] = [];
      for (const operation of operations) {
        const m = operation.regex.exec(pathname);
        if (!m) continue;
        if (operation.method !== method.toUpperCase()) {
          methods.push(operation.method);
          continue;
        }
        const params: Record<string, string> = {};
        operation.paramNames.forEach((name, i) => {
          params[name] = decodeURIComponent(m[i + 1] ?? '');
        });
        const { operationId, template, documentationUrl } = operation;
        return { operation: { operationId, method: operation.method, template, documentationUrl }, params };
      }
      return methods.length > 0 ? { methods } : undefined;
    },
    checkRequest(operation, params, query, body, hasBody) {
      const op = get(operation);
      const issues: OpenApiIssue[] = [];
      const parameters = (Array.isArray(op.raw.parameters) ? op.raw.parameters : []).map(resolve);
      for (const parameter of parameters) {
        const name = String(parameter.name);
        const where = String(parameter.in);
        const schema = isObject(parameter.schema) ? parameter.schema : {};
        const value = where === 'path' ? params[name] : where === 'query' ? (query.get(name) ?? undefined) : undefined;
        if (value === undefined) {
          if (parameter.required === true) issues.push({ path: `${where}:${name}`, message: 'is required' });
          continue;
        }
        const validate = compiled(`${op.operationId}:param:${where}:${name}`, () => schema);
        if (!validate(coerce(value, schema))) issues.push(...issuesOf(validate.errors, `${where}:${name}`));
      }
      const requestBody = op.raw.requestBody === undefined ? undefined : resolve(op.raw.requestBody);
      if (requestBody === undefined) {
        if (hasBody && body !== undefined && body !== null && !(isObject(body) && Object.keys(body).length === 0)) {
          issues.push({ path: 'body', message: `${op.operationId} takes no request body` });
        }
        return issues;
      }
      const content = isObject(requestBody.content) ? requestBody.content : {};
      const media = content['application/json'];
      if (!hasBody) {
        if (requestBody.required === true) issues.push({ path: 'body', message: 'a JSON request body is required' });
        return issues;
      }
      if (isObject(media) && media.schema !== undefined) {
        const validate = compiled(`${op.operationId}:request`, () => media.schema);
        if (!validate(body)) issues.push(...issuesOf(validate.errors, 'body'));
      }
      return issues;
    },
    checkResponse(operation, status, headers, body) {
      const op = get(operation);
      const responses = isObject(op.raw.responses) ? op.raw.responses : {};
      const declared = responses[String(status)] ?? responses.default;
      let response: Json;
      if (declared !== undefined) response = resolve(declared);
      else if (status === 422) response = resolve({ $ref: '#/components/responses/validation_failed' });
      else if (UNIVERSAL_STATUSES.has(status)) response = resolve({ $ref: '#/components/responses/forbidden' });
      else return [{ path: 'status', message: `${status} is not a documented response of ${op.operationId} (documented: ${Object.keys(responses).join(', ')})` }];
      const issues: OpenApiIssue[] = [];
      const content = isObject(response.content) ? response.content : undefined;
      const media = content?.['application/json'];
      if (isObject(media) && media.schema !== undefined) {
        const validate = compiled(`${op.operationId}:response:${declared === undefined ? 'universal' : status}`, () => media.schema);
        if (!validate(body)) issues.push(...issuesOf(validate.errors, 'body'));
      } else if (body !== undefined && status >= 200 && status < 300) {
        issues.push({ path: 'body', message: `${op.operationId} ${status} is documented without a body` });
      }
      for (const [name, raw] of Object.entries(isObject(response.headers) ? response.headers : {})) {
        const header = resolve(raw);
        const value = headers[name.toLowerCase()];
        if (value === undefined) continue;
        const schema = isObject(header.schema) ? header.schema : {};
        const validate = compiled(`${op.operationId}:header:${status}:${name}`, () => schema);
        if (!validate(coerce(value, schema))) issues.push(...issuesOf(validate.errors, `header:${name}`));
      }
      return issues;
    },
    checkSchema(name, value) {
      if (!isObject(isObject(components.schemas) ? components.schemas[name] : undefined)) throw new Error(`no schema ${name} in ${path}`);
      const validate = compiled(`schema:${name}`, () => ({ $ref: `#/components/schemas/${name}` }));
      return validate(value) ? [] : issuesOf(validate.errors);
    },
  };
}
