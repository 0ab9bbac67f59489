// Launches a real single-node VictoriaMetrics (Debian's /usr/bin/victoria-metrics) on loopback for
// tests: a temp data dir, a free port, bounded waits, and no process left behind (like prometheus.ts).
import { spawn } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Logger } from '../../src/logger.js';
import { exited, freePort, prometheusConfig, waitForExit } from './prometheus.js';

export interface VictoriaMetricsProcess {
  /** the Prometheus-compatible query base URL (VictoriaMetrics serves /api/v1/* at its root). */
  url: string;
  port: number;
  dataDir: string;
  /**
   * Imports Prometheus text exposition lines that carry their own timestamps (milliseconds), via
   * /api/v1/import/prometheus, and makes them searchable at once (/internal/force_flush).
   */
  importPrometheusText(text: string): Promise<void>;
  /** SIGTERM, then SIGKILL after a bound; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartVictoriaMetricsOptions {
  /** host:port of /metrics endpoints to scrape (-promscrape.config); none: data comes by import. */
  targets?: string[];
  scrapeIntervalSeconds?: number;
  /** default: `victoria-metrics` on PATH, else /usr/bin/victoria-metrics. */
  binary?: string;
  port?: number;
  logger?: Logger;
  /** how long to wait for /health; default 30000. */
  readyTimeoutMs?: number;
  /** extra command-line flags, e.g. `-search.maxStalenessInterval=5m`. */
  flags?: string[];
}

export class VictoriaMetricsLaunchError extends Error {
  override name = 'VictoriaMetricsLaunchError';
}

/**
 * Flags every test instance gets, so that a query sees exactly what was written:
 * - `-search.latencyOffset=0s`: by default the newest 30 s are hidden from queries (points still
 *   being collected); the promoter keeps its own settle margin instead.
 * - `-search.disableCache`: the rollup result cache would keep answers computed before a backfill.
 * - `-retentionPeriod=100y`: imported history of any age is kept.
 */
export const VICTORIA_METRICS_TEST_FLAGS = ['-search.latencyOffset=0s', '-search.disableCache', '-retentionPeriod=100y'] as const;

/**
 * What a VictoriaMetrics behind the promoter needs to read raw counters as Prometheus does: a
 * 5-minute lookback. VictoriaMetrics derives its staleness interval from the series' own scrape
 * interval, so a few missed scrapes make a window empty ("no data": the canary holds) where
 * Prometheus still sees the last value within its 5-minute lookback ("no requests").
 */
export const VICTORIA_METRICS_PROMETHEUS_LOOKBACK = ['-search.minStalenessInterval=5m'] as const;

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

/** The VictoriaMetrics binary to run, or an error that says how to install it. */
export function resolveVictoriaMetricsBinary(binary?: string, pathEnv: string = process.env.PATH ?? ''): string {
  const hint = "install Debian's victoria-metrics package: apt-get install -y victoria-metrics (scripts/setup.sh does)";
  if (binary !== undefined) {
    if (isExecutable(binary)) return binary;
    throw new VictoriaMetricsLaunchError(`VictoriaMetrics binary not found or not executable: ${binary} (${hint})`);
  }
  const candidates = [...pathEnv.split(delimiter).filter((dir) => dir !== '').map((dir) => join(dir, 'victoria-metrics')), '/usr/bin/victoria-metrics'];
  const found = candidates.find(isExecutable);
  if (found) return found;
  throw new VictoriaMetricsLaunchError(`VictoriaMetrics binary not found on PATH or at /usr/bin/victoria-metrics (${hint})`);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function isHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
    const text = await response.text();
    return response.ok && text.trim() === 'OK';
  } catch {
    return false;
  }
}

export async function startVictoriaMetrics(options: StartVictoriaMetricsOptions = {}): Promise<VictoriaMetricsProcess> {
  const binary = resolveVictoriaMetricsBinary(options.binary);
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const logger = options.logger;
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const root = await mkdtemp(join(tmpdir(), 'victoria-metrics-'));
  const dataDir = join(root, 'data');
  const args = [`-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${dataDir}`, '-loggerLevel=ERROR', ...VICTORIA_METRICS_TEST_FLAGS, ...(options.flags ?? [])];
  if (options.targets && options.targets.length > 0) {
    const configFile = join(root, 'scrape.yml');
    await writeFile(configFile, prometheusConfig(options.targets, options.scrapeIntervalSeconds ?? 1));
    args.push(`-promscrape.config=${configFile}`);
  }

  let removed = false;
  let stderrTail = '';
  let failure: Error | undefined;
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const onProcessExit = (): void => {
    if (!exited(child)) child.kill('SIGKILL');
    if (!removed) rmSync(root, { recursive: true, force: true });
  };
  process.on('exit', onProcessExit);
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
  });
  child.on('error', (error) => {
    failure ??= error;
    logger?.warn({ err: error.message, url }, 'victoria-metrics process error');
  });

  async function terminate(): Promise<void> {
    if (exited(child)) return;
    child.kill('SIGTERM');
    if (!(await waitForExit(child, STOP_GRACE_MS))) {
      child.kill('SIGKILL');
      await waitForExit(child, STOP_GRACE_MS);
    }
  }

  async function stop(): Promise<void> {
    await terminate();
    if (removed) return;
    removed = true;
    process.off('exit', onProcessExit);
    await rm(root, { recursive: true, force: true });
  }

  try {
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      await delay(100);
      if (failure) throw new VictoriaMetricsLaunchError(`could not start ${binary}: ${failure.message}`, { cause: failure });
      if (exited(child)) throw new VictoriaMetricsLaunchError(`${binary} exited (code ${child.exitCode ?? child.signalCode}) before it was ready on ${url}: ${stderrTail.trim()}`);
      if (await isHealthy(url)) break;
      if (Date.now() > deadline) throw new VictoriaMetricsLaunchError(`${binary} was not healthy on ${url} within ${readyTimeoutMs} ms: ${stderrTail.trim()}`);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  logger?.info({ url, dataDir, pid: child.pid }, 'victoria-metrics ready');

  return {
    url,
    port,
    dataDir,
    async importPrometheusText(text) {
      const response = await fetch(`${url}/api/v1/import/prometheus`, { method: 'POST', body: text, signal: AbortSignal.timeout(60_000) });
      const answer = await response.text();
      if (!response.ok) throw new VictoriaMetricsLaunchError(`import into VictoriaMetrics answered HTTP ${response.status}: ${answer.slice(0, 300)}`);
      const flushed = await fetch(`${url}/internal/force_flush`, { signal: AbortSignal.timeout(30_000) });
      await flushed.arrayBuffer();
      if (!flushed.ok) throw new VictoriaMetricsLaunchError(`VictoriaMetrics force_flush answered HTTP ${flushed.status}`);
    },
    stop,
  };
}
