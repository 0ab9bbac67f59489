// A small GraphQL reader and executor for the GitHub test server: enough of the language (operations,
// variables, aliases, arguments, inline and named fragments) to serve the auto-merge mutations and the
// pull-request fields a client reads, with input objects checked against the SDL GitHub publishes
// (../shared/schemas/github/graphql-automerge.md).
import { readFileSync } from 'node:fs';

export type GqlValue = string | number | boolean | null | GqlValue[] | { [key: string]: GqlValue } | { $var: string } | { $enum: string };

export interface GqlField {
  kind: 'field';
  alias: string;
  name: string;
  args: Record<string, GqlValue>;
  selections: GqlSelection[] | undefined;
}
export interface GqlInlineFragment {
  kind: 'inline';
  on: string | undefined;
  selections: GqlSelection[];
}
export interface GqlSpread {
  kind: 'spread';
  name: string;
}
export type GqlSelection = GqlField | GqlInlineFragment | GqlSpread;

export interface GqlOperation {
  type: 'query' | 'mutation';
  name: string | undefined;
  variables: { name: string; type: string; defaultValue: GqlValue | undefined }[];
  selections: GqlSelection[];
}

export interface GqlDocument {
  operations: GqlOperation[];
  fragments: Map<string, { on: string; selections: GqlSelection[] }>;
}

/** A GraphQL error as GitHub reports it ({ type, path, locations, message }). */
export class GqlError extends Error {
  constructor(
    message: string,
    readonly type?: string,
    readonly path?: (string | number)[],
  ) {
    super(message);
    this.name = 'GqlError';
  }
}

interface Token {
  kind: 'name' | 'punct' | 'string' | 'number' | 'var';
  text: string;
  line: number;
  column: number;
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\n') {
      line += 1;
      lineStart = i + 1;
      i += 1;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === ',' || c === '\ufeff') {
      i += 1;
      continue;
    }
    if (c === '#') {
      while (i < source.length && source[i] !== '\n') i += 1;
      continue;
    }
    const column = i - lineStart + 1;
    if (source.startsWith('...', i)) {
      tokens.push({ kind: 'punct', text: '...', line, column });
      i += 3;
      continue;
    }
    if ('{}()[]:=!@$|&'.includes(c)) {
      if (c === '$') {
        const m = /^\$([_A-Za-z][_0-9A-Za-z]*)/.exec(source.slice(i));
        if (!m) throw new GqlError(`Parse error on "$" at [${line}, ${column}]`);
        tokens.push({ kind: 'var', text: m[1]!, line, column });
        i += m[0].length;
        continue;
      }
      tokens.push({ kind: 'punct', text: c, line, column });
      i += 1;
      continue;
    }
    if (source.startsWith('"""', i)) {
      const end = source.indexOf('"""', i + 3);
      if (end < 0) throw new GqlError(`Parse error: unterminated block string at [${line}, ${column}]`);
      const text = source.slice(i + 3, end);
      tokens.push({ kind: 'string', text, line, column });
      for (const ch of text) if (ch === '\n') line += 1;
      i = end + 3;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== '"') j += source[j] === '\\' ? 2 : 1;
      if (j >= source.length) throw new GqlError(`Parse error: unterminated string at [${line}, ${column}]`);
      tokens.push({ kind: 'string', text: JSON.parse(source.slice(i, j + 1)) as string, line, column });
      i = j + 1;
      continue;
    }
    const number = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(source.slice(i));
    if (number) {
      tokens.push({ kind: 'number', text: number[0], line, column });
      i += number[0].length;
      continue;
    }
    const name = /^[_A-Za-z][_0-9A-Za-z]*/.exec(source.slice(i));
    if (name) {
      tokens.push({ kind: 'name', text: name[0], line, column });
      i += name[0].length;
      continue;
    }
    throw new GqlError(`Parse error on "${c}" at [${line}, ${column}]`);
  }
  return tokens;
}

/** Parses an executable document (operations and fragments). Throws GqlError on a syntax error. */
export function parseGraphql(source: string): GqlDocument {
  const tokens = tokenize(source);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const fail = (token: Token | undefined): never => {
    throw new GqlError(token ? `Parse error on "${token.text}" (${token.kind.toUpperCase()}) at [${token.line}, ${token.column}]` : 'Parse error: unexpected end of document');
  };
  const expect = (text: string): Token => {
    const token = tokens[pos];
    if (!token || token.text !== text || (token.kind !== 'punct' && token.kind !== 'name')) return fail(token);
    pos += 1;
    return token;
  };
  const name = (): string => {
    const token = tokens[pos];
    if (token?.kind !== 'name') return fail(token);
    pos += 1;
    return token.text;
  };
  const isPunct = (text: string): boolean => peek()?.kind === 'punct' && peek()?.text === text;

  function value(constant: boolean): GqlValue {
    const token = peek();
    if (!token) return fail(token);
    if (token.kind === 'var') {
      if (constant) fail(token);
      pos += 1;
      return { $var: token.text };
    }
    if (token.kind === 'string') {
      pos += 1;
      return token.text;
    }
    if (token.kind === 'number') {
      pos += 1;
      return Number(token.text);
    }
    if (token.kind === 'name') {
      pos += 1;
      if (token.text === 'true') return true;
      if (token.text === 'false') return false;
      if (token.text === 'null') return null;
      return { $enum: token.text };
    }
    if (isPunct('[')) {
      pos += 1;
      const list: GqlValue[] = [];
      while (!isPunct(']')) list.push(value(constant));
      pos += 1;
      return list;
    }
    if (isPunct('{')) {
      pos += 1;
      const object: Record<string, GqlValue> = {};
      while (!isPunct('}')) {
        const key = name();
        expect(':');
        object[key] = value(constant);
      }
      pos += 1;
      return object;
    }
    return fail(token);
  }

  function typeRef(): string {
    if (isPunct('[')) {
      pos += 1;
      const inner = typeRef();
      expect(']');
      const bang = isPunct('!') ? (pos += 1, '!') : '';
      return `[${inner}]${bang}`;
    }
    const base = name();
    const bang = isPunct('!') ? (pos += 1, '!') : '';
    return `${base}${bang}`;
  }

  function directives(): void {
    while (isPunct('@')) {
      pos += 1;
      name();
      if (isPunct('(')) arguments_();
    }
  }

  function arguments_(): Record<string, GqlValue> {
    expect('(');
    const args: Record<string, GqlValue> = {};
    while (!isPunct(')')) {
      const key = name();
      expect(':');
      args[key] = value(false);
    }
    pos += 1;
    return args;
  }

  function selectionSet(): GqlSelection[] {
    expect('{');
    const selections: GqlSelection[] = [];
    while (!isPunct('}')) {
      if (isPunct('...')) {
        pos += 1;
        if (peek()?.kind === 'name' && peek()?.text === 'on') {
          pos += 1;
          const on = name();
          directives();
          selections.push({ kind: 'inline', on, selections: selectionSet() });
        } else if (isPunct('{') || isPunct('@')) {
          directives();
          selections.push({ kind: 'inline', on: undefined, selections: selectionSet() });
        } else {
          selections.push({ kind: 'spread', name: name() });
          directives();
        }
        continue;
      }
      let alias = name();
      let fieldName = alias;
      if (isPunct(':')) {
        pos += 1;
        fieldName = name();
      }
      const args = isPunct('(') ? arguments_() : {};
      directives();
      const selections2 = isPunct('{') ? selectionSet() : undefined;
      selections.push({ kind: 'field', alias, name: fieldName, args, selections: selections2 });
      alias = '';
    }
    pos += 1;
    if (selections.length === 0) fail(tokens[pos - 1]);
    return selections;
  }

  const document: GqlDocument = { operations: [], fragments: new Map() };
  while (pos < tokens.length) {
    if (isPunct('{')) {
      document.operations.push({ type: 'query', name: undefined, variables: [], selections: selectionSet() });
      continue;
    }
    const keyword = name();
    if (keyword === 'fragment') {
      const fragmentName = name();
      expect('on');
      const on = name();
      directives();
      document.fragments.set(fragmentName, { on, selections: selectionSet() });
      continue;
    }
    if (keyword !== 'query' && keyword !== 'mutation') fail(tokens[pos - 1]);
    const operationName = peek()?.kind === 'name' ? name() : undefined;
    const variables: GqlOperation['variables'] = [];
    if (isPunct('(')) {
      pos += 1;
      while (!isPunct(')')) {
        const token = peek();
        if (token?.kind !== 'var') return fail(token);
        pos += 1;
        expect(':');
        const type = typeRef();
        let defaultValue: GqlValue | undefined;
        if (isPunct('=')) {
          pos += 1;
          defaultValue = value(true);
        }
        variables.push({ name: token.text, type, defaultValue });
      }
      pos += 1;
    }
    directives();
    document.operations.push({ type: keyword as 'query' | 'mutation', name: operationName, variables, selections: selectionSet() });
  }
  if (document.operations.length === 0) throw new GqlError('Parse error: the document has no operation');
  return document;
}

// ---- the SDL of the input types and enums (from graphql-automerge.md) ----

export interface SdlInputField {
  name: string;
  /** e.g. ID!, String, PullRequestMergeMethod */
  type: string;
  hasDefault: boolean;
}

export interface GraphqlSdl {
  inputs: Map<string, SdlInputField[]>;
  enums: Map<string, string[]>;
  /** object types: field names */
  types: Map<string, string[]>;
  /** Mutation fields: argument name -> type */
  mutations: Map<string, { args: Map<string, string>; returns: string }>;
}

/** Reads the ```graphql blocks of graphql-automerge.md. */
export function loadGraphqlSdl(path: string): GraphqlSdl {
  const text = readFileSync(path, 'utf8');
  const blocks = [...text.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/"""[\s\S]*?"""/g, ''));
  const sdl: GraphqlSdl = { inputs: new Map(), enums: new Map(), types: new Map(), mutations: new Map() };
  for (const block of blocks) {
    const definition = /^\s*(input|type|enum)\s+(\w+)\s*\{([\s\S]*)\}\s*$/.exec(block);
    if (definition) {
      const [, kind, typeName, body] = definition as unknown as [string, string, string, string];
      if (kind === 'enum') {
        sdl.enums.set(typeName, body.split(/\s+/).filter((v) => /^\w+$/.test(v)));
        continue;
      }
      const fields = [...body.matchAll(/^[ \t]*(\w+)[ \t]*:[ \t]*([\w[\]!]+)[ \t]*(=[ \t]*\S+)?/gm)];
      if (kind === 'input') sdl.inputs.set(typeName, fields.map((f) => ({ name: f[1]!, type: f[2]!, hasDefault: f[3] !== undefined })));
      else sdl.types.set(typeName, fields.map((f) => f[1]!));
      continue;
    }
    const field = /^\s*(\w+)\(\s*([\s\S]*?)\)\s*:\s*(\w+)/.exec(block);
    if (field) {
      const args = new Map([...field[2]!.matchAll(/(\w+)\s*:\s*([\w[\]!]+)/g)].map((a) => [a[1]!, a[2]!]));
      sdl.mutations.set(field[1]!, { args, returns: field[3]! });
    }
  }
  return sdl;
}

/** Replaces variables and enum markers with plain JSON values. */
export function resolveValue(value: GqlValue, variables: Record<string, unknown>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveValue(v, variables));
  if (value !== null && typeof value === 'object') {
    if ('$var' in value && typeof value.$var === 'string' && Object.keys(value).length === 1) return variables[value.$var];
    if ('$enum' in value && typeof value.$enum === 'string' && Object.keys(value).length === 1) return value.$enum;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveValue(v, variables)]));
  }
  return value;
}

const SCALARS: Record<string, (v: unknown) => boolean> = {
  ID: (v) => typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v)),
  String: (v) => typeof v === 'string',
  Int: (v) => typeof v === 'number' && Number.isInteger(v),
  Boolean: (v) => typeof v === 'boolean',
  GitObjectID: (v) => typeof v === 'string' && /^[0-9a-f]{40}$/.test(v),
};

/** Problems of `value` as an input of `type` (e.g. EnablePullRequestAutoMergeInput!), GitHub-worded. */
export function checkInput(sdl: GraphqlSdl, type: string, value: unknown, where: string): string[] {
  const required = type.endsWith('!');
  const base = type.replace(/!$/, '');
  if (value === undefined || value === null) return required ? [`${where} is required (expected ${type})`] : [];
  if (base.startsWith('[')) {
    if (!Array.isArray(value)) return [`${where} must be a list (${type})`];
    return value.flatMap((v, i) => checkInput(sdl, base.slice(1, -1), v, `${where}[${i}]`));
  }
  const scalar = SCALARS[base];
  if (scalar) return scalar(value) ? [] : [`${where} has an invalid value (${JSON.stringify(value)}); expected type '${base}'`];
  const values = sdl.enums.get(base);
  if (values) return typeof value === 'string' && values.includes(value) ? [] : [`${where} has an invalid value (${JSON.stringify(value)}); expected one of ${values.join(', ')}`];
  const fields = sdl.inputs.get(base);
  if (!fields) return [`${where}: unknown input type '${base}'`];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${where} must be an input object of type ${base}`];
  const problems: string[] = [];
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!fields.some((f) => f.name === key)) problems.push(`InputObject '${base}' doesn't accept argument '${key}'`);
  }
  for (const field of fields) {
    if (record[field.name] === undefined && field.type.endsWith('!') && !field.hasDefault) {
      problems.push(`Argument '${field.name}' on InputObject '${base}' is required. Expected type ${field.type}`);
    } else if (record[field.name] !== undefined) {
      problems.push(...checkInput(sdl, field.type, record[field.name], `${base}.${field.name}`));
    }
  }
  return problems;
}

// ---- execution ----

/** An object the executor can select fields from. */
export interface GqlObject {
  __typename: string;
  /** interfaces the object implements (for `... on Actor`) */
  implements?: string[];
  fields: Record<string, (args: Record<string, unknown>) => unknown>;
}

export function isGqlObject(value: unknown): value is GqlObject {
  return value !== null && typeof value === 'object' && typeof (value as GqlObject).__typename === 'string' && typeof (value as GqlObject).fields === 'object';
}

/** Executes a selection set over `root`; resolvers may be async. */
export async function execute(
  document: GqlDocument,
  selections: GqlSelection[],
  root: GqlObject,
  variables: Record<string, unknown>,
  path: (string | number)[] = [],
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const field of flatten(document, selections, root)) {
    const here = [...path, field.alias];
    if (field.name === '__typename') {
      out[field.alias] = root.__typename;
      continue;
    }
    const resolver = root.fields[field.name];
    if (!resolver) throw new GqlError(`Field '${field.name}' doesn't exist on type '${root.__typename}'`, undefined, here);
    const args = Object.fromEntries(Object.entries(field.args).map(([k, v]) => [k, resolveValue(v, variables)]));
    const value = await resolver(args);
    out[field.alias] = await complete(document, field, value, variables, here);
  }
  return out;
}

async function complete(document: GqlDocument, field: GqlField, value: unknown, variables: Record<string, unknown>, path: (string | number)[]): Promise<unknown> {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return Promise.all(value.map((v, i) => complete(document, field, v, variables, [...path, i])));
  if (isGqlObject(value)) {
    if (!field.selections) throw new GqlError(`Field must have selections (field '${field.name}' returns ${value.__typename} but has no selections.)`, undefined, path);
    return execute(document, field.selections, value, variables, path);
  }
  if (field.selections) throw new GqlError(`Selections can't be made on scalars (field '${field.name}')`, undefined, path);
  return value;
}

function flatten(document: GqlDocument, selections: GqlSelection[], root: GqlObject): GqlField[] {
  const fields: GqlField[] = [];
  const applies = (on: string | undefined): boolean => on === undefined || on === root.__typename || (root.implements ?? []).includes(on);
  for (const selection of selections) {
    if (selection.kind === 'field') fields.push(selection);
    else if (selection.kind === 'inline') {
      if (applies(selection.on)) fields.push(...flatten(document, selection.selections, root));
    } else {
      const fragment = document.fragments.get(selection.name);
      if (!fragment) throw new GqlError(`Fragment ${selection.name} was used, but not defined`);
      if (applies(fragment.on)) fields.push(...flatten(document, fragment.selections, root));
    }
  }
  return fields;
}
