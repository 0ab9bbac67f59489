// The promoter's own HTTP endpoints while `promoter run` is up: /healthz (the process is alive),
// /readyz (the last tick reached Git), /metrics (Prometheus text, like Flagger's canary gauges)
// and /status (the last tick report as JSON). Rendering is pure; the server is a thin node:http shell.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TickReport } from './reconcile.js';

/** What the run loop has seen so far; the server only reads it. */
export interface RunRecord {
  ticks: number;
  tickErrors: number;
  lastTick?: TickReport;
  lastTickSeconds?: number;
  /** committed decisions per canary and action, since start. */
  decisions: Map<string, number>;
}

export function newRunRecord(): RunRecord {
  return { ticks: 0, tickErrors: 0, decisions: new Map() };
}

/** Folds one finished tick into the record. */
export function recordTick(record: RunRecord, report: TickReport, seconds: number): void {
  record.ticks += 1;
  if (report.error) record.tickErrors += 1;
  record.lastTick = report;
  record.lastTickSeconds = seconds;
  for (const canary of report.canaries) {
    if (canary.outcome !== 'committed' || !canary.action) continue;
    const key = `${canary.canary}\u0000${canary.action}`;
    record.decisions.set(key, (record.decisions.get(key) ?? 0) + 1);
  }
}

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (pairs: Record<string, string>) =>
  `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',')}}`;

function finite(value: number): string {
  return Number.isFinite(value) ? String(value) : value > 0 ? '+Inf' : '-Inf';
}

/** Prometheus text exposition of the record. */
export function renderMetrics(record: RunRecord): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of samples) out.push(`${name}${Object.keys(l).length ? labels(l) : ''} ${finite(v)}`);
  };
  metric('promoter_ticks_total', 'counter', 'Reconcile ticks finished.', [[{}, record.ticks]]);
  metric('promoter_tick_errors_total', 'counter', 'Ticks in which every canary held because Git could not be read.', [[{}, record.tickErrors]]);
  if (record.lastTick) {
    metric('promoter_last_tick_timestamp_seconds', 'gauge', 'When the last tick started.', [[{}, Date.parse(record.lastTick.at) / 1000]]);
  }
  if (record.lastTickSeconds !== undefined) {
    metric('promoter_last_tick_duration_seconds', 'gauge', 'How long the last tick took.', [[{}, record.lastTickSeconds]]);
  }
  const canaries = record.lastTick?.canaries ?? [];
  metric(
    'promoter_canary_weight',
    'gauge',
    'Canary traffic share (percent) at HEAD.',
    canaries.filter((c) => c.canaryWeight !== undefined).map((c) => [{ canary: c.canary }, c.canaryWeight ?? 0]),
  );
  metric(
    'promoter_canary_phase',
    'gauge',
    'The canary phase at HEAD (1 for the current phase).',
    canaries.filter((c) => c.phase !== undefined).map((c) => [{ canary: c.canary, phase: c.phase ?? '' }, 1]),
  );
  metric(
    'promoter_canary_error',
    'gauge',
    '1 when the canary could not be reconciled in the last tick (bad policy, unreadable manifest, failed write).',
    canaries.map((c) => [{ canary: c.canary }, c.outcome === 'error' ? 1 : 0]),
  );
  metric(
    'promoter_decisions_total',
    'counter',
    'Decisions committed to Git, by canary and action.',
    [...record.decisions].map(([key, n]) => {
      const [canary = '', action = ''] = key.split('\u0000');
      return [{ canary, action }, n];
    }),
  );
  const metrics = canaries.flatMap((c) => (c.verdict?.evidence.metrics ?? []).map((m) => ({ canary: c.canary, m })));
  metric('promoter_sequential_log_m', 'gauge', 'The mixture statistic log M per guarded metric (rollback at the threshold).', metrics.map(({ canary, m }) => [{ canary, metric: m.metric }, m.logM]));
  metric('promoter_sequential_log_threshold', 'gauge', 'log(1/alpha_m): the rollback threshold of log M.', metrics.map(({ canary, m }) => [{ canary, metric: m.metric }, m.logThreshold]));
  metric('promoter_ratio_upper', 'gauge', 'Upper confidence bound of the canary/stable bad-event ratio.', metrics.map(({ canary, m }) => [{ canary, metric: m.metric }, m.ratioUpper]));
  return `${out.join('\n')}\n`;
}

export interface StatusServer {
  url: string;
  close(): Promise<void>;
}

/** Serves the record on `host:port` (port 0 picks a free one). */
export function startStatusServer(record: RunRecord, listen: { host: string; port: number }): Promise<StatusServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      response.writeHead(status, { 'content-type': type });
      response.end(body);
    };
    if (request.method !== 'GET') return send(405, 'text/plain', 'method not allowed\n');
    switch (path) {
      case '/healthz':
        return send(200, 'text/plain', 'ok\n');
      case '/readyz': {
        const tick = record.lastTick;
        if (!tick) return send(503, 'text/plain', 'no tick finished yet\n');
        return tick.error ? send(503, 'text/plain', `last tick failed: ${tick.error}\n`) : send(200, 'text/plain', 'ok\n');
      }
      case '/metrics':
        return send(200, 'text/plain; version=0.0.4', renderMetrics(record));
      case '/status':
        return send(200, 'application/json', `${JSON.stringify(record.lastTick ?? null, null, 2)}\n`);
      default:
        return send(404, 'text/plain', 'not found: try /healthz, /readyz, /metrics or /status\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}`,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}

/** "host:port" or ":port" (all interfaces). */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(.*):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new Error(`http.listen: expected host:port or :port, got "${text}"`);
  return { host: match[1] || '0.0.0.0', port };
}
