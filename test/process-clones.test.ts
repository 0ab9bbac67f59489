// Two promoter processes with one config (`promoter run` up, a person's `promoter pause`) never share
// a work tree: each works in its own clone, and the person's clone is gone when the command ends.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../src/schemas/registry.js';
import { cleanGitEnv, createSeededRemote } from './support/git-remote.js';

const CLI = join(repoRoot(), 'dist/src/cli.js');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const run = promisify(execFile);

let dir: string;
let remoteDir: string;
let configFile: string;
let service: ChildProcess | undefined;

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{ name: none, cluster: { server: "http://127.0.0.1:1" } }]
users: [{ name: none, user: { token: unused } }]
contexts: [{ name: none, context: { cluster: none, user: none } }]
current-context: none
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'process-clones-'));
  ({ remoteDir } = await createSeededRemote({ dir, seedFrom: ['gitops'], sourceRoot: repoRoot() }));
  await writeFile(join(dir, 'kubeconfig'), KUBECONFIG);
  configFile = join(dir, 'promoter.yaml');
  await writeFile(
    configFile,
    [
      `git: { url: ${JSON.stringify(remoteDir)}, workdir: ${JSON.stringify(join(dir, 'work'))} }`,
      'prometheus: { url: "http://127.0.0.1:1", timeout: 1s }',
      `argocd: { kubeconfig: ${JSON.stringify(join(dir, 'kubeconfig'))} }`,
      'http: { listen: "" }',
      "schedule: '* * * * * *'",
      'logLevel: warn',
    ].join('\n'),
  );
}, 30_000);

afterAll(async () => {
  if (service?.pid !== undefined && service.exitCode === null) service.kill('SIGTERM');
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('one clone per process', () => {
  it('lets a person pause a canary while `promoter run` ticks every second with the same config', async () => {
    const env = { ...cleanGitEnv(dir), PROMOTER_CONFIG: configFile };
    service = spawn(process.execPath, [CLI, 'run'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    // Wait (bounded) for the service's clone to exist.
    let clones: string[] = [];
    for (let i = 0; i < 100 && !clones.some((c) => c.startsWith('run-')); i++) {
      await sleep(100);
      clones = existsSync(join(dir, 'work')) ? readdirSync(join(dir, 'work')) : [];
    }
    const serviceClone = clones.find((c) => c.startsWith('run-'));
    expect(serviceClone).toMatch(new RegExp(`^run-.+-${service.pid}$`));

    for (const op of ['pause', 'resume', 'pause'] as const) {
      const { stdout } = await run(process.execPath, [CLI, op, 'backend', '--author', 'Dana Developer <dana@example.test>', '--reason', `test ${op}`], { env });
      expect(stdout).toMatch(new RegExp(`canary\\(backend\\): ${op} at 0%: committed`));
      const latest = await run('git', [`--git-dir=${remoteDir}`, 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%(trailers:key=Promoter-Decision,valueonly)', 'main'], { env: cleanGitEnv(dir) });
      expect(latest.stdout.trim()).toBe(`Dana Developer <dana@example.test>|docuthinker-promoter <promoter@docuthinker.invalid>|${op}`);
    }
    // The service kept its clone and is still running; each person command removed its own.
    expect(service.exitCode).toBeNull();
    expect(readdirSync(join(dir, 'work'))).toEqual([serviceClone]);
  }, 90_000);
});
