// Webhook notifications against loopback receivers: Slack JSON on the wire, a hanging target, a
// failing target retried with backoff, and the bounded queue.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../logger.js';
import { parsePromoterConfig } from './config.js';
import { PromoterMetrics } from './metrics.js';
import { Notifier, operationNotification, tickNotifications, type Notification } from './notifications.js';
import type { CanaryReport, TickReport } from './reconcile.js';
import type { CanarySnapshot } from './snapshot.js';
import { answerOk, startWebhookReceiver, type WebhookReceiver } from '../../test/support/webhook-receiver.js';

const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<WebhookReceiver> {
  // The path plays the part of a Slack webhook's secret.
  const r = await startWebhookReceiver({ answer, path: '/services/T000/B000/s3cr3t?token=hush' });
  receivers.push(r);
  return r;
}

const ok = answerOk;

function snapshot(over: Partial<CanarySnapshot> = {}): CanarySnapshot {
  return {
    steps: [5, 25, 50, 100],
    stepIndex: 1,
    stableWeight: 75,
    canaryWeight: 25,
    stableImage: 'backend:1',
    canaryImage: 'backend:2',
    paused: false,
    application: 'backend',
    file: 'gitops/apps/backend/canary.yaml',
    ...over,
  };
}

function report(canaries: CanaryReport[]): TickReport {
  return { at: '2026-11-30T08:00:00.000Z', canaries };
}

const rollback: CanaryReport = {
  canary: 'backend',
  file: 'gitops/apps/backend/canary.yaml',
  outcome: 'committed',
  phase: 'progressing',
  canaryWeight: 25,
  action: 'rollback',
  reason: 'canary(backend): roll back backend:2, 5xx ratio above bound',
  commit: { sha: '0123456789abcdef0123', subject: 'canary(backend): roll back' },
  snapshot: snapshot(),
};
const step: CanaryReport = { ...rollback, canary: 'frontend', action: 'set-weight', reason: 'canary(frontend): 5% -> 25%' };

async function counted(metrics: PromoterMetrics, outcome: string): Promise<number> {
  const values = (await metrics.notifications.get()).values;
  return values.filter((v) => v.labels.outcome === outcome).reduce((sum, v) => sum + v.value, 0);
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

describe('tickNotifications', () => {
  it('maps committed decisions to events and skips holds, dry runs and no-ops', () => {
    const events = tickNotifications(
      report([
        rollback,
        step,
        { ...rollback, canary: 'a', action: 'start' },
        { ...rollback, canary: 'b', action: 'finalize-image' },
        { ...rollback, canary: 'c', outcome: 'dry-run' },
        { ...rollback, canary: 'd', outcome: 'no-op' },
        { ...rollback, canary: 'e', outcome: 'held', action: 'hold', snapshot: snapshot({ stepStartedAt: 1000, maxDwellSeconds: 600 }) },
      ]),
      1200,
    );
    expect(events.map((e) => [e.canary, e.event])).toEqual([
      ['backend', 'rollback'],
      ['frontend', 'step'],
      ['a', 'start'],
      ['b', 'finalize'],
    ]);
  });

  it('tells of a hold past max dwell once per step', async () => {
    const held: CanaryReport = { ...rollback, outcome: 'held', action: 'hold', reason: 'waiting for more traffic', snapshot: snapshot({ stepStartedAt: 1000, maxDwellSeconds: 600 }) };
    const events = tickNotifications(report([held]), 1700);
    expect(events).toHaveLength(1);
    expect(events[0]?.event).toBe('hold-max-dwell');
    expect(events[0]?.message.text).toContain('max dwell 600 s');
    const r = await receiver(ok);
    const notifier = new Notifier({ webhooks: [{ url: r.url, timeout: 2 }], fetch, logger: silentLogger() });
    notifier.notifyTick(report([held]), 1700);
    notifier.notifyTick(report([held]), 1730);
    await notifier.drain();
    expect(r.bodies).toHaveLength(1);
  });

  it('describes a person\'s operation, and nothing for an unchanged one', () => {
    const n = operationNotification('backend', 'abort', { kind: 'committed', sha: 'abcdef0123456789', subject: 'canary(backend): abort' }, { person: { name: 'Ana', email: 'ana@example.org' }, reason: 'pager' });
    expect(n?.event).toBe('operation');
    expect(n?.message.text).toContain('Ana <ana@example.org> ran abort on canary backend');
    expect(operationNotification('backend', 'pause', { kind: 'unchanged' })).toBeUndefined();
  });
});

describe('Notifier', () => {
  it('posts Slack JSON for a rollback and a step to every target, filtered by its events', async () => {
    const all = await receiver(ok);
    const rollbacksOnly = await receiver(ok);
    const metrics = new PromoterMetrics();
    const notifier = new Notifier({
      webhooks: [
        { url: all.url, timeout: 2 },
        { url: rollbacksOnly.url, timeout: 2, events: ['rollback'] },
      ],
      fetch,
      logger: silentLogger(),
      metrics,
    });
    notifier.notifyTick(report([rollback, step]), 0);
    await notifier.drain();
    expect(all.bodies).toHaveLength(2);
    const [first, second] = all.bodies as { text: string; blocks: { type: string }[] }[];
    expect(first?.text).toContain(':rotating_light: canary backend rolled back');
    expect(first?.text).toContain('commit: 0123456789ab');
    expect(first?.blocks[0]?.type).toBe('section');
    expect(second?.text).toContain('canary frontend moved to its next step');
    expect(rollbacksOnly.bodies).toEqual([first]);
    expect(await counted(metrics, 'sent')).toBe(3);
    expect((await metrics.notificationQueue.get()).values[0]?.value).toBe(0);
  });

  it('returns at once while a target hangs, abandons it after the timeout and counts the failure', async () => {
    const hanging = await receiver(() => undefined);
    const metrics = new PromoterMetrics();
    const notifier = new Notifier({ webhooks: [{ url: hanging.url, timeout: 0.2 }], fetch, logger: silentLogger(), metrics, attempts: 2, backoffMs: 10 });
    notifier.notifyTick(report([rollback]), 0);
    // notify() has returned though the receiver has not answered (and never will).
    expect(await counted(metrics, 'failed')).toBe(0);
    expect(await counted(metrics, 'sent')).toBe(0);
    await notifier.drain();
    expect(await counted(metrics, 'failed')).toBe(1);
    expect(hanging.requests).toBe(2);
  });

  it('retries a 500 with backoff, then counts it failed and logs only the origin', async () => {
    const failing = await receiver((_req, res) => res.writeHead(500).end('boom'));
    const metrics = new PromoterMetrics();
    const { logger, lines } = capture();
    const notifier = new Notifier({ webhooks: [{ url: failing.url, timeout: 2 }], fetch, logger, metrics, attempts: 3, backoffMs: 5 });
    notifier.notifyTick(report([rollback]), 0);
    await notifier.drain();
    expect(failing.requests).toBe(3);
    expect(await counted(metrics, 'failed')).toBe(1);
    const log = lines.join('');
    expect(log).toContain('notification not delivered');
    expect(log).toContain('HTTP 500');
    expect(log).toContain(new URL(failing.url).origin);
    expect(log).not.toContain('s3cr3t');
    expect(log).not.toContain('hush');
  });

  it('a 4xx is not retried', async () => {
    const rejecting = await receiver((_req, res) => res.writeHead(404).end('no_service'));
    const metrics = new PromoterMetrics();
    const notifier = new Notifier({ webhooks: [{ url: rejecting.url, timeout: 2 }], fetch, logger: silentLogger(), metrics, backoffMs: 5 });
    notifier.notifyTick(report([rollback]), 0);
    await notifier.drain();
    expect(rejecting.requests).toBe(1);
    expect(await counted(metrics, 'failed')).toBe(1);
  });

  it('drops the oldest waiting message beyond the queue bound, and counts it', async () => {
    const r = await receiver(ok);
    const metrics = new PromoterMetrics();
    const notifier = new Notifier({ webhooks: [{ url: r.url, timeout: 2 }], fetch, logger: silentLogger(), metrics, queueLimit: 2 });
    const many: Notification[] = [1, 2, 3, 4, 5].map((i) => ({ event: 'step', canary: `c${i}`, message: { text: `m${i}` } }));
    notifier.notify(many);
    // The first is already being sent; of the four waiting, the two oldest go.
    expect(await counted(metrics, 'dropped')).toBe(2);
    expect((await metrics.notificationQueue.get()).values[0]?.value).toBe(2);
    await notifier.drain();
    expect(r.bodies.map((b) => (b as { text: string }).text)).toEqual(['m1', 'm4', 'm5']);
    expect(await counted(metrics, 'sent')).toBe(3);
  });
});

describe('config', () => {
  it('defaults to no webhooks and validates a target', () => {
    const base = { git: { url: '/tmp/repo.git' }, prometheus: { url: 'http://127.0.0.1:9090' } };
    expect(parsePromoterConfig(base, 't').notifications).toEqual({ webhooks: [], queueLimit: 100, attempts: 3, backoff: 1 });
    const config = parsePromoterConfig({ ...base, notifications: { webhooks: [{ url: 'https://hooks.slack.com/services/x', events: ['rollback'], timeout: '3s' }] } }, 't');
    expect(config.notifications.webhooks[0]).toEqual({ url: 'https://hooks.slack.com/services/x', events: ['rollback'], timeout: 3 });
    expect(() => parsePromoterConfig({ ...base, notifications: { webhooks: [{ url: 'x', events: ['nope'] }] } }, 't')).toThrow();
  });
});
