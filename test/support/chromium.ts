// Debian's chromium driven by playwright-core, headless and offline: no sandbox (containers), no
// GPU, no QUIC, no background network or component updates, and a fresh profile every launch.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A persistent context on a fresh --user-data-dir, removed on close. */
export async function launchChromium(options: { width?: number; height?: number; javaScriptEnabled?: boolean } = {}): Promise<Chromium> {
  const profile = await mkdtemp(join(tmpdir(), 'promoter-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: options.width ?? 1280, height: options.height ?? 900 },
      timeout: 30_000,
      javaScriptEnabled: options.javaScriptEnabled ?? true,
    });
    return {
      context,
      close: async () => {
        await context.close().catch(() => undefined);
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
}
