// A multi-cluster verdict in the commit message: the evidence and the trailers name the cluster.
import { describe, expect, it } from 'vitest';
import { combineClusterVerdicts } from '../analysis/clusters.js';
import type { Verdict } from '../analysis/types.js';
import { commitMessage, verdictSummary } from './commit-message.js';
import { backendState, sampleEvidence } from '../../test/support/canary-state.js';

const evidence = (canaryErrors: number) => sampleEvidence(canaryErrors);
const state = backendState();

describe('a multi-cluster rollback commit', () => {
  const combined = combineClusterVerdicts([
    { cluster: 'east', verdict: { decision: 'hold', reason: 'not enough requests yet.', evidence: evidence(3) } },
    { cluster: 'west', verdict: { decision: 'rollback', cause: 'critical', reason: 'canary 5xx 10.00% vs stable 0.50%.', evidence: evidence(60) } },
  ]);
  const verdict = (combined as { verdict: Verdict }).verdict;
  const message = commitMessage({ canary: 'backend', state, action: { kind: 'rollback', image: 'img:2', reason: verdict.reason }, verdict });

  it('names the bad cluster in the reason, a trailer, and the evidence line (first)', () => {
    expect(message).toContain('In cluster west: canary 5xx 10.00% vs stable 0.50%.');
    expect(message).toMatch(/^Promoter-Cluster: west$/m);
    expect(message).toMatch(/^Promoter-Evidence: cluster west \(rollback\): canary 5xx 10\.00% \(60\/600\).* \| cluster east \(hold\): /m);
    expect(verdictSummary(verdict).startsWith('cluster west (rollback)')).toBe(true);
  });

  it('has one evidence table per cluster', () => {
    expect(message).toContain('Evidence in cluster east (hold) (6 windows');
    expect(message).toContain('Evidence in cluster west (rollback) (6 windows');
  });
});
