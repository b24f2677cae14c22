import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Store } from '../../core/clickhouse.js';
import type { ApiKey } from '../../core/config.js';
import { ensureWebBuild } from '../../scripts/buildWeb.js';
import { startApi, type TestApi } from '../support/api.js';

/** Debian's Chromium, as every browser suite and the page benchmark drive it. */
export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
export const ARTIFACTS = join(process.cwd(), 'test-artifacts');

/**
 * The chDB data directory of this browser test file's process. Named apart from `balances-test-*`,
 * which a concurrent vitest run's teardown may remove while this one still uses it.
 */
export const browserDataDir = join(tmpdir(), `balances-browser-${process.pid}`);
// Removed as the process exits: chDB keeps the directory open for as long as the process lives.
process.once('exit', () => {
  try {
    rmSync(browserDataDir, { recursive: true, force: true });
  } catch {
    // A directory chDB was still writing to; the next run's temp cleanup takes it.
  }
});

export const DEMO_KEY: ApiKey = { key: 'demo-admin', accountId: 'demo', role: 'admin' };

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/** The built page and the real API on a port of its own, over the given store. */
export async function startPageServer(store: Store, keys: ApiKey[] = [DEMO_KEY]): Promise<TestApi> {
  await ensureWebBuild({ quiet: true });
  return startApi(store, { keys });
}

export interface WatchedPage {
  page: Page;
  /** Content-Security-Policy violations the page reported, and script errors. */
  problems: string[];
}

/** A page that records CSP violations, uncaught errors and console errors other than HTTP statuses. */
export async function watchedPage(context: BrowserContext): Promise<WatchedPage> {
  const page = await context.newPage();
  const problems: string[] = [];
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of/.test(message.text())) problems.push(message.text());
  });
  page.on('response', (response) => {
    if (response.status() >= 500) problems.push(`HTTP ${response.status()} ${response.request().method()} ${response.url()}`);
  });
  return { page, problems };
}

export async function signIn(page: Page, key: string): Promise<void> {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('article.card[data-wallet]').first().waitFor({ timeout: 60_000 });
}

/**
 * Every card of the page, scrolling through the virtualised grids: `type/id` to data-status.
 */
export async function collectCards(page: Page): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  await page.evaluate(() => scrollTo(0, 0));
  for (let guard = 0; guard < 500; guard++) {
    const cards = await page.locator('article.card[data-wallet]').evaluateAll((nodes) => nodes.map((n) => [n.getAttribute('data-wallet') ?? '', n.getAttribute('data-status') ?? '']));
    for (const [wallet, status] of cards) seen.set(wallet as string, status as string);
    const atBottom = await page.evaluate(() => {
      const before = scrollY;
      scrollBy(0, innerHeight * 0.8);
      return scrollY === before;
    });
    if (atBottom) break;
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  }
  await page.evaluate(() => scrollTo(0, 0));
  return seen;
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/** An amount as en-US shows it, from its exact decimal text: grouping on the integer, no float. */
export function enUsAmount(amount: string | number): string {
  const [whole = '0', fraction = ''] = String(amount).replace(/^-/, '').split('.');
  const grouped = new Intl.NumberFormat('en-US').format(BigInt(whole));
  const trimmed = fraction.replace(/0+$/, '');
  return (String(amount).startsWith('-') ? '−' : '') + grouped + (trimmed ? `.${trimmed}` : '');
}
