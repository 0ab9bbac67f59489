// One canary in two clusters, with real pieces: a bare Git remote, real Prometheus, one mesh
// simulator per cluster, the loopback Argo CD with one mesh and one workloads Application per
// cluster (as the ApplicationSets in argocd/multi-cluster generate them), and the promoter from the
// real composition root. Metrics come from a cluster label on one Prometheus, or from one Prometheus
// per cluster.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { silentLogger } from '../src/logger.js';
import { createPromoter, type Promoter } from '../src/promoter/app.js';
import { parsePromoterConfig } from '../src/promoter/config.js';
import { setImage } from '../src/promoter/manifest-edits.js';
import { parseCanaryPolicy, type CanaryPolicy } from '../src/promoter/policy.js';
import type { CanaryReport } from '../src/promoter/reconcile.js';
import { readCanaryState, type CanaryState } from '../src/promoter/state.js';
import { repoRoot } from '../src/schemas/registry.js';
import { fastPolicyText } from './support/environment.js';
import { startFakeArgoCd, type FakeArgoCd } from './support/fake-argocd.js';
import { cleanGitEnv, commitToRemote, createSeededRemote } from './support/git-remote.js';
import { startMeshSimulator, type ArmBehaviour, type MeshSimulator } from './support/mesh-simulator.js';
import { startPrometheus, type PrometheusProcess } from './support/prometheus.js';

const POLICY = 'gitops/apps/backend/canary.yaml';
const CLUSTERS = ['east', 'west'] as const;
type Cluster = (typeof CLUSTERS)[number];
const appsOf = (cluster: Cluster) => [`docuthinker-mesh-${cluster}`, `docuthinker-apps-${cluster}`];
const GOOD = 'ghcr.io/docuthinker/backend:2.0.0';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const run = promisify(execFile);

const healthy: ArmBehaviour = { errorRate: 0.001, latencyMedianMs: 40, latencySigma: 0.5 };
const broken: ArmBehaviour = { errorRate: 0.2, latencyMedianMs: 40, latencySigma: 0.5 };

/** The backend policy of this repository, fast, and spread over two clusters. */
function multiClusterPolicy(text: string): string {
  const doc = parseDocument(fastPolicyText(text, 1, 3));
  doc.setIn(
    ['spec', 'argocd'],
    doc.createNode({
      namespace: 'argocd',
      clusters: CLUSTERS.map((name) => ({ name, application: `docuthinker-mesh-${name}`, workloadsApplication: `docuthinker-apps-${name}` })),
    }),
  );
  return doc.toString();
}

interface Fleet {
  dir: string;
  remoteDir: string;
  policy: CanaryPolicy;
  argo: FakeArgoCd;
  meshes: Record<Cluster, MeshSimulator>;
  prometheus: PrometheusProcess[];
  promoter: Promoter;
  /** while set for a cluster, its Applications keep reporting the revision they had (Argo CD lags). */
  lagging: Set<Cluster>;
  /** the newest revision a lagging cluster's simulator applied but Argo CD did not report yet. */
  deferred: Map<Cluster, string>;
  git(...args: string[]): string;
  /** git without blocking this process, which serves both meshes' /metrics and the loopback Argo CD. */
  gitAsync(...args: string[]): Promise<string>;
  state(): Promise<CanaryState>;
  landImage(image: string): Promise<string>;
  tick(): Promise<CanaryReport | undefined>;
  close(): Promise<void>;
}

/**
 * mode 'label': one Prometheus scrapes both clusters' meshes, whose series carry cluster="<name>";
 * mode 'endpoint': one Prometheus per cluster, no cluster label, and prometheus.clusters in the config.
 */
async function startFleet(mode: 'label' | 'endpoint', behaviour: Record<Cluster, (image: string) => ArmBehaviour>): Promise<Fleet> {
  const dir = await mkdtemp(join(tmpdir(), 'multi-cluster-'));
  const closers: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const { remoteDir } = await createSeededRemote({ dir, seedFrom: ['gitops'], sourceRoot: repoRoot() });
    const git = (...args: string[]) => execFileSync('git', [`--git-dir=${remoteDir}`, ...args], { env: cleanGitEnv(dir), encoding: 'utf8' });
    const gitAsync = async (...args: string[]) => (await run('git', [`--git-dir=${remoteDir}`, ...args], { env: cleanGitEnv(dir), encoding: 'utf8' })).stdout;
    const policyText = multiClusterPolicy(git('show', `main:${POLICY}`));
    await commitToRemote(remoteDir, { [POLICY]: policyText }, 'backend: run the canary in clusters east and west, fast');
    const policy = parseCanaryPolicy(policyText, POLICY);
    const argo = await startFakeArgoCd({
      applications: CLUSTERS.flatMap((c) => [
        { name: `docuthinker-mesh-${c}`, repoURL: remoteDir, path: 'gitops/istio' },
        { name: `docuthinker-apps-${c}`, repoURL: remoteDir, path: 'gitops/apps/overlays/prod' },
      ]),
    });
    closers.push(() => argo.close());
    const lagging = new Set<Cluster>();
    const deferred = new Map<Cluster, string>();
    const meshes = {} as Record<Cluster, MeshSimulator>;
    for (const cluster of CLUSTERS) {
      const reporter = {
        reportSynced: (name: string, revision: string, health?: Parameters<FakeArgoCd['reportSynced']>[2]) => {
          if (lagging.has(cluster)) deferred.set(cluster, revision);
          else argo.reportSynced(name, revision, health);
        },
      };
      meshes[cluster] = await startMeshSimulator({
        remoteDir,
        policies: [policy],
        requestsPerSecond: 5000,
        behaviour: (_service, image) => behaviour[cluster](image),
        argo: reporter,
        cluster,
        ...(mode === 'label' ? { extraLabels: { cluster } } : {}),
        seed: cluster === 'east' ? 7 : 11,
      });
      closers.push(() => meshes[cluster].close());
    }
    const prometheus: PrometheusProcess[] = [];
    if (mode === 'label') {
      prometheus.push(await startPrometheus({ targets: CLUSTERS.map((c) => meshes[c].target), scrapeIntervalSeconds: 1 }));
    } else {
      for (const c of CLUSTERS) prometheus.push(await startPrometheus({ targets: [meshes[c].target], scrapeIntervalSeconds: 1 }));
    }
    for (const p of prometheus) closers.push(() => p.stop());
    const config = parsePromoterConfig(
      {
        git: { url: remoteDir, workdir: join(dir, 'clone') },
        prometheus: {
          url: prometheus[0]!.url,
          timeout: '5s',
          settle: '1s',
          ...(mode === 'endpoint' ? { clusters: Object.fromEntries(CLUSTERS.map((c, i) => [c, { url: prometheus[i]!.url }])) } : {}),
        },
        policies: [POLICY],
      },
      'multi-cluster test config',
    );
    const promoter = await createPromoter(config, silentLogger(), { kubeConfigYaml: argo.kubeConfigYaml(), env: cleanGitEnv(dir) });
    const read = (path: string) => git('show', `main:${path}`);
    return {
      dir,
      remoteDir,
      policy,
      argo,
      meshes,
      prometheus,
      promoter,
      lagging,
      deferred,
      git,
      gitAsync,
      state: async () => {
        const [virtualService, stableDeployment, canaryDeployment] = await Promise.all(
          [policy.spec.virtualService.file, policy.spec.deployments.stable.file, policy.spec.deployments.canary.file].map((path) => gitAsync('show', `main:${path}`)),
        );
        return readCanaryState(policy, { virtualService: virtualService ?? '', stableDeployment: stableDeployment ?? '', canaryDeployment: canaryDeployment ?? '' });
      },
      landImage: (image) => {
        const file = policy.spec.deployments.canary.file;
        const edited = setImage(read(file), file, { deployment: 'backend-canary', container: policy.spec.deployments.canary.container }, image);
        return commitToRemote(remoteDir, { [file]: edited }, `backend: canary ${image}`);
      },
      tick: async () => (await promoter.tick()).canaries.find((c) => c.canary === 'backend'),
      close: async () => {
        for (const close of closers.reverse()) await close().catch(() => undefined);
      },
    };
  } catch (error) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw error;
  }
}

/** Ticks once a second until `done`, at most `maxTicks` times; returns every report. */
async function tickUntil(fleet: Fleet, done: (s: CanaryState) => boolean, maxTicks: number): Promise<(CanaryReport | undefined)[]> {
  const reports: (CanaryReport | undefined)[] = [];
  for (let i = 0; i < maxTicks; i++) {
    reports.push(await fleet.tick());
    if (done(await fleet.state())) return reports;
    await sleep(1000);
  }
  throw new Error(`not reached after ${maxTicks} ticks; last: ${JSON.stringify(reports.at(-1)?.reason)}`);
}

/** The newest commit's subject, body and trailers. */
async function lastCommit(fleet: Fleet): Promise<{ subject: string; body: string; trailers: string }> {
  const [subject, body, trailers] = await Promise.all(['%s', '%B', '%(trailers)'].map((format) => fleet.gitAsync('log', '-1', `--format=${format}`, 'main')));
  return { subject: (subject ?? '').trim(), body: body ?? '', trailers: trailers ?? '' };
}

describe('a canary in two clusters, metrics told apart by a cluster label on one Prometheus', () => {
  let fleet: Fleet;
  beforeAll(async () => {
    fleet = await startFleet('label', { east: () => healthy, west: (image) => (image.includes('bad') ? broken : healthy) });
  }, 300_000);
  afterAll(async () => {
    await fleet?.close();
  });

  it('promotes a step only once the Applications of both clusters have synced it', async () => {
    const image = await fleet.landImage(GOOD);
    // West's Argo CD lags from here on: it applied the image commit, but not the step after it.
    await tickUntil(fleet, (s) => s.phase === 'progressing' && s.canaryWeight === 5, 30);
    const step = fleet.git('rev-parse', 'main').trim();
    fleet.lagging.add('west');
    for (const app of appsOf('west')) fleet.argo.reportSynced(app, image);

    // Both clusters pass the analysis, yet the step holds while west has not synced it.
    let passedWhileWaiting = false;
    for (let i = 0; i < 25 && !passedWhileWaiting; i++) {
      const report = await fleet.tick();
      const weight = (await fleet.state()).canaryWeight;
      // On failure, say what moved the canary: the decision and the newest commit (read only then).
      expect(weight, weight === 5 ? '' : `${report?.action ?? ''}: ${report?.reason ?? ''}\n${(await lastCommit(fleet)).body}`).toBe(5);
      expect(report?.reason).toMatch(/waiting for Argo CD to apply 5%: .*docuthinker-(mesh|apps)-west: /);
      passedWhileWaiting = report?.verdict?.decision === 'promote';
      if (passedWhileWaiting) {
        expect(report?.verdict?.clusters?.map((c) => [c.cluster, c.decision])).toEqual([['east', 'promote'], ['west', 'promote']]);
        // East has long applied the step; only west holds it. East may at most show the sync the
        // promoter just asked for still running (as a real Argo CD does for a moment); it never
        // waits on east's revision.
        expect(report?.reason).not.toMatch(/docuthinker-(mesh|apps)-east: (?!a sync operation is in progress)/);
      }
      await sleep(1000);
    }
    expect(passedWhileWaiting).toBe(true);

    // West's Argo CD catches up: the promotion follows.
    fleet.lagging.delete('west');
    for (const app of appsOf('west')) fleet.argo.reportSynced(app, fleet.deferred.get('west') ?? step);
    await tickUntil(fleet, (s) => s.canaryWeight === 10, 20);
    const promotion = await lastCommit(fleet);
    expect(promotion.subject).toBe('canary(backend): promote 5% -> 10%');
    expect(promotion.trailers).toMatch(/^Promoter-Evidence: cluster (east|west) \(promote\): .* \| cluster (east|west) \(promote\): /m);
    expect(promotion.body).toContain('Evidence in cluster east (promote)');
    expect(promotion.body).toContain('Evidence in cluster west (promote)');
  }, 300_000);

  it('rolls the whole canary back when it is bad in one cluster, and the evidence names that cluster', async () => {
    const bad = 'ghcr.io/docuthinker/backend:2.1.0-bad';
    await fleet.landImage(bad);
    await tickUntil(fleet, (s) => s.failedImage === bad && s.canaryWeight === 0, 60);
    const rollback = await lastCommit(fleet);
    expect(rollback.subject).toBe(`canary(backend): roll back ${bad} (stable 100 / canary 0)`);
    expect(rollback.body).toMatch(/In cluster west: /);
    expect(rollback.trailers).toMatch(/^Promoter-Cluster: west$/m);
    expect(rollback.trailers).toMatch(/^Promoter-Evidence: cluster west \(rollback\): canary 5xx [0-9.]+% .* \| cluster east \((hold|promote)\): /m);
    // East served the same image without trouble: only west's canary was worse than its stable.
    expect(rollback.body).toMatch(/Evidence in cluster west \(rollback\)/);
    expect(rollback.body).not.toMatch(/Evidence in cluster east \(rollback\)/);
  }, 300_000);
});

describe('a canary in two clusters, one Prometheus endpoint per cluster', () => {
  let fleet: Fleet;
  beforeAll(async () => {
    fleet = await startFleet('endpoint', { east: (image) => (image.includes('bad') ? broken : healthy), west: () => healthy });
  }, 300_000);
  afterAll(async () => {
    await fleet?.close();
  });

  it("reads each cluster from its own endpoint; with west's endpoint down, a canary bad in east still rolls back", async () => {
    const bad = 'ghcr.io/docuthinker/backend:2.2.0-bad';
    // West's endpoint goes down before the canary serves anything.
    await fleet.prometheus[1]!.suspend();
    await fleet.landImage(bad);
    const reports = await tickUntil(fleet, (s) => s.failedImage === bad && s.canaryWeight === 0, 40);
    const rollback = await lastCommit(fleet);
    expect(rollback.trailers).toMatch(/^Promoter-Cluster: east$/m);
    expect(rollback.trailers).toMatch(/^Promoter-Evidence: cluster east \(rollback\): /m);
    expect(rollback.body).toMatch(/In cluster east: /);
    // West could not be analysed while its endpoint was down: it is absent from the verdict, not passed.
    expect(rollback.body).not.toContain('Evidence in cluster west');
    expect(reports.some((r) => r?.action === 'rollback')).toBe(true);
  }, 300_000);
});
