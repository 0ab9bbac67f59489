// Fault suite, metrics: a real Prometheus scraping a loopback exporter whose canary series is
// NaN, +Inf, missing, reset or silent; a Prometheus killed mid-analysis; a hanging, a huge and an
// empty answer. Each case asserts what the promoter decides: missing monitoring holds, never rolls back.
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanaryTarget } from '../../src/analysis/istio-queries.js';
import { judge } from '../../src/analysis/judge.js';
import { createPrometheusClient, PrometheusUnreachableError } from '../../src/analysis/prometheus.js';
import { analysisSchema, prometheusSelectorSchema, type StepSpec } from '../../src/analysis/settings.js';
import type { Verdict, Window } from '../../src/analysis/types.js';
import { fetchWindows } from '../../src/analysis/windows.js';
import { plan, type Analysis } from '../../src/promoter/plan.js';
import { parseCanaryPolicy } from '../../src/promoter/policy.js';
import { backendState } from '../support/canary-state.js';
import { startPrometheus, type PrometheusProcess } from '../support/prometheus.js';
import { startExporter, type Exporter, type ExportedService } from './support/exporter.js';
import { faultCase } from './support/record.js';

const settings = analysisSchema.parse({ interval: 1, noTrafficTimeout: 3, minCanaryRequests: 1_000_000_000 });
const steps: StepSpec[] = [5, 10, 50, 100].map((weight) => ({ weight, minDwell: 1000, maxDwell: 100_000 }));
const policy = parseCanaryPolicy(readFileSync(new URL('../../gitops/apps/backend/canary.yaml', import.meta.url), 'utf8'), 'gitops/apps/backend/canary.yaml');
const progressing = backendState();
/** What the promoter would do with this analysis, Argo CD having applied the step. */
const decide = (analysis: Analysis) => plan({ state: progressing, policy, gate: { ready: true }, analysis });

const stable = (n: number) => 100 * n;
const services: ExportedService[] = [
  { service: 'healthy', stable, canary: (n) => 5 * n },
  { service: 'nan', stable, canary: () => Number.NaN },
  { service: 'inf', stable, canary: () => Number.POSITIVE_INFINITY },
  { service: 'missing', stable, canary: () => undefined },
  { service: 'turns-nan', stable, canary: (n) => (n < 3 ? 5 * n : Number.NaN) },
  { service: 'vanishes', stable, canary: (n) => (n < 3 ? 5 * n : undefined) },
  { service: 'reset', stable, canary: (n) => (n < 4 ? 5 * n : 5 * (n - 4)) },
  // The control: a canary series that is there and flat is real silence, and is rolled back.
  { service: 'silent', stable, canary: () => 7 },
];

let exporter: Exporter;
let prometheus: PrometheusProcess;
let start: number;
const servers: Server[] = [];

function target(service: string): CanaryTarget {
  return { name: service, service, namespace: 'faults', selector: prometheusSelectorSchema.parse({}) };
}

async function windowsNow(url = prometheus.url): Promise<Map<string, Window[]>> {
  const client = createPrometheusClient({ baseUrl: url, timeoutMs: 2000 });
  const end = Date.now() / 1000;
  return fetchWindows(client, services.map((s) => target(s.service)), { start, end, intervalSeconds: 1, latencyBucketsMs: [], settleSeconds: 1 });
}

function verdictFor(windows: Window[]): Verdict {
  return judge({ windows: windows.map((w) => ({ ...w, canaryWeight: 5 })), settings, steps, latencyBucketsMs: [], currentWeight: 5 });
}

async function serve(handler: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  exporter = await startExporter(services);
  prometheus = await startPrometheus({ targets: [exporter.target], scrapeIntervalSeconds: 1 });
  // Bounded wait for the first scrape, then let 7 more windows of data accumulate.
  for (let i = 0; i < 100 && exporter.scrapes() === 0; i++) await new Promise((r) => setTimeout(r, 100));
  start = Math.ceil(Date.now() / 1000);
  await new Promise((r) => setTimeout(r, 8000));
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await exporter?.close();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

describe('fault suite: metrics', () => {
  // Issue 11 item 3: NaN, Inf or a missing canary series was counted as "no traffic" and rolled back.
  it.each(['nan', 'inf', 'missing', 'turns-nan', 'vanishes'])('a canary series that is %s is no data: hold, never roll back', async (service) => {
    await faultCase({ class: 'metrics', case: `canary series ${service}` }, async (observed) => {
      const windows = (await windowsNow()).get(service) ?? [];
      expect(windows.length).toBeGreaterThanOrEqual(4);
      expect(windows.at(-1)?.canary.noData).toBe(true);
      const verdict = verdictFor(windows);
      const action = decide({ verdict });
      if (action.kind === 'rollback') observed.monitoringRollbacks += 1;
      if (action.kind === 'set-weight' || action.kind === 'finalize-image') observed.wrongPromotions += 1;
      expect(verdict.decision).toBe('hold');
      expect(verdict.reason).toMatch(/^No data/);
      expect(action.kind).toBe('hold');
    });
  });

  it('a canary whose series is there and flat is real silence and is rolled back (the control)', async () => {
    await faultCase({ class: 'metrics', case: 'silent canary (control)' }, async () => {
      const verdict = verdictFor((await windowsNow()).get('silent') ?? []);
      expect(verdict).toMatchObject({ decision: 'rollback', cause: 'no-traffic' });
    });
  });

  it('a counter reset counts from zero again: no negative window, no rollback', async () => {
    await faultCase({ class: 'metrics', case: 'counter reset' }, async (observed) => {
      const windows = (await windowsNow()).get('reset') ?? [];
      expect(windows.every((w) => w.canary.requests >= 0 && !w.canary.noData)).toBe(true);
      const action = decide({ verdict: verdictFor(windows) });
      if (action.kind === 'rollback') observed.monitoringRollbacks += 1;
      expect(action.kind).toBe('hold');
    });
  });

  it('the healthy canary is observed in every window', async () => {
    const windows = (await windowsNow()).get('healthy') ?? [];
    expect(windows.every((w) => w.canary.noData !== true && w.canary.requests > 0)).toBe(true);
  });

  it('Prometheus killed mid-analysis and restarted: the tick holds, then the same history comes back', async () => {
    await faultCase({ class: 'metrics', case: 'Prometheus killed and restarted' }, async (observed) => {
      const before = (await windowsNow()).get('healthy') ?? [];
      await prometheus.suspend();
      let analysis: Analysis;
      try {
        analysis = { verdict: verdictFor((await windowsNow()).get('healthy') ?? []) };
      } catch (error) {
        expect(error).toBeInstanceOf(PrometheusUnreachableError);
        analysis = { unavailable: (error as Error).message };
      }
      const action = decide(analysis);
      if (action.kind === 'rollback') observed.monitoringRollbacks += 1;
      expect(action).toMatchObject({ kind: 'hold' });
      await prometheus.resume();
      const after = (await windowsNow()).get('healthy') ?? [];
      // The windows judged before the outage are still there, with the same counts.
      const lost = before.filter((w, i) => after[i]?.canary.requests !== w.canary.requests).length;
      observed.dataLost += lost;
      expect(lost).toBe(0);
    });
  }, 60_000);

  it.each([
    ['hanging past the timeout', () => undefined],
    ['answering a huge body', (res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"status":"success","data":{"resultType":"matrix","result":[${'{"metric":{},"values":[]},'.repeat(200_000)}{}]}}`);
    }],
    ['answering an empty result', (res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"success","data":{"resultType":"matrix","result":[]}}');
    }],
    ['answering garbage', (res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"succ');
    }],
  ])('Prometheus %s: the canary holds', async (name, handler) => {
    await faultCase({ class: 'metrics', case: `Prometheus ${name}` }, async (observed) => {
      const url = await serve(handler);
      const client = createPrometheusClient({ baseUrl: url, timeoutMs: 500, maxResponseBytes: 1024 * 1024 });
      let analysis: Analysis;
      try {
        const windows = await fetchWindows(client, [target('healthy')], { start, end: Date.now() / 1000, intervalSeconds: 1, latencyBucketsMs: [], settleSeconds: 1 });
        analysis = { verdict: verdictFor(windows.get('healthy') ?? []) };
      } catch (error) {
        expect(error).toBeInstanceOf(PrometheusUnreachableError);
        analysis = { unavailable: (error as Error).message };
      }
      const action = decide(analysis);
      if (action.kind === 'rollback') observed.monitoringRollbacks += 1;
      if (action.kind !== 'hold') observed.wrongPromotions += action.kind === 'rollback' ? 0 : 1;
      expect(action.kind).toBe('hold');
    });
  });
});
