// Day-to-day operation through the real CLI (node dist/src/cli.js): status and its exit codes,
// --watch, --format json, history from the trailers, the missing-kubeconfig message, which pause
// holds a canary, promote --retry-failed, and log lines without repeated keys. Real git (a bare
// remote), a real Prometheus and the loopback Argo CD.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../src/schemas/registry.js';
import { fastPolicyText } from './support/environment.js';
import { startFakeArgoCd, type FakeArgoCd } from './support/fake-argocd.js';
import { cleanGitEnv, commitToRemote, createSeededRemote } from './support/git-remote.js';
import { startPrometheus, type PrometheusProcess } from './support/prometheus.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

const CLI = join(repoRoot(), 'dist', 'src', 'cli.js');
const POLICY = 'gitops/apps/backend/canary.yaml';
const FRONTEND_POLICY = 'gitops/apps/frontend/canary.yaml';
const CANARY = 'gitops/apps/backend/base/deployment-canary.yaml';
const IMAGE = 'ghcr.io/docuthinker/backend:9.9.9';
const DANA = 'Dana Developer <dana@example.test>';

let dir: string;
let home: string;
let remoteDir: string;
let argo: FakeArgoCd;
let prometheus: PrometheusProcess;
/** a loopback Slack-style webhook: what the CLI posted to it. */
let webhook: WebhookReceiver<{ text: string }>;
let posted: { text: string }[] = [];
const configs: Record<'good' | 'noKube' | 'noProm', string> = { good: '', noKube: '', noProm: '' };

const git = (...args: string[]) => execFileSync('git', [`--git-dir=${remoteDir}`, ...args], { env: cleanGitEnv(dir), encoding: 'utf8' });
const show = (path: string) => git('show', `main:${path}`);
const syncHead = () => {
  const head = git('rev-parse', 'main').trim();
  for (const app of ['docuthinker-mesh', 'docuthinker-apps']) argo.reportSynced(app, head);
};

/** Runs the CLI asynchronously: the loopback Argo CD lives in this process and must keep answering. */
function promoter(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // No KUBECONFIG, a HOME without ~/.kube: only what the config names is used.
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home }, timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function writeConfig(name: keyof typeof configs, prometheusUrl: string, kubeconfig: string | undefined): Promise<void> {
  const file = join(dir, `${name}.yaml`);
  const lines = [
    `git: { url: ${remoteDir}, workdir: ${join(dir, `clone-${name}`)}, author: { name: Dana Developer, email: dana@example.test } }`,
    `prometheus: { url: "${prometheusUrl}", timeout: 3s, settle: 1s }`,
    ...(kubeconfig ? [`argocd: { kubeconfig: ${kubeconfig} }`] : []),
    `notifications: { webhooks: [{ url: "${webhook.url}", timeout: 5s }] }`,
    'logLevel: debug',
  ];
  await writeFile(file, `${lines.join('\n')}\n`);
  configs[name] = file;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.build.json)`);
  dir = await mkdtemp(join(tmpdir(), 'cli-operate-'));
  home = join(dir, 'home');
  ({ remoteDir } = await createSeededRemote({ dir, seedFrom: ['gitops'], sourceRoot: repoRoot() }));
  await commitToRemote(remoteDir, { [POLICY]: fastPolicyText(show(POLICY), 1, 3) }, 'test: one-second windows');
  argo = await startFakeArgoCd({
    applications: [
      { name: 'docuthinker-mesh', repoURL: remoteDir, path: 'gitops/istio' },
      { name: 'docuthinker-apps', repoURL: remoteDir, path: 'gitops/apps/overlays/prod' },
    ],
  });
  prometheus = await startPrometheus({ targets: [], scrapeIntervalSeconds: 1 });
  webhook = await startWebhookReceiver<{ text: string }>({ path: '/services/T0/B0/secret' });
  posted = webhook.bodies;
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, argo.kubeConfigYaml());
  await writeConfig('good', prometheus.url, kubeconfig);
  await writeConfig('noKube', prometheus.url, undefined);
  await writeConfig('noProm', `http://127.0.0.1:${await closedPort()}`, kubeconfig);
  syncHead();
}, 60_000);

afterAll(async () => {
  await webhook?.close();
  await prometheus?.stop();
  await argo?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('promoter status / history / operations through the real CLI', { timeout: 180_000 }, () => {
  it('documents the exit codes of status in --help', async () => {
    const help = await promoter('status', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Exit codes:\n\s+0 .*\n\s+1 .*policy is invalid.*\n\s+2 .*usage.*\n\s+3 .*unreachable/);
    expect(help.stdout).toContain('--watch');
    expect(help.stdout).toContain('--format <format>');
  });

  it('without a kubeconfig says which one it looked for and how to set one, and exits non-zero', async () => {
    const result = await promoter('status', '--config', configs.noKube);
    expect(result.status).toBe(3);
    expect(result.stderr).toContain(`looked for at ${join(home, '.kube', 'config')} ($KUBECONFIG is not set)`);
    expect(result.stderr).toContain('Set argocd.kubeconfig: /path/to/kubeconfig in the promoter config, export KUBECONFIG=/path/to/kubeconfig, or set argocd.inCluster: true');
    expect(result.stderr).not.toContain('localhost:8080');
  });

  it('shows idle canaries with both weights and images, and exits 0', async () => {
    const result = await promoter('status', '--config', configs.good);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^CANARY\s+STEP\s+STABLE\/CANARY\s+PHASE\s+IN STEP\s+IMAGES/m);
    expect(result.stdout).toMatch(/^backend\s+idle\s+100\/0\s+idle\s+-\s+ghcr\.io\/docuthinker\/backend:\S+ -> ghcr\.io\/docuthinker\/backend:\S+$/m);
    expect(result.stdout).toMatch(/^backend: idle: canary and stable run the same image$/m);
  });

  it('exits 1 and names the canary (not the file) when a policy is invalid', async () => {
    await commitToRemote(remoteDir, { [FRONTEND_POLICY]: show(FRONTEND_POLICY).replace('route: primary', 'route: 42') }, 'a person breaks the frontend policy');
    const text = await promoter('status', '--config', configs.good);
    expect(text.status).toBe(1);
    expect(text.stdout).toMatch(/^frontend\s+-\s+-\s+error/m);
    expect(text.stdout).toMatch(/frontend: invalid CanaryPolicy; this canary is skipped\n\s+error: gitops\/apps\/frontend\/canary\.yaml: spec\.virtualService\.route/);
    const json = JSON.parse((await promoter('status', '--config', configs.good, '--format', 'json')).stdout) as { invalid: string[] };
    expect(json.invalid).toEqual(['frontend']);
    await commitToRemote(remoteDir, { [FRONTEND_POLICY]: show(FRONTEND_POLICY).replace('route: 42', 'route: primary') }, 'fix the frontend policy');
  });

  it('run --once starts a new canary; its log lines repeat no key and carry no PromQL', async () => {
    await commitToRemote(remoteDir, { [CANARY]: show(CANARY).replace(/backend:[0-9.]+/, 'backend:9.9.9') }, 'CI lands backend 9.9.9');
    syncHead();
    const result = await promoter('run', '--once', '--config', configs.good);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('canary(backend): start ghcr.io/docuthinker/backend:9.9.9 at 5%');
    expect(posted.some((m) => m.text.includes('canary backend started'))).toBe(true);
    // Logs are JSON lines on stderr, beside the tick report.
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) expect(repeatedKeys(line), line).toEqual([]);
    expect(lines.some((l) => l.includes('"component":"git"'))).toBe(true);
    syncHead();
  });

  it('shows a progressing canary: step, both weights and images, phase, reason, time in step; JSON carries the same', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const result = await promoter('status', '--config', configs.good);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^backend\\s+1/4 \\(5%\\)\\s+95/5\\s+progressing\\s+\\d+s\\s+ghcr\\.io/docuthinker/backend:\\S+ -> ${IMAGE.replace(/\./g, '\\.')}$`, 'm'));
    expect(result.stdout, result.stdout).toMatch(/^backend: .*no data/m);
    const json = JSON.parse((await promoter('status', '--config', configs.good, '--format', 'json')).stdout) as { canaries: Record<string, unknown>[] };
    expect(json.canaries.find((c) => c.canary === 'backend')).toMatchObject({
      step: '1/4 (5%)',
      stepIndex: 0,
      stableWeight: 95,
      canaryWeight: 5,
      canaryImage: IMAGE,
      phase: 'progressing',
      timeInStepSeconds: expect.any(Number),
    });
  });

  it('exits 3 when Prometheus is unreachable, naming it without pasting PromQL', async () => {
    const result = await promoter('status', '--config', configs.noProm);
    expect(result.status).toBe(3);
    expect(result.stdout, result.stdout).toMatch(/^UNREACHABLE prometheus: Prometheus /m);
    // the baselines (an instant query) are asked before the windows (a range query)
    expect(result.stdout).toMatch(/^backend: no analysis, holding: Prometheus unreachable .*http:\/\/127\.0\.0\.1:\d+\/api\/v1\/query(_range)?$/m);
    expect(result.stdout).not.toMatch(/query:|sum\(|rate\(|istio_requests_total/);
  });

  it('--watch redraws live', async () => {
    const result = await promoter('status', '--config', configs.good, '--watch', '--interval', '0.2', '--iterations', '3');
    expect(result.status).toBe(0);
    const frames = result.stdout.split('\f\n');
    expect(frames).toHaveLength(3);
    for (const frame of frames) expect(frame).toMatch(/^backend\s+1\/4 \(5%\)/m);
  });

  it('analyze --canary on a paused canary says which pause, who set it and why', async () => {
    const paused = await promoter('pause', 'backend', '--author', DANA, '--config', configs.good, '--reason', 'database migration until 14:00');
    expect(paused.status).toBe(0);
    expect(posted.some((m) => m.text.includes('Dana Developer <dana@example.test> ran pause on canary backend'))).toBe(true);
    const byAnnotation = await promoter('analyze', '--canary', 'backend', '--config', configs.good);
    expect(byAnnotation.status).toBe(0);
    expect(byAnnotation.stdout).toMatch(/paused by the delivery\.docuthinker\.io\/paused: "true" annotation on the VirtualService \(gitops\/istio\/traffic-management\/virtualservices\/backend\.yaml\); set by Dana Developer <dana@example\.test> on \S+ in [0-9a-f]{10}; reason: database migration until 14:00\./);
    expect((await promoter('resume', 'backend', '--author', DANA, '--config', configs.good)).status).toBe(0);

    await commitToRemote(remoteDir, { [POLICY]: show(POLICY).replace(/^spec:\n/m, 'spec:\n  paused: true\n') }, 'freeze backend for the quarter close');
    const bySpec = await promoter('analyze', '--canary', 'backend', '--config', configs.good, '--format', 'json');
    const pauses = (JSON.parse(bySpec.stdout) as { pauses: Record<string, unknown>[] }).pauses;
    expect(pauses).toEqual([
      expect.objectContaining({ source: 'spec', what: `spec.paused: true in the policy (${POLICY})`, by: 'Dana Developer <dana@example.test>', reason: 'freeze backend for the quarter close' }),
    ]);
    await commitToRemote(remoteDir, { [POLICY]: show(POLICY).replace(/^ {2}paused: true\n/m, '') }, 'unfreeze backend');
  });

  it('promote --retry-failed clears the failed mark of a rolled-back image, as a commit', async () => {
    expect((await promoter('abort', 'backend', '--author', DANA, '--config', configs.good, '--reason', 'errors in the canary')).status).toBe(0);
    const deadEnd = await promoter('promote', 'backend', '--author', DANA, '--config', configs.good);
    expect(deadEnd.status).toBe(3);
    expect(deadEnd.stderr).toContain('run `promoter promote backend --retry-failed` to clear the mark');
    const retry = await promoter('promote', 'backend', '--author', DANA, '--config', configs.good, '--retry-failed', '--reason', 'the errors came from a dependency outage');
    expect(retry.stderr).toBe('');
    expect(retry.status).toBe(0);
    expect(retry.stdout).toMatch(/^canary\(backend\): retry ghcr\.io\/docuthinker\/backend:9\.9\.9, clear its failed mark: committed [0-9a-f]{10}$/m);
    expect(git('log', '-1', '--format=%(trailers)', 'main')).toContain('Promoter-Decision: retry-failed');
    expect(show(CANARY)).toContain('delivery.docuthinker.io/failed-image: ""');
    syncHead();
    const status = await promoter('status', '--config', configs.good);
    expect(status.stdout).toMatch(/^backend\s+ready\s+100\/0\s+ready/m);
    expect(status.stdout).toMatch(/^backend: would commit: canary\(backend\): start ghcr\.io\/docuthinker\/backend:9\.9\.9 at 5%$/m);
  });

  it('history lists the decisions with their evidence, read back from the trailers', async () => {
    const result = await promoter('history', 'backend', '--config', configs.good);
    expect(result.status).toBe(0);
    const decisions = [...result.stdout.matchAll(/^\S+\s+[0-9a-f]{10}\s+(\S+)/gm)].map((m) => m[1]);
    expect(decisions).toEqual(['retry-failed', 'rollback', 'resume', 'pause', 'start']);
    expect(result.stdout).toContain('evidence: no analysis (not needed for this action)');
    expect(result.stdout).toContain(`image: ${IMAGE}`);
    const json = JSON.parse((await promoter('history', 'backend', '--config', configs.good, '--format', 'json')).stdout) as { decision: string; author: string }[];
    expect(json[0]).toMatchObject({ decision: 'retry-failed', author: 'Dana Developer <dana@example.test>' });
  });
});

/** A loopback port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Keys that appear twice in one object of a JSON text (JSON.parse would silently keep the last). */
function repeatedKeys(text: string): string[] {
  const repeated: string[] = [];
  const stack: Set<string>[] = [];
  const kinds: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const token = text.slice(i + 1, j);
      let k = j + 1;
      while (text[k] === ' ') k++;
      if (text[k] === ':' && kinds.at(-1) === '{') {
        const keys = stack.at(-1);
        if (keys?.has(token)) repeated.push(token);
        keys?.add(token);
      }
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') {
      kinds.push(c);
      stack.push(new Set());
    } else if (c === '}' || c === ']') {
      kinds.pop();
      stack.pop();
    }
    i++;
  }
  return repeated;
}
