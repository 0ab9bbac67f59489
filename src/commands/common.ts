// Helpers shared by the CLI commands: config loading with a clear error, and exit codes.
import { ConfigError, errorMessage } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { loadPromoterConfig, type PromoterConfig } from '../promoter/config.js';

export const EXIT = { ok: 0, findings: 1, usage: 2, failure: 3 } as const;

export function configPath(option: string | undefined): string {
  const path = option ?? process.env.PROMOTER_CONFIG;
  if (!path) throw new ConfigError('--config', ['required (or set PROMOTER_CONFIG): the promoter config YAML file']);
  return path;
}

export function loadConfigOrExit(option: string | undefined): PromoterConfig | undefined {
  try {
    return loadPromoterConfig(configPath(option));
  } catch (error) {
    process.stderr.write(`promoter: ${errorMessage(error)}\n`);
    process.exitCode = EXIT.usage;
    return undefined;
  }
}

/** Logs go to stderr for commands whose stdout is their result. */
export function commandLogger(config: PromoterConfig, level?: string): Logger {
  return createLogger({ level: level ?? config.logLevel, destination: process.stderr });
}
