// How a guard's value is judged against its threshold; shared by the judge and the live guards.
import type { GuardOutcome } from './types.js';

export function compare(value: number, op: GuardOutcome['op'], threshold: number): boolean {
  switch (op) {
    case '<=':
      return value <= threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '>':
      return value > threshold;
  }
}

/** A guard's outcome: no value is `no-data`, never a pass. */
export function guardOutcome(name: string, value: number | null, op: GuardOutcome['op'], threshold: number, query?: string): GuardOutcome {
  const status = value === null ? 'no-data' : compare(value, op, threshold) ? 'pass' : 'fail';
  return { name, value, threshold, op, status, ...(query !== undefined ? { query } : {}) };
}
