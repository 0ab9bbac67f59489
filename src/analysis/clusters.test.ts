// Combining a multi-cluster canary's per-cluster verdicts: a table of who rolls back, holds and passes.
import { describe, expect, it } from 'vitest';
import { combineClusterVerdicts, type ClusterAnalysis } from './clusters.js';
import type { Decision, RollbackCause, Verdict } from './types.js';
import { sampleEvidence } from '../../test/support/canary-state.js';


const judged = (cluster: string, decision: Decision, cause?: RollbackCause): ClusterAnalysis => {
  const verdict: Verdict = { decision, reason: `${cluster} says ${decision}.`, evidence: sampleEvidence(decision === 'rollback' ? 60 : 3), ...(cause ? { cause } : {}) };
  return { cluster, verdict };
};
const down = (cluster: string): ClusterAnalysis => ({ cluster, unavailable: `${cluster}'s Prometheus is down` });

describe('combineClusterVerdicts', () => {
  const cases: [string, ClusterAnalysis[], { decision?: Decision; unavailable?: RegExp; cluster?: string; reason?: RegExp; cause?: RollbackCause }][] = [
    ['every cluster passes: promote', [judged('east', 'promote'), judged('west', 'promote')], { decision: 'promote', cluster: 'east', reason: /every cluster passes/ }],
    ['one cluster holds (no data): hold, never a pass', [judged('east', 'promote'), judged('west', 'hold')], { decision: 'hold', cluster: 'west', reason: /^cluster west holds .*; cluster east passes$/ }],
    ['one cluster rolls back: the whole canary rolls back, naming it', [judged('east', 'promote'), judged('west', 'rollback', 'sequential')], { decision: 'rollback', cluster: 'west', cause: 'sequential', reason: /^In cluster west: west says rollback\. A rollback in one cluster rolls the canary back in every cluster\.$/ }],
    ['a rollback outweighs a cluster without an analysis', [down('east'), judged('west', 'rollback', 'critical')], { decision: 'rollback', cluster: 'west', cause: 'critical' }],
    ['a statistical rollback decides before a silence rollback', [judged('east', 'rollback', 'no-traffic'), judged('west', 'rollback', 'sequential')], { decision: 'rollback', cluster: 'west', cause: 'sequential', reason: /^In cluster west \(cluster east also roll back\)/ }],
    ['a cluster without an analysis holds the others\' pass', [judged('east', 'promote'), down('west')], { unavailable: /^cluster west: west's Prometheus is down$/ }],
  ];
  it.each(cases)('%s', (_, analyses, want) => {
    const combined = combineClusterVerdicts(analyses);
    if (want.unavailable) {
      expect(combined).toEqual({ unavailable: expect.stringMatching(want.unavailable) as unknown });
      return;
    }
    if (!('verdict' in combined)) throw new Error(`expected a verdict, got ${combined.unavailable}`);
    const { verdict } = combined;
    expect(verdict.decision).toBe(want.decision);
    expect(verdict.evidence.cluster).toBe(want.cluster);
    if (want.reason) expect(verdict.reason).toMatch(want.reason);
    expect(verdict.cause).toBe(want.cause);
    expect(verdict.clusters?.map((c) => c.cluster)).toEqual(analyses.filter((a) => 'verdict' in a).map((a) => a.cluster));
    for (const c of verdict.clusters ?? []) expect(c.evidence.cluster).toBe(c.cluster);
  });
});
