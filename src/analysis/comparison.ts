// How a guard's value is compared with its threshold; shared by the judge and the live guards.
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
