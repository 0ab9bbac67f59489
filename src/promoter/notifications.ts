// Webhook notifications (Slack-compatible JSON): a pure mapping from tick reports and a person's
// operations to messages, and a Notifier that sends them from a bounded queue, never in the decision's way.
import type { Logger } from '../logger.js';
import { errorMessage, PermanentError, TransientError } from '../errors.js';
import type { PromoterMetrics } from './metrics.js';
import type { Operation, OperationOutcome } from './operations.js';
import type { CanaryReport, TickReport } from './reconcile.js';

export const NOTIFICATION_EVENTS = ['start', 'step', 'hold-max-dwell', 'rollback', 'finalize', 'operation'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export interface SlackMessage {
  text: string;
  blocks?: unknown[];
}

export interface Notification {
  event: NotificationEvent;
  canary: string;
  message: SlackMessage;
  /** the same key is sent once (a hold at max dwell repeats on every tick); see SentOnce. */
  once?: string;
}

function message(title: string, fields: [string, string | undefined][]): SlackMessage {
  const shown = fields.filter((f): f is [string, string] => f[1] !== undefined && f[1] !== '');
  const text = [title, ...shown.map(([k, v]) => `${k}: ${v}`)].join('\n');
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: title } },
      ...(shown.length > 0 ? [{ type: 'section', fields: shown.map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${v}` })) }] : []),
    ],
  };
}

function eventOf(action: CanaryReport['action']): Exclude<NotificationEvent, 'operation' | 'hold-max-dwell'> | undefined {
  switch (action) {
    case 'start':
      return 'start';
    case 'set-weight':
      return 'step';
    case 'finalize-image':
    case 'finalize-traffic':
      return 'finalize';
    case 'rollback':
      return 'rollback';
    default:
      return undefined;
  }
}

const TITLE: Record<Exclude<NotificationEvent, 'operation'>, (c: string) => string> = {
  start: (c) => `:rocket: canary ${c} started`,
  step: (c) => `:arrow_up: canary ${c} moved to its next step`,
  'hold-max-dwell': (c) => `:hourglass: canary ${c} is holding past its step's max dwell`,
  rollback: (c) => `:rotating_light: canary ${c} rolled back`,
  finalize: (c) => `:white_check_mark: canary ${c} finalizing`,
};

/** What one tick is worth telling: committed or proposed decisions, and holds past max dwell. `now` is unix seconds. Pure. */
export function tickNotifications(report: TickReport, now: number): Notification[] {
  const out: Notification[] = [];
  for (const c of report.canaries) {
    const s = c.snapshot;
    const step = s?.stepIndex !== undefined ? `${s.stepIndex + 1} of ${s.steps.length}` : undefined;
    const common: [string, string | undefined][] = [
      ['weights', s ? `stable ${s.stableWeight}% / canary ${s.canaryWeight}%` : c.canaryWeight !== undefined ? `canary ${c.canaryWeight}%` : undefined],
      ['canary image', s?.canaryImage],
    ];
    if (c.outcome === 'committed' || c.outcome === 'proposed') {
      const event = eventOf(c.action);
      if (!event) continue;
      const title = `${TITLE[event](c.canary)}${c.outcome === 'proposed' ? ' (proposed in a pull request)' : ''}`;
      out.push({
        event,
        canary: c.canary,
        message: message(title, [['decision', c.reason], ...common, ['commit', c.commit?.sha.slice(0, 12)]]),
      });
    } else if (c.outcome === 'held' && c.phase === 'progressing' && s?.maxDwellSeconds !== undefined && s.stepStartedAt !== undefined) {
      const age = now - s.stepStartedAt;
      if (age < s.maxDwellSeconds) continue;
      out.push({
        event: 'hold-max-dwell',
        canary: c.canary,
        once: `${c.canary}@${s.stepStartedAt}`,
        message: message(TITLE['hold-max-dwell'](c.canary), [
          ['reason', c.reason],
          ['step', step],
          ['in step', `${Math.round(age)} s (max dwell ${s.maxDwellSeconds} s)`],
          ...common,
        ]),
      });
    }
  }
  return out;
}

/** A person's committed (or proposed) operation; nothing for an operation that changed nothing. Pure. */
export function operationNotification(
  canary: string,
  op: Operation,
  outcome: OperationOutcome,
  context: { person?: { name: string; email: string }; reason?: string } = {},
): Notification | undefined {
  if (outcome.kind === 'unchanged') return undefined;
  const who = context.person ? `${context.person.name} <${context.person.email}>` : undefined;
  const verb = op === 'retry-failed' ? 'promote --retry-failed' : op;
  return {
    event: 'operation',
    canary,
    message: message(`:bust_in_silhouette: ${who ?? 'a person'} ran ${verb} on canary ${canary}`, [
      ['reason', context.reason],
      ['result', outcome.kind === 'committed' ? `${outcome.subject} (commit ${outcome.sha.slice(0, 12)})` : `${outcome.subject}: ${outcome.reason}`],
    ]),
  };
}

/**
 * The `once` keys already sent. In one process by itself; with leader election it rides in a Lease
 * annotation (a LeaseHandover: `save()` on each renewal, `load()` on each read), so the replica that
 * takes over does not repeat a hold the previous leader announced. A key sent less than one renew
 * period before the leader died can be sent again. Keeps the newest `limit` keys.
 */
export class SentOnce {
  readonly annotation = 'delivery.docuthinker.io/notified';
  private readonly keys = new Set<string>();

  constructor(private readonly limit = 200) {}

  has(key: string): boolean {
    return this.keys.has(key);
  }

  add(key: string): void {
    this.keys.delete(key);
    this.keys.add(key);
    for (const oldest of this.keys) {
      if (this.keys.size <= this.limit) break;
      this.keys.delete(oldest);
    }
  }

  /** Merges the keys another replica saved (a JSON array); anything unreadable is ignored. */
  load(value: string | undefined): void {
    if (value === undefined) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      return;
    }
    if (!Array.isArray(parsed)) return;
    for (const key of parsed) if (typeof key === 'string' && !this.keys.has(key)) this.add(key);
  }

  save(): string | undefined {
    return this.keys.size > 0 ? JSON.stringify([...this.keys]) : undefined;
  }
}

export class WebhookError extends TransientError {
  override name = 'WebhookError';
}
export class WebhookRejectedError extends PermanentError {
  override name = 'WebhookRejectedError';
}

export interface WebhookTarget {
  url: string;
  /** only these events; all when absent. */
  events?: readonly NotificationEvent[];
  /** per request, seconds. */
  timeout: number;
}

export interface NotifierOptions {
  webhooks: readonly WebhookTarget[];
  fetch: typeof fetch;
  logger: Logger;
  metrics?: PromoterMetrics;
  /** per target; the oldest waiting message is dropped (and counted) beyond it. */
  queueLimit?: number;
  attempts?: number;
  /** first retry delay; doubled on each further retry. */
  backoffMs?: number;
  /** the keys already sent (shared with the leader elector so it survives a failover). */
  sent?: SentOnce;
}

/** The origin only: a Slack webhook's path is its secret. */
export function webhookLabel(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid-url';
  }
}

interface TargetQueue {
  target: WebhookTarget;
  label: string;
  waiting: Notification[];
  running: boolean;
}

export class Notifier {
  private readonly queues: TargetQueue[];
  private readonly seen: SentOnce;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly queueLimit: number;
  private readonly attempts: number;
  private readonly backoffMs: number;

  constructor(private readonly options: NotifierOptions) {
    this.queues = options.webhooks.map((target) => ({ target, label: webhookLabel(target.url), waiting: [], running: false }));
    this.queueLimit = Math.max(1, options.queueLimit ?? 100);
    this.attempts = Math.max(1, options.attempts ?? 3);
    this.backoffMs = options.backoffMs ?? 1000;
    this.seen = options.sent ?? new SentOnce();
  }

  get enabled(): boolean {
    return this.queues.length > 0;
  }

  /** Enqueues and returns at once: sending happens in the background. */
  notify(notifications: readonly Notification[]): void {
    for (const n of notifications) {
      if (n.once !== undefined) {
        if (this.seen.has(n.once)) continue;
        this.seen.add(n.once);
      }
      for (const q of this.queues) {
        if (q.target.events && !q.target.events.includes(n.event)) continue;
        q.waiting.push(n);
        while (q.waiting.length > this.queueLimit) {
          const dropped = q.waiting.shift();
          this.options.metrics?.notifications.inc({ target: q.label, outcome: 'dropped' });
          this.options.logger.warn({ target: q.label, event: dropped?.event, canary: dropped?.canary }, 'notification queue full; dropped the oldest');
        }
        this.pump(q);
      }
    }
    this.updateGauge();
  }

  notifyTick(report: TickReport, now: number): void {
    if (this.enabled) this.notify(tickNotifications(report, now));
  }

  /** Resolves once every queue is empty and nothing is in flight (a CLI command's exit, tests). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private updateGauge(): void {
    this.options.metrics?.notificationQueue.set(this.queues.reduce((sum, q) => sum + q.waiting.length, 0));
  }

  private pump(q: TargetQueue): void {
    if (q.running) return;
    q.running = true;
    const run = (async () => {
      try {
        for (let n = q.waiting.shift(); n; n = q.waiting.shift()) {
          this.updateGauge();
          await this.deliver(q, n);
        }
      } finally {
        q.running = false;
        this.updateGauge();
      }
    })();
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }

  private async deliver(q: TargetQueue, n: Notification): Promise<void> {
    let last: unknown;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        await this.send(q.target, n.message);
        this.options.metrics?.notifications.inc({ target: q.label, outcome: 'sent' });
        return;
      } catch (error) {
        last = error;
        if (error instanceof WebhookRejectedError) break;
        if (attempt < this.attempts) await new Promise((resolve) => setTimeout(resolve, this.backoffMs * 2 ** (attempt - 1)));
      }
    }
    this.options.metrics?.notifications.inc({ target: q.label, outcome: 'failed' });
    // Only the origin: the URL's path and query carry the webhook's secret.
    this.options.logger.warn({ target: q.label, event: n.event, canary: n.canary, error: errorMessage(last) }, 'notification not delivered');
  }

  private async send(target: WebhookTarget, body: SlackMessage): Promise<void> {
    let response: Response;
    try {
      response = await this.options.fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(target.timeout * 1000),
      });
    } catch (error) {
      // fetch's own message may quote the URL; name only the origin.
      const what = (error as Error).name === 'TimeoutError' ? `no answer within ${target.timeout} s` : ((error as Error).name ?? 'network error');
      throw new WebhookError(`${webhookLabel(target.url)}: ${what}`, { cause: error });
    }
    // Read the body so the connection is released; its content does not matter.
    await response.arrayBuffer().catch(() => undefined);
    if (response.ok) return;
    const status = `${webhookLabel(target.url)} answered HTTP ${response.status}`;
    if (response.status >= 500 || response.status === 429 || response.status === 408) throw new WebhookError(status);
    throw new WebhookRejectedError(status);
  }
}
