// One verdict for a canary that runs in several clusters, from each cluster's own verdict (its canary
// judged against its own stable). Pure. A rollback anywhere rolls back everywhere; a promotion needs
// every cluster; a cluster without data or without an analysis holds, it never passes.
import type { ClusterVerdict, Verdict } from './types.js';

/** One cluster's outcome: a verdict, or why there is none (its endpoint is down, its query failed). */
export type ClusterAnalysis = { cluster: string; verdict: Verdict } | { cluster: string; unavailable: string };

/** The statistics speak for the canary whatever Argo CD does; silence and dwell rules only once a step is applied. */
function statistical(verdict: Pick<Verdict, 'cause'>): boolean {
  return verdict.cause === 'sequential' || verdict.cause === 'critical';
}

function clusterVerdict(cluster: string, verdict: Verdict): ClusterVerdict {
  return {
    cluster,
    decision: verdict.decision,
    ...(verdict.cause !== undefined ? { cause: verdict.cause } : {}),
    reason: verdict.reason,
    evidence: { ...verdict.evidence, cluster },
  };
}

function list(names: readonly string[]): string {
  return names.length === 1 ? `cluster ${names[0] ?? ''}` : `clusters ${names.join(', ')}`;
}

/**
 * Combines per-cluster analyses (in the policy's order). The combined verdict's evidence is the
 * deciding cluster's (the first rolling back, else the first holding, else the first), marked with
 * its name; `clusters` carries every cluster's verdict for the evidence table.
 */
export function combineClusterVerdicts(analyses: readonly ClusterAnalysis[]): { verdict: Verdict } | { unavailable: string } {
  const judged = analyses.flatMap((a) => ('verdict' in a ? [clusterVerdict(a.cluster, a.verdict)] : []));
  const missing = analyses.flatMap((a) => ('unavailable' in a ? [a] : []));
  const rollbacks = judged.filter((c) => c.decision === 'rollback');
  if (rollbacks.length > 0) {
    // A statistical rollback needs no synced step, so it decides before a silence or dwell rollback.
    const deciding = rollbacks.find(statistical) ?? rollbacks[0]!;
    const others = rollbacks.filter((c) => c !== deciding).map((c) => c.cluster);
    const also = others.length > 0 ? ` (${list(others)} also roll back)` : '';
    return {
      verdict: {
        decision: 'rollback',
        ...(deciding.cause !== undefined ? { cause: deciding.cause } : {}),
        reason: `In cluster ${deciding.cluster}${also}: ${deciding.reason} A rollback in one cluster rolls the canary back in every cluster.`,
        evidence: deciding.evidence,
        clusters: judged,
      },
    };
  }
  if (missing.length > 0) {
    return { unavailable: missing.map((m) => `cluster ${m.cluster}: ${'unavailable' in m ? m.unavailable : ''}`).join('; ') };
  }
  const first = judged[0];
  if (first === undefined) return { unavailable: 'no cluster was analysed' };
  const holding = judged.filter((c) => c.decision !== 'promote');
  if (holding.length === 0) {
    return {
      verdict: {
        decision: 'promote',
        reason: `every cluster passes (${judged.map((c) => `${c.cluster}: ${c.reason}`).join(' ')})`,
        evidence: first.evidence,
        clusters: judged,
      },
    };
  }
  const deciding = holding[0]!;
  const passing = judged.filter((c) => c.decision === 'promote').map((c) => c.cluster);
  return {
    verdict: {
      decision: 'hold',
      reason: `${list(holding.map((c) => c.cluster))} ${holding.length === 1 ? 'holds' : 'hold'} (${deciding.cluster}: ${deciding.reason})${passing.length > 0 ? `; ${list(passing)} ${passing.length === 1 ? 'passes' : 'pass'}` : ''}`,
      evidence: deciding.evidence,
      clusters: judged,
    },
  };
}
