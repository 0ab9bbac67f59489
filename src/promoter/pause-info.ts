// Who paused a canary and why: the commit that set the pause, read back from Git. A pause is
// either the VirtualService annotation (`promoter pause`, Promoter-Decision: pause) or spec.paused
// in the policy (a hand edit of the policy file).
import { TRAILERS } from './commit-message.js';
import type { CommitInfo } from './workspace.js';
import { ANNOTATIONS } from './state.js';

export interface PauseInfo {
  source: 'annotation' | 'spec';
  /** what holds the canary, in words. */
  what: string;
  /** "Name <email>" of the commit that set it, when found. */
  by?: string;
  at?: string;
  sha?: string;
  reason?: string;
}

/** The message body without its trailer block. */
function bodyWithoutTrailers(commit: CommitInfo): string {
  const paragraphs = commit.body.split(/\n\s*\n/);
  const last = paragraphs.at(-1) ?? '';
  const isTrailers = last.split('\n').every((l) => /^[A-Za-z][A-Za-z0-9-]*: /.test(l));
  return (isTrailers ? paragraphs.slice(0, -1) : paragraphs).join('\n\n').trim();
}

/**
 * The pause's origin from `git log` of the file that carries it, newest first: for the annotation,
 * the newest commit whose Promoter-Decision is pause for this canary; for spec.paused, the newest
 * commit that touched the policy file.
 */
export function describePause(
  source: 'annotation' | 'spec',
  canary: string,
  files: { virtualService: string; policy: string },
  commits: readonly CommitInfo[],
): PauseInfo {
  const what =
    source === 'annotation'
      ? `the ${ANNOTATIONS.paused}: "true" annotation on the VirtualService (${files.virtualService})`
      : `spec.paused: true in the policy (${files.policy})`;
  const commit =
    source === 'annotation'
      ? commits.find((c) => c.trailers[TRAILERS.canary] === canary && c.trailers[TRAILERS.decision] === 'pause')
      : commits[0];
  if (!commit) return { source, what };
  const reason = bodyWithoutTrailers(commit) || commit.subject;
  return { source, what, by: commit.author, at: commit.date, sha: commit.sha, reason };
}

export function formatPause(p: PauseInfo): string {
  const who = p.by ? `set by ${p.by} on ${p.at ?? '?'} in ${p.sha?.slice(0, 10) ?? '?'}` : 'no commit found that set it';
  return `paused by ${p.what}; ${who}${p.reason ? `; reason: ${p.reason}` : ''}. \`promoter resume\` (annotation) or removing spec.paused lets it go on.`;
}
