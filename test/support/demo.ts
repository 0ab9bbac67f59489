// `promoter demo`: a healthy canary promoted through every step and finalized, then a bad one
// rolled back, on loopback with real Prometheus and git; progress is printed live.
import { createLogger, type Logger } from '../../src/logger.js';
import { formatCanaryLine } from '../../src/promoter/report.js';
import type { CanaryReport, TickReport } from '../../src/promoter/reconcile.js';
import { DEMO_CANARY, Environment } from './environment.js';
import { startGitHubServer, type GitHubTestServer } from './github-server.js';

export interface DemoOptions {
  out: (line: string) => void;
  /** where the JSON logs go (default: nowhere; the demo prints its own progress). */
  logger?: Logger;
  /** give up after this long (seconds). */
  timeoutSeconds?: number;
  goodImage?: string;
  badImage?: string;
  /** push (default) or pull-request: decisions as pull requests on a loopback GitHub API, merged on green checks. */
  delivery?: 'push' | 'pull-request';
}

export interface DemoResult {
  ok: boolean;
  seconds: number;
  commits: { sha: string; subject: string; trailers: Record<string, string> }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const out = options.out;
  const started = Date.now();
  const deadline = started + (options.timeoutSeconds ?? 170) * 1000;
  const elapsed = () => `${String(Math.round((Date.now() - started) / 1000)).padStart(3)}s`;
  const logger = options.logger ?? createLogger({ level: 'silent' });
  const goodImage = options.goodImage ?? 'ghcr.io/docuthinker/backend:1.5.0';
  const badImage = options.badImage ?? 'ghcr.io/docuthinker/backend:1.6.0-bad';

  out('Setting up on loopback: a bare Git remote seeded from gitops/ and argocd/, a real Prometheus,');
  out('a mesh simulator playing Istio + Argo CD, and the promoter (one tick per second).');
  let gh: GitHubTestServer | undefined;
  const env = await Environment.start({
    logger,
    ...(options.delivery === 'pull-request'
      ? {
          beforePromoter: async (remoteDir: string) => {
            const token = 'demo-token-not-a-secret';
            gh = await startGitHubServer({ bareRepo: remoteDir, tokens: { [token]: 'docuthinker-promoter[bot]' }, ci: { contexts: ['merge-weight-change'], settleAfterMs: 500 } });
            await gh.requireStatusChecks('main', ['merge-weight-change']);
            return {
              config: { delivery: { mode: 'pull-request', github: { apiUrl: gh.url, owner: gh.owner, repo: gh.repo }, links: { argocd: 'https://argocd.example.test', grafana: 'https://grafana.example.test/d/canary' } } },
              env: { GITHUB_TOKEN: token },
              close: () => gh?.close() ?? Promise.resolve(),
            };
          },
        }
      : {}),
  });
  if (gh) out(`  github      ${gh.url} (loopback GitHub API; merge-weight-change is a required check)`);
  // Pull requests as they are opened, checked and merged (or closed).
  const seen = new Map<number, string>();
  const watchPulls = async () => {
    if (!gh) return;
    for (const pr of await gh.pullRequests()) {
      const checks = pr.statuses.map((s) => `${s.context} ${s.state}`).join(', ') || 'no checks yet';
      const key = `${pr.state}|${checks}`;
      if (seen.get(pr.number) === key) continue;
      if (!seen.has(pr.number)) {
        out(`${elapsed()} PR #${pr.number} opened: ${pr.title}  [${pr.labels.join(', ')}]`);
        for (const line of (pr.body ?? '').split('\n').filter((l) => l.trim() !== '').slice(1, 4)) out(`         | ${line.slice(0, 110)}`);
      }
      out(`${elapsed()} PR #${pr.number} ${pr.state === 'open' ? 'checks' : pr.state}: ${checks}${pr.mergeCommitSha ? ` -> ${pr.mergeCommitSha.slice(0, 10)} on main` : ''}`);
      seen.set(pr.number, key);
    }
  };
  out(`  remote      ${env.remoteDir}`);
  out(`  prometheus  ${env.prometheus.url} (scraping the mesh at ${env.mesh.target} every 1s)`);
  out(`  argo cd     ${env.argo.url} (Kubernetes API for applications.argoproj.io)`);
  let lastLine = '';
  let lastPrinted = 0;
  const show = (report: CanaryReport) => {
    const line = formatCanaryLine(report);
    const key = `${report.outcome}|${report.canaryWeight ?? ''}|${report.reason.split(':')[0] ?? ''}`;
    if (report.outcome === 'committed' || key !== lastLine || Date.now() - lastPrinted > 5000) {
      for (const l of line.split('\n')) out(`${elapsed()} ${l}`);
      lastLine = key;
      lastPrinted = Date.now();
    }
  };
  const tickUntil = async (label: string, done: (report: TickReport) => Promise<boolean>) => {
    for (;;) {
      if (Date.now() > deadline) throw new Error(`demo timed out while waiting for: ${label}`);
      const report = await env.tick();
      if (report.error) out(`${elapsed()} tick error: ${report.error}`);
      for (const canary of report.canaries) if (canary.canary === DEMO_CANARY) show(canary);
      await watchPulls();
      if (await done(report)) return;
      await sleep(1000);
    }
  };
  const state = () => env.stateAtHead(DEMO_CANARY);

  try {
    out('');
    out(`1. CI lands a healthy canary image: ${goodImage}`);
    await env.landCanaryImage(goodImage);
    await tickUntil('the healthy canary to be promoted and finalized', async () => {
      const s = await state();
      return s.phase === 'idle' && s.stableImage === goodImage;
    });
    out(`${elapsed()} promoted: stable now runs ${goodImage}, traffic 100/0 back on stable`);

    out('');
    out(`2. CI lands a bad canary image (2 % errors, 4x stable's 0.5 %): ${badImage}`);
    await env.landCanaryImage(badImage);
    await tickUntil('the bad canary to be rolled back', async () => (await state()).phase === 'failed');
    const after = await state();
    out(`${elapsed()} rolled back: stable ${after.stableWeight} / canary ${after.canaryWeight}; ${badImage} is marked failed and will not start again`);

    const log = await env.log(30);
    out('');
    out('git log of the GitOps remote (newest first):');
    for (const commit of log) {
      out(`  ${commit.sha.slice(0, 10)} ${commit.author.padEnd(22)} ${commit.subject}`);
      for (const [key, value] of Object.entries(commit.trailers)) out(`      ${key}: ${value}`);
    }
    const seconds = Math.round((Date.now() - started) / 1000);
    out('');
    out(`Demo finished in ${seconds}s.`);
    return { ok: true, seconds, commits: log.map((c) => ({ sha: c.sha, subject: c.subject, trailers: c.trailers })) };
  } finally {
    out('Cleaning up (Prometheus stopped, temp dirs removed).');
    await env.close();
  }
}
