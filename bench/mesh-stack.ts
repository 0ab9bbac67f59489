// The stack the tick bench and the soak run a promoter against: N copies of the backend canary
// written into a tree, a bare remote seeded from it, the loopback Argo CD, the mesh simulator and a
// real Prometheus scraping it every second. Each part's stop goes onto the caller's cleanup list.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCanaryPolicy, type CanaryPolicy } from '../src/promoter/policy.js';
import { startFakeArgoCd, type FakeArgoCd } from '../test/support/fake-argocd.js';
import { createSeededRemote } from '../test/support/git-remote.js';
import { startMeshSimulator, type MeshSimulator, type MeshSimulatorOptions } from '../test/support/mesh-simulator.js';
import { startPrometheus, type PrometheusProcess } from '../test/support/prometheus.js';

/** The backend canary's files in this repository; a bench copies them once per service name. */
export const TEMPLATE = {
  policy: 'gitops/apps/backend/canary.yaml',
  vs: 'gitops/istio/traffic-management/virtualservices/backend.yaml',
  stable: 'gitops/apps/backend/base/deployment-stable.yaml',
  canary: 'gitops/apps/backend/base/deployment-canary.yaml',
};

export interface MeshStack {
  remoteDir: string;
  policies: CanaryPolicy[];
  argo: FakeArgoCd;
  mesh: MeshSimulator;
  prometheus: PrometheusProcess;
}

export async function startMeshStack(options: {
  dir: string;
  /** a tree already holding the services' files (TEMPLATE with "backend" renamed) */
  tree: string;
  names: readonly string[];
  requestsPerSecond: number;
  behaviour: MeshSimulatorOptions['behaviour'];
  seed: number;
  cleanup: (() => Promise<unknown>)[];
  /** runs on the seeded remote before the mesh starts following it */
  afterSeed?: (remoteDir: string) => Promise<unknown>;
}): Promise<MeshStack> {
  const { dir, tree, cleanup } = options;
  const { remoteDir } = await createSeededRemote({ dir, seedFrom: ['gitops'], sourceRoot: tree });
  await options.afterSeed?.(remoteDir);
  const policies: CanaryPolicy[] = [];
  for (const name of options.names) {
    const file = TEMPLATE.policy.replaceAll('backend', name);
    policies.push(parseCanaryPolicy(await readFile(join(tree, file), 'utf8'), file));
  }
  const argo = await startFakeArgoCd({
    applications: [
      { name: 'docuthinker-mesh', repoURL: remoteDir, path: 'gitops/istio' },
      { name: 'docuthinker-apps', repoURL: remoteDir, path: 'gitops/apps' },
    ],
  });
  cleanup.push(() => argo.close());
  const mesh = await startMeshSimulator({ remoteDir, policies, requestsPerSecond: options.requestsPerSecond, behaviour: options.behaviour, argo, seed: options.seed });
  cleanup.push(() => mesh.close());
  const prometheus = await startPrometheus({ targets: [mesh.target], scrapeIntervalSeconds: 1 });
  cleanup.push(() => prometheus.stop());
  return { remoteDir, policies, argo, mesh, prometheus };
}
