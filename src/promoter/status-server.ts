// The promoter's own HTTP endpoints while `promoter run` is up: / (the status page), /canary/<name>,
// /healthz (the process is alive), /readyz (the last tick reached Git), /metrics (prom-client, its
// own registry) and /status (the last tick report as JSON). Rendering lives in status-page.ts and
// metrics.ts; this file is a thin node:http shell over the run record.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../errors.js';
import type { HistoryEntry } from './history.js';
import { PromoterMetrics } from './metrics.js';
import type { TickReport } from './reconcile.js';
import { CONTENT_SECURITY_POLICY, renderCanaryPage, renderOverview, type CanaryTimeline, type PageInput } from './status-page.js';

/** What the run loop has seen so far; the server only reads it. */
export interface RunRecord {
  ticks: number;
  tickErrors: number;
  lastTick?: TickReport;
  lastTickSeconds?: number;
  /** committed decisions per canary and action, since start. */
  decisions: Map<string, number>;
  /** the prom-client registry and named metrics; other modules add theirs to metrics.registry. */
  metrics: PromoterMetrics;
  /** per canary: weight samples and decisions of this process, for the charts. */
  timelines: Map<string, CanaryTimeline>;
  /** with leader election: this replica's name and whether it holds the Lease now. */
  leadership?: { identity: string; isLeader: () => boolean };
  /** unix seconds: when the record was made (the process started). */
  startedAt: number;
  /** unix seconds: when the last tick finished. */
  finishedAt?: number;
  /** unix seconds: when the tick in flight started. */
  inFlightSince?: number;
  /** /readyz fails when no tick finished for this long (N tick intervals); unset: never stale. */
  staleAfterSeconds?: number;
  /** /healthz fails when one tick has been in flight this long (the deadline did not hold); unset: never. */
  stuckAfterSeconds?: number;
}

/** Samples kept per canary: a day of 30 s ticks. */
const MAX_SAMPLES = 2880;

export function newRunRecord(metrics: PromoterMetrics = new PromoterMetrics(), now = Date.now() / 1000): RunRecord {
  return { ticks: 0, tickErrors: 0, decisions: new Map(), metrics, timelines: new Map(), startedAt: now };
}

/** A tick started; `now` is unix seconds. */
export function recordTickStart(record: RunRecord, now = Date.now() / 1000): void {
  record.inFlightSince = now;
}

/**
 * /readyz: ready only while ticks keep finishing and the last one reached Git. A loop frozen on a
 * hanging dependency answers 503 after `staleAfterSeconds`, instead of 200 from its last good tick.
 */
export function readiness(record: RunRecord, now = Date.now() / 1000): { ready: boolean; reason: string } {
  const leadership = record.leadership;
  // A standby replica is ready (it is the spare a node drain relies on); it does not tick.
  if (leadership && !leadership.isLeader()) return { ready: true, reason: `ok: standby (${leadership.identity}), another replica holds the Lease` };
  const role = leadership ? `: leader (${leadership.identity})` : '';
  const stale = record.staleAfterSeconds;
  const since = record.finishedAt ?? record.startedAt;
  if (stale !== undefined && now - since > stale) {
    const what = record.finishedAt === undefined ? 'no tick has finished since the start' : `no tick has finished for ${Math.round(now - since)} s`;
    return { ready: false, reason: `${what} (the limit is ${stale} s)${role}` };
  }
  const tick = record.lastTick;
  if (!tick) return { ready: false, reason: `no tick finished yet${role}` };
  if (tick.error) return { ready: false, reason: `last tick failed${role}: ${tick.error}` };
  return { ready: true, reason: `ok${role}` };
}

/** /healthz: alive unless one tick has been in flight past `stuckAfterSeconds` (then a restart helps). */
export function liveness(record: RunRecord, now = Date.now() / 1000): { alive: boolean; reason: string } {
  const stuck = record.stuckAfterSeconds;
  if (stuck !== undefined && record.inFlightSince !== undefined && now - record.inFlightSince > stuck) {
    return { alive: false, reason: `a tick has been running for ${Math.round(now - record.inFlightSince)} s (the limit is ${stuck} s)` };
  }
  return { alive: true, reason: 'ok' };
}

/** Folds one finished tick into the record and the metrics; `now` is unix seconds. */
export function recordTick(record: RunRecord, report: TickReport, seconds: number, now = Date.now() / 1000): void {
  record.ticks += 1;
  record.finishedAt = now;
  delete record.inFlightSince;
  if (report.error) record.tickErrors += 1;
  record.lastTick = report;
  record.lastTickSeconds = seconds;
  record.metrics.observeTick(report, seconds, now);
  const t = Date.parse(report.at) / 1000;
  for (const canary of report.canaries) {
    let timeline = record.timelines.get(canary.canary);
    if (!timeline) record.timelines.set(canary.canary, (timeline = { samples: [], decisions: [] }));
    if (canary.canaryWeight !== undefined) {
      timeline.samples.push({ t, weight: canary.canaryWeight });
      if (timeline.samples.length > MAX_SAMPLES) timeline.samples.splice(0, timeline.samples.length - MAX_SAMPLES);
    }
    if (canary.outcome !== 'committed' || !canary.action) continue;
    const key = `${canary.canary}\u0000${canary.action}`;
    record.decisions.set(key, (record.decisions.get(key) ?? 0) + 1);
    if (canary.commit) {
      timeline.decisions.push({ t, action: canary.action, subject: canary.commit.subject, sha: canary.commit.sha });
      if (timeline.decisions.length > 200) timeline.decisions.shift();
    }
  }
}

export interface StatusServer {
  url: string;
  close(): Promise<void>;
}

export interface StatusServerOptions {
  /** the decisions in the Git trailers, newest first (all canaries); the page shows them. */
  history?: () => Promise<HistoryEntry[]>;
  /** e.g. https://github.com/org/repo/commit/{sha} */
  commitUrl?: string;
  /** unix seconds; defaults to the wall clock. */
  now?: () => number;
}

/** Serves the record on `host:port` (port 0 picks a free one). */
export function startStatusServer(record: RunRecord, listen: { host: string; port: number }, options: StatusServerOptions = {}): Promise<StatusServer> {
  const pageInput = async (): Promise<PageInput> => {
    let history: HistoryEntry[] = [];
    let historyError: string | undefined;
    try {
      history = options.history ? await options.history() : [];
    } catch (error) {
      historyError = errorMessage(error);
    }
    return {
      now: options.now ? options.now() : Date.now() / 1000,
      ...(record.lastTick ? { tick: record.lastTick } : {}),
      ticks: record.ticks,
      timelines: record.timelines,
      history,
      ...(historyError !== undefined ? { historyError } : {}),
      ...(options.commitUrl ? { commitUrl: options.commitUrl } : {}),
    };
  };
  const handle = async (path: string, send: (status: number, type: string, body: string, headers?: Record<string, string>) => void) => {
    const html = (body: string) => send(200, 'text/html; charset=utf-8', body, { 'content-security-policy': CONTENT_SECURITY_POLICY, 'cache-control': 'no-store' });
    if (path === '/') return html(renderOverview(await pageInput()));
    if (path.startsWith('/canary/')) {
      const body = renderCanaryPage(decodeURIComponent(path.slice('/canary/'.length)), await pageInput());
      return body ? html(body) : send(404, 'text/plain', 'no such canary in the last tick\n');
    }
    switch (path) {
      case '/healthz': {
        const { alive, reason } = liveness(record, options.now ? options.now() : Date.now() / 1000);
        return send(alive ? 200 : 503, 'text/plain', `${reason}\n`);
      }
      case '/readyz': {
        const { ready, reason } = readiness(record, options.now ? options.now() : Date.now() / 1000);
        return send(ready ? 200 : 503, 'text/plain', `${reason}\n`);
      }
      case '/metrics':
        return send(200, record.metrics.contentType, await record.metrics.text());
      case '/status':
        return send(200, 'application/json', `${JSON.stringify(record.lastTick ?? null, null, 2)}\n`);
      default:
        return send(404, 'text/plain', 'not found: try /, /canary/<name>, /healthz, /readyz, /metrics or /status\n');
    }
  };
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': type, ...headers });
      response.end(body);
    };
    if (request.method !== 'GET') return send(405, 'text/plain', 'method not allowed\n');
    handle(path, send).catch((error: unknown) => send(500, 'text/plain', `internal error: ${errorMessage(error)}\n`));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // A browser's keep-alive connection must not hold the shutdown.
            server.closeIdleConnections();
          }),
      });
    });
  });
}

/**
 * "host:port", or ":port" for loopback. /status shows internal URLs and git error text, so all
 * interfaces (0.0.0.0) must be asked for by name; in a pod the Deployment passes the pod's address.
 */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(.*):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new Error(`http.listen: expected host:port or :port, got "${text}"`);
  const host = (match[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  return { host: host || '127.0.0.1', port };
}
