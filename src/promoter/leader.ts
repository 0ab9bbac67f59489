// Leader election on a coordination.k8s.io/v1 Lease, so two replicas never both write: the holder
// renews every renew period; a candidate takes the Lease only after it has seen the record unchanged
// for a whole lease duration (by its own clock, as client-go does, so clock skew does not matter).
// The fence (`isLeader`) drops one renew period after the last successful renewal.
import { CoordinationV1Api, V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { apiStatus, classifyKubernetesError, connectKubernetes, type KubernetesSource } from './kubernetes.js';

/** The fields of a Lease the election reads and writes. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime?: Date;
  renewTime?: Date;
  leaseTransitions: number;
  resourceVersion?: string;
  /** metadata.annotations: carried over on every write, so a handover note survives renewals. */
  annotations?: Record<string, string>;
}

/**
 * A note the leader leaves in one Lease annotation for whoever leads next: `save()` is written with
 * every renewal, `load()` gets what the Lease held whenever it is read. Never rollout state (that is
 * read from Git only); today it is which holds past max dwell were already notified.
 */
export interface LeaseHandover {
  annotation: string;
  load(value: string | undefined): void;
  save(): string | undefined;
}

/** What the election needs of the Kubernetes API: read, create and compare-and-swap one Lease. */
export interface LeasePort {
  read(): Promise<LeaseRecord | undefined>;
  /** 'conflict' when someone else created it first. */
  create(record: LeaseRecord): Promise<'ok' | 'conflict'>;
  /** 'conflict' when the Lease changed since `record.resourceVersion` was read. */
  replace(record: LeaseRecord): Promise<'ok' | 'conflict'>;
}

export interface LeaderElectionSettings {
  /** the Lease's namespace and name. */
  namespace: string;
  name: string;
  /** this replica's name (the pod name). */
  identity: string;
  /** how long a silent holder keeps the Lease before a candidate takes it. */
  leaseDurationSeconds: number;
  /** how often the holder renews and a candidate retries; writes stop one renew period after a missed renewal. */
  renewPeriodSeconds: number;
}

export interface LeaderElector {
  readonly identity: string;
  /** true while this replica holds the Lease and renewed it within the last renew period (+ one call's grace). */
  isLeader(): boolean;
  /** starts the acquire/renew loop; `onChange` fires on every gain and loss. */
  start(onChange?: (leader: boolean) => void): void;
  /** stops the loop and, if leading, releases the Lease so the other replica takes over at once. */
  stop(): Promise<void>;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', wake);
      resolve();
    }, ms);
    signal.addEventListener('abort', wake, { once: true });
  });

/** Pure: what a candidate may do with the record it read. */
export function leaseDecision(
  record: LeaseRecord | undefined,
  identity: string,
  observedUnchangedForMs: number,
): 'create' | 'renew' | 'take-over' | 'wait' {
  if (record === undefined) return 'create';
  if (record.holderIdentity === identity) return 'renew';
  if (record.holderIdentity === '') return 'take-over';
  return observedUnchangedForMs >= record.leaseDurationSeconds * 1000 ? 'take-over' : 'wait';
}

export function createLeaderElector(options: {
  leases: LeasePort;
  settings: LeaderElectionSettings;
  logger: Logger;
  /** milliseconds; injectable for tests. */
  now?: () => number;
  handover?: LeaseHandover;
}): LeaderElector {
  const { leases, settings } = options;
  const now = options.now ?? (() => Date.now());
  const logger = options.logger.child({ component: 'leader', lease: `${settings.namespace}/${settings.name}`, identity: settings.identity });
  const renewMs = settings.renewPeriodSeconds * 1000;
  let leading = false;
  let lastRenewAt = Number.NEGATIVE_INFINITY;
  let observed: { key: string; at: number } | undefined;
  let onChange: (leader: boolean) => void = () => undefined;
  const stopping = new AbortController();
  let loop: Promise<void> | undefined;

  const isLeader = () => leading && now() - lastRenewAt < renewMs * 2;
  const handover = options.handover;
  /** the record's annotations with this replica's handover note (what it knows, merged with what it read). */
  const annotated = (record: LeaseRecord | undefined): Pick<LeaseRecord, 'annotations'> => {
    const note = handover?.save();
    if (note === undefined || handover === undefined) return record?.annotations ? { annotations: record.annotations } : {};
    return { annotations: { ...record?.annotations, [handover.annotation]: note } };
  };

  const setLeading = (value: boolean, reason: string) => {
    if (value === leading) return;
    leading = value;
    if (value) logger.info({ leader: true, reason }, 'became the leader: ticking');
    else logger.warn({ leader: false, reason }, 'not the leader any more: no more writes');
    onChange(value);
  };

  async function attempt(): Promise<void> {
    const at = now();
    const record = await leases.read();
    // Read before any write: a new leader knows what the previous one noted before its first tick.
    if (handover) handover.load(record?.annotations?.[handover.annotation]);
    const key = record ? `${record.holderIdentity}\u0000${record.renewTime?.toISOString() ?? ''}\u0000${record.resourceVersion ?? ''}` : '';
    if (observed?.key !== key) observed = { key, at };
    const decision = leaseDecision(record, settings.identity, at - observed.at);
    const stamp = new Date(at);
    if (decision === 'wait') {
      setLeading(false, `held by ${record?.holderIdentity ?? '?'}`);
      return;
    }
    let result: 'ok' | 'conflict';
    if (decision === 'create') {
      result = await leases.create({ holderIdentity: settings.identity, leaseDurationSeconds: settings.leaseDurationSeconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0, ...annotated(undefined) });
    } else if (decision === 'renew' && record) {
      result = await leases.replace({ ...record, leaseDurationSeconds: settings.leaseDurationSeconds, renewTime: stamp, ...annotated(record) });
    } else {
      const previous = record?.holderIdentity ?? '';
      result = await leases.replace({
        ...(record ?? { leaseTransitions: 0 }),
        holderIdentity: settings.identity,
        leaseDurationSeconds: settings.leaseDurationSeconds,
        acquireTime: stamp,
        renewTime: stamp,
        leaseTransitions: (record?.leaseTransitions ?? 0) + 1,
        ...annotated(record),
      });
      if (result === 'ok') logger.info({ previous: previous || '(released)' }, 'took over the Lease');
    }
    if (result === 'conflict') {
      // Someone else wrote the Lease between our read and write: they hold it now.
      setLeading(false, 'the Lease changed under us');
      return;
    }
    lastRenewAt = at;
    setLeading(true, decision);
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        await attempt();
      } catch (error) {
        // Cannot reach the API: the fence (isLeader) runs out by itself one renew period later.
        logger.warn({ err: errorMessage(error), leader: isLeader() }, 'cannot read or renew the Lease');
        if (!isLeader()) setLeading(false, 'renewal failed');
      }
      await sleep(renewMs, stopping.signal);
      if (leading && !isLeader()) setLeading(false, 'renewal overdue');
    }
  }

  return {
    identity: settings.identity,
    isLeader,
    start(callback) {
      if (callback) onChange = callback;
      loop ??= run();
    },
    async stop() {
      stopping.abort();
      await loop;
      if (!leading) return;
      try {
        const record = await leases.read();
        if (record?.holderIdentity === settings.identity) {
          await leases.replace({ ...record, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new Date(now()), ...annotated(record) });
          logger.info('released the Lease');
        }
      } catch (error) {
        logger.warn({ err: errorMessage(error) }, 'could not release the Lease; the other replica takes it when it expires');
      }
      setLeading(false, 'stopped');
    },
  };
}

function fromLease(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 15,
    ...(spec.acquireTime ? { acquireTime: new Date(spec.acquireTime) } : {}),
    ...(spec.renewTime ? { renewTime: new Date(spec.renewTime) } : {}),
    leaseTransitions: spec.leaseTransitions ?? 0,
    ...(lease.metadata?.resourceVersion ? { resourceVersion: lease.metadata.resourceVersion } : {}),
    ...(lease.metadata?.annotations ? { annotations: { ...lease.metadata.annotations } } : {}),
  };
}

function toLease(record: LeaseRecord, namespace: string, name: string): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name,
      namespace,
      ...(record.resourceVersion ? { resourceVersion: record.resourceVersion } : {}),
      ...(record.annotations ? { annotations: record.annotations } : {}),
    },
    spec: {
      holderIdentity: record.holderIdentity,
      leaseDurationSeconds: record.leaseDurationSeconds,
      leaseTransitions: record.leaseTransitions,
      // MicroTime: RFC 3339 with microseconds, as the API server stores it.
      ...(record.acquireTime ? { acquireTime: new V1MicroTime(record.acquireTime.getTime()) } : {}),
      ...(record.renewTime ? { renewTime: new V1MicroTime(record.renewTime.getTime()) } : {}),
    },
  };
}

/** The Lease through the Kubernetes module: every call bounded by `timeoutMs` (keep it below the renew period). */
export function kubernetesLeasePort(source: KubernetesSource, lease: { namespace: string; name: string }, timeoutMs: number): LeasePort {
  const connection = connectKubernetes(source, { timeoutMs, maxResponseBytes: 256 * 1024 });
  const api = connection.api(CoordinationV1Api);
  const { namespace, name } = lease;
  const fail = (verb: string, error: unknown) => classifyKubernetesError(error, { verb, resource: 'leases.coordination.k8s.io', name, namespace, server: connection.server });
  return {
    async read() {
      try {
        return fromLease(await api.readNamespacedLease({ name, namespace }));
      } catch (error) {
        if (apiStatus(error) === 404) return undefined;
        throw fail('get', error);
      }
    },
    async create(record) {
      try {
        await api.createNamespacedLease({ namespace, body: toLease(record, namespace, name) });
        return 'ok';
      } catch (error) {
        if (apiStatus(error) === 409) return 'conflict';
        throw fail('create', error);
      }
    },
    async replace(record) {
      try {
        await api.replaceNamespacedLease({ name, namespace, body: toLease(record, namespace, name) });
        return 'ok';
      } catch (error) {
        if (apiStatus(error) === 409) return 'conflict';
        throw fail('update', error);
      }
    },
  };
}
