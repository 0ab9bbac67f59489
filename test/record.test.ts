// Integration: `promoter record` against a real Prometheus scraping the mesh simulator writes a
// trace that `analyze --trace` replays to the same decisions the live judge reaches on the same
// Prometheus data (windows and stable's baseline), and exits 3 when that ends in a rollback.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { fetchBaselines } from '../src/analysis/baseline.js';
import type { CanaryTarget } from '../src/analysis/istio-queries.js';
import { judge } from '../src/analysis/judge.js';
import { createPrometheusClient, type PrometheusClient } from '../src/analysis/prometheus.js';
import { ENVOY_BUCKETS_MS } from '../src/analysis/settings.js';
import { parseTrace, replayTrace } from '../src/analysis/trace.js';
import { fetchWindows } from '../src/analysis/windows.js';
import { analyzeTraceCommand } from '../src/commands/analyze-trace.js';
import { recordCommand } from '../src/commands/record.js';
import { traceSchemaText } from '../src/commands/schema.js';
import { canaryPolicySchema } from '../src/promoter/policy.js';
import { commitToRemote, createSeededRemote } from './support/git-remote.js';
import { startMeshSimulator, type MeshSimulator } from './support/mesh-simulator.js';
import { startPrometheus, type PrometheusProcess } from './support/prometheus.js';

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
        - name: backend
          image: ${image}
`;
}

// One-second windows so the test takes seconds; 10 % then 50 % with short dwells.
const policyObject = {
  apiVersion: 'delivery.docuthinker.io/v1alpha1',
  kind: 'CanaryPolicy',
  metadata: { name: 'backend' },
  spec: {
    service: 'backend',
    namespace: 'docuthinker-prod',
    virtualService: { file: VS_FILE, name: 'backend', route: 'primary' },
    deployments: { stable: { file: STABLE_FILE, container: 'backend' }, canary: { file: CANARY_FILE, container: 'backend' } },
    argocd: { application: 'docuthinker-mesh' },
    steps: [
      { weight: 10, minDwell: 3, maxDwell: 60 },
      { weight: 50, minDwell: 3, maxDwell: 60 },
      { weight: 100, minDwell: 3, maxDwell: 60 },
    ],
    analysis: { interval: 1, baselineSeconds: 30 },
  },
};
const policy = canaryPolicySchema.parse(policyObject);
const target: CanaryTarget = { name: 'backend', service: 'backend', namespace: 'docuthinker-prod', selector: policy.spec.analysis.prometheus };

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(100);
  }
}

function capture() {
  const sink = { stdout: '', stderr: '', out: (t: string) => void (sink.stdout += t), err: (t: string) => void (sink.stderr += t) };
  return sink;
}

describe('promoter record against a real Prometheus', () => {
  let dir: string;
  let mesh: MeshSimulator;
  let prometheus: PrometheusProcess;
  let client: PrometheusClient;
  let start: number;
  let end: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'record-'));
    const seed = join(dir, 'seed');
    for (const [path, text] of Object.entries({
      [VS_FILE]: virtualService(100, 0),
      [STABLE_FILE]: deployment('stable', 'ghcr.io/docuthinker/backend:1.4.0'),
      [CANARY_FILE]: deployment('canary', 'ghcr.io/docuthinker/backend:1.5.0'),
    })) {
      const file = join(seed, path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, text);
    }
    const { remoteDir } = await createSeededRemote({ dir: join(dir, 'git'), seedFrom: ['mesh', 'apps'], sourceRoot: seed });
    mesh = await startMeshSimulator({
      remoteDir,
      policies: [policy],
      requestsPerSecond: 400,
      // The canary image serves 6 % 5xx against stable's 1 %: a regression the judge must catch.
      behaviour: (_service, image) => ({ errorRate: image.endsWith('1.5.0') ? 0.06 : 0.01, latencyMedianMs: 40, latencySigma: 0.6 }),
      syncDelayMs: 100,
      tickMs: 50,
      pollMs: 100,
      seed: 11,
    });
    prometheus = await startPrometheus({ targets: [mesh.target], scrapeIntervalSeconds: 1 });
    client = createPrometheusClient({ baseUrl: prometheus.url, timeoutMs: 5_000 });
    // Stable alone first: the history the latency edges are chosen from.
    await waitFor('stable traffic in Prometheus', async () => ((await client.instant('sum(istio_requests_total)'))[0]?.value ?? 0) > 1500);
    const sha = await commitToRemote(remoteDir, { [VS_FILE]: virtualService(90, 10) }, 'backend: canary 10%');
    await waitFor('the 10 % split', () => mesh.applied().sha === sha);
    start = Math.ceil(Date.now() / 1000) + 1;
    await delay(9_000);
    end = Math.floor(Date.now() / 1000);
    mesh.setRequestsPerSecond(0);
    // Prometheus must hold every sample up to `end` before either side reads it.
    await delay(2_500);
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await mesh?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes a valid trace that replays to the live judge decisions, and analyze --trace exits 3 on its rollback', async () => {
    // The live judge: the windows and baseline a reconcile tick fetches, judged window by window.
    const windows = (await fetchWindows(client, [target], { start, end, intervalSeconds: 1, latencyBucketsMs: ENVOY_BUCKETS_MS })).get('backend')!;
    const baseline = (await fetchBaselines(client, [{ target, at: start }], { seconds: 30, latencyBucketsMs: ENVOY_BUCKETS_MS })).get('backend');
    // Enough stable requests before the canary for the judge to choose its edges from them.
    expect(baseline?.count).toBeGreaterThanOrEqual(policy.spec.analysis.sequential.baselineMinRequests);
    const labelled = windows.map((w) => ({ ...w, canaryWeight: 10 }));
    const live = labelled.map(
      (_, k) =>
        judge({ windows: labelled.slice(0, k + 1), settings: policy.spec.analysis, steps: policy.spec.steps, latencyBucketsMs: ENVOY_BUCKETS_MS, ...(baseline ? { baseline } : {}) })
          .decision,
    );
    expect(live.at(-1)).toBe('rollback');

    const policyFile = join(dir, 'canary.yaml');
    await writeFile(policyFile, stringify(policyObject));
    const io = capture();
    const code = await recordCommand({ canary: 'backend', since: `${end - start}s`, end: String(end), policy: policyFile, prometheus: prometheus.url }, io);
    expect(io.stderr).toBe('');
    expect(code).toBe(0);
    const traceFile = join(dir, 'trace.json');
    await writeFile(traceFile, io.stdout);
    const trace = parseTrace(io.stdout, traceFile);
    expect(trace.windows.map((w) => w.canaryWeight)).toEqual(labelled.map(() => 10));
    expect(trace.baseline?.stable).toEqual(baseline);
    expect(trace.windows.map(({ t, stable, canary }) => ({ t, stable, canary }))).toEqual(windows.map(({ t, stable, canary }) => ({ t, stable, canary })));
    const replayed = replayTrace(trace, policy.spec.analysis, policy.spec.steps);
    expect(replayed.decisions.map((d) => d.decision)).toEqual(live);
    expect(replayed.decisions.at(-1)?.evidence?.latencyEdges?.source).toBe('baseline');

    const analyzed = capture();
    expect(await analyzeTraceCommand({ trace: traceFile, format: 'json', policy: policyFile }, analyzed)).toBe(3);
    expect(JSON.parse(analyzed.stdout)).toMatchObject({ final: 'rollback' });
    // The published JSON Schema names the trace's fields.
    expect(traceSchemaText()).toContain('"baseline"');
  });
});
