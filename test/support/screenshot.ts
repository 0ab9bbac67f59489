// Takes the README's screenshots of the status page from the demo: a canary promoted to 50 % on
// loopback (real Prometheus, real git, simulated mesh), the page rendered in Debian's chromium.
// Run with `bash scripts/screenshot.sh`; writes docs/status-overview.png and docs/status-canary.png.
import { join } from 'node:path';
import { silentLogger } from '../../src/logger.js';
import { repoRoot } from '../../src/schemas/registry.js';
import { launchChromium } from './chromium.js';
import { startStatusDemo } from './status-demo.js';

const demo = await startStatusDemo({ logger: silentLogger() });
try {
  await demo.tickUntilWeight(50, 120);
  for (let i = 0; i < 4; i++) {
    await demo.tick();
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const browser = await launchChromium({ width: 1280, height: 900 });
  try {
    const page = await browser.context.newPage();
    for (const [path, file] of [
      ['/', 'status-overview.png'],
      ['/canary/backend', 'status-canary.png'],
    ] as const) {
      await page.goto(`${demo.server.url}${path}`);
      const out = join(repoRoot(), 'docs', file);
      await page.screenshot({ path: out, fullPage: true });
      process.stdout.write(`wrote ${out}\n`);
    }
  } finally {
    await browser.close();
  }
} finally {
  await demo.close();
}
