// A canary's decisions read back from the Git trailers of the commits that made them (promoter's
// and people's alike). Pure: takes `git log` records, returns entries newest first.
import { TRAILERS } from './commit-message.js';
import type { CommitInfo } from './workspace.js';

export interface HistoryEntry {
  sha: string;
  /** ISO 8601 author date. */
  date: string;
  author: string;
  subject: string;
  canary: string;
  /** Promoter-Step: a weight ("10"), "finalize-image", "rollback-from-50", ... */
  step?: string;
  /** Promoter-Decision: start, set-weight, rollback, pause, manual-set-weight, retry-failed, ... */
  decision?: string;
  image?: string;
  evidence?: string;
}

/** The entries of the commits whose Promoter-Canary trailer names `canary` (every canary when omitted). */
export function canaryHistory(commits: readonly CommitInfo[], canary?: string): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  for (const commit of commits) {
    const name = commit.trailers[TRAILERS.canary];
    if (name === undefined || (canary !== undefined && name !== canary)) continue;
    const t = commit.trailers;
    entries.push({
      sha: commit.sha,
      date: commit.date,
      author: commit.author,
      subject: commit.subject,
      canary: name,
      ...(t[TRAILERS.step] !== undefined ? { step: t[TRAILERS.step] } : {}),
      ...(t[TRAILERS.decision] !== undefined ? { decision: t[TRAILERS.decision] } : {}),
      ...(t[TRAILERS.image] !== undefined ? { image: t[TRAILERS.image] } : {}),
      ...(t[TRAILERS.evidence] !== undefined ? { evidence: t[TRAILERS.evidence] } : {}),
    });
  }
  return entries;
}

/** The canary weight a history entry left behind, when its step says so. */
export function weightAfter(entry: HistoryEntry): number | undefined {
  if (entry.step === undefined) return undefined;
  // Promoter-Step is where the canary is once the commit applies, for the promoter's commits and a
  // person's alike (pause and resume leave the weight where it was).
  const weighted = ['start', 'set-weight', 'manual-start', 'manual-set-weight', 'pause', 'resume'];
  if (/^\d+$/.test(entry.step) && weighted.includes(entry.decision ?? '')) return Number(entry.step);
  if (entry.step.startsWith('rollback') || entry.step === 'finalize-traffic' || entry.decision === 'rollback') return 0;
  return undefined;
}
