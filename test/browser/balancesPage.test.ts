import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import type { Store } from '../../core/clickhouse.js';
import { DEMO_ACCOUNT, loadDemo } from '../../ingest/demo.js';
import { freshStore, pipelineFor } from '../support/store.js';
import type { TestApi } from '../support/api.js';
import { artifactPath, browserDataDir, collectCards, DEMO_KEY, enUsAmount, launchChromium, signIn, startPageServer, watchedPage, type WatchedPage } from './support.js';

/**
 * The Balances page in real Chromium, on the demo account, against the real API: what an admin
 * sees and does, checked against what the API answers.
 */
let store: Store;
let api: TestApi;
let browser: Browser;
let context: BrowserContext;
let watched: WatchedPage;
let page: Page;

interface WalletJson {
  wallet: { type: string; id: string };
  name?: string;
  status: string;
  available: string | number;
}

async function apiJson<T>(path: string): Promise<T> {
  const res = await api.request(path, { key: DEMO_KEY.key });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

beforeAll(async () => {
  store = await freshStore(browserDataDir);
  await loadDemo(pipelineFor(store));
  api = await startPageServer(store);
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US', timezoneId: 'Europe/Berlin', acceptDownloads: true, reducedMotion: 'reduce' });
  watched = await watchedPage(context);
  page = watched.page;
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  await store?.close();
});

describe('the Balances page', { timeout: 120_000 }, () => {
  // Each check starts from the page as an admin leaves it: no dialog open, no search typed, so
  // one failing check does not fail the ones after it.
  beforeEach(async () => {
    if (!page.url().startsWith(api.url)) return;
    for (const open of await page.locator('dialog[open]').all()) await open.evaluate((d) => (d as HTMLDialogElement).close());
    const search = page.getByRole('searchbox');
    if (await search.isVisible()) await search.fill('');
  });

  it('is served at / with a strict Content-Security-Policy, as every API answer is', async () => {
    for (const [path, key] of [['/', undefined], ['/v1/wallets', DEMO_KEY.key], ['/v1/wallets', undefined], ['/v1/nope', DEMO_KEY.key]] as const) {
      const res = await api.request(path, key ? { key } : {});
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*script-src 'self'.*frame-ancestors 'none'/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
    const html = await (await api.request('/wallets/deep/link')).text();
    expect(html).toContain('<div id="app">');
  });

  it('signs in with an API key kept for the session only, refuses a wrong one, and signs out', async () => {
    await page.goto(api.url);
    await page.getByLabel('API key').fill('not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 30_000 }).toContain('not accepted');

    await signIn(page, DEMO_KEY.key);
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([1, 0]);
    expect(page.url()).not.toContain(DEMO_KEY.key);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.reload();
    await page.getByLabel('API key').waitFor();

    await signIn(page, DEMO_KEY.key);
    await page.reload();
    await page.locator('article.card[data-wallet]').first().waitFor({ timeout: 60_000 });
  });

  it("shows every wallet's card with the API's status, both green and red, and names instead of bare ids", async () => {
    const { wallets } = await apiJson<{ wallets: WalletJson[] }>('/v1/wallets');
    const cards = await collectCards(page);
    const expected = new Map(wallets.map((w) => [`${w.wallet.type}/${w.wallet.id}`, w.status]));
    expect(cards).toEqual(expected);
    expect(new Set(cards.values())).toEqual(new Set(['green', 'red']));
    // Status is written, not only coloured.
    const red = page.locator('article.card[data-status="red"]').first();
    await expect.poll(() => red.locator('.status').textContent()).toContain('Low balance');
    const named = wallets.find((w) => w.name && w.name !== w.wallet.id);
    if (named) {
      await page.getByRole('searchbox').fill(named.wallet.id);
      await expect.poll(() => page.locator(`article.card[data-wallet="${named.wallet.type}/${named.wallet.id}"] h3`).textContent()).toBe(named.name);
      await page.getByRole('searchbox').fill('');
    }
  });

  it('names in the banner exactly the wallets the API says expire within 90 days', async () => {
    const { lots } = await apiJson<{ lots: Array<{ wallet: { type: string; id: string } }> }>('/v1/expiring?within_days=90');
    const expected = [...new Set(lots.map((l) => `${l.wallet.type}/${l.wallet.id}`))].sort();
    expect(expected.length).toBeGreaterThan(0);
    const banner = page.locator('[data-banner="expiring"]');
    await expect.poll(async () => (await banner.locator('[data-expiring-wallet]').evaluateAll((n) => n.map((e) => e.getAttribute('data-expiring-wallet')))).sort(), { timeout: 30_000 }).toEqual(expected);
    await banner.getByText(/Show the \d+ expiring lots/).click();
    expect(await banner.locator('tbody tr').count()).toBe(lots.length);
  });

  it('opens token events from a card, newest first, and loads more on demand', async () => {
    // A team that bought a lot this year, so that its events fill more than one page.
    const { wallets } = await apiJson<{ wallets: WalletJson[] }>('/v1/wallets?type=team');
    const id = (wallets[wallets.length - 1] as WalletJson).wallet.id;
    const chosen = { key: `team/${id}` };
    const now = Date.now();
    const purchases = Array.from({ length: 14 }, (_, i) => ({
      event_id: `page-test-order-${i}`,
      type: 'purchase',
      account_id: DEMO_ACCOUNT,
      occurred_at: new Date(now - (i + 1) * 86_400_000).toISOString(),
      expires_at: new Date(now + 400 * 86_400_000).toISOString(),
      wallet: { type: 'team', id },
      amount: '250.5',
      lot_id: `PAGE-${i}`,
    }));
    const stored = await api.request('/v1/events', { key: DEMO_KEY.key, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(purchases) });
    expect((await stored.json()).accepted).toBe(purchases.length);
    // The API's full list once it includes the new orders (a read may be shared for a moment).
    let events: Array<{ type: string; lots: Array<{ lot_id: string }> }> = [];
    await expect
      .poll(
        async () => {
          ({ events } = await apiJson<{ events: typeof events }>(`/v1/wallets/team/${encodeURIComponent(id)}/events?from=now-1825d&limit=1000`));
          return events.filter((e) => e.lots.some((l) => l.lot_id.startsWith('PAGE-'))).length;
        },
        { timeout: 30_000 },
      )
      .toBe(purchases.length);

    await page.getByRole('searchbox').fill(id);
    const card = page.locator(`article.card[data-wallet="${chosen.key}"]`);
    await card.getByRole('button', { name: /^Details/ }).click();
    const dialog = page.locator(`dialog[data-details-wallet="${chosen.key}"]`);
    await expect.poll(() => dialog.locator('table.events tbody tr').count(), { timeout: 30_000 }).toBe(10);
    expect(page.url()).toContain(`wallet=${encodeURIComponent(chosen.key)}`);
    // The first page is asked again whenever balances change (the button reads "Loading…" then),
    // so each round waits for the list to settle: a "Load more" button, or the end of the list.
    const more = dialog.getByRole('button', { name: 'Load more' });
    const end = dialog.getByText(/^All \d+ token events shown\.$/);
    const settled = async () => ((await end.isVisible()) ? 'end' : (await more.isVisible()) ? 'more' : 'busy');
    for (;;) {
      await expect.poll(settled, { timeout: 30_000 }).not.toBe('busy');
      if ((await settled()) === 'end') break;
      const before = await dialog.locator('table.events tbody tr').count();
      await more.click();
      await expect.poll(() => dialog.locator('table.events tbody tr').count(), { timeout: 30_000 }).toBeGreaterThan(before);
    }
    const shown = await dialog.locator('table.events tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-type')));
    expect(shown).toEqual(events.map((e) => e.type));

    // The open wallet is part of the link: a reload shows the same dialog.
    await page.reload();
    await page.locator(`dialog[data-details-wallet="${chosen.key}"]`).waitFor({ timeout: 60_000 });
    await page.keyboard.press('Escape');
    await expect.poll(() => page.url()).not.toContain('wallet=');
    await page.getByRole('searchbox').fill('');
  });

  it('redraws usage by service and by user for exactly the custom From and To range, and downloads it as CSV', async () => {
    const usage = page.locator('section.usage');
    await usage.scrollIntoViewIfNeeded();
    await expect.poll(() => usage.locator('figure[data-chart="service"]').getAttribute('data-range'), { timeout: 30_000 }).not.toBe('');

    const requested: URL[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/v1/usage?')) requested.push(new URL(request.url()));
    });
    await usage.getByLabel('From', { exact: true }).fill('2026-09-01');
    await usage.getByLabel('To', { exact: true }).fill('2026-09-30');
    // Local midnights in the browser's time zone, Europe/Berlin; To is a whole day.
    const from = '2026-08-31T22:00:00.000Z';
    const to = '2026-09-30T22:00:00.000Z';
    for (const kind of ['service', 'user', 'day']) {
      await expect.poll(() => usage.locator(`figure[data-chart="${kind}"]`).getAttribute('data-range'), { timeout: 30_000 }).toBe(`${from}/${to}`);
    }
    const exact = requested.filter((u) => u.searchParams.get('from') === from && u.searchParams.get('to') === to);
    expect(new Set(exact.map((u) => u.searchParams.get('group_by')))).toEqual(new Set(['service', 'user', 'day']));
    // The last requests the page made are for exactly that range.
    for (const u of requested.slice(-3)) expect([u.searchParams.get('from'), u.searchParams.get('to')]).toEqual([from, to]);
    expect(page.url()).toContain('from=2026-09-01');

    const expected = await apiJson<{ rows: Array<{ service?: string; amount: string | number; others?: boolean }> }>(`/v1/usage?group_by=service&limit=10&from=${from}&to=${to}`);
    const bars = await usage.locator('figure[data-chart="service"] .chart svg path').count();
    expect(bars).toBeGreaterThanOrEqual(expected.rows.filter((r) => !r.others).length);
    // The chart's text alternative names the top services of that range.
    const top = expected.rows[0] as { service: string };
    expect(await usage.locator('figure[data-chart="service"] .chart').getAttribute('aria-label')).toContain(top.service);
    expect(await usage.locator('figure[data-chart="service"]').getAttribute('data-rows')).toBe(String(expected.rows.length));

    // The tooltip is HTML that ECharts styles from script: it must work under the page's CSP.
    const chart = usage.locator('figure[data-chart="service"] .chart');
    const box = (await chart.boundingBox()) as { x: number; y: number; width: number; height: number };
    await page.mouse.move(box.x + box.width * 0.3, box.y + 20);
    await expect.poll(() => chart.locator('div').filter({ hasText: `${top.service}:` }).count(), { timeout: 10_000 }).toBeGreaterThan(0);

    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), usage.locator('figure[data-chart="service"]').getByRole('button', { name: /Download CSV/ }).click()]);
    const csv = readFileSync((await download.path()) as string, 'utf8');
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe('service,amount,events');
    expect(lines.length - 1).toBe(expected.rows.length);
    expect(download.suggestedFilename()).toMatch(/^usage-by-service_all-wallets_2026-08-31_2026-09-30\.csv$/);
  });

  it('shows an event stored while the page is open on its card, without a reload', async () => {
    await page.evaluate(() => scrollTo(0, 0));
    const { wallets } = await apiJson<{ wallets: WalletJson[] }>('/v1/wallets?type=team');
    const target = wallets[0] as WalletJson;
    const key = `team/${target.wallet.id}`;
    await page.getByRole('searchbox').fill(target.wallet.id);
    const available = page.locator(`article.card[data-wallet="${key}"] [data-field="available"]`);
    await expect.poll(() => available.textContent(), { timeout: 30_000 }).toBe(enUsAmount(target.available));

    const posted = await api.request('/v1/events', {
      key: DEMO_KEY.key,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ event_id: `live-${Date.now()}`, type: 'usage', account_id: DEMO_ACCOUNT, occurred_at: new Date().toISOString(), wallet: target.wallet, amount: '1234.5678', user_id: 'user-live', product: 'compiler' }]),
    });
    expect((await posted.json()).accepted).toBe(1);
    // Balances may be derived a moment after the event is stored: the page shows what the API says.
    let after = target;
    await expect
      .poll(
        async () => {
          after = (await apiJson<{ wallets: WalletJson[] }>('/v1/wallets?type=team')).wallets.find((w) => w.wallet.id === target.wallet.id) as WalletJson;
          return after.available;
        },
        { timeout: 30_000, interval: 100 },
      )
      .not.toEqual(target.available);
    await expect.poll(() => available.textContent(), { timeout: 15_000, interval: 100 }).toBe(enUsAmount(after.available));
    await expect.poll(() => page.locator('.freshness').textContent()).toMatch(/updated (just now|\d+ s ago)/);
    await page.getByRole('searchbox').fill('');
  });

  it('works from the keyboard: search, open a wallet, close it', async () => {
    await page.evaluate(() => scrollTo(0, 0));
    await page.getByRole('searchbox').fill('');
    await page.getByRole('searchbox').focus();
    await page.keyboard.type('platform');
    await expect.poll(() => page.locator('article.card[data-wallet]').count()).toBe(1);
    let reached = false;
    for (let i = 0; i < 80 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.textContent === 'Details');
    }
    expect(reached).toBe(true);
    await page.keyboard.press('Enter');
    const dialog = page.locator('dialog[open][data-details-wallet="team/platform"]');
    await dialog.waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => document.activeElement?.closest('dialog') !== null)).toBe(true);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached', timeout: 30_000 });
    await page.getByRole('searchbox').fill('');
  });

  it('has no serious or critical accessibility violation, signed out or in, light or dark', async () => {
    const scan = async () => {
      const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
      return result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} ${n.failureSummary ?? ''}`).join(' | ')}`);
    };
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.evaluate(() => scrollTo(0, 0));
      expect(await scan()).toEqual([]);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    const signedOut = await context.newPage();
    await signedOut.goto(api.url);
    await signedOut.getByLabel('API key').waitFor();
    await signedOut.screenshot({ path: artifactPath('balances-signin-1440-light.png') });
    const result = await new AxeBuilder({ page: signedOut }).analyze();
    expect(result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
    await signedOut.close();
  });

  it('renders at 1440 px and 390 px, light and dark (screenshots in test-artifacts/)', async () => {
    await page.goto(`${api.url}/`);
    await page.locator('article.card[data-wallet]').first().waitFor({ timeout: 60_000 });
    for (const width of [1440, 390]) {
      for (const scheme of ['light', 'dark'] as const) {
        await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
        await page.emulateMedia({ colorScheme: scheme });
        await page.evaluate(() => scrollTo(0, 0));
        await expect.poll(() => page.locator('figure[data-chart="day"]').getAttribute('data-rows'), { timeout: 30_000 }).not.toBe('');
        // Every card on screen has its past-90-day summary.
        await expect.poll(() => page.locator('article.card .card-body[aria-busy="true"]').count(), { timeout: 30_000 }).toBe(0);
        // Every donut is drawn in the new scheme (ECharts paints on the next animation frame).
        await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
        await expect
          .poll(() => page.locator('article.card .donut-chart').evaluateAll((charts) => charts.filter((c) => c.querySelectorAll('svg path').length === 0).length), { timeout: 30_000 })
          .toBe(0);
        // Nothing wider than the viewport: the page never scrolls sideways.
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
        await page.screenshot({ path: artifactPath(`balances-${width}-${scheme}.png`) });
        // The grid renders only what is on screen, so the usage details get a screenshot of their own.
        await page.locator('section.usage').scrollIntoViewIfNeeded();
        await page.screenshot({ path: artifactPath(`balances-${width}-${scheme}-usage.png`) });
      }
    }
    const card = page.locator('article.card[data-wallet]').first();
    await card.getByRole('button', { name: /^Details/ }).click();
    await page.locator('dialog[open] table.events tbody tr').first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: artifactPath('balances-390-dark-details.png') });
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.screenshot({ path: artifactPath('balances-1440-light-details.png') });
    await page.keyboard.press('Escape');
  });

  it('reported no Content-Security-Policy violation and no script error', () => {
    expect(watched.problems).toEqual([]);
  });
});
