import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeArgoCd, type FakeArgoCd } from '../../test/support/fake-argocd.js';
import { silentLogger } from '../logger.js';
import { createSchemaRegistry, type SchemaRegistry } from '../schemas/registry.js';
import { createLeaderElector, kubernetesLeasePort, leaseDecision, type LeaderElector, type LeasePort } from './leader.js';

const LEASE = { namespace: 'docuthinker-promoter', name: 'docuthinker-promoter' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('leaseDecision', () => {
  const held = { holderIdentity: 'a', leaseDurationSeconds: 3, leaseTransitions: 0 };
  it.each([
    ['no Lease yet', undefined, 'b', 0, 'create'],
    ['ours', held, 'a', 0, 'renew'],
    ['released', { ...held, holderIdentity: '' }, 'b', 0, 'take-over'],
    ['held and fresh', held, 'b', 2999, 'wait'],
    ['held but silent for a whole duration', held, 'b', 3000, 'take-over'],
  ] as const)('%s', (_name, record, identity, unchangedFor, expected) => {
    expect(leaseDecision(record, identity, unchangedFor)).toBe(expected);
  });
});

describe('leader election on a Lease', () => {
  let registry: SchemaRegistry;
  let api: FakeArgoCd;
  const electors: LeaderElector[] = [];

  beforeAll(() => {
    registry = createSchemaRegistry();
  });

  afterEach(async () => {
    for (const e of electors.splice(0)) await e.stop();
    await api?.close();
  });

  function elector(identity: string, leases?: LeasePort): LeaderElector {
    const e = createLeaderElector({
      leases: leases ?? kubernetesLeasePort({ kubeConfigYaml: api.kubeConfigYaml() }, LEASE, 500),
      settings: { ...LEASE, identity, leaseDurationSeconds: 2, renewPeriodSeconds: 0.4 },
      logger: silentLogger(),
    });
    electors.push(e);
    return e;
  }

  async function until(condition: () => boolean, ms: number): Promise<number> {
    const started = Date.now();
    while (!condition()) {
      if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
      await sleep(50);
    }
    return Date.now() - started;
  }

  it('elects exactly one of two candidates', async () => {
    api = await startFakeArgoCd({ applications: [], registry });
    const a = elector('promoter-a');
    a.start();
    await until(() => a.isLeader(), 3000);
    const b = elector('promoter-b');
    b.start();
    for (let i = 0; i < 10; i++) {
      expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
      await sleep(100);
    }
    // The stored Lease is a real one.
    expect(api.lease(LEASE.namespace, LEASE.name)).toMatchObject({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', spec: { holderIdentity: 'promoter-a', leaseDurationSeconds: 2 } });

  });

  it('a partitioned leader stops writing before the other replica can take over', async () => {
    api = await startFakeArgoCd({ applications: [], registry });
    let partitioned = false;
    const real = kubernetesLeasePort({ kubeConfigYaml: api.kubeConfigYaml() }, LEASE, 300);
    const cut = <T>(call: () => Promise<T>) => (partitioned ? Promise.reject(new Error('connect ECONNREFUSED')) : call());
    const a = elector('promoter-a', { read: () => cut(() => real.read()), create: (r) => cut(() => real.create(r)), replace: (r) => cut(() => real.replace(r)) });
    a.start();
    await until(() => a.isLeader(), 3000);
    const b = elector('promoter-b');
    b.start();
    await sleep(500);
    expect(b.isLeader()).toBe(false);
    partitioned = true;
    const cutAt = Date.now();
    let aStoppedAt = 0;
    let bStartedAt = 0;
    while (Date.now() - cutAt < 5000 && (aStoppedAt === 0 || bStartedAt === 0)) {
      if (aStoppedAt === 0 && !a.isLeader()) aStoppedAt = Date.now();
      if (bStartedAt === 0 && b.isLeader()) bStartedAt = Date.now();
      expect(a.isLeader() && b.isLeader()).toBe(false);
      await sleep(20);
    }
    expect(aStoppedAt).toBeGreaterThan(0);
    expect(bStartedAt).toBeGreaterThan(aStoppedAt);
    expect(api.lease(LEASE.namespace, LEASE.name)).toMatchObject({ spec: { holderIdentity: 'promoter-b', leaseTransitions: 1 } });
  });

  it('hands over at once when the leader stops cleanly (release)', async () => {
    api = await startFakeArgoCd({ applications: [], registry });
    const a = elector('promoter-a');
    a.start();
    await until(() => a.isLeader(), 3000);
    const b = elector('promoter-b');
    b.start();
    await sleep(300);
    await a.stop();
    expect(a.isLeader()).toBe(false);
    expect(api.lease(LEASE.namespace, LEASE.name)).toMatchObject({ spec: { holderIdentity: '' } });
    // The released Lease is free: b need not wait out the lease duration.
    await until(() => b.isLeader(), 5000);
  });
});
