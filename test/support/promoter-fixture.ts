// One promoter on loopback for tests that drive ticks by hand: a bare remote seeded from this
// repository's gitops/ with one-second windows for backend, the loopback Argo CD, a real Prometheus
// and the promoter from the real composition root. Built once per file; close() undoes it all.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/logger.js';
import { createPromoter, type Promoter } from '../../src/promoter/app.js';
import { parsePromoterConfig } from '../../src/promoter/config.js';
import type { CanaryReport } from '../../src/promoter/reconcile.js';
import { repoRoot } from '../../src/schemas/registry.js';
import { fastPolicyText } from './environment.js';
import { startFakeArgoCd, type FakeArgoCd } from './fake-argocd.js';
import { cleanGitEnv, commitToRemote, createSeededRemote } from './git-remote.js';
import { startPrometheus, type PrometheusProcess } from './prometheus.js';

export const BACKEND_POLICY = 'gitops/apps/backend/canary.yaml';
export const BACKEND_CANARY = 'gitops/apps/backend/base/deployment-canary.yaml';
export const BACKEND_VS = 'gitops/istio/traffic-management/virtualservices/backend.yaml';
/** The Applications of this repository: the mesh and the workloads. */
export const APPLICATIONS = [
  { name: 'docuthinker-mesh', path: 'gitops/istio' },
  { name: 'docuthinker-apps', path: 'gitops/apps/overlays/prod' },
];

export interface PromoterFixtureOptions {
  /** the temp dir's prefix, e.g. the test file's name. */
  name: string;
  /** the Applications the loopback Argo CD serves; default APPLICATIONS. */
  applications?: { name: string; path: string }[];
  /** /metrics endpoints Prometheus scrapes; default none (a Prometheus with no data). */
  targets?: string[];
  /** more promoter config, merged over git and prometheus (e.g. argocd, tickDeadline). */
  config?: Record<string, unknown>;
  prometheusTimeout?: string;
  /** the kubeconfig the promoter gets, from the loopback Argo CD's (e.g. pointed at a proxy). */
  kubeConfigYaml?: (argo: FakeArgoCd) => Promise<string> | string;
  /** run before the promoter is created (e.g. wait for scrapes). */
  beforePromoter?: (fixture: Omit<PromoterFixture, 'promoter' | 'kubeConfigYaml'>) => Promise<void>;
}

export interface PromoterFixture {
  dir: string;
  remoteDir: string;
  argo: FakeArgoCd;
  prometheus: PrometheusProcess;
  promoter: Promoter;
  kubeConfigYaml: string;
  /** git against the bare remote, synchronous. */
  git(...args: string[]): string;
  head(): string;
  show(path: string): string;
  /** the simulated Argo CD controller syncs every Application to `sha` (default HEAD). */
  syncTo(sha?: string): void;
  commit(files: Record<string, string>, message: string): Promise<string>;
  close(): Promise<void>;
}

/** The backend canary's report in a tick. */
export const backendOf = (reports: CanaryReport[]): CanaryReport | undefined => reports.find((r) => r.canary === 'backend');

export async function startPromoterFixture(options: PromoterFixtureOptions): Promise<PromoterFixture> {
  const dir = await mkdtemp(join(tmpdir(), `${options.name}-`));
  const closers: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  const close = async (): Promise<void> => {
    for (const step of closers.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    const { remoteDir } = await createSeededRemote({ dir, seedFrom: ['gitops'], sourceRoot: repoRoot() });
    const git = (...args: string[]) => execFileSync('git', [`--git-dir=${remoteDir}`, ...args], { env: cleanGitEnv(dir), encoding: 'utf8' });
    const head = () => git('rev-parse', 'main').trim();
    const show = (path: string) => git('show', `main:${path}`);
    await commitToRemote(remoteDir, { [BACKEND_POLICY]: fastPolicyText(show(BACKEND_POLICY), 1, 3) }, 'test: one-second windows');
    const applications = options.applications ?? APPLICATIONS;
    const argo = await startFakeArgoCd({ applications: applications.map((a) => ({ ...a, repoURL: remoteDir })) });
    closers.push(() => argo.close());
    const prometheus = await startPrometheus({ targets: options.targets ?? [], scrapeIntervalSeconds: 1 });
    closers.push(() => prometheus.stop());
    const base = {
      dir,
      remoteDir,
      argo,
      prometheus,
      git,
      head,
      show,
      syncTo: (sha = head()) => {
        for (const app of applications) argo.reportSynced(app.name, sha);
      },
      commit: (files: Record<string, string>, message: string) => commitToRemote(remoteDir, files, message),
      close,
    };
    await options.beforePromoter?.(base);
    const kubeConfigYaml = options.kubeConfigYaml ? await options.kubeConfigYaml(argo) : argo.kubeConfigYaml();
    const config = parsePromoterConfig(
      {
        git: { url: remoteDir, workdir: join(dir, 'clone') },
        prometheus: { url: prometheus.url, timeout: options.prometheusTimeout ?? '5s', settle: '1s' },
        ...options.config,
      },
      `${options.name} config`,
    );
    const promoter = await createPromoter(config, silentLogger(), { kubeConfigYaml, env: cleanGitEnv(dir) });
    return { ...base, promoter, kubeConfigYaml };
  } catch (error) {
    await close();
    throw error;
  }
}
