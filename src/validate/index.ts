// `promoter validate` without commander: read the paths, check every document on its own, then
// check the references between all of them, and return one report.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { createSchemaRegistry, defaultSchemasDir } from '../schemas/registry.js';
import { errorMessage } from '../errors.js';
import { checkApplication } from './argocd.js';
import { checkApplicationSets } from './applicationset.js';
import { checkCanaryPolicy } from './canary-policy.js';
import { runAnalyzers } from './analyzers/index.js';
import { findingAt } from './codes.js';
import { checkCrossReferences } from './cross-refs.js';
import { chartsFromApplications, checkHelmValues, isHelmValuesFile } from './helm-values.js';
import { checkHelmReleases, helmContext } from './helm-releases.js';
import { checkIstioRules } from './istio-rules.js';
import { checkKustomization, isKustomization, kustomizeNamespaces } from './kustomize.js';
import { displayName, expandPaths, findRepoRoot, parseManifestText, repoFilesAt, toPosix } from './load.js';
import { sortFindings, summarise, withLevel } from './report.js';
import { checkSchema } from './schema-check.js';
import type { Finding, LoadedDocument, ValidateOptions, ValidationReport } from './types.js';
import { POLICY_API_VERSION, POLICY_KIND } from '../promoter/policy.js';

export type { Finding, ValidateOptions, ValidationReport, ValidationSummary, Severity } from './types.js';
export { formatFinding, formatJson, formatText } from './report.js';
export { CODES } from './codes.js';

/** Istio's own accounts, which the Helm charts create outside the manifests. */
export const DEFAULT_EXTERNAL_SERVICE_ACCOUNTS = ['istio-system/*', 'kube-system/*'];

const isPolicy = (d: LoadedDocument) => d.kind === POLICY_KIND && d.apiVersion === POLICY_API_VERSION;

/**
 * Validates every YAML file under `paths`. Throws (PermanentError) only when the schema folder is
 * missing; any problem in the input is a finding.
 */
export async function validatePaths(paths: string[], options: ValidateOptions = {}): Promise<ValidationReport> {
  const cwd = options.cwd ?? process.cwd();
  const registry = options.registry ?? createSchemaRegistry(options.schemasDir ?? defaultSchemasDir(options.env ?? process.env));
  const { files, missing } = expandPaths(paths, cwd);
  const repoRoot = options.repoRoot ?? findRepoRoot(files[0] ?? cwd, cwd);
  const repo = repoFilesAt(repoRoot);
  const findings: Finding[] = [...missing];
  let documents: LoadedDocument[] = [];

  for (const file of files) {
    const shown = displayName(file, cwd);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      findings.push({ file: shown, path: '', code: 'DT0005', severity: 'error', message: `cannot read: ${errorMessage(error)}` });
      continue;
    }
    const repoPath = toPosix(relative(repoRoot, file));
    const parsed = parseManifestText(text, shown, repoPath);
    findings.push(...parsed.findings);
    documents.push(...parsed.documents);
  }

  const namespaces = kustomizeNamespaces(documents, repo);
  documents = documents.map((d) => {
    const namespace = d.namespace ?? namespaces.get(d.repoPath);
    return namespace === undefined ? d : { ...d, namespace };
  });

  const charts = chartsFromApplications(documents);
  const helm = helmContext(documents, registry.dir);
  for (const doc of documents) {
    try {
      if (isKustomization(doc)) findings.push(...checkKustomization(doc, repo));
      else if (doc.apiVersion === undefined || doc.kind === undefined) {
        if (isHelmValuesFile(doc.repoPath) || charts.has(doc.repoPath)) findings.push(...checkHelmValues(doc, charts.get(doc.repoPath), helm.schemaFor(doc.repoPath)));
        else findings.push(findingAt(doc, '', 'DT0002', 'not a Kubernetes object (no apiVersion/kind) and not a known values file; not checked'));
      } else if (isPolicy(doc)) findings.push(...checkCanaryPolicy(doc, documents, repo));
      else {
        findings.push(...checkSchema(doc, registry), ...checkIstioRules(doc), ...checkApplication(doc, repo));
      }
    } catch (error) {
      // A check that trips over an odd document reports it and lets the others run.
      findings.push(findingAt(doc, '', 'DT0006', `could not check this document: ${errorMessage(error)}`));
    }
  }
  const meshRootNamespace = options.meshRootNamespace ?? 'istio-system';
  try {
    findings.push(
      ...checkCrossReferences(documents, {
        meshRootNamespace,
        strictMtlsNamespaces: options.strictMtlsNamespaces ?? [meshRootNamespace],
        externalServiceAccounts: options.externalServiceAccounts ?? DEFAULT_EXTERNAL_SERVICE_ACCOUNTS,
      }),
    );
  } catch (error) {
    findings.push({ file: displayName(repoRoot, cwd), path: '', code: 'DT0006', severity: 'error', message: `cross-reference checks failed: ${errorMessage(error)}` });
  }
  try {
    findings.push(...checkApplicationSets(documents, repo));
  } catch (error) {
    findings.push({ file: displayName(repoRoot, cwd), path: '', code: 'DT0006', severity: 'error', message: `ApplicationSet checks failed: ${errorMessage(error)}` });
  }
  try {
    findings.push(...checkHelmReleases(documents, helm));
  } catch (error) {
    findings.push({ file: displayName(repoRoot, cwd), path: '', code: 'DT0006', severity: 'error', message: `Helm release checks failed: ${errorMessage(error)}` });
  }
  findings.push(...runAnalyzers(documents, { meshRootNamespace }));

  const sorted = sortFindings(findings).map(withLevel);
  return Promise.resolve({ findings: sorted, summary: summarise(sorted, files.length, documents.length) });
}
