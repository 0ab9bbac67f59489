// Rendering of a validation report: one line per finding plus a summary (text), or JSON.
import type { Finding, ValidationReport, ValidationSummary } from './types.js';

export function summarise(findings: Finding[], files: number, documents: number): ValidationSummary {
  const count = (severity: Finding['severity']) => findings.filter((f) => f.severity === severity).length;
  return { errors: count('error'), warnings: count('warning'), infos: count('info'), skipped: count('skipped'), files, documents };
}

/** Stable order: by file, then line, then code. */
export function sortFindings(findings: Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0) || (a.doc ?? 0) - (b.doc ?? 0) || a.code.localeCompare(b.code),
  );
}

/** `file:line doc#N Kind/name path: [CODE] message` */
export function formatFinding(f: Finding): string {
  const where = `${f.file}:${f.line ?? 0}`;
  const doc = f.doc === undefined ? '' : ` doc#${f.doc}`;
  const object = f.kind === undefined && f.name === undefined ? '' : ` ${f.kind ?? '?'}/${f.namespace === undefined ? '' : `${f.namespace}/`}${f.name ?? '?'}`;
  const severity = f.severity === 'error' ? '' : `${f.severity}: `;
  return `${where}${doc}${object} ${f.path === '' ? '/' : f.path}: [${f.code}] ${severity}${f.message}`;
}

export function formatText(report: ValidationReport): string {
  const { errors, warnings, infos, skipped, files, documents } = report.summary;
  const lines = report.findings.map(formatFinding);
  lines.push(`${errors} error(s), ${warnings} warning(s), ${infos > 0 ? `${infos} info, ` : ''}${skipped} skipped, ${files} file(s), ${documents} document(s)`);
  return lines.join('\n') + '\n';
}

export function formatJson(report: ValidationReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}

const LEVELS = { error: 'Error', warning: 'Warning', info: 'Info', skipped: 'Info' } as const;

/** The finding with Istio's level name next to its severity (every finding in the report has one). */
export function withLevel(f: Finding): Finding {
  return { ...f, level: LEVELS[f.severity] };
}
