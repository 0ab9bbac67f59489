// Fault suite, Kubernetes API: with a canary at ~30 % 5xx in a real Prometheus, the Argo CD API
// hangs, answers garbage, 500, a huge body, or drops the connection. Each tick still finishes and
// the bad canary is rolled back in it: the Argo CD gate never delays a rollback (issue 11 item 1).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createPromoter, type Promoter } from '../../src/promoter/app.js';
import { parsePromoterConfig } from '../../src/promoter/config.js';
import { setImage } from '../../src/promoter/manifest-edits.js';
import { cleanGitEnv } from '../support/git-remote.js';
import { BACKEND_CANARY as CANARY, backendOf as backend, startPromoterFixture, type PromoterFixture } from '../support/promoter-fixture.js';
import { startExporter, type Exporter } from './support/exporter.js';
import { startFaultProxy, type FaultMode, type FaultProxy } from './support/fault-proxy.js';
import { faultCase } from './support/record.js';

let fixture: PromoterFixture;
let dir: string;
let remoteDir: string;
let proxy: FaultProxy;
let exporter: Exporter;
let promoter: Promoter;
let kubeConfigYaml: string;
const servers: Server[] = [];

const git = (...args: string[]) => fixture.git(...args);
const head = () => fixture.head();
const show = (path: string) => fixture.show(path);
const syncHead = () => fixture.syncTo();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function landCanary(image: string): Promise<void> {
  const edited = setImage(show(CANARY), CANARY, { deployment: 'backend-canary', container: 'backend' }, image);
  await fixture.commit({ [CANARY]: edited }, `CI lands ${image}`);
}

/** Waits (bounded) until Prometheus holds `count` samples of the exporter's series: the first case
 * must not start its canary before there is any history, or its windows are empty, not bad. */
async function waitForScrapes(url: string, count: number): Promise<void> {
  const query = encodeURIComponent('min(count_over_time(istio_requests_total[1m]))');
  for (let attempt = 0; attempt < 60; attempt += 1) {
    const body = (await (await fetch(`${url}/api/v1/query?query=${query}`)).json()) as { data?: { result?: { value?: [number, string] }[] } };
    if (Number(body.data?.result?.[0]?.value?.[1] ?? 0) >= count) return;
    await sleep(500);
  }
  throw new Error(`Prometheus at ${url} did not scrape the exporter ${count} times within 30 s`);
}

beforeAll(async () => {
  // The canary answers ~29 % 5xx, stable 0.1 %: the critical fast path rolls it back.
  exporter = await startExporter([
    { service: 'backend', namespace: 'docuthinker-prod', stable: (n) => 1000 * n, stableErrors: (n) => n, canary: (n) => 100 * n, canaryErrors: (n) => 40 * n },
  ]);
  fixture = await startPromoterFixture({
    name: 'faults-kubernetes',
    targets: [exporter.target],
    prometheusTimeout: '3s',
    config: { argocd: { timeout: '1s' }, tickDeadline: '20s' },
    // The promoter reaches Argo CD through the fault proxy.
    kubeConfigYaml: async (argo) => {
      const argoUrl = /server: (\S+)/.exec(argo.kubeConfigYaml())?.[1] ?? '';
      proxy = await startFaultProxy(argoUrl);
      return argo.kubeConfigYaml().replace(argoUrl, proxy.url);
    },
    beforePromoter: (f) => waitForScrapes(f.prometheus.url, 3),
  });
  ({ dir, remoteDir, promoter, kubeConfigYaml } = fixture);
}, 60_000);

afterAll(async () => {
  await fixture?.close();
  await exporter?.close();
  await proxy?.close();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

describe('fault suite: Kubernetes API', () => {
  const modes: FaultMode[] = ['hang', 'garbage', 'http-500', 'huge', 'disconnect'];
  it.each(modes.map((mode, i) => [mode, i] as const))('the Argo CD API %s: the bad canary is still rolled back in the tick', async (mode, i) => {
    await faultCase({ class: 'kubernetes', case: `Argo CD API ${mode}` }, async (observed) => {
      proxy.mode = 'pass';
      await landCanary(`ghcr.io/docuthinker/backend:9.0.${i}-bad`);
      syncHead();
      const started = await promoter.tick();
      expect(backend(started.canaries)).toMatchObject({ outcome: 'committed', action: 'start' });
      syncHead();
      await sleep(4000);
      proxy.mode = mode;
      const report = await promoter.tick();
      const outcome = backend(report.canaries);
      if (outcome?.action !== 'rollback') observed.dataLost += 1; // a rollback that should be in Git is not
      expect(outcome).toMatchObject({ outcome: 'committed', action: 'rollback' });
      expect(outcome?.verdict?.cause).toBe('critical');
      expect(git('log', '-1', '--format=%s', 'main')).toMatch(/^canary\(backend\): roll back/);
      expect(proxy.seen.get(mode) ?? 0).toBeGreaterThan(0);
      // And once the API answers again, the next tick is an ordinary one.
      proxy.mode = 'pass';
      syncHead();
      const after = await promoter.tick();
      expect(after.error).toBeUndefined();
      expect(backend(after.canaries)?.outcome).toBe('held');
    });
  }, 60_000);

  it('the tick has a deadline: Prometheus and Argo CD both hanging, the tick still ends and writes nothing', async () => {
    await faultCase({ class: 'kubernetes', case: 'tick deadline with every dependency hanging' }, async (observed) => {
      proxy.mode = 'pass';
      await landCanary('ghcr.io/docuthinker/backend:9.1.0-bad');
      syncHead();
      expect(backend((await promoter.tick()).canaries)).toMatchObject({ outcome: 'committed', action: 'start' });
      syncHead();
      const hanging = createServer((req) => req.resume());
      servers.push(hanging);
      await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
      const config = parsePromoterConfig(
        {
          git: { url: remoteDir, workdir: join(dir, 'clone-deadline') },
          prometheus: { url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`, timeout: '10m', settle: '1s' },
          argocd: { timeout: '10m' },
          tickDeadline: '2s',
        },
        'deadline config',
      );
      const stuck = await createPromoter(config, silentLogger(), { kubeConfigYaml, env: cleanGitEnv(dir) });
      proxy.mode = 'hang';
      const before = head();
      const report = await stuck.tick();
      const outcome = backend(report.canaries);
      if (outcome?.action === 'rollback' || outcome?.action === 'set-weight') observed.wrongPromotions += 1;
      expect(outcome).toMatchObject({ outcome: 'held' });
      expect(outcome?.reason).toMatch(/deadline/);
      expect(head()).toBe(before);
      proxy.mode = 'pass';
    });
  }, 60_000);
});
