// Schema findings for one document, from the compiled CRD / Kubernetes schemas of the registry.
import type { SchemaRegistry } from '../schemas/registry.js';
import { findingAt } from './codes.js';
import { encodePointer } from './load.js';
import type { Finding, LoadedDocument } from './types.js';

const UNKNOWN_FIELD = /^unknown field "(.*)"$/;

export function isIstioApiVersion(apiVersion: string): boolean {
  return /^[a-z.]*istio\.io\//.test(apiVersion);
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** Findings for a document with apiVersion and kind: schema issues, or why it was not checked. */
export function checkSchema(doc: LoadedDocument, registry: SchemaRegistry): Finding[] {
  const { apiVersion, kind } = doc;
  if (apiVersion === undefined || kind === undefined) return [];
  const validate = registry.validatorFor(apiVersion, kind);
  if (!validate) {
    const served = registry
      .knownKinds()
      .filter((key) => key.endsWith(`/${kind}`) && groupOf(key.slice(0, -kind.length - 1)) === groupOf(apiVersion))
      .map((key) => key.slice(0, -kind.length - 1));
    if (served.length > 0) {
      return [findingAt(doc, '/apiVersion', 'DT0004', `${kind} is not served as ${apiVersion} (served: ${served.join(', ')})`)];
    }
    return [findingAt(doc, '', 'DT0003', `no schema for ${apiVersion} ${kind}; not checked`)];
  }
  const code = isIstioApiVersion(apiVersion) ? 'IST0106' : 'DT0100';
  const seen = new Set<string>();
  const findings: Finding[] = [];
  for (const issue of validate(doc.body)) {
    const base = issue.path === '/' ? '' : issue.path;
    const unknown = UNKNOWN_FIELD.exec(issue.message);
    const pointer = unknown ? base + encodePointer([unknown[1]!]) : base;
    const key = `${pointer} ${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    findings.push(findingAt(doc, pointer, code, issue.message));
  }
  return findings;
}
