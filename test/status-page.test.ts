// The status page in a real browser (Debian's chromium via playwright-core) against a live
// canary: the overview row shows its step, the charts have points, the page refreshes itself in
// place, and no console error is raised. /metrics of the same live canary passes promtool.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.js';
import { launchChromium, type Chromium } from './support/chromium.js';
import { startStatusDemo, type StatusDemo } from './support/status-demo.js';

let demo: StatusDemo;
let browser: Chromium;

beforeAll(async () => {
  demo = await startStatusDemo({ logger: silentLogger(), stopAt10: true });
  // start at 5 %, then promoted to 10 %: windows, decision markers and history to draw.
  await demo.tickUntilWeight(10, 60);
  await demo.tick();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await demo?.close();
});

describe('status page in headless Chromium', () => {
  it('shows one row per canary with its step, weights, images, phase, reason and last commit', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const response = await page.goto(`${demo.server.url}/`);
    expect(response?.status()).toBe(200);
    const row = page.locator('tr[data-canary="backend"]');
    await expect.poll(() => row.locator('td.step').textContent()).toBe('2/4 (10%)');
    const text = (await row.textContent()) ?? '';
    expect(text).toContain('90 / 10');
    expect(text).toContain('ghcr.io/docuthinker/backend:1.5.0');
    expect(text).toContain('progressing');
    expect(await row.locator('a[href^="https://github.com/docuthinker/gitops/commit/"]').count()).toBe(1);
    expect(await page.locator('tr[data-canary]').count()).toBe(demo.record.lastTick?.canaries.length);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('draws the canary page charts with points and decision markers, the evidence and the history', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${demo.server.url}/`);
    await page.click('a[href="/canary/backend"]');
    await page.waitForURL('**/canary/backend');
    for (const id of ['chart-weight', 'chart-5xx', 'chart-p99']) {
      const points = Number(await page.locator(`#${id} svg`).getAttribute('data-points'));
      expect(points, id).toBeGreaterThan(1);
      expect(await page.locator(`#${id} circle.point`).count()).toBe(points);
    }
    expect(await page.locator('#chart-weight line.marker').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#evidence tbody tr').count()).toBe(2);
    const history = (await page.locator('#history').textContent()) ?? '';
    expect(history).toContain('set-weight');
    expect(history).toContain('start');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('refreshes itself in place, without a reload', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`${demo.server.url}/`);
    // The test's tsconfig has no DOM types: the browser's globalThis is the window.
    await page.evaluate(() => {
      (globalThis as unknown as { marker: number }).marker = 42;
    });
    const before = await page.locator('#updated').textContent();
    await demo.tick();
    await expect.poll(() => page.locator('#updated').textContent(), { timeout: 15_000, interval: 500 }).not.toBe(before);
    // Still the same document: the script swapped <main>, the page was not reloaded.
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('works without JavaScript: the same tables and charts, and a meta refresh instead of the script', async () => {
    const noScript = await launchChromium({ javaScriptEnabled: false });
    try {
      const page = await noScript.context.newPage();
      await page.goto(`${demo.server.url}/canary/backend`);
      expect(await page.locator('#chart-weight circle.point').count()).toBeGreaterThan(1);
      expect(await page.locator('#facts td.step').textContent()).toBe('2/4 (10%) of 5 → 10 → 50 → 100%');
      expect(await page.locator('noscript').innerHTML()).toContain('http-equiv="refresh"');
    } finally {
      await noScript.close();
    }
  });

  it('serves /metrics that passes promtool check metrics with a live canary', async () => {
    const text = await (await fetch(`${demo.server.url}/metrics`)).text();
    expect(text).toContain('promoter_canary_weight{canary="backend"} 10');
    expect(text).toContain('promoter_canary_step{canary="backend"} 2');
    expect(text).toMatch(/promoter_sequential_statistic\{canary="backend",metric="5xx"\} /);
    expect(execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })).toBe('');
  });
});
