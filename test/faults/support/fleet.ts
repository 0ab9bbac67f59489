// A GitOps repository with many small canaries, served the way a real one is: a bare remote behind
// `git daemon` (so killing a promoter never kills the server side of its push), a mesh simulator
// and a loopback Argo CD that follow it, and a real Prometheus. Used by the crash and concurrency cases.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../../src/logger.js';
import { parseCanaryPolicy, type CanaryPolicy } from '../../../src/promoter/policy.js';
import { readCanaryState, type CanaryState } from '../../../src/promoter/state.js';
import { setImage } from '../../../src/promoter/manifest-edits.js';
import { startFakeArgoCd, type FakeArgoCd } from '../../support/fake-argocd.js';
import { cleanGitEnv, commitToRemote } from '../../support/git-remote.js';
import { startMeshSimulator, type ArmBehaviour, type MeshSimulator } from '../../support/mesh-simulator.js';
import { freePort, startPrometheus, type PrometheusProcess } from '../../support/prometheus.js';

export const NAMESPACE = 'fleet';
export const MESH_APP = 'fleet-mesh';
export const APPS_APP = 'fleet-apps';
export const FIRST_IMAGE = (service: string): string => `registry.test/${service}:1`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const paths = (service: string) => ({
  policy: `gitops/apps/${service}/canary.yaml`,
  stable: `gitops/apps/${service}/deployment-stable.yaml`,
  canary: `gitops/apps/${service}/deployment-canary.yaml`,
  virtualService: `gitops/istio/${service}.yaml`,
});

function deployment(service: string, arm: 'stable' | 'canary', image: string): string {
  return [
    `# The ${arm} arm of ${service}.`,
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${service}-${arm}`,
    `  namespace: ${NAMESPACE}`,
    'spec:',
    '  replicas: 1',
    `  selector: { matchLabels: { app: ${service}, version: ${arm} } }`,
    '  template:',
    `    metadata: { labels: { app: ${service}, version: ${arm} } }`,
    '    spec:',
    '      containers:',
    `        - name: ${service}`,
    `          image: ${image}`,
    '',
  ].join('\n');
}

function virtualService(service: string): string {
  const host = `${service}.${NAMESPACE}.svc.cluster.local`;
  return [
    `# Routing for ${service}: the promoter owns the two weights of the primary route.`,
    'apiVersion: networking.istio.io/v1',
    'kind: VirtualService',
    'metadata:',
    `  name: ${service}`,
    `  namespace: ${NAMESPACE}`,
    'spec:',
    `  hosts: [${host}]`,
    '  http:',
    '    - name: primary',
    '      route:',
    '        - destination:',
    `            host: ${host}`,
    '            subset: stable',
    '          weight: 100',
    '        - destination:',
    `            host: ${host}`,
    '            subset: canary',
    '          weight: 0',
    '',
  ].join('\n');
}

/**
 * The policy every fleet canary shares. The verdict is forced by the traffic, not by timing: a
 * canary with no 5xx passes as soon as a step has one complete window (no latency edges to bound,
 * a small request floor), one answering half its requests with 5xx trips the critical fast path.
 */
function policy(service: string, steps: readonly number[], group: string): string {
  const p = paths(service);
  return [
    'apiVersion: delivery.docuthinker.io/v1alpha1',
    'kind: CanaryPolicy',
    `metadata: { name: ${service} }`,
    'spec:',
    `  service: ${service}`,
    `  namespace: ${NAMESPACE}`,
    `  virtualService: { file: ${p.virtualService}, name: ${service}, route: primary }`,
    '  deployments:',
    `    stable: { file: ${p.stable}, container: ${service} }`,
    `    canary: { file: ${p.canary}, container: ${service} }`,
    `  argocd: { application: ${MESH_APP}${group}, workloadsApplication: ${APPS_APP}${group}, namespace: argocd }`,
    '  steps:',
    ...steps.map((weight) => `    - { weight: ${weight}, minDwell: 1s, maxDwell: 30m }`),
    '  analysis:',
    '    interval: 1s',
    '    noTrafficTimeout: 5m',
    '    minCanaryRequests: 100',
    '    successRate: { min: 0.99 }',
    '    latencyP99: { maxMs: 30000 }',
    '    sequential: { latencyQuantiles: [] }',
    '',
  ].join('\n');
}

/**
 * Every file of a fleet of canaries, each idle on its first image. `groupOf` names a canary's pair
 * of Applications (fleet-mesh<group>, fleet-apps<group>); by default all share one pair.
 */
export function fleetFiles(services: readonly string[], steps: readonly number[] = [50, 100], groupOf: (service: string) => string = () => ''): Record<string, string> {
  const files: Record<string, string> = { 'README.md': '# fleet\n\nA GitOps repository for the fault suite.\n' };
  for (const service of services) {
    const p = paths(service);
    files[p.policy] = policy(service, steps, groupOf(service));
    files[p.stable] = deployment(service, 'stable', FIRST_IMAGE(service));
    files[p.canary] = deployment(service, 'canary', FIRST_IMAGE(service));
    files[p.virtualService] = virtualService(service);
  }
  return files;
}

/** Images whose tag says "bad" answer half their requests with 503; every other image none. */
export const fleetBehaviour = (_service: string, image: string): ArmBehaviour =>
  image.includes('bad') ? { errorRate: 0.5, latencyMedianMs: 20, latencySigma: 0.3 } : { errorRate: 0, latencyMedianMs: 20, latencySigma: 0.3 };

/** One promoter commit, by its trailers. */
export interface PromoterCommit {
  sha: string;
  author: string;
  subject: string;
  canary: string;
  decision: string;
  step: string;
  image: string;
}

/** `git daemon` serving `base` read-write on loopback; git:// URLs for the repositories under it. */
export interface GitDaemon {
  url(repository: string): string;
  close(): Promise<void>;
}

export async function startGitDaemon(base: string, home: string): Promise<GitDaemon> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'git',
    ['daemon', '--reuseaddr', '--listen=127.0.0.1', `--port=${port}`, `--base-path=${base}`, '--export-all', '--enable=receive-pack', '--informative-errors', base],
    { env: cleanGitEnv(home), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)));
  // Ready once it answers ls-remote (bounded).
  for (let i = 0; ; i++) {
    try {
      execFileSync('git', ['ls-remote', `git://127.0.0.1:${port}/remote.git`], { env: cleanGitEnv(home), stdio: 'ignore', timeout: 2000 });
      break;
    } catch {
      if (i >= 50 || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`git daemon did not come up on port ${port}: ${stderr}`);
      }
      await sleep(100);
    }
  }
  return {
    url: (repository) => `git://127.0.0.1:${port}/${repository}`,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

export interface FleetOptions {
  dir: string;
  services: string[];
  steps?: number[];
  /** synthetic requests per second per service; default 1000. */
  requestsPerSecond?: number;
  /**
   * a suffix per canary for its own pair of Argo CD Applications (independent lanes of the crash
   * case, whose sync operations should not hold each other's gates); default: one shared pair.
   */
  groupOf?: (service: string) => string;
}

export class Fleet {
  private constructor(
    readonly dir: string,
    readonly remoteDir: string,
    readonly gitUrl: string,
    readonly kubeconfig: string,
    readonly policies: Map<string, CanaryPolicy>,
    readonly argo: FakeArgoCd,
    readonly mesh: MeshSimulator,
    readonly prometheus: PrometheusProcess,
    private readonly daemon: GitDaemon,
  ) {}

  static async start(options: FleetOptions): Promise<Fleet> {
    const { dir, services } = options;
    const remoteDir = join(dir, 'remote.git');
    const env = cleanGitEnv(dir);
    const groupOf = options.groupOf ?? (() => '');
    const files = fleetFiles(services, options.steps, groupOf);
    const seed = join(dir, 'seed');
    await mkdir(seed, { recursive: true });
    for (const [path, text] of Object.entries(files)) {
      await mkdir(join(seed, path, '..'), { recursive: true });
      await writeFile(join(seed, path), text);
    }
    const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8' });
    git(dir, 'init', '-q', '--bare', '--initial-branch=main', remoteDir);
    git(seed, 'init', '-q', '--initial-branch=main');
    git(seed, 'add', '-A');
    git(seed, '-c', 'user.name=Seed', '-c', 'user.email=seed@example.test', 'commit', '-q', '-m', 'Seed the fleet repository');
    git(seed, 'push', '-q', remoteDir, 'HEAD:refs/heads/main');

    const policies = new Map(services.map((s) => [s, parseCanaryPolicy(files[paths(s).policy] ?? '', paths(s).policy)]));
    const cleanup: (() => Promise<void>)[] = [];
    try {
      const daemon = await startGitDaemon(dir, dir);
      cleanup.push(() => daemon.close());
      const argo = await startFakeArgoCd({
        applications: [...new Set(services.map(groupOf))].flatMap((group) => [
          { name: `${MESH_APP}${group}`, repoURL: remoteDir, path: 'gitops/istio' },
          { name: `${APPS_APP}${group}`, repoURL: remoteDir, path: 'gitops/apps' },
        ]),
      });
      cleanup.push(() => argo.close());
      const kubeconfig = join(dir, 'kubeconfig.yaml');
      await writeFile(kubeconfig, argo.kubeConfigYaml());
      const mesh = await startMeshSimulator({
        remoteDir,
        policies: [...policies.values()],
        requestsPerSecond: options.requestsPerSecond ?? 1000,
        behaviour: fleetBehaviour,
        argo,
        syncDelayMs: 200,
        pollMs: 250,
        seed: 7,
        logger: silentLogger(),
      });
      cleanup.push(() => mesh.close());
      const prometheus = await startPrometheus({ targets: [mesh.target], scrapeIntervalSeconds: 1 });
      cleanup.push(() => prometheus.stop());
      const fleet = new Fleet(dir, remoteDir, daemon.url('remote.git'), kubeconfig, policies, argo, mesh, prometheus, daemon);
      await fleet.waitForScrapes(3);
      return fleet;
    } catch (error) {
      for (const step of cleanup.reverse()) await step().catch(() => undefined);
      throw error;
    }
  }

  git(...args: string[]): string {
    return execFileSync('git', [`--git-dir=${this.remoteDir}`, ...args], { env: cleanGitEnv(this.dir), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  }

  head(): string {
    return this.git('rev-parse', 'main').trim();
  }

  show(path: string, rev = 'main'): string {
    return this.git('show', `${rev}:${path}`);
  }

  #writes: Promise<unknown> = Promise.resolve();

  /**
   * A person's or CI's push, one at a time from this test: two pushes racing into a bare repository
   * on disk lose as "[remote rejected] (failed to update ref)", which commitToRemote does not retry.
   */
  private push(files: Record<string, string>, message: string): Promise<string> {
    const attempt = async (): Promise<string> => {
      for (let i = 1; ; i++) {
        try {
          // A busy promoter pushes many commits a second; a person's rebase-and-push keeps trying.
          return await commitToRemote(this.remoteDir, files, message, { attempts: 30 });
        } catch (error) {
          // The promoter's push won the race for the ref lock: like a person, try again.
          if (i >= 5 || !/failed to update ref|cannot lock ref/.test(String(error))) throw error;
          await sleep(50 * i);
        }
      }
    };
    const run = this.#writes.then(attempt);
    this.#writes = run.catch(() => undefined);
    return run;
  }

  /** CI (or a person) lands new canary images, all in one commit. */
  landImages(images: Record<string, string>, message = 'CI: new canary images'): Promise<string> {
    const files: Record<string, string> = {};
    for (const [service, image] of Object.entries(images)) {
      const file = paths(service).canary;
      files[file] = setImage(this.show(file), file, { deployment: `${service}-canary`, container: service }, image);
    }
    return this.push(files, `${message}\n\n${Object.values(images).join('\n')}`);
  }

  /** A person's commit of arbitrary files. */
  commitAsPerson(files: Record<string, string>, message: string): Promise<string> {
    return this.push(files, message);
  }

  /** The canary's state as the manifests at the remote's HEAD (or `rev`) say. */
  state(service: string, rev = 'main'): CanaryState {
    const policy = this.policies.get(service);
    if (!policy) throw new Error(`no canary ${service} in the fleet`);
    const p = paths(service);
    return readCanaryState(policy, { virtualService: this.show(p.virtualService, rev), stableDeployment: this.show(p.stable, rev), canaryDeployment: this.show(p.canary, rev) });
  }

  /**
   * Several canaries' states at one commit, read by one `git cat-file --batch` without blocking the
   * event loop (the mesh simulator and the fake Argo CD run in this process): what a convergence
   * check polls. `rev` should be a sha, so every file is read at the same commit.
   */
  async states(services: readonly string[], rev: string): Promise<Map<string, CanaryState>> {
    const files = services.flatMap((s) => {
      const p = paths(s);
      return [p.virtualService, p.stable, p.canary];
    });
    const out = await new Promise<Buffer>((resolve, reject) => {
      const child = spawn('git', [`--git-dir=${this.remoteDir}`, 'cat-file', '--batch'], { env: cleanGitEnv(this.dir), stdio: ['pipe', 'pipe', 'ignore'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`git cat-file --batch exited ${code}`))));
      child.stdin.end(files.map((f) => `${rev}:${f}\n`).join(''));
    });
    // Each answer: "<sha> blob <size>\n<content>\n" (or "<name> missing\n").
    const texts = new Map<string, string>();
    let at = 0;
    for (const file of files) {
      const eol = out.indexOf(0x0a, at);
      const header = out.subarray(at, eol).toString('utf8').split(' ');
      if (header[1] !== 'blob') throw new Error(`${file} is not at ${rev}: ${header.join(' ')}`);
      const size = Number(header[2]);
      texts.set(file, out.subarray(eol + 1, eol + 1 + size).toString('utf8'));
      at = eol + 1 + size + 1;
    }
    const states = new Map<string, CanaryState>();
    for (const service of services) {
      const policy = this.policies.get(service);
      if (!policy) throw new Error(`no canary ${service} in the fleet`);
      const p = paths(service);
      states.set(service, readCanaryState(policy, { virtualService: texts.get(p.virtualService) ?? '', stableDeployment: texts.get(p.stable) ?? '', canaryDeployment: texts.get(p.canary) ?? '' }));
    }
    return states;
  }

  /** Every commit in `since..main`, oldest first, with the promoter's trailers (empty when absent). */
  commits(since: string): PromoterCommit[] {
    const format = ['%H', '%an <%ae>', '%s', ...['Canary', 'Decision', 'Step', 'Image'].map((k) => `%(trailers:key=Promoter-${k},valueonly,separator=%x2c)`)].join('%x1f');
    return this.git('log', '--reverse', `--format=${format}%x1e`, `${since}..main`)
      .split('\x1e')
      .map((r) => r.replace(/^\n/, ''))
      .filter((r) => r.trim() !== '')
      .map((record) => {
        const [sha = '', author = '', subject = '', canary = '', decision = '', step = '', image = ''] = record.split('\x1f').map((s) => s.trim());
        return { sha, author, subject, canary, decision, step, image };
      });
  }

  /** Waits (bounded) until Prometheus holds `count` scrapes of the mesh, so no canary starts on an empty history. */
  async waitForScrapes(count: number): Promise<void> {
    const query = encodeURIComponent('min(count_over_time(istio_requests_total[1m]))');
    for (let attempt = 0; attempt < 80; attempt += 1) {
      try {
        const body = (await (await fetch(`${this.prometheus.url}/api/v1/query?query=${query}`)).json()) as { data?: { result?: { value?: [number, string] }[] } };
        if (Number(body.data?.result?.[0]?.value?.[1] ?? 0) >= count) return;
      } catch {
        // not up yet
      }
      await sleep(250);
    }
    throw new Error(`Prometheus did not scrape the mesh ${count} times within 20 s`);
  }

  async close(): Promise<void> {
    for (const step of [() => this.prometheus.stop(), () => this.mesh.close(), () => this.argo.close(), () => this.daemon.close()]) {
      await step().catch(() => undefined);
    }
  }
}

/** (decision, step) of each commit: what "the same history" compares. */
export function decisions(commits: readonly PromoterCommit[]): string[] {
  return commits.map((c) => `${c.decision} ${c.step}`);
}

/** The promoter's commits for one canary (by the Promoter-Canary trailer and the promoter's identity). */
export function commitsOf(commits: readonly PromoterCommit[], canary: string, author: string): PromoterCommit[] {
  return commits.filter((c) => c.canary === canary && c.author === author);
}
