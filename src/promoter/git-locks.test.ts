// Stale-lock detection on real files: a lock with no live owner is removed, one a live process in the clone may hold is kept.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findLocks, liveProcessIn, removeStaleLocks } from './git-locks.js';

let clone: string;
beforeEach(() => {
  clone = mkdtempSync(join(tmpdir(), 'git-locks-'));
  mkdirSync(join(clone, '.git', 'refs', 'heads', 'feature'), { recursive: true });
  writeFileSync(join(clone, '.git', 'index.lock'), '');
  writeFileSync(join(clone, '.git', 'refs', 'heads', 'feature', 'x.lock'), '');
  writeFileSync(join(clone, '.git', 'refs', 'heads', 'main'), 'abc\n');
});
afterEach(() => rmSync(clone, { recursive: true, force: true }));

describe('stale git locks (issue 11 item 2)', () => {
  it('finds the top-level and ref locks', () => {
    expect(findLocks(join(clone, '.git')).map((l) => l.path).sort()).toEqual(['index.lock', 'refs/heads/feature/x.lock']);
  });

  it('removes locks whose owner is gone', () => {
    expect(liveProcessIn(clone, new Set([process.pid]))).toBe(false);
    expect(removeStaleLocks(clone).map((l) => l.path).sort()).toEqual(['.git/index.lock', '.git/refs/heads/feature/x.lock']);
    expect(existsSync(join(clone, '.git', 'index.lock'))).toBe(false);
  });

  it('keeps them while a live process works in the clone', async () => {
    const holder = spawn('sleep', ['30'], { cwd: clone, stdio: 'ignore' });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(liveProcessIn(clone, new Set([process.pid]))).toBe(true);
      expect(removeStaleLocks(clone)).toEqual([]);
      expect(existsSync(join(clone, '.git', 'index.lock'))).toBe(true);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('without a process table, only a lock past the age bound is stale', () => {
    const procRoot = join(clone, 'no-proc');
    const old = new Date(Date.now() - 20 * 60_000);
    utimesSync(join(clone, '.git', 'index.lock'), old, old);
    expect(removeStaleLocks(clone, { procRoot }).map((l) => l.path)).toEqual(['.git/index.lock']);
    expect(existsSync(join(clone, '.git', 'refs', 'heads', 'feature', 'x.lock'))).toBe(true);
  });
});
