// Commit messages a person reads in `git log` and the Argo CD UI: a subject that says what moved,
// a body with the analysis evidence, and machine-readable trailers. Pure.
import type { Evidence, Verdict } from '../analysis/types.js';
import type { Action } from './plan.js';
import type { CanaryState } from './state.js';

export const TRAILERS = {
  canary: 'Promoter-Canary',
  step: 'Promoter-Step',
  decision: 'Promoter-Decision',
  evidence: 'Promoter-Evidence',
  image: 'Promoter-Image',
  /** a multi-cluster rollback: the clusters whose canary was worse than their stable. */
  cluster: 'Promoter-Cluster',
} as const;

function pct(rate: number | null): string {
  return rate === null ? 'n/a' : `${(rate * 100).toFixed(2)}%`;
}

function ms(value: number | null): string {
  return value === null ? 'n/a' : `${Math.round(value)}ms`;
}

function ratio(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : value > 0 ? 'inf' : '0';
}

/** One line, for the Promoter-Evidence trailer and for log lines; a cluster's evidence names the cluster. */
export function evidenceSummary(evidence: Evidence | undefined): string {
  if (!evidence) return 'no analysis (not needed for this action)';
  const { canary, stable } = evidence;
  const where = evidence.cluster !== undefined ? `cluster ${evidence.cluster}: ` : '';
  const errors = evidence.metrics.find((m) => m.metric === '5xx');
  // A verdict right after a step change has no window in the new step yet; the history since the
  // canary started (what the sequential test judged) is then the evidence.
  const arm = (summary: typeof canary, events: number | undefined, rate: number | undefined): string =>
    summary.requests > 0 || events === undefined || rate === undefined || rate === 0
      ? `${pct(summary.errorRate)} (${summary.errors}/${summary.requests})`
      : `${pct(rate)} (${events}/${Math.round(events / rate)} since start)`;
  const parts = [`canary 5xx ${arm(canary, errors?.canaryEvents, errors?.canaryRate)}`, `stable ${arm(stable, errors?.stableEvents, errors?.stableRate)}`];
  if (errors) parts.push(`5xx ratio CI [${ratio(errors.ratioLower)}, ${ratio(errors.ratioUpper)}]`);
  parts.push(`p99 ${ms(canary.p99Ms)} vs ${ms(stable.p99Ms)}`);
  return where + parts.join('; ');
}

/**
 * The evidence line of a verdict: for a multi-cluster canary every cluster's, the deciding cluster
 * first (a rollback's bad cluster), each with its own decision.
 */
export function verdictSummary(verdict: Verdict | undefined): string {
  if (!verdict?.clusters) return evidenceSummary(verdict?.evidence);
  const deciding = verdict.evidence.cluster;
  const ordered = [...verdict.clusters].sort((a, b) => Number(b.cluster === deciding) - Number(a.cluster === deciding));
  return ordered.map((c) => `${evidenceSummary({ ...c.evidence, cluster: `${c.cluster} (${c.decision})` })}`).join(' | ');
}

/** The clusters a multi-cluster rollback is about (their canary is worse than their stable). */
export function rollbackClusters(verdict: Verdict | undefined): string[] {
  if (verdict?.decision !== 'rollback' || !verdict.clusters) return [];
  return verdict.clusters.filter((c) => c.decision === 'rollback').map((c) => c.cluster);
}

/** The evidence blocks of a verdict: one per cluster for a multi-cluster canary. */
export function verdictBlock(verdict: Verdict): string {
  return verdict.clusters ? verdict.clusters.map((c) => evidenceBlock({ ...c.evidence, cluster: c.cluster }, c.decision)).join('\n\n') : evidenceBlock(verdict.evidence);
}

/** The multi-line evidence block for commit bodies and pull-request descriptions. */
export function evidenceBlock(evidence: Evidence, decision?: string): string {
  const where = evidence.cluster !== undefined ? ` in cluster ${evidence.cluster}${decision !== undefined ? ` (${decision})` : ''}` : '';
  const lines = [
    `Evidence${where} (${evidence.stepWindows} windows, ${Math.round(evidence.stepSeconds)}s in this step; ${evidence.windows} since the canary started):`,
    `  arm     requests   5xx   5xx rate   p99`,
  ];
  for (const [name, arm] of [
    ['stable', evidence.stable],
    ['canary', evidence.canary],
  ] as const) {
    lines.push(
      `  ${name.padEnd(7)} ${String(arm.requests).padStart(8)} ${String(arm.errors).padStart(5)} ${pct(arm.errorRate).padStart(10)} ${ms(arm.p99Ms).padStart(7)}`,
    );
  }
  if (evidence.metrics.length > 0) lines.push('Sequential test (canary/stable ratio, anytime-valid):');
  for (const m of evidence.metrics) {
    lines.push(
      `  ${m.metric}: ratio in [${ratio(m.ratioLower)}, ${ratio(m.ratioUpper)}], log M ${m.logM.toFixed(2)} (rollback at ${m.logThreshold.toFixed(2)}); events canary ${m.canaryEvents}, stable ${m.stableEvents}`,
    );
  }
  if (evidence.guards.length > 0) lines.push('Guards:');
  for (const g of evidence.guards) {
    const value = g.value === null ? 'no data' : Number.isInteger(g.value) ? String(g.value) : g.value.toPrecision(4);
    lines.push(`  ${g.name}: ${value} ${g.op} ${g.threshold} -> ${g.status}`);
  }
  return lines.join('\n');
}

function subject(name: string, state: CanaryState, action: Exclude<Action, { kind: 'hold' }>): string {
  switch (action.kind) {
    case 'start':
      return action.replacing
        ? `canary(${name}): restart at ${action.to}% with ${state.canaryImage}`
        : `canary(${name}): start ${state.canaryImage} at ${action.to}%`;
    case 'set-weight':
      return `canary(${name}): promote ${action.from}% -> ${action.to}%`;
    case 'finalize-image':
      return `canary(${name}): finalize, stable takes ${action.image}`;
    case 'finalize-traffic':
      return `canary(${name}): finalize, traffic back to stable (100/0)`;
    case 'rollback':
      return `canary(${name}): roll back ${action.image} (stable 100 / canary 0)`;
  }
}

/**
 * Promoter-Step means one thing in every commit, automatic or a person's: where the canary is once
 * the commit applies (the target weight, finalize-image, finalize-traffic, rollback-from-<weight>).
 */
export function stepAfter(action: Exclude<Action, { kind: 'hold' }>, state: CanaryState): string {
  switch (action.kind) {
    case 'start':
    case 'set-weight':
      return String(action.to);
    case 'finalize-image':
      return 'finalize-image';
    case 'finalize-traffic':
      return 'finalize-traffic';
    case 'rollback':
      return `rollback-from-${state.canaryWeight}`;
  }
}

function why(action: Exclude<Action, { kind: 'hold' }>, verdict: Verdict | undefined): string {
  switch (action.kind) {
    case 'start':
      return action.replacing
        ? `The canary image changed from ${action.replacing} to the one above in the middle of its rollout; the new image starts over at the first step, with a fresh analysis.`
        : 'A new canary image is in Git and Argo CD has applied it; the promoter starts the first step.';
    case 'set-weight':
      return `The canary is as good as stable at ${action.from}%: ${verdict?.reason ?? ''}`.trim();
    case 'finalize-image':
      return `The canary passed the last step: ${verdict?.reason ?? ''} Stable now takes its image; traffic moves back to stable once Argo CD reports this commit synced and Healthy.`.trim();
    case 'finalize-traffic':
      return 'Argo CD applied the new stable image and reports it Healthy; traffic returns to stable.';
    case 'rollback':
      return `${action.reason} The image is marked failed (delivery.docuthinker.io/failed-image) and will not be started again.`;
  }
}

export interface CommitMessageInput {
  canary: string;
  state: CanaryState;
  action: Exclude<Action, { kind: 'hold' }>;
  verdict?: Verdict;
}

export interface TrailerInput {
  canary: string;
  step: string;
  decision: string;
  image: string;
  evidence: string;
  /** the clusters a multi-cluster rollback is about. */
  clusters?: readonly string[];
}

/** The machine-readable trailers; the one place they are written. */
export function trailerBlock(t: TrailerInput): string {
  return [
    `${TRAILERS.canary}: ${t.canary}`,
    `${TRAILERS.step}: ${t.step}`,
    `${TRAILERS.decision}: ${t.decision}`,
    `${TRAILERS.image}: ${t.image}`,
    `${TRAILERS.evidence}: ${t.evidence}`,
    ...(t.clusters && t.clusters.length > 0 ? [`${TRAILERS.cluster}: ${t.clusters.join(', ')}`] : []),
  ].join('\n');
}

/** The image an action is about: the one it finalizes or rolls back, else the canary's. */
export function actionImage(action: Exclude<Action, { kind: 'hold' }>, state: CanaryState): string {
  return action.kind === 'finalize-image' || action.kind === 'rollback' ? action.image : state.canaryImage;
}

export function commitMessage({ canary, state, action, verdict }: CommitMessageInput): string {
  const body = [why(action, verdict)];
  if (verdict) body.push('', verdictBlock(verdict));
  const clusters = action.kind === 'rollback' ? rollbackClusters(verdict) : [];
  const trailers = trailerBlock({
    canary,
    step: stepAfter(action, state),
    decision: action.kind,
    image: actionImage(action, state),
    evidence: verdictSummary(verdict),
    ...(clusters.length > 0 ? { clusters } : {}),
  });
  return `${subject(canary, state, action)}\n\n${body.join('\n')}\n\n${trailers}\n`;
}

export interface OperationMessageInput {
  subject: string;
  /** the person's reason, as given. */
  reason: string;
  trailers: Omit<TrailerInput, 'evidence'>;
}

/** A person's operation (pause, resume, abort, promote): their reason, and the same trailers. */
export function operationMessage({ subject: line, reason, trailers }: OperationMessageInput): string {
  return `${line}\n\n${reason}\n\n${trailerBlock({ ...trailers, evidence: 'none (a person decided)' })}\n`;
}
