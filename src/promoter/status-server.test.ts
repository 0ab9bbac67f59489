import { afterEach, describe, expect, it } from 'vitest';
import type { TickReport } from './reconcile.js';
import { execFileSync } from 'node:child_process';
import { liveness, newRunRecord, parseListen, readiness, recordTick, recordTickStart, startStatusServer, type StatusServer } from './status-server.js';

const report: TickReport = {
  at: '2026-11-27T12:00:00.000Z',
  head: 'abc',
  canaries: [
    {
      canary: 'backend',
      file: 'gitops/apps/backend/canary.yaml',
      outcome: 'committed',
      phase: 'progressing',
      canaryWeight: 10,
      action: 'set-weight',
      reason: 'canary(backend): promote 10% -> 50%',
      verdict: {
        decision: 'promote',
        reason: 'fine',
        evidence: {
          windows: 3,
          stepWindows: 3,
          stepSeconds: 180,
          canary: { requests: 1, errors: 0, errorRate: 0, p99Ms: null },
          stable: { requests: 1, errors: 0, errorRate: 0, p99Ms: null },
          metrics: [{ metric: '5xx', canaryEvents: 1, stableEvents: 2, canaryRate: 0, stableRate: 0, logM: -1.5, logThreshold: 3.69, ratioLower: 0.2, ratioUpper: Number.POSITIVE_INFINITY }],
          guards: [],
        },
      },
    },
    { canary: 'frontend', file: 'gitops/apps/frontend/canary.yaml', outcome: 'error', reason: 'invalid', error: 'bad "field"' },
  ],
};

let server: StatusServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('status server', () => {
  it('renders Flagger-like canary gauges, decisions and the sequential statistic, and passes promtool check metrics', async () => {
    const record = newRunRecord();
    recordTick(record, report, 0.25);
    recordTick(record, { ...report, at: '2026-11-27T12:00:30.000Z' }, 0.5);
    const text = await record.metrics.text();
    expect(text).toContain('promoter_ticks_total 2\n');
    expect(text).toContain('promoter_last_tick_duration_seconds 0.5\n');
    expect(text).toContain('promoter_canary_weight{canary="backend"} 10\n');
    expect(text).toContain('promoter_canary_phase{canary="backend",phase="progressing"} 1\n');
    expect(text).toContain('promoter_canary_phase{canary="backend",phase="idle"} 0\n');
    // An invalid policy is counted under its canary's name, never under its file path.
    expect(text).toContain('promoter_canary_error{canary="frontend"} 1\n');
    expect(text).not.toContain('canary.yaml');
    expect(text).toContain('promoter_decisions_total{canary="backend",action="set-weight"} 2\n');
    expect(text).toContain('promoter_sequential_statistic{canary="backend",metric="5xx"} -1.5\n');
    expect(text).toContain('promoter_ratio_upper_bound{canary="backend",metric="5xx"} +Inf\n');
    // Debian's promtool (scripts/setup.sh installs it) lints the exposition as Prometheus would.
    expect(execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })).toBe('');
  });

  it('serves health, readiness, metrics and status over HTTP', async () => {
    const record = newRunRecord();
    server = await startStatusServer(record, { host: '127.0.0.1', port: 0 });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    recordTick(record, report, 0.1);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    recordTick(record, { at: report.at, canaries: [], error: 'git: unreachable' }, 0.1);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain('git: unreachable');
    expect(await (await fetch(`${server.url}/metrics`)).text()).toContain('promoter_tick_errors_total 1\n');
    expect(await (await fetch(`${server.url}/status`)).json()).toMatchObject({ error: 'git: unreachable' });
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  it('parses listen addresses and names the field on a bad one', () => {
    // Issue 11 item 10: the default bound every interface; loopback unless an address is named.
    expect(parseListen(':8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListen('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseListen('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
    expect(parseListen('127.0.0.1:9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(() => parseListen('8080')).toThrow('http.listen: expected host:port or :port, got "8080"');
  });

  // Issue 11 item 1: ticks stopped for 4 minutes while /healthz and /readyz kept answering 200.
  it('/readyz fails when no tick has finished within the stale limit, and recovers with the next tick', async () => {
    let now = 1000;
    const record = newRunRecord(undefined, now);
    record.staleAfterSeconds = 90;
    record.stuckAfterSeconds = 250;
    server = await startStatusServer(record, parseListen(':0'), { now: () => now });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const get = async (path: string) => {
      const response = await fetch(`${server!.url}${path}`);
      return { status: response.status, text: await response.text() };
    };
    expect((await get('/readyz')).status).toBe(503);
    recordTickStart(record, now);
    recordTick(record, { ...report, canaries: [] }, 1, (now += 1));
    expect(await get('/readyz')).toEqual({ status: 200, text: 'ok\n' });
    recordTickStart(record, (now += 30));
    now += 100; // the tick in flight hangs: nothing finished for 130 s
    expect(await get('/readyz')).toEqual({ status: 503, text: 'no tick has finished for 130 s (the limit is 90 s)\n' });
    expect((await get('/healthz')).status).toBe(200);
    now += 200; // one tick in flight for 300 s: past twice the deadline, a restart is what helps
    expect(await get('/healthz')).toEqual({ status: 503, text: 'a tick has been running for 300 s (the limit is 250 s)\n' });
    recordTick(record, { ...report, canaries: [] }, 300, now);
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    expect(readiness(record, now).ready).toBe(true);
    expect(liveness(record, now).alive).toBe(true);
  });

  it('/readyz fails when no tick has finished since the start within the limit', () => {
    const record = newRunRecord(undefined, 0);
    record.staleAfterSeconds = 60;
    expect(readiness(record, 61)).toEqual({ ready: false, reason: 'no tick has finished since the start (the limit is 60 s)' });
  });
});
