// Narrowing helpers for YAML documents of unknown shape: the checks read them without casts.

export type Obj = Record<string, unknown>;

export function obj(value: unknown): Obj | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : undefined;
}

export function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function strings(value: unknown): string[] {
  return arr(value).filter((v): v is string => typeof v === 'string');
}

/** A map of string labels (values stringified, as Kubernetes would reject non-strings anyway). */
export function labels(value: unknown): Record<string, string> {
  const o = obj(value) ?? {};
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)]));
}

export function at(value: unknown, ...keys: (string | number)[]): unknown {
  let current = value;
  for (const key of keys) {
    if (typeof key === 'number') current = Array.isArray(current) ? current[key] : undefined;
    else current = obj(current)?.[key];
  }
  return current;
}
