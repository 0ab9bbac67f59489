// Human-readable renderings of tick reports for the terminal (run --once, analyze, status, demo). Pure.
import { verdictBlock, verdictSummary } from './commit-message.js';
import type { CanaryReport, TickReport } from './reconcile.js';

const OUTCOME_MARK: Record<CanaryReport['outcome'], string> = {
  held: 'hold',
  committed: 'COMMIT',
  proposed: 'PR',
  'no-op': 'no-op',
  error: 'ERROR',
  raced: 'raced',
  'dry-run': 'would',
};

export function formatCanaryLine(report: CanaryReport): string {
  const weight = report.canaryWeight === undefined ? '' : ` ${String(report.canaryWeight).padStart(3)}%`;
  const phase = report.phase ? ` ${report.phase}` : '';
  const head = `[${report.canary}]${weight}${phase} ${OUTCOME_MARK[report.outcome]}: ${report.reason}`;
  const lines = [head];
  if (report.error) lines.push(`    error: ${report.error}`);
  if (report.verdict) lines.push(`    evidence: ${verdictSummary(report.verdict)}`);
  if (report.commit) lines.push(`    commit ${report.commit.sha.slice(0, 10)}`);
  return lines.join('\n');
}

export function formatTickReport(report: TickReport, options: { verbose?: boolean } = {}): string {
  const lines = [`tick at ${report.at}${report.head ? `, HEAD ${report.head.slice(0, 10)}` : ''}`];
  if (report.error) lines.push(`  every canary holds: ${report.error}`);
  if (report.canaries.length === 0 && !report.error) lines.push('  no canary policies found');
  for (const canary of report.canaries) {
    lines.push(
      formatCanaryLine(canary)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
    if (options.verbose && canary.verdict) {
      lines.push(
        verdictBlock(canary.verdict)
          .split('\n')
          .map((l) => `      ${l}`)
          .join('\n'),
      );
    }
  }
  return lines.join('\n');
}
