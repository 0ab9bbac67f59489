// The vocabulary of `promoter validate`: findings, the documents they point into, and the report.
import type { SchemaRegistry } from '../schemas/registry.js';

/** Istio's Error / Warning / Info, plus skipped for documents no check could read. */
export type Severity = 'error' | 'warning' | 'info' | 'skipped';

export interface Finding {
  /** The file, relative to the working directory when it lies below it. */
  file: string;
  /** 1-based line, when the finding points into a file's text. */
  line?: number;
  column?: number;
  /** 0-based index of the YAML document in a multi-document file. */
  doc?: number;
  kind?: string;
  name?: string;
  /** The resource's namespace, when it has one. */
  namespace?: string;
  /** JSON pointer into the document ('' for the whole file). */
  path: string;
  code: string;
  severity: Severity;
  /** Istio's level name for the severity (Error, Warning, Info); skipped documents are Info. */
  level?: 'Error' | 'Warning' | 'Info';
  message: string;
}

export interface ValidationSummary {
  errors: number;
  warnings: number;
  infos: number;
  skipped: number;
  files: number;
  documents: number;
}

export interface ValidationReport {
  findings: Finding[];
  summary: ValidationSummary;
}

/** One parsed YAML document of an input file, with enough context to place a finding in it. */
export interface LoadedDocument {
  file: string;
  /** Path relative to the repository root (forward slashes). */
  repoPath: string;
  index: number;
  body: unknown;
  apiVersion?: string;
  kind?: string;
  name?: string;
  /** metadata.namespace, else the namespace a kustomization assigns to this file. */
  namespace?: string;
  /** The text of this document alone (a CanaryPolicy is parsed from it). */
  text: string;
  /** 1-based line/column of the node at a JSON pointer (or its nearest existing parent). */
  locate(pointer: string): { line: number; column: number };
}

/** Read-only view of the repository for checks that follow references to files. */
export interface RepoFiles {
  readonly root: string;
  /** 'file', 'dir' or undefined for a repository-relative path. */
  stat(repoPath: string): 'file' | 'dir' | undefined;
  readText(repoPath: string): string | undefined;
}

export type K8sObject = {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: { name?: unknown; namespace?: unknown; labels?: unknown };
  spec?: unknown;
} & Record<string, unknown>;

export interface ValidateOptions {
  /** A registry already built (tests share one); otherwise one is built from schemasDir. */
  registry?: SchemaRegistry;
  /** Folder of the CRD / JSON schemas; default PROMOTER_SCHEMAS_DIR or <repo>/../shared/schemas. */
  schemasDir?: string;
  /** Root for repository-relative references (Argo CD paths, policy files); default: nearest .git above the first path. */
  repoRoot?: string;
  /** Findings name files relative to this folder; default process.cwd(). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Service accounts that exist outside the manifests, as "namespace/name" ("namespace/*" for all). */
  externalServiceAccounts?: string[];
  /** Namespaces whose PeerAuthentications must all be STRICT; default: the mesh root namespace. */
  strictMtlsNamespaces?: string[];
  /** The Istio root namespace (mesh-wide policies); default istio-system. */
  meshRootNamespace?: string;
}
