// Launches a real Prometheus (Debian's /usr/bin/prometheus) on loopback for tests and the demo:
// a temp dir for config and TSDB, a free port, bounded waits, and no process left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Logger } from '../../src/logger.js';

export interface PrometheusProcess {
  url: string;
  port: number;
  dataDir: string;
  /** SIGTERM, then SIGKILL after a bound; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** stops and starts again on the same port with the same data (a monitoring outage). */
  restart(): Promise<void>;
  /** stops the process but keeps the port and data, until resume() (a longer monitoring outage). */
  suspend(): Promise<void>;
  resume(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** host:port of each /metrics endpoint to scrape. */
  targets: string[];
  scrapeIntervalSeconds?: number;
  /** default: `prometheus` on PATH, else /usr/bin/prometheus. */
  binary?: string;
  /** default: a free port. */
  port?: number;
  logger?: Logger;
  /** how long to wait for /-/ready; default 30000. */
  readyTimeoutMs?: number;
  /** a directory of TSDB blocks (e.g. from `promtool tsdb create-blocks-from`) copied into the data dir before start. */
  blocksFrom?: string;
}

export class PrometheusLaunchError extends Error {
  override name = 'PrometheusLaunchError';
}

const STOP_GRACE_MS = 5_000;
const STDERR_TAIL_CHARS = 2_000;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The Prometheus binary to run, or a PrometheusLaunchError that says how to install it. */
export function resolvePrometheusBinary(binary?: string, pathEnv: string = process.env.PATH ?? ''): string {
  if (binary !== undefined) {
    if (isExecutable(binary)) return binary;
    throw new PrometheusLaunchError(`Prometheus binary not found or not executable: ${binary} (install Debian's prometheus package: apt-get install -y prometheus)`);
  }
  const candidates = [...pathEnv.split(delimiter).filter((dir) => dir !== '').map((dir) => join(dir, 'prometheus')), '/usr/bin/prometheus'];
  const found = candidates.find(isExecutable);
  if (found) return found;
  throw new PrometheusLaunchError("Prometheus binary not found on PATH or at /usr/bin/prometheus (install Debian's prometheus package: apt-get install -y prometheus)");
}

/** A port the kernel says is free right now (bind :0 on loopback, read it, release it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

/** prometheus.yml scraping the given targets; scrape_timeout must not exceed the interval. */
export function prometheusConfig(targets: readonly string[], scrapeIntervalSeconds: number): string {
  const interval = `${scrapeIntervalSeconds}s`;
  return [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'scrape_configs:',
    '  - job_name: mesh',
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/** Whether a child process has ended (exit code or signal). */
export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true once the child exits, false after ms. */
export function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusProcess> {
  const binary = resolvePrometheusBinary(options.binary);
  const scrapeInterval = options.scrapeIntervalSeconds ?? 1;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const logger = options.logger;
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const root = await mkdtemp(join(tmpdir(), 'prometheus-'));
  const dataDir = join(root, 'data');
  const configFile = join(root, 'prometheus.yml');
  await writeFile(configFile, prometheusConfig(options.targets, scrapeInterval));
  if (options.blocksFrom !== undefined) await cp(options.blocksFrom, dataDir, { recursive: true });

  let child: ChildProcess | undefined;
  let stderrTail = '';
  let removed = false;

  // Kills synchronously when the Node process exits without calling stop() (a crashed test run).
  const onProcessExit = (): void => {
    if (child && !exited(child)) child.kill('SIGKILL');
    if (!removed) rmSync(root, { recursive: true, force: true });
  };
  process.on('exit', onProcessExit);

  async function launch(): Promise<void> {
    stderrTail = '';
    const proc = spawn(
      binary,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${dataDir}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1d',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = proc;
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    let failure: Error | undefined;
    // An 'error' without a listener would crash the test run; keep the first one for the message.
    proc.on('error', (error) => {
      failure ??= error;
      logger?.warn({ err: error.message, url }, 'prometheus process error');
    });
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      await delay(100);
      if (failure) throw new PrometheusLaunchError(`could not start ${binary}: ${failure.message}`, { cause: failure });
      if (exited(proc)) {
        throw new PrometheusLaunchError(`${binary} exited (code ${proc.exitCode ?? proc.signalCode}) before it was ready on ${url}: ${stderrTail.trim()}`);
      }
      if (await isReady(url)) break;
      if (Date.now() > deadline) {
        await terminate(proc);
        throw new PrometheusLaunchError(`${binary} was not ready on ${url} within ${readyTimeoutMs} ms: ${stderrTail.trim()}`);
      }
    }
    logger?.info({ url, dataDir, pid: proc.pid }, 'prometheus ready');
  }

  async function terminate(proc: ChildProcess): Promise<void> {
    if (exited(proc)) return;
    proc.kill('SIGTERM');
    if (!(await waitForExit(proc, STOP_GRACE_MS))) {
      proc.kill('SIGKILL');
      await waitForExit(proc, STOP_GRACE_MS);
    }
  }

  async function removeRoot(): Promise<void> {
    if (removed) return;
    removed = true;
    process.off('exit', onProcessExit);
    await rm(root, { recursive: true, force: true });
  }

  try {
    await launch();
  } catch (error) {
    if (child) await terminate(child);
    await removeRoot();
    throw error;
  }

  return {
    url,
    port,
    dataDir,
    async stop() {
      if (child) await terminate(child);
      await removeRoot();
      logger?.info({ url }, 'prometheus stopped');
    },
    async restart() {
      if (removed) throw new PrometheusLaunchError(`Prometheus on ${url} was stopped for good; it cannot restart`);
      if (child) await terminate(child);
      await launch();
    },
    async suspend() {
      if (child) await terminate(child);
      logger?.info({ url }, 'prometheus suspended');
    },
    async resume() {
      if (removed) throw new PrometheusLaunchError(`Prometheus on ${url} was stopped for good; it cannot resume`);
      if (child && !exited(child)) return;
      await launch();
    },
  };
}
