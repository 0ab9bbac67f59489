// What each fault case observed, appended as one JSON line to $RELIABILITY_RECORD when it is set
// (`npm run reliability` sets it); docs/reliability.md is rendered from these lines.
import { appendFileSync } from 'node:fs';

export type FaultClass = 'metrics' | 'kubernetes' | 'git' | 'crash' | 'concurrency' | 'bad-input' | 'secrets' | 'service';

export interface CaseRecord {
  class: FaultClass;
  case: string;
  /** runs inside the case (e.g. kill -9 runs); default 1. */
  runs?: number;
  /** commits lost or steps skipped/duplicated compared with what should be in Git. */
  dataLost: number;
  /** a promotion (a step up or a finalization) that the data did not justify. */
  wrongPromotions: number;
  /** a rollback whose only cause was monitoring (no data, NaN, Inf, an outage). */
  monitoringRollbacks: number;
  /** places the fake token was found (logs, errors, commits, status, ps, files). */
  tokensLeaked: number;
}

/** Call once per case, after its assertions passed or failed (survived = no assertion failed). */
export function recordCase(record: CaseRecord, survived = true): void {
  const file = process.env.RELIABILITY_RECORD;
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ ...record, runs: record.runs ?? 1, survived })}\n`);
}

/** Runs a case body; records it whether it passes or throws (a throw is "not survived"). */
export async function faultCase<T>(record: Omit<CaseRecord, 'dataLost' | 'wrongPromotions' | 'monitoringRollbacks' | 'tokensLeaked'>, body: (observed: CaseRecord) => Promise<T>): Promise<T> {
  const observed: CaseRecord = { ...record, dataLost: 0, wrongPromotions: 0, monitoringRollbacks: 0, tokensLeaked: 0 };
  try {
    const result = await body(observed);
    recordCase(observed, true);
    return result;
  } catch (error) {
    recordCase(observed, false);
    throw error;
  }
}
