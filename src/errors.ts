// Error types shared by every module: transient failures are retried on the next tick,
// permanent ones are reported and stop the work they belong to.

/** A failure that may pass by itself (network, timeout, a push race): retry later. */
export class TransientError extends Error {
  override name = 'TransientError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A failure that needs a person (bad input, bad config, a rejected request): report it. */
export class PermanentError extends Error {
  override name = 'PermanentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A configuration or policy file that does not parse or does not validate. */
export class ConfigError extends PermanentError {
  override name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly issues: string[],
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${issues.join('; ')}`, options);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
