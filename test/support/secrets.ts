// The whole suite runs with a recognisable fake token (issue 11, secrets): a vitest setup file that
// puts it in GIT_TOKEN and GITHUB_TOKEN (cleanGitEnv forwards both to every promoter and git the
// tests start) and fails a test when the token shows up where the suite can see it.
//
// Where it looks, cheaply enough to run in every file:
// - this process's console and stdout/stderr, and whatever output helpers hand to observeOutput()
//   (every `promoter run` started by test/faults/support/promoter-process.ts);
// - `ps`: every process's command line, sampled every 250 ms while the file runs (so a git push or
//   git-remote-https in flight is seen);
// - after each test, before the file's own cleanup: every file under the file's private TMPDIR
//   changed since the last look (clones, work trees, configs, logs), and every commit, blob and
//   tree of each git repository there that changed (test remotes included), through
//   `git cat-file --batch-all-objects` since objects on disk are compressed.
// A per-file record (class "secrets") goes to the reliability report.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { recordCase } from '../faults/support/record.js';

/** Files bigger than this are not read (Prometheus' preallocated chunk files, the 50 MB manifest case). */
const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** Prometheus' and VictoriaMetrics' storage: metrics only, large and rewritten every scrape. */
const storageDir = (names: readonly string[]): boolean => (names.includes('wal') && names.includes('chunks_head')) || names.includes('indexdb');
const PS_EVERY_MS = 250;

export interface Leak {
  where: string;
}

interface Detector {
  token: string;
  root: string;
  leaks: Leak[];
  /** every leak ever found in this file (the record counts them, forget() does not lower it). */
  found: number;
  /** ms epoch of the last file scan: only files changed since are read again. */
  scannedAt: number;
  tests: number;
  installed: boolean;
}

const KEY = Symbol.for('docuthinker.suite-secrets');
type Global = typeof globalThis & { [KEY]?: Detector };

/** The detector of this test file (one per process: the setup file and any importer share it). */
export function detector(): Detector {
  const global = globalThis as Global;
  const existing = global[KEY];
  if (existing) return existing;
  const token = process.env.SUITE_FAKE_TOKEN ?? `FAKE-SUITE-TOKEN-${randomBytes(10).toString('hex')}`;
  // Made before TMPDIR points into it.
  const root = mkdtempSync(join(tmpdir(), 'suite-secrets-'));
  const created: Detector = { token, root, leaks: [], found: 0, scannedAt: 0, tests: 0, installed: false };
  global[KEY] = created;
  return created;
}

/** The fake token every test process and child carries. */
export const suiteToken = (): string => detector().token;

/** Files and repositories already reported: a leaking file is counted once, not once per test. */
const reported = new Set<string>();

function leak(where: string, once = false): void {
  if (once) {
    if (reported.has(where)) return;
    reported.add(where);
  }
  const d = detector();
  d.leaks.push({ where });
  d.found += 1;
}

/** Output the suite captured from a child (a promoter's stdout, a log): a leak if it holds the token. */
export function observeOutput(where: string, text: string | Buffer): void {
  if (text.includes(detector().token)) leak(where);
}

/** Every process whose command line holds the token (what `ps -ef` would print). */
export function sampleProcesses(): void {
  const token = detector().token;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return; // no procfs
  }
  for (const pid of pids) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`);
      if (cmdline.includes(token)) leak(`ps: process ${pid} (${cmdline.toString('utf8').split('\0')[0] ?? ''})`);
    } catch {
      // exited meanwhile
    }
  }
}

/** Files and git objects under the file's TMPDIR changed since the last scan. */
export function scanFiles(): void {
  const d = detector();
  const since = d.scannedAt - 2000; // mtime granularity and clock slack
  d.scannedAt = Date.now();
  const repositories = new Set<string>();
  const walk = (path: string, repository: string | undefined): void => {
    let info;
    try {
      info = lstatSync(path);
    } catch {
      return; // removed while walking
    }
    if (info.isDirectory()) {
      let names: string[];
      try {
        names = readdirSync(path);
      } catch {
        return;
      }
      if (storageDir(names)) return;
      // A git directory (bare, or a clone's .git): its objects are compressed, read through git.
      const isGitDir = names.includes('objects') && names.includes('HEAD') && names.includes('refs');
      for (const name of names) walk(join(path, name), isGitDir ? path : repository);
      return;
    }
    if (!info.isFile() || info.mtimeMs < since) return;
    if (repository !== undefined) repositories.add(repository);
    if (info.size > MAX_FILE_BYTES) return;
    try {
      if (readFileSync(path).includes(d.token)) leak(`file ${path.slice(d.root.length + 1)}`, true);
    } catch {
      // gone
    }
  };
  walk(d.root, undefined);
  for (const repository of repositories) {
    if (!existsSync(join(repository, 'objects'))) continue;
    try {
      const objects = execFileSync('git', [`--git-dir=${repository}`, 'cat-file', '--batch-all-objects', '--batch', '--unordered'], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: d.root, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
        maxBuffer: 512 * 1024 * 1024,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      if (objects.includes(d.token)) leak(`git objects (commits, trees, blobs) of ${repository.slice(d.root.length + 1) || '.'}`, true);
    } catch {
      // removed or half-written meanwhile: the next scan reads it again
    }
  }
}

/** Takes the leaks found so far (and clears them), after a last look at the files (ps is sampled all along). */
export function takeLeaks(): Leak[] {
  scanFiles();
  const d = detector();
  return d.leaks.splice(0);
}

/** Clears leaks a test made on purpose (the detector's own test), so they do not fail it. */
export function forget(leaks: readonly Leak[]): void {
  const d = detector();
  d.found -= leaks.length;
}

function install(): void {
  const d = detector();
  if (d.installed) return;
  d.installed = true;
  process.env.GIT_TOKEN = d.token;
  process.env.GITHUB_TOKEN = d.token;
  // Everything the tests create with mkdtemp(tmpdir()) lands here, where the scan looks.
  process.env.TMPDIR = d.root;

  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) observeOutput(stream === process.stdout ? 'stdout of the test process' : 'stderr of the test process', chunk);
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    });
  }
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      for (const arg of args) observeOutput(`console.${method}`, typeof arg === 'string' ? arg : safeJson(arg));
      original(...args);
    };
  }
  const sampler = setInterval(sampleProcesses, PS_EVERY_MS);
  sampler.unref();

  afterEach(() => {
    d.tests += 1;
    const leaks = takeLeaks();
    if (leaks.length > 0) throw new Error(`the suite's fake token leaked (${leaks.length}): ${leaks.map((l) => l.where).join('; ')}`);
  });
  // Registered first, so it runs after the file's own afterAll cleanup.
  afterAll(() => {
    clearInterval(sampler);
    recordCase(
      {
        class: 'secrets',
        case: 'every test file run with a fake GIT_TOKEN/GITHUB_TOKEN: console and promoter output, ps, files and git objects under its TMPDIR',
        runs: 1,
        dataLost: 0,
        wrongPromotions: 0,
        monitoringRollbacks: 0,
        tokensLeaked: d.found,
      },
      d.found === 0,
    );
    try {
      rmSync(d.root, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // a child still writing there: the system's tmp cleaner takes the rest
    }
  });
}

function safeJson(value: unknown): string {
  try {
    return value instanceof Error ? `${value.message} ${value.stack ?? ''}` : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

install();
