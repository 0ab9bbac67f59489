// The promoter's own Prometheus metrics, on a prom-client registry of its own (no default
// registry, no global state): named counters and gauges that the run loop, the notifier and other
// modules update, and that /metrics serves. Every per-canary series is labelled by canary name.
import { Counter, Gauge, Registry } from 'prom-client';
import type { TickReport } from './reconcile.js';
import type { Phase } from './state.js';

/** Every phase a canary can be in, so promoter_canary_phase always has the same series per canary. */
export const PHASES: readonly Phase[] = ['idle', 'failed', 'ready', 'stopped', 'progressing', 'replaced', 'finalizing', 'manual-override'];

export class PromoterMetrics {
  /** Register further metrics on this registry (e.g. leadership): `new Gauge({ ..., registers: [metrics.registry] })`. */
  readonly registry = new Registry();
  readonly ticks: Counter;
  readonly tickErrors: Counter;
  readonly lastTickTimestamp: Gauge;
  readonly lastSuccessfulTickTimestamp: Gauge;
  readonly lastTickDuration: Gauge;
  readonly canaryWeight: Gauge<'canary'>;
  readonly canaryStep: Gauge<'canary'>;
  readonly canaryPhase: Gauge<'canary' | 'phase'>;
  readonly canaryPaused: Gauge<'canary'>;
  readonly canaryError: Gauge<'canary'>;
  readonly canaryStepAge: Gauge<'canary'>;
  readonly canaryMaxDwell: Gauge<'canary'>;
  readonly canaryPastMaxDwell: Gauge<'canary'>;
  readonly decisions: Counter<'canary' | 'action'>;
  readonly deliveryFailures: Counter<'canary' | 'kind'>;
  readonly prometheusUp: Gauge;
  readonly prometheusFailures: Counter;
  readonly sequentialStatistic: Gauge<'canary' | 'metric'>;
  readonly sequentialThreshold: Gauge<'canary' | 'metric'>;
  readonly ratioUpperBound: Gauge<'canary' | 'metric'>;
  readonly notifications: Counter<'target' | 'outcome'>;
  readonly notificationQueue: Gauge;
  readonly leader: Gauge<'identity'>;
  readonly leaderTransitions: Counter<'identity'>;
  readonly ticksSkipped: Counter<'reason'>;

  constructor() {
    const registers = [this.registry];
    this.ticks = new Counter({ name: 'promoter_ticks_total', help: 'Reconcile ticks finished.', registers });
    this.tickErrors = new Counter({ name: 'promoter_tick_errors_total', help: 'Ticks in which every canary held because Git could not be read.', registers });
    this.lastTickTimestamp = new Gauge({ name: 'promoter_last_tick_timestamp_seconds', help: 'When the last tick started (unix seconds).', registers });
    this.lastSuccessfulTickTimestamp = new Gauge({
      name: 'promoter_last_successful_tick_timestamp_seconds',
      help: 'When the last tick that read Git and reconciled every canary without error started (unix seconds).',
      registers,
    });
    this.lastTickDuration = new Gauge({ name: 'promoter_last_tick_duration_seconds', help: 'How long the last tick took.', registers });
    const canary = ['canary'] as const;
    this.canaryWeight = new Gauge({ name: 'promoter_canary_weight', help: 'Canary traffic share (percent) at HEAD.', labelNames: canary, registers });
    this.canaryStep = new Gauge({ name: 'promoter_canary_step', help: 'The 1-based step the canary is at (0 when not progressing).', labelNames: canary, registers });
    this.canaryPhase = new Gauge({ name: 'promoter_canary_phase', help: 'The canary phase at HEAD: 1 for the current phase, 0 for the others.', labelNames: ['canary', 'phase'], registers });
    this.canaryPaused = new Gauge({ name: 'promoter_canary_paused', help: '1 when the canary is paused (annotation or spec.paused).', labelNames: canary, registers });
    this.canaryError = new Gauge({
      name: 'promoter_canary_error',
      help: '1 when the canary could not be reconciled in the last tick (invalid policy, unreadable manifest, failed write).',
      labelNames: canary,
      registers,
    });
    this.canaryStepAge = new Gauge({ name: 'promoter_canary_step_age_seconds', help: 'Time since the current step was committed.', labelNames: canary, registers });
    this.canaryMaxDwell = new Gauge({ name: 'promoter_canary_max_dwell_seconds', help: "The current step's max dwell from the policy.", labelNames: canary, registers });
    this.canaryPastMaxDwell = new Gauge({ name: 'promoter_canary_past_max_dwell', help: '1 when the canary has been in its step longer than the max dwell.', labelNames: canary, registers });
    this.decisions = new Counter({ name: 'promoter_decisions_total', help: 'Decisions committed to Git, by canary and action.', labelNames: ['canary', 'action'], registers });
    this.deliveryFailures = new Counter({
      name: 'promoter_delivery_failures_total',
      help: 'Decisions that could not be delivered: a failed push or pull request (kind="error") or a push that lost every race in a tick (kind="raced").',
      labelNames: ['canary', 'kind'],
      registers,
    });
    this.prometheusUp = new Gauge({ name: 'promoter_prometheus_up', help: '1 when the last query batch to the analysis Prometheus succeeded, 0 when it failed.', registers });
    this.prometheusFailures = new Counter({ name: 'promoter_prometheus_failures_total', help: 'Query batches to the analysis Prometheus that failed.', registers });
    const perMetric = ['canary', 'metric'] as const;
    this.sequentialStatistic = new Gauge({
      name: 'promoter_sequential_statistic',
      help: 'The mixture statistic log M of the sequential test per guarded metric (rollback at promoter_sequential_threshold).',
      labelNames: perMetric,
      registers,
    });
    this.sequentialThreshold = new Gauge({ name: 'promoter_sequential_threshold', help: 'log(1/alpha): the rollback threshold of the sequential statistic.', labelNames: perMetric, registers });
    this.ratioUpperBound = new Gauge({ name: 'promoter_ratio_upper_bound', help: 'Upper confidence bound of the canary/stable bad-event ratio.', labelNames: perMetric, registers });
    this.notifications = new Counter({ name: 'promoter_notifications_total', help: 'Webhook notifications by target and outcome (sent, failed, dropped).', labelNames: ['target', 'outcome'], registers });
    this.notificationQueue = new Gauge({ name: 'promoter_notification_queue_length', help: 'Notifications waiting to be sent.', registers });
    this.leader = new Gauge({
      name: 'promoter_leader',
      help: '1 while this replica holds the Lease and may write; 0 on a standby (only with leaderElection.enabled).',
      labelNames: ['identity'],
      registers,
    });
    this.leaderTransitions = new Counter({ name: 'promoter_leader_transitions_total', help: 'Times this replica gained or lost the Lease.', labelNames: ['identity'], registers });
    this.ticksSkipped = new Counter({
      name: 'promoter_ticks_skipped_total',
      help: 'Schedule slots without a tick: overlap (the previous tick still ran), missed (the event loop was blocked), not-leader (a standby replica).',
      labelNames: ['reason'],
      registers,
    });
    this.prometheusUp.set(1);
  }

  /** This replica gained (true) or lost (false) the Lease. */
  leadership(identity: string, leader: boolean, transition: boolean): void {
    this.leader.set({ identity }, leader ? 1 : 0);
    if (transition) this.leaderTransitions.inc({ identity });
  }

  /** Folds one finished tick into the metrics; `now` is unix seconds. */
  observeTick(report: TickReport, seconds: number, now: number): void {
    this.ticks.inc();
    const started = Date.parse(report.at) / 1000;
    this.lastTickTimestamp.set(started);
    this.lastTickDuration.set(seconds);
    if (report.error) this.tickErrors.inc();
    else if (!report.canaries.some((c) => c.outcome === 'error')) this.lastSuccessfulTickTimestamp.set(started);
    // Per-canary gauges describe the last tick only: a removed canary's series disappear.
    for (const gauge of [this.canaryWeight, this.canaryStep, this.canaryPhase, this.canaryPaused, this.canaryError, this.canaryStepAge, this.canaryMaxDwell, this.canaryPastMaxDwell]) gauge.reset();
    for (const gauge of [this.sequentialStatistic, this.sequentialThreshold, this.ratioUpperBound]) gauge.reset();
    for (const c of report.canaries) {
      const labels = { canary: c.canary };
      this.canaryError.set(labels, c.outcome === 'error' ? 1 : 0);
      if (c.outcome === 'committed' && c.action) this.decisions.inc({ canary: c.canary, action: c.action });
      if (c.outcome === 'raced') this.deliveryFailures.inc({ canary: c.canary, kind: 'raced' });
      if (c.outcome === 'error' && c.action) this.deliveryFailures.inc({ canary: c.canary, kind: 'error' });
      if (c.canaryWeight !== undefined) this.canaryWeight.set(labels, c.canaryWeight);
      if (c.phase !== undefined) for (const phase of PHASES) this.canaryPhase.set({ canary: c.canary, phase }, phase === c.phase ? 1 : 0);
      const s = c.snapshot;
      if (s) {
        this.canaryStep.set(labels, c.phase === 'progressing' && s.stepIndex !== undefined ? s.stepIndex + 1 : 0);
        this.canaryPaused.set(labels, s.paused ? 1 : 0);
        const age = c.phase === 'progressing' && s.stepStartedAt !== undefined ? Math.max(0, now - s.stepStartedAt) : 0;
        this.canaryStepAge.set(labels, age);
        if (s.maxDwellSeconds !== undefined) this.canaryMaxDwell.set(labels, s.maxDwellSeconds);
        this.canaryPastMaxDwell.set(labels, s.maxDwellSeconds !== undefined && age >= s.maxDwellSeconds ? 1 : 0);
      }
      for (const m of c.verdict?.evidence.metrics ?? []) {
        const l = { canary: c.canary, metric: m.metric };
        this.sequentialStatistic.set(l, m.logM);
        this.sequentialThreshold.set(l, m.logThreshold);
        this.ratioUpperBound.set(l, m.ratioUpper);
      }
    }
  }

  /** One query batch to the analysis Prometheus finished. */
  prometheusQuery(ok: boolean): void {
    this.prometheusUp.set(ok ? 1 : 0);
    if (!ok) this.prometheusFailures.inc();
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
