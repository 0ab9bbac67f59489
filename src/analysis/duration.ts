// Durations as people write them in policies ("30s", "5m", "1h30m"), parsed to seconds.

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** Seconds in a duration string such as "90s", "5m" or "1h30m"; a bare number is seconds. */
export function parseDurationSeconds(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  let total = 0;
  let consumed = 0;
  for (const match of trimmed.matchAll(PART)) {
    if (match.index !== consumed) break;
    total += Number(match[1]) * (UNIT_SECONDS[match[2] ?? 's'] ?? 1);
    consumed += match[0].length;
  }
  if (consumed !== trimmed.length || trimmed.length === 0) {
    throw new Error(`not a duration: "${text}" (write e.g. 30s, 5m, 1h30m)`);
  }
  return total;
}

/** The shortest readable form of a number of seconds, e.g. 330 -> "5m30s". */
export function formatDuration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  let rest = Math.round(seconds);
  const parts: string[] = [];
  for (const [unit, size] of [['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('') || '0s';
}
