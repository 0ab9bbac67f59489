import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { matchRepoFiles } from './repo-files.js';

const root = mkdtempSync(join(tmpdir(), 'repo-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
for (const path of ['gitops/apps/backend/canary.yaml', 'gitops/apps/frontend/canary.yaml', 'gitops/apps/frontend/base/canary.yaml', 'gitops/apps/overlays/kustomization.yaml', '.git/apps/x/canary.yaml']) {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), 'x');
}

describe('matchRepoFiles', () => {
  it('matches one directory level per star', () => {
    expect(matchRepoFiles(root, 'gitops/apps/*/canary.yaml')).toEqual(['gitops/apps/backend/canary.yaml', 'gitops/apps/frontend/canary.yaml']);
  });
  it('never descends into hidden directories and returns nothing for a missing path', () => {
    expect(matchRepoFiles(root, '*/apps/*/canary.yaml')).toEqual(['gitops/apps/backend/canary.yaml', 'gitops/apps/frontend/canary.yaml']);
    expect(matchRepoFiles(root, 'nowhere/*.yaml')).toEqual([]);
  });
});
