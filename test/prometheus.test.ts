// Integration: the mesh simulator follows a real bare Git repo, a real Prometheus scrapes it, and
// fetchWindows must give back exactly the simulator's own counts, shifts with the weights, and resets.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrometheusClient, type PrometheusClient } from '../src/analysis/prometheus.js';
import type { CanaryTarget } from '../src/analysis/istio-queries.js';
import { fetchWindows } from '../src/analysis/windows.js';
import type { Window } from '../src/analysis/types.js';
import { canaryPolicySchema, type CanaryPolicy } from '../src/promoter/policy.js';
import { startMeshSimulator, type MeshSimulator } from './support/mesh-simulator.js';
import { startPrometheus, type PrometheusProcess } from './support/prometheus.js';

const run = promisify(execFile);

const VS_FILE = 'mesh/backend-vs.yaml';
const STABLE_FILE = 'apps/backend/deployment-stable.yaml';
const CANARY_FILE = 'apps/backend/deployment-canary.yaml';

function virtualService(stable: number, canary: number): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: backend
  namespace: docuthinker-prod
spec:
  hosts: [backend]
  http:
    - name: canary-by-header
      match:
        - headers:
            x-canary: { exact: "1" }
      route:
        - destination: { host: backend, subset: canary }
    - name: primary
      route:
        - destination: { host: backend, subset: stable }
          weight: ${stable}
        - destination: { host: backend, subset: canary }
          weight: ${canary}
`;
}

function deployment(arm: string, image: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: backend-${arm}
spec:
  selector:
    matchLabels: { app: backend, version: ${arm} }
  template:
    metadata:
      labels: { app: backend, version: ${arm} }
    spec:
      containers:
        - name: sidecar-helper
          image: busybox:1.36
        - name: backend
          image: ${image}
`;
}

const policy: CanaryPolicy = canaryPolicySchema.parse({
  apiVersion: 'delivery.docuthinker.io/v1alpha1',
  kind: 'CanaryPolicy',
  metadata: { name: 'backend' },
  spec: {
    service: 'backend',
    namespace: 'docuthinker-prod',
    virtualService: { file: VS_FILE, name: 'backend', route: 'primary' },
    deployments: { stable: { file: STABLE_FILE, container: 'backend' }, canary: { file: CANARY_FILE, container: 'backend' } },
    argocd: { application: 'docuthinker-mesh' },
  },
});

const target: CanaryTarget = { name: 'backend', service: 'backend', namespace: 'docuthinker-prod', selector: policy.spec.analysis.prometheus };

/** A bare remote and a working clone, driven by the real git CLI with no system or user config. */
class Fixture {
  constructor(
    readonly dir: string,
    readonly remoteDir: string,
    private readonly work: string,
  ) {}

  static async create(): Promise<Fixture> {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-fixture-'));
    const fixture = new Fixture(dir, join(dir, 'remote.git'), join(dir, 'work'));
    await fixture.git(dir, ['init', '-q', '--bare', '--initial-branch=main', fixture.remoteDir]);
    await fixture.git(dir, ['init', '-q', '--initial-branch=main', fixture.work]);
    return fixture;
  }

  private async git(cwd: string, args: string[]): Promise<string> {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.dir, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
    const { stdout } = await run('git', args, { cwd, env });
    return stdout.trim();
  }

  /** One commit with these files, pushed to main; returns its sha. */
  async commit(files: Record<string, string>, message: string): Promise<string> {
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(this.work, path)), { recursive: true });
      await writeFile(join(this.work, path), text);
    }
    await this.git(this.work, ['add', '--', ...Object.keys(files)]);
    await this.git(this.work, ['-c', 'user.name=Test', '-c', 'user.email=test@example.test', 'commit', '-q', '-m', message]);
    await this.git(this.work, ['push', '-q', this.remoteDir, 'HEAD:refs/heads/main']);
    return this.git(this.work, ['rev-parse', 'HEAD']);
  }

  remove(): Promise<void> {
    return rm(this.dir, { recursive: true, force: true });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(100);
  }
}

/** Sum of istio_requests_total as the simulator serves it right now. */
async function servedTotal(mesh: MeshSimulator): Promise<number> {
  const text = await (await fetch(`http://${mesh.target}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('istio_requests_total{'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Stops traffic and waits until Prometheus holds the final counters, then one more grid second. */
async function quiesce(mesh: MeshSimulator, client: PrometheusClient): Promise<void> {
  mesh.setRequestsPerSecond(0);
  const served = await servedTotal(mesh);
  await waitFor('Prometheus to scrape the final counters', async () => {
    const [sample] = await client.instant('sum(istio_requests_total)');
    return sample?.value === served;
  });
  // the last grid point (start + whole seconds) must fall after that scrape
  await delay(1_100);
}

function sum(windows: Window[], pick: (w: Window) => number): number {
  return windows.reduce((total, w) => total + pick(w), 0);
}

function expectIntegerCounts(windows: Window[]): void {
  for (const w of windows) {
    for (const arm of [w.stable, w.canary]) {
      const values = [arm.requests, arm.errors, arm.latency?.count ?? 0, ...(arm.latency?.le ?? [])];
      for (const v of values) expect(Number.isInteger(v) && v >= 0, `window t=${w.t}: ${JSON.stringify(arm)}`).toBe(true);
      expect(arm.errors).toBeLessThanOrEqual(arm.requests);
    }
  }
}

describe('fetchWindows against a real Prometheus scraping the mesh simulator', () => {
  let fixture: Fixture;
  let mesh: MeshSimulator;
  let prometheus: PrometheusProcess;
  let client: PrometheusClient;
  let start: number;
  const synced: [string, string, string | undefined][] = [];
  const range = (): { start: number; end: number; intervalSeconds: number; latencyBucketsMs: number[] } => ({
    start,
    end: Date.now() / 1000,
    intervalSeconds: 1,
    latencyBucketsMs: [25, 50, 100],
  });

  beforeAll(async () => {
    fixture = await Fixture.create();
    await fixture.commit(
      { [VS_FILE]: virtualService(90, 10), [STABLE_FILE]: deployment('stable', 'ghcr.io/docuthinker/backend:1.4.0'), [CANARY_FILE]: deployment('canary', 'ghcr.io/docuthinker/backend:1.5.0') },
      'seed',
    );
    // Before the first scrape: every series is born inside the analysed range.
    start = Math.floor(Date.now() / 1000);
    mesh = await startMeshSimulator({
      remoteDir: fixture.remoteDir,
      policies: [policy],
      requestsPerSecond: 400,
      behaviour: (_service, image) => ({ errorRate: image.endsWith('1.5.0') ? 0.05 : 0.01, latencyMedianMs: 40, latencySigma: 0.6 }),
      argo: { reportSynced: (name, revision, health) => synced.push([name, revision, health]) },
      syncDelayMs: 200,
      tickMs: 50,
      pollMs: 100,
      seed: 7,
    });
    prometheus = await startPrometheus({ targets: [mesh.target], scrapeIntervalSeconds: 1 });
    client = createPrometheusClient({ baseUrl: prometheus.url, timeoutMs: 5_000 });
  });

  afterAll(async () => {
    await prometheus?.stop();
    await mesh?.close();
    await fixture?.remove();
  });

  it('returns integer windows whose sums are exactly the simulator totals', async () => {
    await delay(3_000);
    await quiesce(mesh, client);
    const windows = (await fetchWindows(client, [target], range())).get('backend')!;
    const totals = mesh.totals().backend!;
    expect(windows.length).toBeGreaterThanOrEqual(4);
    expectIntegerCounts(windows);
    expect(sum(windows, (w) => w.stable.requests)).toBe(totals.stable.requests);
    expect(sum(windows, (w) => w.stable.errors)).toBe(totals.stable.errors);
    expect(sum(windows, (w) => w.canary.requests)).toBe(totals.canary.requests);
    expect(sum(windows, (w) => w.canary.errors)).toBe(totals.canary.errors);
    // the +Inf bucket counts every request; cumulative edges never exceed it
    expect(sum(windows, (w) => w.stable.latency!.count)).toBe(totals.stable.requests);
    for (const w of windows) {
      const le = w.stable.latency!.le;
      expect(le[0]! <= le[1]! && le[1]! <= le[2]! && le[2]! <= w.stable.latency!.count).toBe(true);
    }
    const share = totals.canary.requests / (totals.canary.requests + totals.stable.requests);
    expect(share).toBeGreaterThan(0.05);
    expect(share).toBeLessThan(0.16);
  });

  it('shifts the canary share when a weight change is committed, and reports the sync to Argo CD', async () => {
    const sha = await fixture.commit({ [VS_FILE]: virtualService(50, 50) }, 'backend: canary 50%');
    mesh.setRequestsPerSecond(400);
    await waitFor('the simulator to apply the weight change', () => mesh.applied().sha === sha);
    const appliedAt = Date.now() / 1000;
    expect(mesh.applied().services.backend).toMatchObject({ stableWeight: 50, canaryWeight: 50 });
    expect(synced).toContainEqual(['docuthinker-mesh', sha, 'Healthy']);
    // Enough traffic after the change (the first second or two are not counted below), counted rather
    // than timed: on a loaded machine 3 s of the
    // simulator at 400 rps once left only 330 requests to count.
    const servedAt = (): number => mesh.totals().backend!.canary.requests + mesh.totals().backend!.stable.requests;
    const before = servedAt();
    await delay(2_000);
    await waitFor('2000 requests after the weight change', () => servedAt() - before >= 2000, 30_000);
    await quiesce(mesh, client);
    const windows = (await fetchWindows(client, [target], range())).get('backend')!;
    const totals = mesh.totals().backend!;
    expectIntegerCounts(windows);
    expect(sum(windows, (w) => w.canary.requests)).toBe(totals.canary.requests);
    expect(sum(windows, (w) => w.stable.requests)).toBe(totals.stable.requests);
    const after = windows.filter((w) => start + w.t >= Math.ceil(appliedAt) + 1);
    const canary = sum(after, (w) => w.canary.requests);
    const stable = sum(after, (w) => w.stable.requests);
    expect(canary + stable).toBeGreaterThan(500);
    expect(canary / (canary + stable)).toBeGreaterThan(0.4);
    expect(canary / (canary + stable)).toBeLessThan(0.6);
  });

  it('counts a canary image change (counters restart at zero) without negative windows', async () => {
    const before = mesh.totals().backend!.canary.requests;
    const sha = await fixture.commit({ [CANARY_FILE]: deployment('canary', 'ghcr.io/docuthinker/backend:1.5.1') }, 'backend: canary 1.5.1');
    mesh.setRequestsPerSecond(400);
    await waitFor('the simulator to apply the new canary image', () => mesh.applied().sha === sha);
    await delay(2_500);
    await quiesce(mesh, client);
    const [resets] = await client.instant(
      'sum(resets(istio_requests_total{destination_canonical_revision="canary", response_code="200"}[1m]))',
    );
    expect(resets?.value).toBeGreaterThanOrEqual(1);
    const windows = (await fetchWindows(client, [target], range())).get('backend')!;
    const totals = mesh.totals().backend!;
    expectIntegerCounts(windows);
    const counted = sum(windows, (w) => w.canary.requests);
    // Increments between the last scrape and the restart are lost with the old pods, never invented.
    expect(counted).toBeLessThanOrEqual(totals.canary.requests);
    expect(counted).toBeGreaterThan(before);
    expect(totals.canary.requests - counted).toBeLessThan(400);
    expect(sum(windows, (w) => w.stable.requests)).toBe(totals.stable.requests);
  });

  it('keeps its data across a restart (a monitoring outage), so the same range gives the same windows', async () => {
    const fixed = { ...range(), end: Math.floor(Date.now() / 1000) };
    const before = await fetchWindows(client, [target], fixed);
    await prometheus.restart();
    expect(await client.ready()).toBe(true);
    const after = await fetchWindows(client, [target], fixed);
    expect(after.get('backend')).toEqual(before.get('backend'));
  });
});

describe('mesh simulator following Git', () => {
  let fixture: Fixture;
  let mesh: MeshSimulator;
  const synced: string[] = [];

  beforeAll(async () => {
    fixture = await Fixture.create();
  });

  afterAll(async () => {
    await mesh?.close();
    await fixture?.remove();
  });

  it('keeps the previous state and reports no sync when HEAD has malformed YAML', async () => {
    const good = await fixture.commit(
      { [VS_FILE]: virtualService(100, 0), [STABLE_FILE]: deployment('stable', 'backend:1'), [CANARY_FILE]: deployment('canary', 'backend:1') },
      'seed',
    );
    mesh = await startMeshSimulator({
      remoteDir: fixture.remoteDir,
      policies: [policy],
      requestsPerSecond: 100,
      behaviour: () => ({ errorRate: 0, latencyMedianMs: 10 }),
      argo: { reportSynced: (_name, revision) => synced.push(revision) },
      syncDelayMs: 50,
      pollMs: 50,
    });
    expect(mesh.applied()).toEqual({ sha: good, services: { backend: { stableWeight: 100, canaryWeight: 0, stableImage: 'backend:1', canaryImage: 'backend:1' } } });
    expect(synced).toEqual([good]);

    const broken = await fixture.commit({ [VS_FILE]: `${virtualService(80, 20)}  - : [unbalanced\n` }, 'a broken hand edit');
    await delay(600);
    expect(mesh.applied().sha).toBe(good);
    expect(mesh.applied().services.backend?.canaryWeight).toBe(0);
    expect(synced).not.toContain(broken);

    const fixed = await fixture.commit({ [VS_FILE]: virtualService(80, 20) }, 'fix the edit');
    await waitFor('the fixed commit to apply', () => mesh.applied().sha === fixed);
    expect(mesh.applied().services.backend).toMatchObject({ stableWeight: 80, canaryWeight: 20 });
    expect(synced).toEqual([good, fixed]);
  });

  it('lets each Argo CD Application apply its own files: a broken Deployment leaves the route change applied', async () => {
    const split = canaryPolicySchema.parse({ ...policy, spec: { ...policy.spec, argocd: { application: 'docuthinker-mesh', workloadsApplication: 'docuthinker-apps' } } });
    const own = await Fixture.create();
    const reports: [string, string][] = [];
    const seeded = await own.commit(
      { [VS_FILE]: virtualService(100, 0), [STABLE_FILE]: deployment('stable', 'backend:1'), [CANARY_FILE]: deployment('canary', 'backend:1') },
      'seed',
    );
    const sim = await startMeshSimulator({
      remoteDir: own.remoteDir,
      policies: [split],
      requestsPerSecond: 0,
      behaviour: () => ({ errorRate: 0, latencyMedianMs: 10 }),
      argo: { reportSynced: (name, revision) => reports.push([name, revision]) },
      syncDelayMs: 50,
      pollMs: 50,
    });
    try {
      expect(reports).toEqual([
        ['docuthinker-mesh', seeded],
        ['docuthinker-apps', seeded],
      ]);
      const next = await own.commit({ [VS_FILE]: virtualService(95, 5), [CANARY_FILE]: 'kind: Deployment\n  spec: [' }, 'route and a broken Deployment');
      await waitFor('the mesh Application to apply the route', () => reports.some(([name, sha]) => name === 'docuthinker-mesh' && sha === next));
      expect(reports).not.toContainEqual(['docuthinker-apps', next]);
      expect(sim.applied().services.backend).toMatchObject({ stableWeight: 95, canaryWeight: 5, canaryImage: 'backend:1' });
      expect(sim.applied().sha).toBe(seeded);
    } finally {
      await sim.close();
      await own.remove();
    }
  });

  it('sends no requests to a canary at weight 0', async () => {
    await fixture.commit({ [VS_FILE]: virtualService(100, 0) }, 'back to stable');
    await waitFor('stable-only routing', () => mesh.applied().services.backend?.canaryWeight === 0);
    const canaryBefore = mesh.totals().backend!.canary.requests;
    await delay(300);
    expect(mesh.totals().backend!.canary.requests).toBe(canaryBefore);
  });
});
