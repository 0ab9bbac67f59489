// What `promoter status` shows (text and --format json print the same data): per canary the step,
// both weights, both images, the phase, the reason and the time in step; plus which backend could
// not be reached. Pure.
import { formatAge, stepLabel, timeInStep } from './status-page.js';
import type { TickReport } from './reconcile.js';

export interface BackendProblem {
  backend: 'git' | 'argocd' | 'prometheus';
  error: string;
}

export interface CanaryStatus {
  canary: string;
  file: string;
  step: string;
  stepIndex?: number;
  stableWeight?: number;
  canaryWeight?: number;
  stableImage?: string;
  canaryImage?: string;
  phase?: string;
  paused?: 'annotation' | 'spec' | 'both';
  outcome: string;
  reason: string;
  error?: string;
  timeInStepSeconds?: number;
}

export interface StatusView {
  at: string;
  head?: string;
  canaries: CanaryStatus[];
  /** invalid policies and unreadable manifests (exit 1). */
  invalid: string[];
  /** backends that could not be reached (exit 3). */
  unreachable: BackendProblem[];
}

export function statusView(report: TickReport, now: number, unreachable: BackendProblem[]): StatusView {
  const problems = [...unreachable];
  if (report.error) problems.unshift({ backend: 'git', error: report.error });
  return {
    at: report.at,
    ...(report.head ? { head: report.head } : {}),
    canaries: report.canaries.map((c) => {
      const s = c.snapshot;
      const age = timeInStep(c, now);
      return {
        canary: c.canary,
        file: c.file,
        step: stepLabel(c),
        ...(s?.stepIndex !== undefined && c.phase === 'progressing' ? { stepIndex: s.stepIndex } : {}),
        ...(s ? { stableWeight: s.stableWeight, canaryWeight: s.canaryWeight, stableImage: s.stableImage, canaryImage: s.canaryImage } : {}),
        ...(c.phase ? { phase: c.phase } : {}),
        ...(s?.pausedBy ? { paused: s.pausedBy } : {}),
        outcome: c.outcome,
        reason: c.reason,
        ...(c.error ? { error: c.error } : {}),
        ...(age !== undefined ? { timeInStepSeconds: Math.round(age) } : {}),
      };
    }),
    invalid: report.canaries.filter((c) => c.outcome === 'error' && !c.action).map((c) => c.canary),
    unreachable: problems,
  };
}

/** The exit code `promoter status` documents in --help. */
export function statusExitCode(view: StatusView): number {
  if (view.unreachable.length > 0) return 3;
  return view.invalid.length > 0 ? 1 : 0;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

export function formatStatus(view: StatusView): string {
  const lines = [`status at ${view.at}${view.head ? `, HEAD ${view.head.slice(0, 10)}` : ''}`];
  for (const p of view.unreachable) lines.push(`UNREACHABLE ${p.backend}: ${p.error}`);
  if (view.canaries.length === 0) lines.push('no canary policies found');
  else {
    lines.push(
      ...table([
        ['CANARY', 'STEP', 'STABLE/CANARY', 'PHASE', 'IN STEP', 'IMAGES (stable -> canary)'],
        ...view.canaries.map((c) => [
          c.canary,
          c.step,
          c.stableWeight !== undefined ? `${c.stableWeight}/${c.canaryWeight ?? ''}` : '-',
          `${c.phase ?? 'error'}${c.paused ? ` (paused: ${c.paused})` : ''}`,
          formatAge(c.timeInStepSeconds),
          c.stableImage !== undefined ? `${c.stableImage} -> ${c.canaryImage ?? ''}` : '-',
        ]),
      ]),
    );
    lines.push('');
    for (const c of view.canaries) {
      lines.push(`${c.canary}: ${c.reason}`);
      if (c.error) lines.push(`  error: ${c.error}`);
    }
  }
  return lines.join('\n');
}
