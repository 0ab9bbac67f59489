// Keeps every file the promoter reads or writes inside its clone: a path is refused when any of its
// components is a symlink (a committed link could point anywhere, e.g. at a secret or /etc).
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { PermanentError } from '../errors.js';

/** A repository path goes through a symlink; nothing was read or written through it. */
export class SymlinkRefusedError extends PermanentError {
  override name = 'SymlinkRefusedError';
  constructor(
    readonly path: string,
    readonly link: string,
    readonly outside: boolean,
  ) {
    super(
      `refusing ${path}: ${link === path ? 'it' : link} is a symlink${outside ? ' to a path outside the clone' : ''}; ` +
        'canary policies, VirtualServices and Deployments must be regular files in the repository',
    );
  }
}

/**
 * Directories already found to be plain directories inside the root, for a reader that checks
 * thousands of files under the same few directories while nothing changes the tree. Whoever
 * changes the tree (a checkout, a write) must clear it.
 */
export interface CheckedDirectories {
  rootReal?: string;
  plain: Set<string>;
}

/**
 * The absolute path of repo-relative `path` under `root`, after checking that no existing component
 * is a symlink and that its realpath stays inside root's. Components that do not exist yet are fine
 * (a write creates them as plain directories). `checked` skips directories already checked.
 */
export function containedPath(root: string, path: string, checked?: CheckedDirectories): string {
  const rootReal = checked ? (checked.rootReal ??= realpathSync(root)) : realpathSync(root);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  let current = rootReal;
  for (let i = 0; i < parts.length; i += 1) {
    current = join(current, parts[i] ?? '');
    const directory = i < parts.length - 1;
    if (directory && checked?.plain.has(current)) continue;
    let info;
    try {
      info = lstatSync(current);
    } catch {
      break; // does not exist (yet): nothing below it can be a link
    }
    if (directory && checked && info.isDirectory()) checked.plain.add(current);
    if (info.isSymbolicLink()) {
      const link = parts.slice(0, i + 1).join('/');
      let outside = true;
      try {
        const target = resolve(join(current, '..'), readlinkSync(current));
        outside = !inside(rootReal, target) || !inside(rootReal, realpathSync(current));
      } catch {
        // a dangling link: refused all the same
      }
      throw new SymlinkRefusedError(path, link, outside);
    }
  }
  const full = join(rootReal, ...parts);
  if (!inside(rootReal, full)) throw new SymlinkRefusedError(path, path, true);
  return full;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}
