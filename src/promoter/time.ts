// Instants as the promoter writes them into annotations and messages: UTC, second precision.

export function formatInstant(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
