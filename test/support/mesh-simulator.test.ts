// What the simulator reads from manifests and what it serves on /metrics (the git-following loop is
// exercised against a real repository and Prometheus in test/prometheus.test.ts), and how it plays
// the Argo CD controller for a sync requested after it already applied the commit.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applicationStatusView, syncRequestPatch } from '../../src/promoter/argocd.js';
import { canaryPolicySchema } from '../../src/promoter/policy.js';
import { startFakeArgoCd } from './fake-argocd.js';
import { cleanGitEnv } from './git-remote.js';
import { MeshApplyError, readArmImage, readRouteWeights, renderMetrics, startMeshSimulator } from './mesh-simulator.js';
import { emptyCodeCounters, type ArmCounters } from './traffic.js';

const policy = canaryPolicySchema.parse({
  apiVersion: 'delivery.docuthinker.io/v1alpha1',
  kind: 'CanaryPolicy',
  metadata: { name: 'backend' },
  spec: {
    service: 'backend',
    namespace: 'prod',
    virtualService: { file: 'vs.yaml', name: 'backend', route: 'primary' },
    deployments: { stable: { file: 'deploy.yaml', container: 'app' }, canary: { file: 'deploy-canary.yaml', container: 'app' } },
    argocd: { application: 'mesh' },
  },
});

const vs = (route: string): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: backend }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: backend }
spec:
  http:
    - name: header
      route:
        - destination: { host: backend, subset: canary }
    - name: primary
${route}`;

describe('readRouteWeights', () => {
  it.each<[string, string, { stableWeight: number; canaryWeight: number }]>([
    [
      'two weighted destinations',
      `      route:
        - { destination: { host: backend, subset: stable }, weight: 95 }
        - { destination: { host: backend, subset: canary }, weight: 5 }
`,
      { stableWeight: 95, canaryWeight: 5 },
    ],
    [
      'a single destination takes everything',
      `      route:
        - { destination: { host: backend, subset: stable }, weight: 0 }
`,
      { stableWeight: 100, canaryWeight: 0 },
    ],
    [
      'a missing weight is 0 beside others',
      `      route:
        - { destination: { host: backend, subset: stable } }
        - { destination: { host: backend, subset: canary }, weight: 1 }
`,
      { stableWeight: 0, canaryWeight: 1 },
    ],
  ])('%s', (_name, route, expected) => {
    expect(readRouteWeights(vs(route), policy)).toEqual(expected);
  });

  it.each([
    ['no such route', vs('').replace('name: primary', 'name: other'), /no http route named "primary"/],
    ['malformed YAML', 'kind: VirtualService\n  bad: [', /vs.yaml: YAML error/],
    ['no VirtualService', 'kind: Service\nmetadata: { name: backend }\n', /no VirtualService named "backend"/],
  ])('rejects %s', (_name, text, message) => {
    expect(() => readRouteWeights(text, policy)).toThrow(MeshApplyError);
    expect(() => readRouteWeights(text, policy)).toThrow(message);
  });
});

describe('readArmImage', () => {
  const deploy = (name: string, image: string): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  template:
    spec:
      containers:
        - { name: istio-proxy, image: proxyv2 }
        - { name: app, image: "${image}" }
`;
  it('picks <service>-<subset> when one file holds both Deployments', () => {
    const text = `${deploy('backend-stable', 'app:1')}---\n${deploy('backend-canary', 'app:2')}`;
    expect(readArmImage(text, policy, 'stable')).toBe('app:1');
    expect(readArmImage(text, policy, 'canary')).toBe('app:2');
  });
  it('names the file when the container is missing', () => {
    expect(() => readArmImage(deploy('backend-stable', 'x').replace('name: app', 'name: web'), policy, 'stable')).toThrow(/deploy.yaml: no Deployment with a container "app"/);
  });
});

describe('renderMetrics', () => {
  const stable: ArmCounters = new Map([['200', { ...emptyCodeCounters([100, 500]), requests: 3, buckets: [1, 1, 1], sumMs: 900 }]]);
  const canary: ArmCounters = new Map([['503', { ...emptyCodeCounters([100, 500]), requests: 2, buckets: [2, 0, 0], sumMs: 20 }]]);
  const text = renderMetrics([{ policy, stable, canary }], [100, 500]);
  const lines = text.split('\n');

  it('declares the metric types and serves Istio destination-side labels', () => {
    expect(lines).toContain('# TYPE istio_requests_total counter');
    expect(lines).toContain('# TYPE istio_request_duration_milliseconds histogram');
    const stableLine = lines.find((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="200"'))!;
    for (const label of [
      'reporter="destination"',
      'destination_service="backend.prod.svc.cluster.local"',
      'destination_service_name="backend"',
      'destination_workload="backend-stable"',
      'destination_canonical_revision="stable"',
      'destination_version="stable"',
      'source_workload="istio-ingressgateway"',
      'response_flags="-"',
      'connection_security_policy="mutual_tls"',
      'grpc_response_status=""',
    ]) {
      expect(stableLine).toContain(label);
    }
    expect(stableLine.endsWith(' 3')).toBe(true);
  });

  it('writes cumulative buckets, +Inf, _sum and _count', () => {
    const canaryBuckets = lines.filter((l) => l.startsWith('istio_request_duration_milliseconds_bucket{') && l.includes('revision="canary"'));
    expect(canaryBuckets.map((l) => [l.match(/le="([^"]+)"/)?.[1], Number(l.split(' ').at(-1))])).toEqual([
      ['100', 2],
      ['500', 2],
      ['+Inf', 2],
    ]);
    const stableBuckets = lines.filter((l) => l.startsWith('istio_request_duration_milliseconds_bucket{') && l.includes('revision="stable"'));
    expect(stableBuckets.map((l) => Number(l.split(' ').at(-1)))).toEqual([1, 2, 3]);
    expect(lines.some((l) => l.startsWith('istio_request_duration_milliseconds_count{') && l.includes('revision="stable"') && l.endsWith(' 3'))).toBe(true);
    expect(lines.some((l) => l.startsWith('istio_request_duration_milliseconds_sum{') && l.endsWith(' 900.000'))).toBe(true);
  });
});

describe('the simulated Argo CD controller', () => {
  const deployment = (name: string, image: string): string =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: ${name} }\nspec:\n  template:\n    spec:\n      containers:\n        - { name: app, image: "${image}" }\n`;

  // A promoter slowed down (or restarted after a kill) asked for a sync after the simulator had
  // applied the commit: the operation stayed Running until some other commit landed, which closed
  // every gate on the Application (the crash suite's stalled rounds).
  it('runs a sync operation requested for a commit it already applied, without HEAD moving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-operation-'));
    const env = cleanGitEnv(dir);
    const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();
    const remoteDir = join(dir, 'remote.git');
    const seed = join(dir, 'seed');
    mkdirSync(seed);
    writeFileSync(join(seed, 'vs.yaml'), vs('      route:\n        - { destination: { host: backend, subset: stable }, weight: 100 }\n        - { destination: { host: backend, subset: canary }, weight: 0 }\n'));
    writeFileSync(join(seed, 'deploy.yaml'), deployment('backend-stable', 'app:1'));
    writeFileSync(join(seed, 'deploy-canary.yaml'), deployment('backend-canary', 'app:1'));
    git(dir, 'init', '-q', '--bare', '--initial-branch=main', remoteDir);
    git(seed, 'init', '-q', '--initial-branch=main');
    git(seed, 'add', '-A');
    git(seed, '-c', 'user.name=Seed', '-c', 'user.email=seed@example.test', 'commit', '-q', '-m', 'seed');
    git(seed, 'push', '-q', remoteDir, 'HEAD:refs/heads/main');
    const sha = git(seed, 'rev-parse', 'HEAD');
    const argo = await startFakeArgoCd({ applications: [{ name: 'mesh', repoURL: remoteDir, path: '.' }] });
    const mesh = await startMeshSimulator({ remoteDir, policies: [policy], requestsPerSecond: 10, behaviour: () => ({ errorRate: 0, latencyMedianMs: 10, latencySigma: 0.1 }), argo, syncDelayMs: 20, pollMs: 20 });
    const view = () => applicationStatusView(argo.application('mesh'));
    const until = async (probe: () => boolean): Promise<boolean> => {
      for (let i = 0; i < 250 && !probe(); i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
      return probe();
    };
    try {
      expect(view().syncedRevision).toBe(sha);
      // The promoter's sync request, over the wire, after the commit was applied.
      const response = await fetch(`${argo.url}/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/mesh`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${argo.token}`, 'content-type': 'application/merge-patch+json' },
        body: JSON.stringify(syncRequestPatch(sha, undefined)),
      });
      expect(response.status).toBe(200);
      expect(view().operationInProgress).toBe(true);
      expect(await until(() => !view().operationInProgress)).toBe(true);
      expect(view()).toMatchObject({ syncedRevision: sha, operationPhase: 'Succeeded', operationRevision: sha, health: 'Healthy' });
    } finally {
      await mesh.close();
      await argo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
