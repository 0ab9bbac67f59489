// A hold past max dwell is announced once per step, also across a failover: the leader notes what
// it sent in the Lease (an annotation written with each renewal), and the replica that takes over
// reads it before its first tick. Real Lease API (loopback, schema-checked), real webhook receiver.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.js';
import { createLeaderElector, kubernetesLeasePort, type LeaderElector, type LeasePort } from '../src/promoter/leader.js';
import { Notifier, SentOnce } from '../src/promoter/notifications.js';
import type { CanaryReport, TickReport } from '../src/promoter/reconcile.js';
import { createSchemaRegistry } from '../src/schemas/registry.js';
import { startFakeArgoCd, type FakeArgoCd } from './support/fake-argocd.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

const LEASE = { namespace: 'docuthinker-promoter', name: 'docuthinker-promoter' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let api: FakeArgoCd;
let webhook: WebhookReceiver<{ text: string }>;
let webhookUrl: string;
let received: { text: string }[] = [];
const electors: LeaderElector[] = [];

beforeAll(async () => {
  api = await startFakeArgoCd({ applications: [], registry: createSchemaRegistry() });
  webhook = await startWebhookReceiver<{ text: string }>();
  received = webhook.bodies;
  webhookUrl = webhook.url;
});

afterAll(async () => {
  for (const e of electors) await e.stop();
  await webhook?.close();
  await api?.close();
});

/** A replica: its elector (whose Lease port can be cut, as a crash or partition) and its notifier. */
function replica(identity: string) {
  const sent = new SentOnce();
  const real = kubernetesLeasePort({ kubeConfigYaml: api.kubeConfigYaml() }, LEASE, 500);
  let cut = false;
  const guard = <T>(call: () => Promise<T>): Promise<T> => (cut ? Promise.reject(new Error('connection refused')) : call());
  const leases: LeasePort = { read: () => guard(() => real.read()), create: (r) => guard(() => real.create(r)), replace: (r) => guard(() => real.replace(r)) };
  const elector = createLeaderElector({ leases, settings: { ...LEASE, identity, leaseDurationSeconds: 2, renewPeriodSeconds: 0.4 }, logger: silentLogger(), handover: sent });
  electors.push(elector);
  const notifier = new Notifier({ webhooks: [{ url: webhookUrl, timeout: 2 }], fetch, logger: silentLogger(), sent });
  return { elector, notifier, crash: () => (cut = true) };
}

async function until(what: string, condition: () => boolean, ms: number): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

/** One tick's report: backend held at 25 % since `stepStartedAt`, past its 600 s max dwell. */
function heldPastMaxDwell(stepStartedAt: number): TickReport {
  const canary: CanaryReport = {
    canary: 'backend',
    file: 'gitops/apps/backend/canary.yaml',
    outcome: 'held',
    phase: 'progressing',
    canaryWeight: 25,
    action: 'hold',
    reason: 'Max dwell 10m reached at 25% without a decision; holding and alerting as the policy says.',
    snapshot: {
      steps: [5, 25, 50, 100],
      stepIndex: 1,
      stableWeight: 75,
      canaryWeight: 25,
      stableImage: 'backend:1',
      canaryImage: 'backend:2',
      paused: false,
      application: 'backend',
      file: 'gitops/apps/backend/canary.yaml',
      stepStartedAt,
      maxDwellSeconds: 600,
    },
  };
  return { at: new Date().toISOString(), canaries: [canary] };
}

const holds = () => received.filter((b) => b.text.includes('holding past its step')).length;

describe('max-dwell notification across a failover', () => {
  it('the replica that takes over does not announce again a hold the previous leader announced', async () => {
    const a = replica('promoter-a');
    a.elector.start();
    await until('promoter-a leads', () => a.elector.isLeader(), 3_000);
    const b = replica('promoter-b');
    b.elector.start();

    // The leader's ticks: the first past max dwell announces it, the next ones do not.
    const step = 1_000_000;
    a.notifier.notifyTick(heldPastMaxDwell(step), step + 700);
    a.notifier.notifyTick(heldPastMaxDwell(step), step + 730);
    await a.notifier.drain();
    expect(holds()).toBe(1);
    // The next renewal writes the note into the Lease.
    await until('the Lease carries the note', () => JSON.stringify(api.lease(LEASE.namespace, LEASE.name) ?? {}).includes('backend@1000000'), 3_000);
    const lease = api.lease(LEASE.namespace, LEASE.name) as { metadata: { annotations: Record<string, string> } };
    expect(JSON.parse(lease.metadata.annotations['delivery.docuthinker.io/notified'] ?? '[]')).toEqual(['backend@1000000']);

    // promoter-a dies (no release); promoter-b takes over once the Lease has expired.
    a.crash();
    await until('promoter-b leads', () => b.elector.isLeader(), 6_000);
    expect(a.elector.isLeader()).toBe(false);
    b.notifier.notifyTick(heldPastMaxDwell(step), step + 760);
    await b.notifier.drain();
    expect(holds()).toBe(1);

    // Control: a notifier with only in-process memory (the old behaviour) would announce it again.
    const forgetful = new Notifier({ webhooks: [{ url: webhookUrl, timeout: 2 }], fetch, logger: silentLogger() });
    forgetful.notifyTick(heldPastMaxDwell(step), step + 760);
    await forgetful.drain();
    expect(holds()).toBe(2);

    // A later step past its own max dwell is a new announcement, and the note keeps both.
    b.notifier.notifyTick(heldPastMaxDwell(step + 900), step + 1600);
    await b.notifier.drain();
    expect(holds()).toBe(3);
    await until('the Lease carries both notes', () => JSON.stringify(api.lease(LEASE.namespace, LEASE.name) ?? {}).includes('backend@1000900'), 3_000);
    const after = api.lease(LEASE.namespace, LEASE.name) as { metadata: { annotations: Record<string, string> }; spec: { holderIdentity: string } };
    expect(after.spec.holderIdentity).toBe('promoter-b');
    expect(JSON.parse(after.metadata.annotations['delivery.docuthinker.io/notified'] ?? '[]')).toEqual(['backend@1000000', 'backend@1000900']);
  }, 30_000);

  it('keeps the note bounded and ignores an unreadable one', () => {
    const sent = new SentOnce(3);
    for (const key of ['a@1', 'b@1', 'c@1', 'd@1']) sent.add(key);
    expect(JSON.parse(sent.save() ?? '[]')).toEqual(['b@1', 'c@1', 'd@1']);
    sent.load('not json');
    sent.load('{"a":1}');
    sent.load('["e@1", 7]');
    expect(JSON.parse(sent.save() ?? '[]')).toEqual(['c@1', 'd@1', 'e@1']);
    expect(new SentOnce().save()).toBeUndefined();
  });
});
