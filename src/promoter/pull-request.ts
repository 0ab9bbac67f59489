// What a weight-change pull request says, built from small pure pieces: its branch, labels, title,
// body sections (decision, evidence, per-window chart, links, hidden metadata), and whether its
// required checks pass. No I/O; github.ts does the talking.
import { histogramQuantile } from '../analysis/quantile.js';
import { ENVOY_BUCKETS_MS } from '../analysis/settings.js';
import type { ArmCounts, Evidence, Verdict, Window } from '../analysis/types.js';
import type { Change, Identity } from './ports.js';

export const BRANCH_PREFIX = 'promoter/';
/** The label .github/workflows/merge-weight-change.yml looks for. */
export const WEIGHT_CHANGE_LABEL = 'delivery/weight-change';
/** Put on a closed pull request by `promoter resume`: its close no longer holds the canary. */
export const RESUMED_LABEL = 'promoter/resumed';
/** Put on a pull request the promoter closed itself (superseded): its close holds nothing. */
export const SUPERSEDED_LABEL = 'promoter/superseded';
/** The commit status / check run context for a canary. */
export const statusContext = (canary: string): string => `promoter/${canary}`;

/** One deterministic branch per canary. */
export function branchFor(canary: string): string {
  return `${BRANCH_PREFIX}${canary}`;
}

export function labelsFor(change: Pick<Change, 'canary' | 'step'>): string[] {
  return [WEIGHT_CHANGE_LABEL, `canary:${change.canary}`, `step:${change.step}`];
}

/** The identity of a pull request's decision, kept in a hidden comment in its body. */
export interface PullRequestMetadata {
  canary: string;
  decision: string;
  step: string;
  image: string;
  /** the base commit the branch was built on. */
  base: string;
  /** a person's operation (their PR is theirs: the loop leaves it alone). */
  person?: string;
}

const METADATA_PREFIX = '<!-- promoter-metadata ';

export function metadataComment(meta: PullRequestMetadata): string {
  // JSON cannot contain "-->" once "-" and ">" of that sequence are escaped.
  return `${METADATA_PREFIX}${JSON.stringify(meta).replaceAll('-->', '--\\u003e')} -->`;
}

export function parseMetadata(body: string | null | undefined): PullRequestMetadata | undefined {
  if (!body) return undefined;
  const start = body.lastIndexOf(METADATA_PREFIX);
  if (start < 0) return undefined;
  const end = body.indexOf(' -->', start);
  if (end < 0) return undefined;
  try {
    const value = JSON.parse(body.slice(start + METADATA_PREFIX.length, end)) as Partial<PullRequestMetadata>;
    if (typeof value.canary !== 'string' || typeof value.step !== 'string' || typeof value.decision !== 'string' || typeof value.image !== 'string') return undefined;
    return {
      canary: value.canary,
      decision: value.decision,
      step: value.step,
      image: value.image,
      base: typeof value.base === 'string' ? value.base : '',
      ...(typeof value.person === 'string' ? { person: value.person } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Two metadata say the same decision (the base may differ: the branch is then rebuilt, the PR kept). */
export function sameDecision(a: PullRequestMetadata, b: PullRequestMetadata): boolean {
  return a.canary === b.canary && a.decision === b.decision && a.step === b.step && a.image === b.image;
}

export function personLabel(person: Identity | undefined): string | undefined {
  return person ? `${person.name} <${person.email}>` : undefined;
}

const pct = (rate: number | null): string => (rate === null || !Number.isFinite(rate) ? 'n/a' : `${(rate * 100).toFixed(2)}%`);
const ms = (value: number | null): string => (value === null || !Number.isFinite(value) ? 'n/a' : `${Math.round(value)} ms`);
const num = (value: number): string => (Number.isFinite(value) ? value.toFixed(2) : value > 0 ? '∞' : '-∞');
const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The title: the commit subject. */
export function titleOf(change: Pick<Change, 'message'>): string {
  return change.message.split('\n')[0] ?? '';
}

/** The message body without its subject and trailers: the promoter's "why". */
function whyOf(message: string): string {
  const paragraphs = message.split('\n\n').slice(1);
  // The last paragraph is the trailers; the evidence block is rendered as tables instead.
  return paragraphs
    .slice(0, -1)
    .filter((p) => !p.startsWith('Evidence (') && !p.startsWith('Evidence in cluster ') && !p.startsWith('Sequential test'))
    .join('\n\n')
    .trim();
}

export function decisionSection(change: Change): string {
  const lines = [`## ${cell(titleOf(change))}`, ''];
  const ladder = change.target?.steps.map((w) => (String(w) === change.step ? `**${w}**` : String(w))).join(' → ');
  const facts = [
    `**Decision:** \`${change.decision}\``,
    `**Step:** \`${change.step}\`${ladder ? ` (${ladder})` : ''}`,
    ...(change.weights ? [`**Weights:** stable ${change.weights.stable} / canary ${change.weights.canary}`] : []),
    `**Image:** \`${change.image}\``,
  ];
  lines.push(facts.join(' · '));
  const person = personLabel(change.author);
  if (person) lines.push('', `Requested by ${cell(person)}.`);
  const why = whyOf(change.message);
  if (why) lines.push('', why);
  return lines.join('\n');
}

export function evidenceSection(verdict: Verdict | undefined): string {
  if (!verdict) return '### Evidence\n\nNo analysis: this decision does not need one.';
  const e: Evidence = verdict.evidence;
  const lines = [
    '### Evidence',
    '',
    `Verdict: **${verdict.decision}**. ${cell(verdict.reason)}`,
    '',
  ];
  if (verdict.clusters) {
    // Each cluster's canary against that cluster's stable; the tables below are the deciding cluster's.
    lines.push('| cluster | verdict | canary requests | canary 5xx | stable 5xx | p99 canary / stable |', '| --- | --- | ---: | ---: | ---: | ---: |');
    for (const c of verdict.clusters) {
      const mark = c.cluster === e.cluster ? ` **(deciding)**` : '';
      lines.push(`| ${cell(c.cluster)}${mark} | ${c.decision} | ${c.evidence.canary.requests} | ${pct(c.evidence.canary.errorRate)} | ${pct(c.evidence.stable.errorRate)} | ${ms(c.evidence.canary.p99Ms)} / ${ms(c.evidence.stable.p99Ms)} |`);
    }
    lines.push('', `Cluster **${cell(e.cluster ?? '')}**:`, '');
  }
  lines.push(
    `${e.stepWindows} windows (${Math.round(e.stepSeconds)} s) in this step; ${e.windows} since the canary started.`,
    '',
    '| arm | requests | 5xx | 5xx rate | p99 |',
    '| --- | ---: | ---: | ---: | ---: |',
  );
  for (const [name, arm] of [
    ['stable', e.stable],
    ['canary', e.canary],
  ] as const) {
    lines.push(`| ${name} | ${arm.requests} | ${arm.errors} | ${pct(arm.errorRate)} | ${ms(arm.p99Ms)} |`);
  }
  if (e.metrics.length > 0) {
    lines.push('', '| metric | statistic (log M) | rollback threshold | canary/stable ratio bounds | events canary / stable | rate canary / stable |', '| --- | ---: | ---: | --- | ---: | ---: |');
    for (const m of e.metrics) {
      lines.push(
        `| ${cell(m.metric)} | ${num(m.logM)} | ${num(m.logThreshold)} | [${num(m.ratioLower)}, ${num(m.ratioUpper)}] | ${m.canaryEvents} / ${m.stableEvents} | ${pct(m.canaryRate)} / ${pct(m.stableRate)} |`,
      );
    }
  }
  if (e.guards.length > 0) {
    lines.push('', '| guard | value | threshold | result |', '| --- | ---: | --- | --- |');
    for (const g of e.guards) {
      const value = g.value === null ? 'no data' : Number.isInteger(g.value) ? String(g.value) : g.value.toPrecision(4);
      lines.push(`| ${cell(g.name)} | ${value} | ${g.op} ${g.threshold} | ${g.status} |`);
    }
  }
  return lines.join('\n');
}

function errorRate(arm: ArmCounts): number {
  return arm.requests > 0 ? (arm.errors / arm.requests) * 100 : 0;
}

function p99(arm: ArmCounts, buckets: readonly number[]): number {
  if (!arm.latency || arm.latency.count === 0) return 0;
  const value = histogramQuantile(0.99, buckets, arm.latency.le, arm.latency.count);
  return Number.isFinite(value) ? value : 0;
}

const round = (value: number, digits: number): string => String(Number(value.toFixed(digits)));

/** The most recent windows, charted (GitHub renders Mermaid xychart-beta). Line 1 is stable, line 2 the canary. */
export function chartSection(windows: readonly Window[] | undefined, options: { maxWindows?: number; latencyBucketsMs?: readonly number[] } = {}): string {
  if (!windows || windows.length === 0) return '';
  const shown = windows.slice(-(options.maxWindows ?? 30));
  const buckets = options.latencyBucketsMs ?? ENVOY_BUCKETS_MS;
  const axis = `x-axis "window start (s since the canary started)" [${shown.map((w) => round(w.t, 0)).join(', ')}]`;
  const chart = (title: string, yLabel: string, series: (arm: ArmCounts) => number, digits: number): string[] => {
    const stable = shown.map((w) => series(w.stable));
    const canary = shown.map((w) => series(w.canary));
    const top = Math.max(...stable, ...canary);
    return [
      '```mermaid',
      'xychart-beta',
      `  title "${title}"`,
      `  ${axis}`,
      `  y-axis "${yLabel}" 0 --> ${round(top > 0 ? top * 1.2 : 1, digits)}`,
      `  line [${stable.map((v) => round(v, digits)).join(', ')}]`,
      `  line [${canary.map((v) => round(v, digits)).join(', ')}]`,
      '```',
    ];
  };
  return [
    '### Per window',
    '',
    `The last ${shown.length} analysis windows; the first line is stable, the second the canary.`,
    '',
    ...chart('5xx rate per window (%)', '5xx %', errorRate, 3),
    '',
    ...chart('p99 latency per window (ms)', 'p99 ms', (arm) => p99(arm, buckets), 0),
  ].join('\n');
}

export interface LinkBases {
  argocd?: string;
  grafana?: string;
}

export function linksSection(change: Pick<Change, 'canary' | 'target'>, links: LinkBases): string {
  const lines: string[] = [];
  const trim = (url: string) => url.replace(/\/+$/, '');
  if (links.argocd && change.target) {
    lines.push(`- Argo CD Application: [${change.target.application}](${trim(links.argocd)}/applications/${encodeURIComponent(change.target.argocdNamespace)}/${encodeURIComponent(change.target.application)})`);
  }
  if (links.grafana) {
    const service = change.target?.service ?? change.canary;
    const separator = links.grafana.includes('?') ? '&' : '?';
    lines.push(`- Grafana: [canary dashboard for ${service}](${links.grafana}${separator}var-service=${encodeURIComponent(service)})`);
  }
  return lines.length > 0 ? ['### Links', '', ...lines].join('\n') : '';
}

export interface BodyInput {
  change: Change;
  links: LinkBases;
  base: string;
}

/** The whole body: every section, then the hidden metadata the promoter reads back. */
export function pullRequestBody({ change, links, base }: BodyInput): string {
  const person = personLabel(change.author);
  const meta: PullRequestMetadata = { canary: change.canary, decision: change.decision, step: change.step, image: change.image, base, ...(person ? { person } : {}) };
  const sections = [
    decisionSection(change),
    evidenceSection(change.verdict),
    chartSection(change.windows, change.latencyBucketsMs ? { latencyBucketsMs: change.latencyBucketsMs } : {}),
    linksSection(change, links),
    `<sub>Opened by the DocuThinker promoter. Merging applies the change; closing it unmerged holds canary ${change.canary} until \`promoter resume ${change.canary}\`.</sub>`,
    metadataComment(meta),
  ];
  return `${sections.filter((s) => s !== '').join('\n\n')}\n`;
}

export interface CheckState {
  name: string;
  /** success / failure / pending (commit statuses), or a check run's conclusion (null while running). */
  state: string;
}

export type ChecksVerdict = { kind: 'pass' } | { kind: 'pending'; waiting: string[] } | { kind: 'fail'; failed: string[] };

/** Whether every required check passed on the head commit. No required check means nothing to wait for. */
export function checksVerdict(required: readonly string[], seen: readonly CheckState[]): ChecksVerdict {
  const failed: string[] = [];
  const waiting: string[] = [];
  for (const name of required) {
    const states = seen.filter((s) => s.name === name).map((s) => s.state);
    if (states.some((s) => ['failure', 'error', 'cancelled', 'timed_out', 'action_required'].includes(s))) failed.push(name);
    else if (!states.some((s) => ['success', 'neutral', 'skipped'].includes(s))) waiting.push(name);
  }
  if (failed.length > 0) return { kind: 'fail', failed };
  if (waiting.length > 0) return { kind: 'pending', waiting };
  return { kind: 'pass' };
}

/** The state a verdict gives the `promoter/<canary>` commit status. */
export function statusFor(change: Pick<Change, 'decision' | 'urgent'>): 'success' | 'failure' | 'pending' {
  if (change.urgent || change.decision === 'rollback') return 'failure';
  if (change.decision === 'finalize-image' || change.decision === 'finalize-traffic') return 'success';
  return 'pending';
}
