// Push delivery: one commit per decision straight to the GitOps branch (today's behaviour), and the
// per-process clone directory every promoter command works in.
import { readdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { GitPermanentError } from './git.js';
import type { DeliveryPort } from './ports.js';
import type { GitWorkspace } from './workspace.js';

/** Delivers every change as one commit pushed to the workspace's branch. */
export function pushDelivery(workspace: GitWorkspace): DeliveryPort {
  return {
    deliver: async (change) => {
      const outcome = await workspace.commitAndPush(change);
      // A refusal by the remote's rules needs a person (or pull-request delivery); retrying cannot help.
      if (outcome.kind === 'refused') throw new GitPermanentError(outcome.reason, `git push origin HEAD:refs/heads/${workspace.branch}`);
      return outcome;
    },
    // Every decision of a tick in one push (each still its own commit): see GitWorkspace.commitAllAndPush.
    deliverAll: async (changes) => {
      const outcome = await workspace.commitAllAndPush(changes);
      if (outcome.kind === 'refused') throw new GitPermanentError(outcome.reason, `git push origin HEAD:refs/heads/${workspace.branch}`);
      if (outcome.kind === 'rejected') return changes.map(() => outcome);
      return outcome.each;
    },
  };
}

/** What a clone is for: the service, a dry-run look, or a person's command. */
export type ClonePurpose = 'run' | 'status' | 'person';

function safeHost(): string {
  return hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'host';
}

/**
 * This process's own clone under the configured workdir: `<purpose>-<host>-<pid>`. Two processes
 * (`promoter run` and `promoter pause` with one config) never share a work tree, so neither sees the
 * other's `.git/config` lock; a restarted service with the same pid (pid 1 in a container) reuses its clone.
 */
export function processCloneDir(workdir: string, purpose: ClonePurpose, pid = process.pid): string {
  return join(workdir, `${purpose}-${safeHost()}-${pid}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes clones this host's dead processes left behind; other hosts' clones (a shared volume) are theirs. */
export function removeStaleClones(workdir: string): string[] {
  const pattern = new RegExp(`^(run|status|person)-${safeHost().replace(/[.-]/g, '\\$&')}-(\\d+)$`);
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(workdir);
  } catch {
    return removed;
  }
  for (const entry of entries) {
    const match = pattern.exec(entry);
    const pid = Number(match?.[2]);
    if (!match || pid === process.pid || alive(pid)) continue;
    rmSync(join(workdir, entry), { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}
