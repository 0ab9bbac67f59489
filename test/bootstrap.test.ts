// scripts/bootstrap.sh in dry-run mode: the printed plan, and clear errors for bad arguments.
// A tripwire `kubectl` first on PATH proves that a dry run never touches a cluster.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const script = join(repoRoot, 'scripts', 'bootstrap.sh');
const ARGOCD_INSTALL_URL = 'https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml';

let binDir: string;
let tripwireLog: string;

beforeAll(() => {
  binDir = mkdtempSync(join(tmpdir(), 'bootstrap-test-'));
  tripwireLog = join(binDir, 'kubectl-called');
  const kubectl = join(binDir, 'kubectl');
  writeFileSync(kubectl, `#!/bin/sh\necho "$@" >> '${tripwireLog}'\nexit 97\n`);
  chmodSync(kubectl, 0o755);
});

afterAll(() => {
  rmSync(binDir, { recursive: true, force: true });
});

interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function bootstrap(...args: string[]): RunResult {
  return bootstrapWithBin(binDir, args);
}

function bootstrapWithBin(bin: string, args: string[]): RunResult {
  const result = spawnSync('bash', [script, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`, HOME: bin, LC_ALL: 'C' },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('bootstrap.sh --dry-run', () => {
  it('prints the plan: the Argo CD install URL, the AppProject and the root app-of-apps, in that order', () => {
    const { status, stdout, stderr } = bootstrap('--dry-run', 'docuthinker-prod', 'production');

    expect(stderr).toBe('');
    expect(status).toBe(0);
    const install = stdout.indexOf(ARGOCD_INSTALL_URL);
    const project = stdout.indexOf('argocd/project.yaml');
    const root = stdout.indexOf('argocd/root.yaml');
    expect(install).toBeGreaterThan(-1);
    expect(project).toBeGreaterThan(install);
    expect(root).toBeGreaterThan(project);
    expect(stdout).toContain('AppProject argocd/docuthinker');
    expect(stdout).toContain('Application argocd/docuthinker-root');
    expect(stdout).toContain('rollout status deployment/argocd-server');
  });

  it('lists the Applications Argo CD syncs next, ordered by sync wave', () => {
    const { stdout } = bootstrap('--dry-run', 'docuthinker-prod', 'production');

    const order = ['istio-base', 'istiod', 'istio-ingressgateway', 'docuthinker-mesh', 'docuthinker-apps'].map((name) =>
      stdout.indexOf(`Application argocd/${name}\n`),
    );
    expect(order.every((index) => index > -1)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('names every object the root app creates by its own kind: the promoter RBAC is a Role and a RoleBinding', () => {
    const { stdout } = bootstrap('--dry-run', 'docuthinker-prod', 'production');

    expect(stdout).toContain('wave 0: Role argocd/docuthinker-promoter\n');
    expect(stdout).toContain('wave 0: RoleBinding argocd/docuthinker-promoter\n');
    // The promoter's own Application is listed once, in its wave, and never as wave 0.
    expect(stdout).not.toContain('wave 0: Application argocd/docuthinker-promoter');
    expect(stdout.match(/: Application argocd\/docuthinker-promoter\n/g)).toHaveLength(1);
    expect(stdout).toMatch(/wave [1-9]\d*: Application argocd\/docuthinker-promoter\n/);
  });

  it('accepts --dry-run after the positional arguments too', () => {
    const { status, stdout } = bootstrap('docuthinker-prod', 'production', '--dry-run');

    expect(status).toBe(0);
    expect(stdout).toContain('Dry run complete: nothing was applied.');
  });

  it('never runs kubectl', () => {
    bootstrap('--dry-run', 'docuthinker-prod', 'production');

    expect(existsSync(tripwireLog)).toBe(false);
  });
});

describe('bootstrap.sh arguments', () => {
  it('--help explains the arguments and options and exits 0', () => {
    const { status, stdout } = bootstrap('--help');

    expect(status).toBe(0);
    expect(stdout).toContain('Usage: scripts/bootstrap.sh [--dry-run] <namespace> <profile>');
    expect(stdout).toContain('--dry-run');
    expect(stdout).toContain('production');
  });

  it.each([
    { args: ['--dry-run', 'docuthinker-prod', 'staging'], message: "unknown profile 'staging' (known profiles: production)" },
    { args: ['--dry-run', 'default', 'production'], message: "namespace 'default' is not the one profile 'production' deploys to" },
    { args: ['--dry-run', '--force', 'docuthinker-prod', 'production'], message: "unknown option '--force'" },
    { args: ['--dry-run', 'docuthinker-prod'], message: 'expected 2 arguments <namespace> <profile>, got 1' },
    { args: [], message: 'expected 2 arguments <namespace> <profile>, got 0' },
  ])('rejects $args with a clear error and exit code 2', ({ args, message }) => {
    const { status, stdout, stderr } = bootstrap(...args);

    expect(status).toBe(2);
    expect(stderr).toContain(`bootstrap: error: ${message}`);
    expect(stderr).toContain("Run 'scripts/bootstrap.sh --help' for usage.");
    expect(stdout).not.toContain('kubectl apply');
    expect(existsSync(tripwireLog)).toBe(false);
  });
});

describe('bootstrap.sh without --dry-run', () => {
  it('stops with a clear error before applying anything when no cluster is reachable', () => {
    // A kubectl that cannot reach any cluster: it records its calls and always fails.
    const offline = mkdtempSync(join(tmpdir(), 'bootstrap-offline-'));
    try {
      const calls = join(offline, 'calls');
      writeFileSync(join(offline, 'kubectl'), `#!/bin/sh\necho "$@" >> '${calls}'\nexit 1\n`);
      chmodSync(join(offline, 'kubectl'), 0o755);

      const { status, stdout, stderr } = bootstrapWithBin(offline, ['docuthinker-prod', 'production']);

      expect(status).toBe(1);
      expect(stderr).toContain('bootstrap: error: no cluster reachable with the current kubectl context');
      expect(stdout).not.toContain('kubectl apply');
      expect(readFileSync(calls, 'utf8')).not.toMatch(/^apply/m);
    } finally {
      rmSync(offline, { recursive: true, force: true });
    }
  });
});
