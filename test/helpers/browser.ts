/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * A real browser for the console's tests: Debian's chromium (installed by .ci/run), driven by
 * puppeteer-core. Every page records what went wrong on it (console errors, uncaught
 * exceptions, failed requests, answers of 400 and above) for the tests to assert on, and can
 * run axe-core and take screenshots into var/screenshots (ignored by git).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import puppeteer, { type Browser, type Page } from 'puppeteer-core';

import { ROOT } from './process.js';

export const CHROMIUM = process.env.QUIVER_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(ROOT, 'var', 'screenshots');

export function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root, in a sandbox of its own, with no network beyond loopback: nothing in the background.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}

export interface Watched {
  readonly page: Page;
  /** Console errors, page errors, failed requests and answers >= 400, in order. */
  readonly problems: string[];
  /** Every request the page sent (method and URL). */
  readonly requests: string[];
}

export async function watchedPage(browser: Browser, width = 1280, height = 900): Promise<Watched> {
  const page = await browser.newPage();
  await page.setViewport({ width, height });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err instanceof Error ? err.message : String(err)}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return { page, problems, requests };
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly targets: string[];
}

/** axe-core's serious and critical violations on the page as it is now. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated through the DevTools protocol, so the page's CSP (no inline script) does not apply.
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run(ctx: unknown, o: unknown): Promise<{ violations: Array<Record<string, unknown>> }> } }
    ).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: String(v.id),
      impact: (v.impact as string | null) ?? null,
      help: String(v.help),
      targets: (v.nodes as Array<{ target: unknown[] }>).map((n) => n.target.join(' ')),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** The visible part of the page (docs/console.md shows a few of these, copied from var/screenshots). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.evaluate(() => scrollTo(0, 0));
  await page.screenshot({ path });
  return path;
}

/**
 * Presses Tab until the focus comes back around (at most `limit` times) and returns the
 * interactive elements of the page that the keyboard never reached (links, buttons, inputs,
 * selects and summaries that are enabled and visible), described for the failure message.
 */
export async function unreachableByKeyboard(page: Page, limit = 400): Promise<string[]> {
  const total = await page.evaluate(() => {
    const items = [...document.querySelectorAll<HTMLElement>('a[href], button, input, select, summary')].filter(
      (el) => !(el as HTMLButtonElement).disabled && el.offsetParent !== null,
    );
    items.forEach((el, i) => (el.dataset.kbd = String(i)));
    (document.activeElement as HTMLElement | null)?.blur();
    return items.length;
  });
  const reached = new Set<string>();
  for (let i = 0; i < limit && reached.size < total; i++) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.kbd ?? '');
    if (id !== '') reached.add(id);
  }
  return page.evaluate(
    (seen: string[]) =>
      [...document.querySelectorAll<HTMLElement>('[data-kbd]')]
        .filter((el) => !seen.includes(el.dataset.kbd ?? ''))
        .map((el) => `${el.tagName.toLowerCase()} "${(el.textContent ?? '').trim().slice(0, 40)}" ${el.getAttribute('aria-label') ?? ''}`),
    [...reached],
  );
}

/** The trimmed text of the first element matching `selector`, waiting for it. */
export async function textOf(page: Page, selector: string): Promise<string> {
  const el = await page.waitForSelector(selector);
  return ((await el?.evaluate((e) => e.textContent)) ?? '').trim();
}
