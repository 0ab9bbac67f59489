// Stale git lock files in a promoter clone: a git killed by kill -9 (or an OOM kill) leaves
// index.lock or a ref's .lock behind, and every later command fails until it is removed.
import { lstatSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export interface StaleLock {
  /** path relative to the clone's .git */
  path: string;
  ageMs: number;
}

export interface LockCheckOptions {
  now?: number;
  /** without /proc (no way to see an owner), a lock counts as stale only past this age; default 10 min. */
  maxAgeMs?: number;
  /** processes never counted as owners; default: this process and its batch-reader git children. */
  ignorePids?: ReadonlySet<number>;
  /** where process information lives (a test may point it elsewhere); default /proc. */
  procRoot?: string;
}

const TOP_LEVEL_LOCKS = ['index.lock', 'HEAD.lock', 'ORIG_HEAD.lock', 'FETCH_HEAD.lock', 'config.lock', 'packed-refs.lock', 'shallow.lock'];

/** Every lock file git may leave in `gitDir`: the top-level ones and any `*.lock` under refs/. */
export function findLocks(gitDir: string, now = Date.now()): StaleLock[] {
  const found: StaleLock[] = [];
  const add = (path: string): void => {
    try {
      const info = lstatSync(join(gitDir, path));
      if (info.isFile()) found.push({ path, ageMs: Math.max(0, now - info.mtimeMs) });
    } catch {
      // gone already
    }
  };
  for (const name of TOP_LEVEL_LOCKS) add(name);
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(join(gitDir, dir), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.lock')) add(path);
    }
  };
  walk('refs');
  return found;
}

/**
 * Is a live process (other than `ignore`) working inside `dir`, i.e. could it be the lock's owner?
 * git runs with its cwd in the clone (and so do its helpers). undefined when /proc cannot tell.
 */
export function liveProcessIn(dir: string, ignore: ReadonlySet<number>, procRoot = '/proc'): boolean | undefined {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return false;
  }
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((name) => /^\d+$/.test(name));
    statSync(join(procRoot, 'self', 'cwd'));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    if (ignore.has(Number(pid))) continue;
    let cwd: string;
    try {
      cwd = readlinkSync(join(procRoot, pid, 'cwd'));
    } catch {
      continue; // exited, or not ours to read
    }
    if (cwd === real || cwd.startsWith(real + sep)) return true;
  }
  return false;
}

/**
 * Removes the locks in the clone at `dir` that nobody holds: no live process other than the
 * ignored ones works in the clone (the owner is gone), or, when that cannot be seen, the lock is
 * older than maxAgeMs. Returns what was removed; nothing when an owner may still be alive.
 */
export function removeStaleLocks(dir: string, options: LockCheckOptions = {}): StaleLock[] {
  const gitDir = join(dir, '.git');
  const locks = findLocks(gitDir, options.now ?? Date.now());
  if (locks.length === 0) return [];
  const ignore = options.ignorePids ?? new Set([process.pid, ...childPids(process.pid, options.procRoot)]);
  const owner = liveProcessIn(dir, ignore, options.procRoot);
  const maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
  const stale = locks.filter((lock) => owner === false || (owner === undefined && lock.ageMs >= maxAgeMs));
  for (const lock of stale) rmSync(join(gitDir, lock.path), { force: true });
  return stale.map((lock) => ({ ...lock, path: relative(dir, join(gitDir, lock.path)) }));
}

/**
 * This process's direct children that are long-lived batch readers (`git cat-file --batch`): they
 * hold no lock, and counting them as owners would keep a killed git's lock forever.
 */
function childPids(pid: number, procRoot = '/proc'): number[] {
  let children: number[];
  try {
    children = readdirSync(join(procRoot, String(pid), 'task')).flatMap((task) => readChildren(join(procRoot, String(pid), 'task', task, 'children')));
  } catch {
    return [];
  }
  return children.filter((child) => {
    const argv = readFileSyncSafe(join(procRoot, String(child), 'cmdline')).split('\0');
    return argv.includes('cat-file') || argv.some((arg) => arg.startsWith('--batch'));
  });
}

function readChildren(file: string): number[] {
  return readFileSyncSafe(file)
    .split(/\s+/)
    .filter((s) => s !== '')
    .map(Number);
}

function readFileSyncSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
