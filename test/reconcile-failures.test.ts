// Failure paths of one reconcile tick, with real git (a bare remote) and a real Prometheus that
// has no data, and the loopback Argo CD whose sync reports the test drives by hand.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeArgoCd } from './support/fake-argocd.js';
import type { DeliveryPort } from '../src/promoter/ports.js';
import { reconcileOnce, type CanaryReport } from '../src/promoter/reconcile.js';
import type { Promoter } from '../src/promoter/app.js';
import { BACKEND_CANARY as CANARY, BACKEND_VS as VS, startPromoterFixture, type PromoterFixture } from './support/promoter-fixture.js';

let fixture: PromoterFixture;
let argo: FakeArgoCd;
let promoter: Promoter;

const git = (...args: string[]) => fixture.git(...args);
const head = () => fixture.head();
const show = (path: string) => fixture.show(path);
/** The simulated Argo CD controller applies HEAD. */
const syncHead = () => fixture.syncTo();
const backend = (reports: CanaryReport[]) => reports.find((r) => r.canary === 'backend');

beforeAll(async () => {
  fixture = await startPromoterFixture({ name: 'reconcile-failures' });
  ({ argo, promoter } = fixture);
  syncHead();
}, 60_000);

afterAll(async () => {
  await fixture?.close();
});

describe('reconcile failure paths', () => {
  it('skips a bad policy with an error naming the file and field, while the other canaries go on', async () => {
    const frontend = 'gitops/apps/frontend/canary.yaml';
    await fixture.commit({ [frontend]: show(frontend).replace('route: primary', 'route: 42\n    colour: blue') }, 'a person breaks the frontend policy');
    await fixture.commit({ [CANARY]: show(CANARY).replace(/backend:[0-9.]+/, 'backend:9.9.9') }, 'CI lands backend 9.9.9');
    syncHead();
    const report = await promoter.tick();
    const bad = report.canaries.find((c) => c.file === frontend);
    expect(bad).toMatchObject({ outcome: 'error' });
    expect(bad?.error).toMatch(/^gitops\/apps\/frontend\/canary\.yaml: .*spec\.virtualService/);
    expect(backend(report.canaries)).toMatchObject({ outcome: 'committed', action: 'start' });
    expect(show(VS)).toMatch(/weight: 5\b/);
    // The sync it requested shows the decision in the Argo CD UI.
    const operation = argo.application('docuthinker-mesh').operation as { sync: { revision: string }; info: { name: string; value: string }[] };
    expect(operation.sync.revision).toBe(head());
    expect(operation.info).toContainEqual({ name: 'Decision', value: 'canary(backend): start ghcr.io/docuthinker/backend:9.9.9 at 5%' });
    await fixture.commit({ [frontend]: show(frontend).replace('route: 42\n    colour: blue', 'route: primary') }, 'fix the frontend policy');
  });

  it('holds, never promotes, when Prometheus answers with no data at all', async () => {
    syncHead();
    const before = head();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    for (let i = 0; i < 3; i++) {
      const report = await promoter.tick();
      expect(backend(report.canaries)).toMatchObject({ outcome: 'held', canaryWeight: 5 });
      expect(backend(report.canaries)?.reason).toMatch(/no data/i);
    }
    expect(head()).toBe(before);
  });

  it('holds and never overwrites weights a person set by hand', async () => {
    const text = show(VS);
    const hand = text.replace(/weight: 95\b/, 'weight: 70').replace(/weight: 5\b/, 'weight: 30');
    await fixture.commit({ [VS]: hand }, 'a person pins backend at 30 %');
    syncHead();
    const before = head();
    const report = await promoter.tick();
    expect(backend(report.canaries)).toMatchObject({ outcome: 'held', phase: 'manual-override' });
    expect(backend(report.canaries)?.reason).toMatch(/a person set them/);
    expect(head()).toBe(before);
    expect(show(VS)).toBe(hand);
    await fixture.commit({ [VS]: text }, 'a person hands backend back to the promoter');
  });

  it('loses a push race without losing anyone\'s commit, re-reads HEAD and decides again', async () => {
    // Back to a fresh canary at weight 0 that is ready to start.
    await fixture.commit({ [VS]: show(VS).replace(/weight: 95\b/, 'weight: 100').replace(/weight: 5\b/, 'weight: 0'), [CANARY]: show(CANARY).replace(/backend:[0-9.]+/, 'backend:9.9.10') }, 'reset');
    syncHead();
    const base = promoter.deps;
    let raced = false;
    const racing: DeliveryPort = {
      deliver: async (change) => {
        if (!raced) {
          raced = true;
          // Someone else pushes between our read of HEAD and our push.
          await fixture.commit({ 'gitops/apps/frontend/base/hpa.yaml': `${show('gitops/apps/frontend/base/hpa.yaml')}# tuned by a person\n` }, 'a person tunes the frontend HPA');
        }
        return base.delivery.deliver(change);
      },
    };
    const report = await reconcileOnce({ ...base, delivery: racing });
    // After the race the promoter re-read HEAD and decided again. The person's commit does not touch
    // the canary's files, and Argo CD runs a revision that contains the image commit, so (issue 12's
    // busy-repository gate) the canary starts on top of the person's commit in the same tick.
    expect(raced).toBe(true);
    expect(backend(report.canaries)).toMatchObject({ outcome: 'committed', action: 'start' });
    expect(git('log', '-2', '--format=%s', 'main').trim().split('\n')).toEqual([
      'canary(backend): start ghcr.io/docuthinker/backend:9.9.10 at 5%',
      'a person tunes the frontend HPA',
    ]);
    expect(show('gitops/apps/frontend/base/hpa.yaml')).toMatch(/# tuned by a person\n$/);
  });

  it('holds, and alerts, when another service in the shared Application is Degraded', async () => {
    argo.reportSynced('docuthinker-mesh', head(), 'Healthy');
    argo.reportSynced('docuthinker-apps', head(), 'Degraded', [{ kind: 'Deployment', name: 'frontend-canary', namespace: 'docuthinker-prod' }]);
    const before = head();
    const report = await promoter.tick();
    expect(backend(report.canaries)).toMatchObject({ outcome: 'held', phase: 'progressing' });
    expect(backend(report.canaries)?.reason).toMatch(/something other than this canary unhealthy.*Deployment\/frontend-canary/);
    expect(head()).toBe(before);
  });

  it('rolls back a canary whose pods Argo CD reports Degraded, and marks the image failed', async () => {
    // The canary from the previous test is at 5 %; Argo CD applied it, but the new pods crash.
    argo.reportSynced('docuthinker-mesh', head(), 'Healthy');
    argo.reportSynced('docuthinker-apps', head(), 'Degraded', [{ kind: 'Deployment', name: 'backend-canary', namespace: 'docuthinker-prod' }]);
    const report = await promoter.tick();
    expect(backend(report.canaries)).toMatchObject({ outcome: 'committed', action: 'rollback' });
    expect(backend(report.canaries)?.reason).toMatch(/roll back ghcr\.io\/docuthinker\/backend:9\.9\.10/);
    expect(git('log', '-1', '--format=%B', 'main')).toMatch(/Argo CD reports the canary unhealthy/);
    expect(show(VS)).toMatch(/weight: 100\b/);
    expect(show(CANARY)).toContain('delivery.docuthinker.io/failed-image: "ghcr.io/docuthinker/backend:9.9.10"');
  });
});
