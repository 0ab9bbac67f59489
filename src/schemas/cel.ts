// A small CEL interpreter for the `x-kubernetes-validations` rules the Istio CRDs carry: enough of the
// language (literals, lists, maps, ?:, ||, &&, comparisons, in, +, -, has(), size(), macros all /
// exists / exists_one, string methods, duration(), int(), url(), isURL()) to run every rule in
// crd-all.gen.yaml. Anything outside that subset makes the rule "not evaluated" (undefined), never false.

type Value = unknown;

class Unsupported extends Error {
  override name = 'Unsupported';
}

type Node =
  | { t: 'lit'; v: Value }
  | { t: 'id'; name: string }
  | { t: 'list'; items: Node[] }
  | { t: 'map'; entries: [Node, Node][] }
  | { t: 'member'; obj: Node; field: string }
  | { t: 'index'; obj: Node; index: Node }
  | { t: 'call'; fn: string; target?: Node; args: Node[] }
  | { t: 'unary'; op: '!' | '-'; arg: Node }
  | { t: 'bin'; op: string; left: Node; right: Node }
  | { t: 'cond'; test: Node; then: Node; else: Node };

interface Token {
  k: 'num' | 'str' | 'id' | 'op' | 'end';
  v: string;
  n?: number;
}

const OPS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '!', '?', ':', '(', ')', '[', ']', '{', '}', ',', '.', '+', '-', '*', '/', '%'];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && j + 1 < src.length) {
          const e = src[j + 1]!;
          s += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          j += 2;
        } else s += src[j++];
      }
      if (j >= src.length) throw new Unsupported('unterminated string');
      out.push({ k: 'str', v: s });
      i = j + 1;
      continue;
    }
    const num = /^\d+(\.\d+)?/.exec(src.slice(i));
    if (num) {
      out.push({ k: 'num', v: num[0], n: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id) {
      out.push({ k: 'id', v: id[0] });
      i += id[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new Unsupported(`unexpected character ${c}`);
    out.push({ k: 'op', v: op });
    i += op.length;
  }
  out.push({ k: 'end', v: '' });
  return out;
}

const PRECEDENCE: Record<string, number> = { '||': 1, '&&': 2, '==': 3, '!=': 3, '<': 3, '<=': 3, '>': 3, '>=': 3, in: 3, '+': 4, '-': 4, '*': 5, '/': 5, '%': 5 };

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.pos]!;
  }
  private next(): Token {
    return this.tokens[this.pos++]!;
  }
  private expect(v: string): void {
    const t = this.next();
    if (t.v !== v) throw new Unsupported(`expected ${v}, got ${t.v}`);
  }

  parse(): Node {
    const node = this.expr();
    if (this.peek().k !== 'end') throw new Unsupported(`trailing ${this.peek().v}`);
    return node;
  }

  private expr(): Node {
    const test = this.binary(1);
    if (this.peek().v === '?') {
      this.next();
      const then = this.expr();
      this.expect(':');
      return { t: 'cond', test, then, else: this.expr() };
    }
    return test;
  }

  private binary(min: number): Node {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      const op = t.k === 'op' || (t.k === 'id' && t.v === 'in') ? t.v : '';
      const prec = PRECEDENCE[op];
      if (prec === undefined || prec < min) return left;
      this.next();
      left = { t: 'bin', op, left, right: this.binary(prec + 1) };
    }
  }

  private unary(): Node {
    const t = this.peek();
    if (t.v === '!' || t.v === '-') {
      this.next();
      return { t: 'unary', op: t.v, arg: this.unary() };
    }
    return this.postfix(this.primary());
  }

  private args(): Node[] {
    const args: Node[] = [];
    if (this.peek().v !== ')') {
      do args.push(this.expr());
      while (this.peek().v === ',' && this.next());
    }
    this.expect(')');
    return args;
  }

  private postfix(node: Node): Node {
    for (;;) {
      const t = this.peek();
      if (t.v === '.') {
        this.next();
        const name = this.next();
        if (name.k !== 'id') throw new Unsupported('field name expected');
        if (this.peek().v === '(') {
          this.next();
          node = { t: 'call', fn: name.v, target: node, args: this.args() };
        } else node = { t: 'member', obj: node, field: name.v };
      } else if (t.v === '[') {
        this.next();
        const index = this.expr();
        this.expect(']');
        node = { t: 'index', obj: node, index };
      } else return node;
    }
  }

  private primary(): Node {
    const t = this.next();
    if (t.k === 'num') return { t: 'lit', v: t.n };
    if (t.k === 'str') return { t: 'lit', v: t.v };
    if (t.k === 'id') {
      if (t.v === 'true' || t.v === 'false') return { t: 'lit', v: t.v === 'true' };
      if (t.v === 'null') return { t: 'lit', v: null };
      if (this.peek().v === '(') {
        this.next();
        return { t: 'call', fn: t.v, args: this.args() };
      }
      return { t: 'id', name: t.v };
    }
    if (t.v === '(') {
      const e = this.expr();
      this.expect(')');
      return e;
    }
    if (t.v === '[') {
      const items: Node[] = [];
      if (this.peek().v !== ']') {
        do items.push(this.expr());
        while (this.peek().v === ',' && this.next());
      }
      this.expect(']');
      return { t: 'list', items };
    }
    if (t.v === '{') {
      const entries: [Node, Node][] = [];
      if (this.peek().v !== '}') {
        do {
          const key = this.expr();
          this.expect(':');
          entries.push([key, this.expr()]);
        } while (this.peek().v === ',' && this.next());
      }
      this.expect('}');
      return { t: 'map', entries };
    }
    throw new Unsupported(`unexpected ${t.v}`);
  }
}

/** Parses a rule; throws Unsupported when it uses syntax outside the subset. */
export function parseCel(rule: string): Node {
  return new Parser(tokenize(rule)).parse();
}

const isObj = (v: Value): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Go's time.ParseDuration, in milliseconds; undefined when the text is not a Go duration. */
export function goDurationMs(text: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const body = text.replace(/^[-+]/, '');
  if (body === '0') return 0;
  const parts = [...body.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== body) return undefined;
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * (units[p[2]!] ?? 0), 0);
  return text.startsWith('-') ? -ms : ms;
}

class Duration {
  constructor(readonly ms: number) {}
}

class CelUrl {
  constructor(readonly url: URL) {}
}

/** A CEL evaluation error (a bad duration, a missing field): the rule fails, as in the API server. */
class CelError extends Error {
  override name = 'CelError';
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function size(v: Value): number {
  if (typeof v === 'string') return [...v].length;
  if (Array.isArray(v)) return v.length;
  if (isObj(v)) return Object.keys(v).length;
  throw new CelError('size() of a non-collection');
}

function equal(a: Value, b: Value): boolean {
  if (a instanceof Duration && b instanceof Duration) return a.ms === b.ms;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && equal(a[k], b[k]));
  }
  return a === b;
}

function compare(a: Value, b: Value): number {
  if (a instanceof Duration && b instanceof Duration) return a.ms - b.ms;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new CelError('no matching overload for comparison');
}

type Scope = Map<string, Value>;

const MACROS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

function evaluate(node: Node, scope: Scope): Value {
  switch (node.t) {
    case 'lit':
      return node.v;
    case 'id':
      if (!scope.has(node.name)) throw new Unsupported(`unknown identifier ${node.name}`);
      return scope.get(node.name);
    case 'list':
      return node.items.map((i) => evaluate(i, scope));
    case 'map':
      return Object.fromEntries(node.entries.map(([k, v]) => [String(evaluate(k, scope)), evaluate(v, scope)]));
    case 'member': {
      const obj = evaluate(node.obj, scope);
      if (!isObj(obj) || !(node.field in obj)) throw new CelError(`no such key: ${node.field}`);
      return obj[node.field];
    }
    case 'index': {
      const obj = evaluate(node.obj, scope);
      const index = evaluate(node.index, scope);
      if (Array.isArray(obj) && typeof index === 'number' && index >= 0 && index < obj.length) return obj[index];
      if (isObj(obj) && typeof index === 'string' && index in obj) return obj[index];
      throw new CelError('no such key');
    }
    case 'unary': {
      const v = evaluate(node.arg, scope);
      if (node.op === '!') {
        if (typeof v !== 'boolean') throw new CelError('! of a non-bool');
        return !v;
      }
      if (typeof v !== 'number') throw new CelError('- of a non-number');
      return -v;
    }
    case 'cond': {
      const test = evaluate(node.test, scope);
      if (typeof test !== 'boolean') throw new CelError('condition is not a bool');
      return evaluate(test ? node.then : node.else, scope);
    }
    case 'bin':
      return binary(node, scope);
    case 'call':
      return call(node, scope);
  }
}

function binary(node: Extract<Node, { t: 'bin' }>, scope: Scope): Value {
  if (node.op === '&&' || node.op === '||') {
    // CEL's commutative logic: an error on one side is absorbed when the other side decides.
    const short = node.op === '||';
    let error: Error | undefined;
    for (const side of [node.left, node.right]) {
      try {
        const v = evaluate(side, scope);
        if (typeof v !== 'boolean') throw new CelError('logical operand is not a bool');
        if (v === short) return short;
      } catch (e) {
        if (e instanceof Unsupported) throw e;
        error = e instanceof Error ? e : new CelError(String(e));
      }
    }
    if (error !== undefined) throw error;
    return !short;
  }
  const a = evaluate(node.left, scope);
  const b = evaluate(node.right, scope);
  switch (node.op) {
    case '==':
      return equal(a, b);
    case '!=':
      return !equal(a, b);
    case '<':
      return compare(a, b) < 0;
    case '<=':
      return compare(a, b) <= 0;
    case '>':
      return compare(a, b) > 0;
    case '>=':
      return compare(a, b) >= 0;
    case 'in':
      if (Array.isArray(b)) return b.some((x) => equal(x, a));
      if (isObj(b)) return typeof a === 'string' && a in b;
      throw new CelError('in of a non-collection');
    case '+':
      if (typeof a === 'number' && typeof b === 'number') return a + b;
      if (typeof a === 'string' && typeof b === 'string') return a + b;
      if (Array.isArray(a) && Array.isArray(b)) return (a as unknown[]).concat(b as unknown[]);
      throw new CelError('no matching overload for +');
    case '-':
    case '*':
    case '/':
    case '%':
      if (typeof a !== 'number' || typeof b !== 'number') throw new CelError(`no matching overload for ${node.op}`);
      if (node.op === '-') return a - b;
      if (node.op === '*') return a * b;
      if (b === 0) throw new CelError('division by zero');
      return node.op === '/' ? Math.trunc(a / b) : a % b;
    default:
      throw new Unsupported(`operator ${node.op}`);
  }
}

function str(v: Value, what: string): string {
  if (typeof v !== 'string') throw new CelError(`${what} needs a string`);
  return v;
}

function call(node: Extract<Node, { t: 'call' }>, scope: Scope): Value {
  const { fn, target } = node;
  if (fn === 'has' && !target) {
    const arg = node.args[0];
    if (node.args.length !== 1 || arg?.t !== 'member') throw new Unsupported('has() needs a field selection');
    const obj = evaluate(arg.obj, scope);
    return isObj(obj) && arg.field in obj && obj[arg.field] !== null && obj[arg.field] !== undefined;
  }
  if (target && MACROS.has(fn)) {
    const [variable, body] = node.args;
    if (node.args.length !== 2 || variable?.t !== 'id' || !body) throw new Unsupported(`${fn}() form`);
    const range = evaluate(target, scope);
    const items = Array.isArray(range) ? range : isObj(range) ? Object.keys(range) : undefined;
    if (!items) throw new CelError(`${fn}() over a non-collection`);
    const run = (item: Value) => evaluate(body, new Map(scope).set(variable.name, item));
    if (fn === 'map') return items.map(run);
    const truth = (item: Value) => {
      const v = run(item);
      if (typeof v !== 'boolean') throw new CelError(`${fn}() predicate is not a bool`);
      return v;
    };
    if (fn === 'filter') return items.filter(truth);
    if (fn === 'all') return items.every(truth);
    if (fn === 'exists') return items.some(truth);
    return items.filter(truth).length === 1;
  }
  const self = target === undefined ? undefined : evaluate(target, scope);
  const args = node.args.map((a) => evaluate(a, scope));
  switch (fn) {
    case 'size':
      return size(target ? self : args[0]);
    case 'contains':
      return str(self, 'contains').includes(str(args[0], 'contains'));
    case 'startsWith':
      return str(self, 'startsWith').startsWith(str(args[0], 'startsWith'));
    case 'endsWith':
      return str(self, 'endsWith').endsWith(str(args[0], 'endsWith'));
    case 'matches':
      return new RegExp(str(args[0], 'matches')).test(str(self, 'matches'));
    case 'substring': {
      const s = str(self, 'substring');
      const from = args[0];
      const to = args[1] ?? s.length;
      if (typeof from !== 'number' || typeof to !== 'number' || from < 0 || to > s.length || from > to) throw new CelError('substring out of range');
      return s.slice(from, to);
    }
    case 'lowerAscii':
      return str(self, 'lowerAscii').toLowerCase();
    case 'duration': {
      const ms = goDurationMs(str(args[0], 'duration'));
      if (ms === undefined) throw new CelError('invalid duration');
      return new Duration(ms);
    }
    case 'int': {
      const v = args[0];
      if (typeof v === 'number') return Math.trunc(v);
      if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
      throw new CelError('int() conversion failed');
    }
    case 'string':
      return String(args[0]);
    case 'isURL':
      return parseUrl(str(args[0], 'isURL')) !== undefined;
    case 'url': {
      const u = parseUrl(str(args[0], 'url'));
      if (!u) throw new CelError('invalid URL');
      return new CelUrl(u);
    }
    case 'getScheme':
      if (!(self instanceof CelUrl)) throw new CelError('getScheme() on a non-URL');
      return self.url.protocol.replace(/:$/, '');
    case 'getHost':
      if (!(self instanceof CelUrl)) throw new CelError('getHost() on a non-URL');
      return self.url.host;
    default:
      throw new Unsupported(`function ${fn}`);
  }
}

const cache = new Map<string, Node | Unsupported>();

function compiled(rule: string): Node | undefined {
  let entry = cache.get(rule);
  if (entry === undefined) {
    try {
      entry = parseCel(rule);
    } catch (error) {
      entry = error instanceof Unsupported ? error : new Unsupported(String(error));
    }
    cache.set(rule, entry);
  }
  return entry instanceof Unsupported ? undefined : entry;
}

/** Whether the interpreter understands a rule's syntax (used to list the rules it cannot run). */
export function celRuleSupported(rule: string): boolean {
  return compiled(rule) !== undefined;
}

/**
 * Evaluates one rule with `self` bound: true / false, or undefined when the rule uses something
 * outside the subset (it then passes, as "not evaluated"). A runtime error (bad duration, missing
 * field) is a failed rule, as the API server would reject the object.
 */
export function evaluateCel(rule: string, self: unknown): boolean | undefined {
  const node = compiled(rule);
  if (!node) return undefined;
  try {
    const v = evaluate(node, new Map([['self', self]]));
    return typeof v === 'boolean' ? v : undefined;
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    return false;
  }
}
