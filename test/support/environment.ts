// The whole loop on loopback, for the demo and the end-to-end test: a bare Git remote seeded
// from this repository's gitops/ and argocd/, a real Prometheus, a mesh simulator that plays
// Istio and Argo CD by following the remote, and a promoter built by the real composition root.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { Logger } from '../../src/logger.js';
import { createPromoter, type Promoter } from '../../src/promoter/app.js';
import { parsePromoterConfig, type PromoterConfig } from '../../src/promoter/config.js';
import { GitWorkspace, type CommitInfo } from '../../src/promoter/workspace.js';
import { setImage } from '../../src/promoter/manifest-edits.js';
import { parseCanaryPolicy, type CanaryPolicy } from '../../src/promoter/policy.js';
import type { TickReport } from '../../src/promoter/reconcile.js';
import { readCanaryState, type CanaryState } from '../../src/promoter/state.js';
import { repoRoot } from '../../src/schemas/registry.js';
import { startFakeArgoCd, type FakeArgoCd } from './fake-argocd.js';
import { cleanGitEnv, commitToRemote, createSeededRemote } from './git-remote.js';
import { startMeshSimulator, type ArmBehaviour, type MeshSimulator } from './mesh-simulator.js';
import { startPrometheus, type PrometheusProcess } from './prometheus.js';

export const DEMO_CANARY = 'backend';
const POLICY_FILE = `gitops/apps/${DEMO_CANARY}/canary.yaml`;

export interface EnvironmentOptions {
  logger: Logger;
  /** synthetic requests per second per service (split by the committed weights). */
  requestsPerSecond?: number;
  /** how an image behaves; default: tags containing "bad" fail 2 % of requests, others 0.5 %. */
  behaviour?: (service: string, image: string) => ArmBehaviour;
  seed?: number;
  /** the analysis interval and minimum dwell per step written into the demo policy (seconds): one for all steps, or one per step. */
  intervalSeconds?: number;
  minDwellSeconds?: number | readonly number[];
  /** more promoter config (e.g. pull-request delivery) and env, given the seeded remote; started before the promoter. */
  beforePromoter?: (remoteDir: string) => Promise<{ config?: Record<string, unknown>; env?: Record<string, string>; close?: () => Promise<void> }>;
}

export const defaultBehaviour = (_service: string, image: string): ArmBehaviour =>
  image.includes('bad') ? { errorRate: 0.02, latencyMedianMs: 60, latencySigma: 0.7 } : { errorRate: 0.005, latencyMedianMs: 60, latencySigma: 0.7 };

/** The demo policy: the repository's own, with intervals short enough for minutes instead of hours. */
export function fastPolicyText(text: string, intervalSeconds: number, minDwellSeconds: number | readonly number[]): string {
  // One dwell for every step, or one per step (5, 10, 50, 100 %).
  const dwells = typeof minDwellSeconds === 'number' ? [minDwellSeconds, minDwellSeconds, minDwellSeconds, minDwellSeconds] : minDwellSeconds;
  const doc = parseDocument(text);
  doc.setIn(['spec', 'analysis', 'interval'], `${intervalSeconds}s`);
  doc.setIn(['spec', 'analysis', 'noTrafficTimeout'], `${intervalSeconds * 10}s`);
  doc.setIn(
    ['spec', 'steps'],
    doc.createNode([5, 10, 50, 100].map((weight, i) => ({ weight, minDwell: `${dwells[i] ?? 6}s`, maxDwell: `${(dwells[i] ?? 6) * 20}s` }))),
  );
  return doc.toString();
}

export class Environment {
  promoter!: Promoter;
  private generation = 0;

  private constructor(
    readonly dir: string,
    readonly remoteDir: string,
    readonly policies: CanaryPolicy[],
    readonly argo: FakeArgoCd,
    readonly mesh: MeshSimulator,
    readonly prometheus: PrometheusProcess,
    readonly config: PromoterConfig,
    private readonly logger: Logger,
    private readonly observer: GitWorkspace,
    private readonly promoterEnv: Record<string, string> = {},
    private readonly closeExtra?: () => Promise<void>,
  ) {}

  static async start(options: EnvironmentOptions): Promise<Environment> {
    const dir = await mkdtemp(join(tmpdir(), 'promoter-sandbox-'));
    const cleanup: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
    try {
      const root = repoRoot();
      const { remoteDir } = await createSeededRemote({ dir, seedFrom: ['gitops', 'argocd'], sourceRoot: root });
      const observer = await GitWorkspace.open({
        remoteUrl: remoteDir,
        branch: 'main',
        dir: join(dir, 'observer'),
        identity: { name: 'observer', email: 'observer@example.test' },
        logger: options.logger.child({ clone: 'observer' }),
        env: cleanGitEnv(dir),
      });
      const original = (await observer.readFile(POLICY_FILE)) ?? '';
      await commitToRemote(
        remoteDir,
        { [POLICY_FILE]: fastPolicyText(original, options.intervalSeconds ?? 2, options.minDwellSeconds ?? 6) },
        'demo: short analysis intervals and dwells for the backend canary\n\nThe repository policy dwells minutes per step; the demo runs in seconds.',
      );
      await observer.refresh();
      const policies: CanaryPolicy[] = [];
      for (const name of ['frontend', 'backend', 'ai-service']) {
        const file = `gitops/apps/${name}/canary.yaml`;
        const text = await observer.readFile(file);
        if (text !== undefined) policies.push(parseCanaryPolicy(text, file));
      }
      const argo = await startFakeArgoCd({
        applications: [
          { name: 'docuthinker-mesh', repoURL: remoteDir, path: 'gitops/istio' },
          { name: 'docuthinker-apps', repoURL: remoteDir, path: 'gitops/apps/overlays/prod' },
        ],
      });
      cleanup.push(() => argo.close());
      const mesh = await startMeshSimulator({
        remoteDir,
        policies,
        requestsPerSecond: options.requestsPerSecond ?? 20000,
        behaviour: options.behaviour ?? defaultBehaviour,
        argo,
        seed: options.seed ?? 42,
        logger: options.logger.child({ component: 'mesh' }),
      });
      cleanup.push(() => mesh.close());
      const prometheus = await startPrometheus({ targets: [mesh.target], scrapeIntervalSeconds: 1, logger: options.logger.child({ component: 'prometheus' }) });
      cleanup.push(() => prometheus.stop());
      const extra = options.beforePromoter ? await options.beforePromoter(remoteDir) : {};
      if (extra.close) cleanup.push(extra.close);
      const config = parsePromoterConfig(
        {
          ...extra.config,
          git: { url: remoteDir, branch: 'main', workdir: join(dir, 'promoter-0') },
          prometheus: { url: prometheus.url, timeout: '5s', settle: '1s' },
          policies: ['gitops/apps/*/canary.yaml'],
          schedule: '* * * * * *',
          logLevel: 'info',
        },
        'demo config',
      );
      const env = new Environment(dir, remoteDir, policies, argo, mesh, prometheus, config, options.logger, observer, extra.env ?? {}, extra.close);
      await env.restartPromoter();
      return env;
    } catch (error) {
      for (const step of cleanup.reverse()) await step().catch(() => undefined);
      throw error;
    }
  }

  /** A fresh promoter process: new clone, nothing carried over but what is in Git. */
  async restartPromoter(): Promise<Promoter> {
    this.generation += 1;
    const config = { ...this.config, git: { ...this.config.git, workdir: join(this.dir, `promoter-${this.generation}`) } };
    this.promoter = await createPromoter(config, this.logger, { kubeConfigYaml: this.argo.kubeConfigYaml(), env: { ...cleanGitEnv(this.dir), ...this.promoterEnv } });
    return this.promoter;
  }

  tick(): Promise<TickReport> {
    return this.promoter.tick();
  }

  /** A person (or CI) lands a new canary image in Git. */
  async landCanaryImage(image: string, service = DEMO_CANARY): Promise<string> {
    const policy = this.policy(service);
    await this.observer.refresh();
    const file = policy.spec.deployments.canary.file;
    const text = (await this.observer.readFile(file)) ?? '';
    // The image line itself: a failed-image annotation may hold the same string higher up.
    const edited = setImage(text, file, { deployment: `${service}-canary`, container: policy.spec.deployments.canary.container }, image);
    return commitToRemote(this.remoteDir, { [file]: edited }, `${service}: canary ${image}\n\nCI built ${image}; the promoter takes it from here.`);
  }

  /** A person commits arbitrary file contents (a hand edit). */
  commitAsPerson(files: Record<string, string>, message: string): Promise<string> {
    return commitToRemote(this.remoteDir, files, message);
  }

  async readAtHead(path: string): Promise<string | undefined> {
    await this.observer.refresh();
    return this.observer.readFile(path);
  }

  /** The canary's state as the manifests at the remote's HEAD say (one fetch). */
  async stateAtHead(service = DEMO_CANARY): Promise<CanaryState> {
    const policy = this.policy(service);
    await this.observer.refresh();
    const read = async (path: string) => (await this.observer.readFile(path)) ?? '';
    return readCanaryState(policy, {
      virtualService: await read(policy.spec.virtualService.file),
      stableDeployment: await read(policy.spec.deployments.stable.file),
      canaryDeployment: await read(policy.spec.deployments.canary.file),
    });
  }

  async log(max = 50): Promise<CommitInfo[]> {
    await this.observer.refresh();
    return this.observer.log({ max });
  }

  policy(service: string): CanaryPolicy {
    const policy = this.policies.find((p) => p.metadata.name === service);
    if (!policy) throw new Error(`no policy for ${service}`);
    return policy;
  }

  async close(): Promise<void> {
    for (const step of [() => this.prometheus.stop(), () => this.mesh.close(), () => this.argo.close(), ...(this.closeExtra ? [this.closeExtra] : [])]) {
      await step().catch(() => undefined);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
