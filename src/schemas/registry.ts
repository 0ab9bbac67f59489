// Validators compiled from the real schemas in ../shared/schemas: CRD openAPIV3Schemas (Istio,
// Argo CD, Prometheus Operator) and Kubernetes JSON Schemas. Used by `promoter validate` and by
// the loopback test servers that stand in for the Kubernetes / Argo CD API.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type CodeOptions, type ErrorObject, type ValidateFunction } from 'ajv';
import ajvDraft04 from 'ajv-draft-04';
import { parseAllDocuments } from 'yaml';
import { PermanentError } from '../errors.js';
import { evaluateCel } from './cel.js';

export interface SchemaIssue {
  /** JSON pointer into the document, e.g. /spec/http/0/route/1/weight */
  path: string;
  message: string;
}

export type DocumentValidator = (document: unknown) => SchemaIssue[];

export interface SchemaRegistry {
  readonly dir: string;
  /** The validator for an apiVersion + kind, or undefined when no schema is known for it. */
  validatorFor(apiVersion: string, kind: string): DocumentValidator | undefined;
  /** Every apiVersion/kind pair the registry knows. */
  knownKinds(): string[];
}

/** The repository root: the nearest folder above this module that holds package.json (src/ or dist/src/). */
export function repoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return from;
    dir = parent;
  }
  return dir;
}

/** ../shared/schemas beside the repository, unless PROMOTER_SCHEMAS_DIR says otherwise. */
export function defaultSchemasDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.PROMOTER_SCHEMAS_DIR ?? resolve(repoRoot(), '..', 'shared', 'schemas');
}

interface CrdVersion {
  name: string;
  served?: boolean;
  schema?: { openAPIV3Schema?: Record<string, unknown> };
}

interface CrdDocument {
  kind?: string;
  spec?: { group?: string; names?: { kind?: string }; versions?: CrdVersion[] };
}

type JsonObject = Record<string, unknown>;

const OBJECT_META = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

/**
 * Kubernetes prunes unknown fields of structural schemas; a GitOps repo should not carry them
 * (kubectl --validate=strict rejects them), so objects with declared properties become closed.
 */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema as JsonObject)) {
    out[key] = key === 'properties' ? mapValues(value as JsonObject, closeObjects) : closeObjects(value);
  }
  if (
    out.properties !== undefined &&
    out.additionalProperties === undefined &&
    out['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out.additionalProperties = false;
  }
  return out;
}

function mapValues(object: JsonObject, fn: (value: unknown) => unknown): JsonObject {
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, fn(v)]));
}

function crdTopLevel(schema: JsonObject): JsonObject {
  const properties = { ...((schema.properties as JsonObject | undefined) ?? {}) };
  properties.apiVersion ??= { type: 'string' };
  properties.kind ??= { type: 'string' };
  properties.metadata ??= OBJECT_META;
  return { ...schema, properties };
}

const OPENAPI_FORMATS = ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'date-time', 'date', 'password', 'uri', 'int-or-string'];
const K8S_KEYWORDS = [
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-group-version-kind',
  'x-kubernetes-patch-merge-key',
  'x-kubernetes-patch-strategy',
  'x-kubernetes-unions',
];

/**
 * CRD patterns are Go RE2, not ECMAScript: a leading `(?i)` (Prometheus Operator uses it) becomes
 * the `i` flag, and a pattern JavaScript still cannot compile matches anything rather than crash.
 */
export const re2Patterns: NonNullable<CodeOptions['regExp']> = Object.assign(
  (pattern: string, flags: string) => {
    let source = pattern;
    let extra = '';
    const inline = /^\(\?([imsU]+)\)/.exec(source);
    if (inline) {
      source = source.slice(inline[0].length);
      extra = [...new Set(inline[1]!.replace('U', '').split(''))].filter((f) => !flags.includes(f)).join('');
    }
    try {
      return new RegExp(source, flags + extra);
    } catch {
      return { test: () => true };
    }
  },
  { code: 'new RegExp' },
);

interface CelRule {
  rule?: string;
  message?: string;
}

export { goDurationMs } from './cel.js';

/**
 * One CEL rule of a CRD, evaluated by the small interpreter in cel.ts: true / false, or undefined
 * when the rule uses something outside its subset (such a rule passes as "not evaluated").
 */
export function evaluateCelRule(rule: string, self: unknown): boolean | undefined {
  return evaluateCel(rule, self);
}

const celValidations = {
  keyword: 'x-kubernetes-validations',
  schemaType: 'array',
  errors: true,
  validate: function validateCel(rules: CelRule[], data: unknown): boolean {
    const failed = rules.filter((r) => typeof r.rule === 'string' && evaluateCelRule(r.rule, data) === false);
    (validateCel as { errors?: Partial<ErrorObject>[] }).errors = failed.map((r) => ({
      keyword: 'x-kubernetes-validations',
      message: (r.message ?? `must satisfy ${r.rule}`).replace(/\s+/g, ' '),
      params: { rule: r.rule },
    }));
    return failed.length === 0;
  },
} as const;

function configure<T extends Ajv>(ajv: T): T {
  ajv.addKeyword(celValidations);
  for (const keyword of K8S_KEYWORDS.filter((k) => k !== celValidations.keyword)) {
    ajv.addKeyword({ keyword, schemaType: ['boolean', 'array', 'string', 'object'] });
  }
  for (const format of OPENAPI_FORMATS) ajv.addFormat(format, true);
  return ajv;
}

function issuesOf(errors: ErrorObject[] | null | undefined): SchemaIssue[] {
  return (errors ?? []).map((e) => {
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      message = `unknown field "${String((e.params as { additionalProperty?: string }).additionalProperty)}"`;
    } else if (e.keyword === 'enum') {
      message = `${message}: ${JSON.stringify((e.params as { allowedValues?: unknown[] }).allowedValues)}`;
    }
    return { path: e.instancePath || '/', message };
  });
}

function wrap(validate: ValidateFunction): DocumentValidator {
  return (document) => (validate(document) ? [] : issuesOf(validate.errors));
}

/** Loads every schema under `dir` (lazily compiled on first use, then cached). */
export function createSchemaRegistry(dir: string = defaultSchemasDir()): SchemaRegistry {
  if (!existsSync(dir)) {
    throw new PermanentError(`schema directory not found: ${dir} (set PROMOTER_SCHEMAS_DIR or pass --schemas)`);
  }
  const crdAjv = configure(new Ajv({ strict: false, allErrors: true, discriminator: false, code: { regExp: re2Patterns } }));
  const k8sAjv = configure(new ajvDraft04.default({ strict: false, allErrors: true, code: { regExp: re2Patterns } }));
  const sources = new Map<string, () => DocumentValidator>();

  for (const file of listFiles(dir)) {
    if (/\.ya?ml$/.test(file)) {
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        const crd = doc.toJS() as CrdDocument | null;
        if (crd?.kind !== 'CustomResourceDefinition') continue;
        const group = crd.spec?.group;
        const kind = crd.spec?.names?.kind;
        for (const version of crd.spec?.versions ?? []) {
          const schema = version.schema?.openAPIV3Schema;
          if (!group || !kind || !schema || version.served === false) continue;
          sources.set(`${group}/${version.name}/${kind}`, () =>
            wrap(crdAjv.compile(closeObjects(crdTopLevel(schema)) as JsonObject)),
          );
        }
      }
    } else if (file.endsWith('.json')) {
      const schema = JSON.parse(readFileSync(file, 'utf8')) as JsonObject;
      const gvks = (schema['x-kubernetes-group-version-kind'] as { group: string; version: string; kind: string }[] | undefined) ?? [];
      for (const gvk of gvks) {
        const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
        const { $schema: _ignored, ...body } = schema;
        sources.set(`${apiVersion}/${gvk.kind}`, () => wrap(k8sAjv.compile(body)));
      }
    }
  }

  const compiled = new Map<string, DocumentValidator>();
  return {
    dir,
    validatorFor(apiVersion, kind) {
      const key = `${apiVersion}/${kind}`;
      const cached = compiled.get(key);
      if (cached) return cached;
      const source = sources.get(key);
      if (!source) return undefined;
      const validator = source();
      compiled.set(key, validator);
      return validator;
    },
    knownKinds: () => [...sources.keys()].sort(),
  };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}
