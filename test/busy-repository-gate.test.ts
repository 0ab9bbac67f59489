// The Argo CD gate in a busy repository, with real git (a bare remote) and the loopback Argo CD:
// a step counts as applied once the Applications synced a revision that CONTAINS the commit the
// step came from (later commits on top are fine), never a revision that lacks it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_CANARY as CANARY, backendOf as backend, startPromoterFixture, type PromoterFixture } from './support/promoter-fixture.js';

let fixture: PromoterFixture;
const head = () => fixture.head();
const show = (path: string) => fixture.show(path);
const git = (...args: string[]) => fixture.git(...args);
const syncTo = (sha: string) => fixture.syncTo(sha);

beforeAll(async () => {
  // Both Applications follow the whole tree here: any commit is one they sync.
  fixture = await startPromoterFixture({ name: 'busy-gate', applications: ['docuthinker-mesh', 'docuthinker-apps'].map((name) => ({ name, path: 'gitops' })) });
}, 60_000);

afterAll(async () => {
  await fixture?.close();
});

describe('the gate in a busy repository', () => {
  it('never opens on a revision that does not contain the commit, and opens once a revision on top of it is synced', async () => {
    const before = head();
    const image = await fixture.commit({ [CANARY]: show(CANARY).replace(/backend:[0-9.]+/, 'backend:7.7.7') }, 'CI lands backend 7.7.7');
    // Other teams keep committing elsewhere in the repository.
    const onTop = await fixture.commit({ 'gitops/apps/frontend/README.md': 'frontend notes\n' }, 'frontend: notes');
    await fixture.commit({ 'gitops/apps/ai-service/README.md': 'ai notes\n' }, 'ai-service: notes (not yet synced)');

    // Argo CD still runs the revision before the image commit: no start.
    syncTo(before);
    const waiting = backend((await fixture.promoter.tick()).canaries);
    expect(waiting).toMatchObject({ outcome: 'held' });
    expect(waiting?.reason).toMatch(/waiting for Argo CD before starting: .*synced to [0-9a-f]{12}, waiting for [0-9a-f]{12}/);
    expect(waiting?.reason).toContain(image.slice(0, 12));

    // Argo CD synced a later commit that contains the image commit (but not HEAD): the canary starts.
    syncTo(onTop);
    const started = backend((await fixture.promoter.tick()).canaries);
    expect(started).toMatchObject({ outcome: 'committed', action: 'start' });
    expect(git('log', '-1', '--format=%s', 'main').trim()).toBe('canary(backend): start ghcr.io/docuthinker/backend:7.7.7 at 5%');

    // The step commit is not synced yet; the earlier revisions do not contain it.
    const step = head();
    syncTo(onTop);
    const notApplied = backend((await fixture.promoter.tick()).canaries);
    expect(notApplied?.reason).toMatch(new RegExp(`waiting for Argo CD to apply 5%: .*waiting for ${step.slice(0, 12)}`));

    // Someone commits on top of the promoter's step; Argo CD syncs that: the step counts as applied.
    const later = await fixture.commit({ 'gitops/apps/frontend/README.md': 'frontend notes, v2\n' }, 'frontend: more notes');
    syncTo(later);
    const applied = backend((await fixture.promoter.tick()).canaries);
    expect(applied?.reason ?? '').not.toMatch(/waiting for Argo CD/);
  }, 60_000);
});
