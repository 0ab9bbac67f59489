// Path containment on real files: symlinked files and directories are refused by name, plain paths pass.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SymlinkRefusedError, containedPath } from './contained-path.js';

let root: string;
let outside: string;
beforeEach(() => {
  outside = mkdtempSync(join(tmpdir(), 'outside-'));
  root = mkdtempSync(join(tmpdir(), 'clone-'));
  mkdirSync(join(root, 'gitops/apps'), { recursive: true });
  writeFileSync(join(root, 'gitops/apps/vs.yaml'), 'kind: VirtualService\n');
  writeFileSync(join(outside, 'secret.yaml'), 'secret\n');
  symlinkSync(join(outside, 'secret.yaml'), join(root, 'gitops/apps/link.yaml'));
  symlinkSync('vs.yaml', join(root, 'gitops/apps/inside-link.yaml'));
  symlinkSync(outside, join(root, 'gitops/dir'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('containedPath (issue 11 item 4)', () => {
  it('passes regular files and paths not created yet', () => {
    expect(containedPath(root, 'gitops/apps/vs.yaml')).toMatch(/gitops\/apps\/vs\.yaml$/);
    expect(containedPath(root, 'gitops/new/dir/file.yaml')).toMatch(/gitops\/new\/dir\/file\.yaml$/);
  });

  it('refuses a symlinked file (outside or not) and a path through a symlinked directory, naming them', () => {
    expect(() => containedPath(root, 'gitops/apps/link.yaml')).toThrow(/refusing gitops\/apps\/link\.yaml: it is a symlink to a path outside the clone/);
    expect(() => containedPath(root, 'gitops/apps/inside-link.yaml')).toThrow(/refusing gitops\/apps\/inside-link\.yaml: it is a symlink;/);
    expect(() => containedPath(root, 'gitops/dir/secret.yaml')).toThrow(SymlinkRefusedError);
    expect(() => containedPath(root, 'gitops/dir/secret.yaml')).toThrow(/gitops\/dir is a symlink to a path outside the clone/);
  });

  it('with checked directories: the same answers, a symlinked file still refused, and a fresh set sees a directory that became a link', () => {
    const checked = { plain: new Set<string>() };
    expect(containedPath(root, 'gitops/apps/vs.yaml', checked)).toBe(containedPath(root, 'gitops/apps/vs.yaml'));
    expect(checked.plain.size).toBeGreaterThan(0);
    expect(() => containedPath(root, 'gitops/apps/link.yaml', checked)).toThrow(SymlinkRefusedError);
    expect(() => containedPath(root, 'gitops/dir/secret.yaml', checked)).toThrow(/gitops\/dir is a symlink/);
    // the tree changes (what a checkout does): gitops/apps becomes a link to outside
    rmSync(join(root, 'gitops/apps'), { recursive: true });
    mkdirSync(join(outside, 'apps'));
    writeFileSync(join(outside, 'apps/vs.yaml'), 'secret\n');
    symlinkSync(join(outside, 'apps'), join(root, 'gitops/apps'));
    expect(() => containedPath(root, 'gitops/apps/vs.yaml', { plain: new Set() })).toThrow(/gitops\/apps is a symlink to a path outside the clone/);
  });
});
