// Finds repository files by a glob of `*` path segments (e.g. gitops/apps/*/canary.yaml) in a worktree.
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function segmentMatcher(segment: string): RegExp {
  const escaped = segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '[^/]*').replaceAll('?', '[^/]');
  return new RegExp(`^${escaped}$`);
}

/**
 * Repo-relative paths under `root` matching `pattern`; hidden entries (.git) never match a `*`.
 * Symlinks are never followed: a matching one is returned as it is (file or directory), so the
 * reader refuses it by name instead of the policy silently vanishing or being read from outside.
 */
export function matchRepoFiles(root: string, pattern: string): string[] {
  const segments = pattern.split('/').filter((s) => s.length > 0);
  let matches: string[] = [''];
  const links: string[] = [];
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    const matcher = segmentMatcher(segment);
    matches = matches.flatMap((prefix) => {
      let entries: string[];
      try {
        entries = readdirSync(join(root, prefix));
      } catch {
        return [];
      }
      return entries
        .filter((name) => matcher.test(name) && !(name.startsWith('.') && !segment.startsWith('.')))
        .map((name) => (prefix ? `${prefix}/${name}` : name))
        .filter((path) => {
          if (lstatSync(join(root, path)).isSymbolicLink()) {
            if (last || pointsToDirectory(join(root, path))) links.push(path);
            return false;
          }
          const stat = statSync(join(root, path));
          return last ? stat.isFile() : stat.isDirectory();
        });
    });
  });
  return [...matches, ...links].sort();
}

function pointsToDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
