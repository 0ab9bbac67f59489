// Two real `promoter run` processes share one loopback Kubernetes API (Leases and Applications,
// checked against the real schemas), one bare remote and one Prometheus: exactly one acts; after
// SIGKILL of the leader the other takes the Lease and continues at the same step, with no duplicate
// and no skipped commit. Needs the build (dist/), which scripts/setup.sh makes.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.js';
import { repoRoot } from '../src/schemas/registry.js';
import { Environment } from './support/environment.js';
import { cleanGitEnv } from './support/git-remote.js';

const GOOD = 'ghcr.io/docuthinker/backend:1.5.0';
const LEASE_SECONDS = 4;
const RENEW_SECONDS = 1;
const CLI = join(repoRoot(), 'dist', 'src', 'cli.js');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Replica {
  name: string;
  child: ChildProcess;
  lines: Record<string, unknown>[];
  url?: string;
}

let env: Environment;
let dir: string;
const replicas: Replica[] = [];

function git(...args: string[]): string {
  return execFileSync('git', [`--git-dir=${env.remoteDir}`, ...args], { env: cleanGitEnv(env.dir), encoding: 'utf8' });
}

/** Promoter commits since `since`, oldest first: author email (which replica) and subject. */
function promoterCommits(since: string): { email: string; subject: string }[] {
  return git('log', '--reverse', '--format=%ae%x09%s', `${since}..main`)
    .split('\n')
    .filter((l) => l.includes('canary(backend)'))
    .map((l) => {
      const [email = '', subject = ''] = l.split('\t');
      return { email, subject };
    });
}

async function startReplica(name: string, kubeconfig: string): Promise<Replica> {
  const config = join(dir, `${name}.yaml`);
  await writeFile(
    config,
    JSON.stringify({
      git: { url: env.remoteDir, branch: 'main', workdir: join(dir, `clone-${name}`), author: { name: 'docuthinker-promoter', email: `${name}@replicas.test` } },
      prometheus: { url: env.prometheus.url, timeout: '5s', settle: '1s' },
      argocd: { kubeconfig, timeout: '2s' },
      leaderElection: { enabled: true, namespace: 'docuthinker-promoter', name: 'docuthinker-promoter', identity: name, leaseDuration: `${LEASE_SECONDS}s`, renewPeriod: `${RENEW_SECONDS}s` },
      http: { listen: '127.0.0.1:0' },
      policies: ['gitops/apps/*/canary.yaml'],
      schedule: '* * * * * *',
      logLevel: 'info',
    }),
  );
  const child = spawn(process.execPath, [CLI, 'run', '--config', config], { env: cleanGitEnv(dir), stdio: ['ignore', 'pipe', 'pipe'] });
  const replica: Replica = { name, child, lines: [] };
  // The JSON log lines (pino, on stderr for `run`); anything else is kept as `raw`.
  for (const stream of [child.stdout, child.stderr]) {
    let buffer = '';
    stream?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const line of parts) {
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          replica.lines.push(parsed);
          if (typeof parsed.url === 'string' && replica.url === undefined) replica.url = parsed.url;
        } catch {
          replica.lines.push({ raw: line });
        }
      }
    });
  }
  replicas.push(replica);
  return replica;
}

async function readyz(replica: Replica): Promise<string> {
  if (!replica.url) return '';
  try {
    return await (await fetch(`${replica.url}/readyz`)).text();
  } catch {
    return '';
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, tries: number, everyMs = 500): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(everyMs);
  }
  const logs = replicas.map((r) => `${r.name}: ${JSON.stringify(r.lines.slice(-5))}`).join('\n');
  throw new Error(`${what}: not reached after ${tries} tries\n${logs}`);
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build, or scripts/setup.sh)`);
  env = await Environment.start({ logger: silentLogger(), intervalSeconds: 2, minDwellSeconds: 6 });
  dir = await mkdtemp(join(tmpdir(), 'promoter-replicas-'));
}, 60_000);

afterAll(async () => {
  for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('two promoter replicas with a Lease', () => {
  it('only the leader acts; after SIGKILL the other takes over at the same step, no commit duplicated or skipped', async () => {
    const kubeconfig = join(dir, 'kubeconfig.yaml');
    await writeFile(kubeconfig, env.argo.kubeConfigYaml());
    const before = git('rev-parse', 'main').trim();

    const a = await startReplica('promoter-a', kubeconfig);
    await waitFor('promoter-a leads', () => (a.lines.some((l) => l.msg === 'became the leader: ticking') ? true : undefined), 60);
    const b = await startReplica('promoter-b', kubeconfig);
    await waitFor('promoter-b serves', async () => ((await readyz(b)).length > 0 ? true : undefined), 60);
    expect(await readyz(b)).toMatch(/standby \(promoter-b\)/);
    const lease = env.argo.lease('docuthinker-promoter', 'docuthinker-promoter');
    expect(lease).toMatchObject({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', spec: { holderIdentity: 'promoter-a', leaseDurationSeconds: LEASE_SECONDS } });

    await env.landCanaryImage(GOOD);
    // The leader starts the canary and promotes it to 10 %.
    await waitFor('10 %', async () => ((await env.stateAtHead('backend')).canaryWeight === 10 ? true : undefined), 120);
    const beforeKill = promoterCommits(before);
    expect(beforeKill.map((c) => c.email)).toEqual(beforeKill.map(() => 'promoter-a@replicas.test'));
    expect(b.lines.some((l) => l.msg === 'committed')).toBe(false);
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toMatch(/promoter_leader\{identity="promoter-b"\} 0/);
    expect(metrics).toMatch(/promoter_ticks_skipped_total\{reason="not-leader"\} [1-9]/);

    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor('promoter-b leads', async () => ((await readyz(b)).includes('leader (promoter-b)') ? true : undefined), 40, 250);
    const tookOverAfter = (Date.now() - killedAt) / 1000;
    // Within the lease duration of the last renewal (plus a renew period of polling and a tick).
    expect(tookOverAfter).toBeLessThanOrEqual(LEASE_SECONDS + 2 * RENEW_SECONDS + 1);
    expect(b.lines.some((l) => l.msg === 'took over the Lease' && l.previous === 'promoter-a')).toBe(true);

    await waitFor('50 %', async () => ((await env.stateAtHead('backend')).canaryWeight === 50 ? true : undefined), 120);
    const commits = promoterCommits(before);
    expect(commits.map((c) => c.subject)).toEqual([`canary(backend): start ${GOOD} at 5%`, 'canary(backend): promote 5% -> 10%', 'canary(backend): promote 10% -> 50%']);
    expect(commits.map((c) => c.email)).toEqual(['promoter-a@replicas.test', 'promoter-a@replicas.test', 'promoter-b@replicas.test']);
    expect(env.argo.lease('docuthinker-promoter', 'docuthinker-promoter')).toMatchObject({ spec: { holderIdentity: 'promoter-b', leaseTransitions: 1 } });
    // Logs are JSON only: no node-cron lines, no warnings, on either replica.
    expect(replicas.flatMap((r) => r.lines).filter((l) => 'raw' in l)).toEqual([]);
  }, 300_000);
});
