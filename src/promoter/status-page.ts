// The read-only status page, as pure functions from data to HTML: an overview with one row per
// canary and a page per canary with inline SVG charts, the evidence and the Git history. No
// front-end build: one small inline script swaps the page body in place; without JavaScript a
// <noscript> meta refresh reloads the page instead.
import { createHash } from 'node:crypto';
import { evidenceSummary } from './commit-message.js';
import { weightAfter, type HistoryEntry } from './history.js';
import type { CanaryReport, TickReport } from './reconcile.js';
import type { WindowPoint } from './snapshot.js';

/** What the page shows of one canary over time (kept by the run record). */
export interface CanaryTimeline {
  /** one sample per tick: unix seconds and the canary weight at HEAD. */
  samples: { t: number; weight: number }[];
  /** decisions committed by this process: unix seconds, action, subject, sha. */
  decisions: { t: number; action: string; subject: string; sha: string }[];
}

export interface PageInput {
  /** unix seconds, for "time in step". */
  now: number;
  tick?: TickReport;
  ticks: number;
  timelines: ReadonlyMap<string, CanaryTimeline>;
  /** the decisions read from the Git trailers, newest first (all canaries). */
  history: readonly HistoryEntry[];
  /** why the history could not be read, when it could not. */
  historyError?: string;
  /** e.g. https://github.com/org/repo/commit/{sha}; without it a commit shows as its short sha. */
  commitUrl?: string;
  /** seconds between background refreshes. */
  refreshSeconds?: number;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

/** "4m05s"-style age; "-" when unknown. */
export function formatAge(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Time in the current step, from the step-started-at annotation. */
export function timeInStep(report: CanaryReport, now: number): number | undefined {
  const started = report.snapshot?.stepStartedAt;
  return report.phase === 'progressing' && started !== undefined ? Math.max(0, now - started) : undefined;
}

/** "2/4 (10%)" while progressing, else the phase's own word. */
export function stepLabel(report: CanaryReport): string {
  const s = report.snapshot;
  if (!s) return '-';
  if (report.phase === 'progressing' && s.stepIndex !== undefined) return `${s.stepIndex + 1}/${s.steps.length} (${s.canaryWeight}%)`;
  return report.phase ?? '-';
}

function commitLink(sha: string, commitUrl: string | undefined, text = sha.slice(0, 10)): string {
  const code = `<code>${escapeHtml(text)}</code>`;
  return commitUrl ? `<a href="${escapeHtml(commitUrl.replace('{sha}', sha))}">${code}</a>` : `<span title="${escapeHtml(sha)}">${code}</span>`;
}

function lastCommit(report: CanaryReport, input: PageInput): { sha: string; subject: string } | undefined {
  if (report.commit) return report.commit;
  const fromGit = input.history.find((h) => h.canary === report.canary);
  if (fromGit) return { sha: fromGit.sha, subject: fromGit.subject };
  const mine = input.timelines.get(report.canary)?.decisions.at(-1);
  return mine ? { sha: mine.sha, subject: mine.subject } : undefined;
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:baseline}
header a{color:#fff}main{padding:16px 20px}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0 20px}
th,td{border:1px solid #d0d7de;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4}code{font-size:12px}
.phase{font-weight:600}.phase-progressing{color:#0969da}.phase-failed,.phase-stopped,.phase-manual-override{color:#cf222e}
.phase-idle{color:#57606a}.error{color:#cf222e}.muted{color:#57606a}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;background:#fff;border:1px solid #d0d7de;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}svg text{font-size:10px;fill:#57606a}
`;

/** The inline script: fetch the same page every few seconds and swap <main>; no reload, no build. */
const SCRIPT = `(function(){var m=document.querySelector('main');var s=Number(m&&m.dataset.refresh)||5;
function tick(){fetch(location.href,{headers:{'x-requested-with':'status-page'}}).then(function(r){return r.ok?r.text():null}).then(function(t){
if(!t)return;var d=new DOMParser().parseFromString(t,'text/html');var n=d.querySelector('main');if(n&&m){m.replaceWith(n);m=n;}
var u=document.getElementById('updated');var nu=d.getElementById('updated');if(u&&nu)u.textContent=nu.textContent;}).catch(function(){});}
setInterval(tick,s*1000);})();`;

/** The Content-Security-Policy that lets exactly this inline script run. */
export const CONTENT_SECURITY_POLICY = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'; connect-src 'self'; img-src 'self' data:`;

function page(title: string, input: PageInput, body: string): string {
  const refresh = input.refreshSeconds ?? 5;
  const at = input.tick ? `last tick ${escapeHtml(input.tick.at)}${input.tick.head ? ` at HEAD ${escapeHtml(input.tick.head.slice(0, 10))}` : ''}` : 'no tick finished yet';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">
<noscript><meta http-equiv="refresh" content="${Math.max(refresh * 6, 30)}"></noscript>
<style>${STYLE}</style></head>
<body><header><strong><a href="/">DocuThinker promoter</a></strong><span id="updated">${at} · ${input.ticks} ticks</span>
<span><a href="/status">/status</a> · <a href="/metrics">/metrics</a></span></header>
<main data-refresh="${refresh}">${body}</main>
<script>${SCRIPT}</script></body></html>
`;
}

function phaseCell(report: CanaryReport): string {
  const phase = report.phase ?? 'error';
  const paused = report.snapshot?.paused ? ` <span class="muted">(paused: ${escapeHtml(report.snapshot.pausedBy ?? 'yes')})</span>` : '';
  return `<span class="phase phase-${escapeHtml(phase)}">${escapeHtml(phase)}</span>${paused}`;
}

function reasonCell(report: CanaryReport): string {
  const error = report.error ? `<div class="error">${escapeHtml(report.error)}</div>` : '';
  return `${escapeHtml(report.reason)}${error}`;
}

/** The overview: one row per canary. */
export function renderOverview(input: PageInput): string {
  const canaries = input.tick?.canaries ?? [];
  const rows = canaries.map((c) => {
    const s = c.snapshot;
    const commit = lastCommit(c, input);
    return `<tr data-canary="${escapeHtml(c.canary)}">
<td><a href="/canary/${encodeURIComponent(c.canary)}">${escapeHtml(c.canary)}</a></td>
<td class="step">${escapeHtml(stepLabel(c))}</td>
<td>${s ? `${s.stableWeight} / ${s.canaryWeight}` : c.canaryWeight !== undefined ? `- / ${c.canaryWeight}` : '-'}</td>
<td>${s ? `<code>${escapeHtml(s.stableImage)}</code><br><code>${escapeHtml(s.canaryImage)}</code>` : '-'}</td>
<td>${phaseCell(c)}</td>
<td>${reasonCell(c)}</td>
<td>${escapeHtml(formatAge(timeInStep(c, input.now)))}</td>
<td>${commit ? `${commitLink(commit.sha, input.commitUrl)} ${escapeHtml(commit.subject)}` : '-'}</td></tr>`;
  });
  const tickError = input.tick?.error ? `<p class="error">Every canary holds: ${escapeHtml(input.tick.error)}</p>` : '';
  const table =
    canaries.length === 0
      ? `<p class="muted">${input.tick ? 'No canary policies found.' : 'Waiting for the first tick.'}</p>`
      : `<table id="canaries"><thead><tr><th>canary</th><th>step</th><th>weights stable / canary</th><th>images stable<br>canary</th><th>phase</th><th>reason</th><th>time in step</th><th>last commit</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`;
  return page('Canaries · promoter', input, `<h1>Canaries</h1>${tickError}${table}`);
}

export interface ChartSeries {
  name: string;
  color: string;
  /** [unix seconds, value]; null values leave a gap. */
  points: [number, number | null][];
}

const WIDTH = 520;
const HEIGHT = 180;
const PAD = { left: 48, right: 10, top: 10, bottom: 22 };

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= value) return m * power;
  return 10 * power;
}

function clock(t: number): string {
  return new Date(t * 1000).toISOString().slice(11, 19);
}

/** An inline SVG line chart with one circle per point and a dashed line per decision marker. */
export function lineChart(options: { id: string; title: string; unit: string; series: ChartSeries[]; markers?: { t: number; label: string }[]; yMax?: number; step?: boolean }): string {
  const all = options.series.flatMap((s) => s.points.filter((p): p is [number, number] => p[1] !== null && Number.isFinite(p[1])));
  const markers = options.markers ?? [];
  const times = [...all.map((p) => p[0]), ...markers.map((m) => m.t)];
  const t0 = times.length ? Math.min(...times) : 0;
  const t1 = times.length ? Math.max(...times) : 1;
  const span = t1 > t0 ? t1 - t0 : 1;
  const yMax = options.yMax ?? niceMax(Math.max(0, ...all.map((p) => p[1])));
  const x = (t: number) => PAD.left + ((t - t0) / span) * (WIDTH - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - Math.min(v, yMax) / yMax) * (HEIGHT - PAD.top - PAD.bottom);
  const parts: string[] = [];
  parts.push(`<line x1="${PAD.left}" y1="${y(0)}" x2="${WIDTH - PAD.right}" y2="${y(0)}" stroke="#d0d7de"/>`);
  parts.push(`<text x="${PAD.left - 4}" y="${y(yMax) + 8}" text-anchor="end">${escapeHtml(`${+yMax.toPrecision(3)}${options.unit}`)}</text>`);
  parts.push(`<text x="${PAD.left - 4}" y="${y(0)}" text-anchor="end">0</text>`);
  if (times.length) {
    parts.push(`<text x="${PAD.left}" y="${HEIGHT - 6}">${clock(t0)}</text><text x="${WIDTH - PAD.right}" y="${HEIGHT - 6}" text-anchor="end">${clock(t1)}</text>`);
  }
  for (const m of markers) {
    parts.push(
      `<line class="marker" x1="${x(m.t).toFixed(1)}" y1="${PAD.top}" x2="${x(m.t).toFixed(1)}" y2="${y(0)}" stroke="#8250df" stroke-dasharray="3 3"><title>${escapeHtml(m.label)}</title></line>`,
    );
  }
  let count = 0;
  for (const s of options.series) {
    const segments: string[][] = [[]];
    let previous: number | undefined;
    for (const [t, v] of s.points) {
      if (v === null || !Number.isFinite(v)) {
        segments.push([]);
        previous = undefined;
        continue;
      }
      const segment = segments.at(-1) ?? [];
      if (options.step && previous !== undefined) segment.push(`${x(t).toFixed(1)},${y(previous).toFixed(1)}`);
      segment.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
      previous = v;
    }
    for (const segment of segments.filter((g) => g.length > 1)) {
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${segment.join(' ')}"/>`);
    }
    for (const [t, v] of s.points) {
      if (v === null || !Number.isFinite(v)) continue;
      count += 1;
      parts.push(`<circle class="point" cx="${x(t).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2" fill="${s.color}"><title>${escapeHtml(`${s.name} ${clock(t)}: ${+v.toPrecision(4)}${options.unit}`)}</title></circle>`);
    }
  }
  const legend = options.series.map((s) => `<span style="color:${s.color}">■ ${escapeHtml(s.name)}</span>`).join(' ');
  return `<figure id="${escapeHtml(options.id)}"><figcaption>${escapeHtml(options.title)} ${legend}</figcaption>
<svg class="chart" data-points="${count}" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(options.title)}">${parts.join('')}</svg></figure>`;
}

/** Weight over time: the decisions in Git (what stays across restarts), then this process's tick samples. */
export function weightSeries(canary: string, input: PageInput): [number, number][] {
  const points: [number, number][] = [];
  for (const h of [...input.history].reverse()) {
    if (h.canary !== canary) continue;
    const w = weightAfter(h);
    const t = Date.parse(h.date) / 1000;
    if (w !== undefined && Number.isFinite(t)) points.push([t, w]);
  }
  for (const s of input.timelines.get(canary)?.samples ?? []) points.push([s.t, s.weight]);
  return points.sort((a, b) => a[0] - b[0]);
}

function markersOf(canary: string, input: PageInput): { t: number; label: string }[] {
  const seen = new Set<string>();
  const markers: { t: number; label: string }[] = [];
  for (const h of input.history) {
    if (h.canary !== canary) continue;
    seen.add(h.sha);
    markers.push({ t: Date.parse(h.date) / 1000, label: `${h.decision ?? '?'}: ${h.subject}` });
  }
  for (const d of input.timelines.get(canary)?.decisions ?? []) if (!seen.has(d.sha)) markers.push({ t: d.t, label: `${d.action}: ${d.subject}` });
  return markers.filter((m) => Number.isFinite(m.t));
}

function evidenceTable(report: CanaryReport): string {
  const e = report.verdict?.evidence;
  if (!e) return '<p class="muted">No analysis in the last tick (only a progressing canary is judged).</p>';
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(2)}%`);
  const ms = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v)} ms`);
  const arms = (['stable', 'canary'] as const)
    .map((arm) => `<tr><td>${arm}</td><td>${e[arm].requests}</td><td>${e[arm].errors}</td><td>${pct(e[arm].errorRate)}</td><td>${ms(e[arm].p99Ms)}</td></tr>`)
    .join('');
  const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : v > 0 ? '∞' : '-∞');
  const metrics = e.metrics
    .map((m) => `<tr><td>${escapeHtml(m.metric)}</td><td>[${fmt(m.ratioLower)}, ${fmt(m.ratioUpper)}]</td><td>${fmt(m.logM)} / ${fmt(m.logThreshold)}</td><td>${m.canaryEvents} / ${m.stableEvents}</td></tr>`)
    .join('');
  const guards = e.guards
    .map((g) => `<tr><td>${escapeHtml(g.name)}</td><td>${g.value === null ? 'no data' : escapeHtml(String(+g.value.toPrecision(4)))} ${escapeHtml(g.op)} ${g.threshold}</td><td>${escapeHtml(g.status)}</td></tr>`)
    .join('');
  return `<p><strong>${escapeHtml(report.verdict?.decision ?? '')}</strong>: ${escapeHtml(report.verdict?.reason ?? '')}</p>
<p class="muted">${e.stepWindows} windows, ${Math.round(e.stepSeconds)}s in this step; ${e.windows} since the canary started. ${escapeHtml(evidenceSummary(e))}</p>
<table id="evidence"><thead><tr><th>arm</th><th>requests</th><th>5xx</th><th>5xx rate</th><th>p99</th></tr></thead><tbody>${arms}</tbody></table>
${metrics ? `<table id="sequential"><thead><tr><th>metric</th><th>canary/stable ratio CI</th><th>log M / threshold</th><th>events canary / stable</th></tr></thead><tbody>${metrics}</tbody></table>` : ''}
${guards ? `<table id="guards"><thead><tr><th>guard</th><th>value</th><th>status</th></tr></thead><tbody>${guards}</tbody></table>` : ''}`;
}

function historyTable(canary: string, input: PageInput): string {
  if (input.historyError) return `<p class="error">History unavailable: ${escapeHtml(input.historyError)}</p>`;
  const rows = input.history
    .filter((h) => h.canary === canary)
    .map(
      (h) =>
        `<tr><td>${escapeHtml(h.date)}</td><td>${commitLink(h.sha, input.commitUrl)}</td><td>${escapeHtml(h.decision ?? '')}</td><td>${escapeHtml(h.step ?? '')}</td><td>${escapeHtml(h.author)}</td><td>${escapeHtml(h.subject)}<div class="muted">${escapeHtml(h.evidence ?? '')}</div></td></tr>`,
    );
  if (rows.length === 0) return '<p class="muted">No commit with this canary in its Promoter-Canary trailer yet.</p>';
  return `<table id="history"><thead><tr><th>date</th><th>commit</th><th>decision</th><th>step</th><th>author</th><th>subject and evidence</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** A canary's page; undefined when the last tick did not see it. */
export function renderCanaryPage(canary: string, input: PageInput): string | undefined {
  const report = input.tick?.canaries.find((c) => c.canary === canary);
  if (!report) return undefined;
  const windows: WindowPoint[] = report.windows ?? [];
  const markers = markersOf(canary, input);
  const weight = weightSeries(canary, input);
  const s = report.snapshot;
  const pctOf = (v: number | null) => (v === null ? null : v * 100);
  const charts = [
    lineChart({ id: 'chart-weight', title: 'Canary weight', unit: '%', yMax: 100, step: true, markers, series: [{ name: 'canary weight', color: '#0969da', points: weight }] }),
    lineChart({
      id: 'chart-5xx',
      title: '5xx rate per window',
      unit: '%',
      markers,
      series: [
        { name: 'stable', color: '#1a7f37', points: windows.map((w) => [w.t, pctOf(w.stable.errorRate)]) },
        { name: 'canary', color: '#cf222e', points: windows.map((w) => [w.t, pctOf(w.canary.errorRate)]) },
      ],
    }),
    lineChart({
      id: 'chart-p99',
      title: 'p99 latency per window',
      unit: 'ms',
      markers,
      series: [
        { name: 'stable', color: '#1a7f37', points: windows.map((w) => [w.t, w.stable.p99Ms]) },
        { name: 'canary', color: '#cf222e', points: windows.map((w) => [w.t, w.canary.p99Ms]) },
      ],
    }),
  ];
  const facts = `<table id="facts"><tbody>
<tr><th>step</th><td class="step">${escapeHtml(stepLabel(report))}${s ? ` <span class="muted">of ${s.steps.join(' → ')}%</span>` : ''}</td></tr>
<tr><th>weights stable / canary</th><td>${s ? `${s.stableWeight} / ${s.canaryWeight}` : '-'}</td></tr>
<tr><th>stable image</th><td><code>${escapeHtml(s?.stableImage ?? '-')}</code></td></tr>
<tr><th>canary image</th><td><code>${escapeHtml(s?.canaryImage ?? '-')}</code>${s?.failedImage ? ` <span class="error">(failed: ${escapeHtml(s.failedImage)})</span>` : ''}</td></tr>
<tr><th>phase</th><td>${phaseCell(report)}</td></tr>
<tr><th>reason</th><td>${reasonCell(report)}</td></tr>
<tr><th>time in step</th><td>${escapeHtml(formatAge(timeInStep(report, input.now)))}${s?.maxDwellSeconds !== undefined ? ` <span class="muted">(max dwell ${formatAge(s.maxDwellSeconds)})</span>` : ''}</td></tr>
</tbody></table>`;
  return page(`${canary} · promoter`, input, `<p><a href="/">← all canaries</a></p><h1>${escapeHtml(canary)}</h1>${facts}
<div class="charts">${charts.join('\n')}</div>
<h2>Evidence</h2>${evidenceTable(report)}
<h2>History</h2>${historyTable(canary, input)}`);
}
