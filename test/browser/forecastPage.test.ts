import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import type { Store } from '../../core/clickhouse.js';
import { freshStore } from '../support/store.js';
import type { TestApi } from '../support/api.js';
import { artifactPath, browserDataDir, collectCards, DEMO_KEY, enUsAmount, launchChromium, signIn, startPageServer, watchedPage, type WatchedPage } from './support.js';
import { FORECAST_ACCOUNT, type ForecastTeam, forecastEvents, TEAMS } from './forecastScenario.js';

/**
 * The forecast on the Balances page, in real Chromium against the real API, for five teams whose
 * futures are known: run-out dates and unused amounts on the cards, the "runs out within 30 days"
 * filter and sort, the balance history chart, and the suggested moves with their exact events.
 */
let store: Store;
let api: TestApi;
let browser: Browser;
let context: BrowserContext;
let watched: WatchedPage;
let page: Page;

const ZONE = 'Europe/Berlin';
const DAY = 86_400_000;

interface WalletJson {
  wallet: { type: string; id: string };
  runs_out_at: string | null;
  projected_unused_total: string;
  burn_rate_per_day: string;
}
interface SuggestionJson {
  from: { type: string; id: string };
  to: { type: string; id: string };
  lot_id: string;
  amount: string;
}

async function apiJson<T>(path: string): Promise<T> {
  const res = await api.request(path, { key: DEMO_KEY.key });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}
const wallets = async () => (await apiJson<{ wallets: WalletJson[] }>('/v1/wallets')).wallets;

/**
 * The last answer the page itself got from each API path. A forecast runs from the moment it is
 * read, so a run-out moves on with the clock: the page is checked against what it was told.
 */
const seen = new Map<string, unknown>();
function told<T>(path: string): T {
  const body = seen.get(path);
  expect(body, `the page read ${path}`).toBeDefined();
  return body as T;
}
const toldWallet = (team: ForecastTeam) => told<{ wallets: WalletJson[] }>('/v1/wallets').wallets.find((w) => w.wallet.id === team) as WalletJson;
const card = (team: ForecastTeam) => page.locator(`article.card[data-wallet="team/${team}"]`);
/** The cards in the order shown, scrolling through the virtualised grid. */
const shownCards = async () => [...(await collectCards(page)).keys()];

/** The card's words for a run-out, worked out here in the browser's zone: calendar days and "Mar 3". */
function expectedRunsOut(runsOutAt: string | null): string {
  if (runsOutAt === null) return 'Does not run out within two years';
  const day = (at: number) => Date.parse(`${new Intl.DateTimeFormat('en-CA', { timeZone: ZONE }).format(at)}T00:00:00Z`);
  const days = Math.max(0, Math.round((day(Date.parse(runsOutAt)) - day(Date.now())) / DAY));
  if (days === 0) return 'Runs out today';
  const sameYear = new Intl.DateTimeFormat('en-US', { timeZone: ZONE, year: 'numeric' });
  const dateStyle = sameYear.format(Date.parse(runsOutAt)) === sameYear.format(Date.now()) ? { month: 'short', day: 'numeric' } : { dateStyle: 'medium' };
  const date = new Intl.DateTimeFormat('en-US', { timeZone: ZONE, ...(dateStyle as Intl.DateTimeFormatOptions) }).format(Date.parse(runsOutAt));
  return `Runs out in ${days === 1 ? '1 day' : `${days} days`} · ${date}`;
}

async function scan(): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
}

beforeAll(async () => {
  store = await freshStore(browserDataDir);
  api = await startPageServer(store);
  const stored = await api.request('/v1/events', { key: DEMO_KEY.key, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(forecastEvents(Date.now())) });
  expect((await stored.json()).rejected).toEqual([]);
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US', timezoneId: ZONE, reducedMotion: 'reduce' });
  watched = await watchedPage(context);
  page = watched.page;
  page.on('response', async (response) => {
    const path = new URL(response.url()).pathname;
    if (response.status() === 200 && path.startsWith('/v1/')) seen.set(path, await response.json().catch(() => undefined));
  });
  await page.goto(api.url);
  await signIn(page, DEMO_KEY.key);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  await store?.close();
});

describe.each([1440, 390])('the forecast on the Balances page at %i px', { timeout: 120_000 }, (width) => {
  it('says on each card when the team runs out at its pace and how much is forecast to expire unused', async () => {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    await page.goto(api.url);
    const answer = await wallets();
    expect(answer.map((w) => w.wallet.id).sort()).toEqual(Object.keys(TEAMS).sort());
    for (const team of Object.keys(TEAMS) as ForecastTeam[]) {
      await page.getByRole('searchbox').fill(TEAMS[team]);
      const shown = async () => {
        const wallet = toldWallet(team);
        const [runsOutAt, unusedTotal] = await card(team).evaluate((c) => [c.getAttribute('data-runs-out-at'), c.getAttribute('data-projected-unused')]);
        return runsOutAt === (wallet.runs_out_at ?? '') && unusedTotal === wallet.projected_unused_total;
      };
      await expect.poll(shown, { timeout: 30_000 }).toBe(true);
      const wallet = toldWallet(team);
      expect((await card(team).locator('[data-field="runs-out"]').textContent())?.trim()).toBe(expectedRunsOut(wallet.runs_out_at));
      const unused = card(team).locator('[data-field="projected-unused"]');
      if (Number(wallet.projected_unused_total) > 0) expect((await unused.textContent())?.trim()).toBe(`${enUsAmount(wallet.projected_unused_total)} forecast to expire unused`);
      else expect(await unused.count()).toBe(0);
    }
    // What the scenario was built to show.
    const runsOut = (team: ForecastTeam) => card(team).locator('[data-field="runs-out"]').textContent();
    await page.getByRole('searchbox').fill('Team');
    expect((await runsOut('dry'))?.trim()).toBe('Runs out today');
    expect((await runsOut('idle'))?.trim()).toBe('Does not run out within two years');
    expect((await runsOut('steady'))?.trim()).toMatch(/^Runs out in 7[67] days · /);
    const byTeam = new Map(answer.map((w) => [w.wallet.id, w]));
    expect(byTeam.get('idle')?.runs_out_at).toBeNull();
    expect(Date.parse(byTeam.get('dry')?.runs_out_at ?? '')).toBeLessThanOrEqual(Date.now());
    expect(Number(byTeam.get('waste')?.projected_unused_total)).toBeGreaterThan(900);
    await page.getByRole('searchbox').fill('');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
    await page.screenshot({ path: artifactPath(`forecast-cards-${width}.png`), fullPage: true });
  });

  it('filters to the teams that run out within 30 days and sorts by run-out, soonest first, in the URL', async () => {
    const answer = await wallets();
    const soon = answer.filter((w) => w.runs_out_at !== null && Date.parse(w.runs_out_at) - Date.now() <= 30 * DAY).map((w) => `team/${w.wallet.id}`);
    expect(soon.sort()).toEqual(['team/dry', 'team/soon']);
    await page.getByRole('checkbox', { name: 'Runs out ≤ 30 days' }).check();
    await expect.poll(async () => (await shownCards()).sort()).toEqual(soon);
    expect(page.url()).toContain('filter=runs-out');
    await page.getByRole('checkbox', { name: 'Runs out ≤ 30 days' }).uncheck();

    await page.getByLabel('Sort by').selectOption({ label: 'Soonest run-out' });
    const order = [...answer].sort((a, b) => (a.runs_out_at === null ? Infinity : Date.parse(a.runs_out_at)) - (b.runs_out_at === null ? Infinity : Date.parse(b.runs_out_at))).map((w) => `team/${w.wallet.id}`);
    await expect.poll(shownCards).toEqual(order);
    expect(order.at(-1)).toBe('team/idle');
    expect(page.url()).toContain('sort=runs-out');
    await page.reload();
    await expect.poll(shownCards, { timeout: 60_000 }).toEqual(order);
    await page.getByLabel('Sort by').selectOption({ label: 'Name' });
  });

  it("draws the team's balance history with the dashed projection to its run-out, the even pace and its purchases, moves and expiries", async () => {
    const history = page.waitForResponse((res) => res.url().includes('/v1/wallets/team/steady/history?'));
    await page.goto(`${api.url}/?wallet=team/steady`);
    const historyAnswer = (await (await history).json()) as { rows: Array<{ available: string }> };
    const figure = page.locator('dialog[open] figure[data-chart="balance-history"]');
    await expect.poll(() => figure.getAttribute('data-history-rows'), { timeout: 30_000 }).toBe(String(historyAnswer.rows.length));
    expect(historyAnswer.rows.length).toBeGreaterThanOrEqual(90);
    await expect.poll(() => figure.getAttribute('data-projection-end'), { timeout: 30_000 }).not.toBe('');
    const forecast = told<{ runs_out_at: string }>('/v1/wallets/team/steady/forecast');
    expect(Date.parse((await figure.getAttribute('data-projection-end')) as string)).toBe(Date.parse(forecast.runs_out_at));
    const { lots } = await apiJson<{ lots: Array<{ wallet: { id: string }; expires_at: string }> }>('/v1/expiring?within_days=3650');
    expect(await figure.getAttribute('data-even-pace-until')).toBe(lots.find((l) => l.wallet.id === 'steady')?.expires_at);
    // Two purchases, the move in from the idle team and the small lot that expired unused.
    expect(await figure.evaluate((f) => [f.getAttribute('data-purchases'), f.getAttribute('data-moves'), f.getAttribute('data-expiries')])).toEqual(['2', '1', '1']);
    const chart = figure.locator('.chart');
    await expect.poll(() => chart.locator('svg path').count(), { timeout: 30_000 }).toBeGreaterThan(5);
    // The projection and the even pace are drawn dashed and dotted.
    expect(await chart.locator('svg path[stroke-dasharray]').count()).toBeGreaterThanOrEqual(2);
    const label = (await chart.getAttribute('aria-label')) as string;
    expect(label).toContain(expectedRunsOut(forecast.runs_out_at).toLowerCase());
    expect(label).toContain('2 purchases, 1 move and 1 expiry marked');
    // The forecast's own words above the chart.
    await expect.poll(() => page.locator('dialog[open] .forecast-runs-out strong').textContent()).toBe(expectedRunsOut(forecast.runs_out_at));

    // The span is part of the link.
    await figure.getByLabel('Span of the balance history').selectOption({ label: 'Past 30 days' });
    await expect.poll(() => figure.getAttribute('data-history-rows'), { timeout: 30_000 }).toMatch(/^3[01]$/);
    expect(page.url()).toContain('history=30');
    await figure.getByLabel('Span of the balance history').selectOption({ label: 'Past 90 days' });
    await page.screenshot({ path: artifactPath(`forecast-history-${width}.png`) });
  });

  it('shows the lot a wasteful team lets expire, and for each suggested move the exact move event to send, without sending it', async () => {
    const forecastRead = page.waitForResponse((res) => res.url().includes('/v1/wallets/team/waste/forecast'));
    await page.goto(`${api.url}/?wallet=team/waste`);
    const forecast = (await (await forecastRead).json()) as { expiring_unused: Array<{ lot_id: string; projected_unused: string }>; projected_unused_total: string };
    expect(forecast.expiring_unused.map((l) => l.lot_id)).toEqual(['waste-expiring']);
    const dialog = page.locator('dialog[open][data-details-wallet="team/waste"]');
    await expect.poll(() => dialog.locator('[data-unused-lot]').evaluateAll((n) => n.map((e) => e.getAttribute('data-unused-lot'))), { timeout: 30_000 }).toEqual(['waste-expiring']);
    expect(await dialog.locator('[data-projected-unused]').getAttribute('data-projected-unused')).toBe(forecast.projected_unused_total);
    expect(await dialog.locator('[data-unused-lot]').textContent()).toContain(enUsAmount(forecast.projected_unused_total));

    await expect.poll(() => seen.has('/v1/suggestions/moves'), { timeout: 30_000 }).toBe(true);
    const { suggestions } = told<{ suggestions: SuggestionJson[] }>('/v1/suggestions/moves');

    const mine = suggestions.filter((s) => s.from.id === 'waste' || s.to.id === 'waste');
    await expect.poll(() => dialog.locator('.suggestion').count(), { timeout: 30_000 }).toBe(mine.length);
    const first = mine[0] as SuggestionJson;
    const posts: string[] = [];
    page.on('request', (request) => {
      if (request.method() !== 'GET') posts.push(request.url());
    });
    const before = Date.now();
    await dialog.locator('.suggestion').first().getByRole('button', { name: /Show move event/ }).click();
    const moveDialog = page.locator('dialog.move-dialog[open]');
    await moveDialog.waitFor();
    const event = JSON.parse((await moveDialog.locator('[data-move-json]').textContent()) as string) as Record<string, unknown>;
    expect(Object.keys(event)).toEqual(['event_id', 'type', 'account_id', 'occurred_at', 'from', 'to', 'lot_id', 'amount']);
    expect(event).toMatchObject({ type: 'move', account_id: FORECAST_ACCOUNT, from: first.from, to: first.to, lot_id: first.lot_id, amount: first.amount });
    expect(event.event_id).toMatch(/^move-[0-9a-f]{24}$/);
    expect(event.occurred_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(event.occurred_at as string)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    expect(Date.parse(event.occurred_at as string)).toBeLessThanOrEqual(Date.now());
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: api.url });
    await moveDialog.getByRole('button', { name: 'Copy JSON' }).click();
    await expect.poll(() => moveDialog.getByRole('status').textContent()).toBe('Copied to the clipboard.');
    expect(JSON.parse(await page.evaluate(() => navigator.clipboard.readText()))).toEqual(event);
    expect(await page.evaluate(() => document.activeElement?.closest('dialog')?.classList.contains('move-dialog'))).toBe(true);

    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      expect(await scan()).toEqual([]);
      await page.screenshot({ path: artifactPath(`forecast-move-${width}-${scheme}.png`) });
    }
    if (width === 390) {
      // The event, sent exactly as shown, is one the API accepts; a void takes it back.
      const send = async (events: object[]) => (await (await api.request('/v1/events', { key: DEMO_KEY.key, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) })).json()) as { accepted: number };
      expect((await send([event])).accepted).toBe(1);
      expect((await send([{ event_id: `void-${String(event.event_id)}`, type: 'void', account_id: FORECAST_ACCOUNT, occurred_at: new Date().toISOString(), voids_event_id: event.event_id }])).accepted).toBe(1);
    }
    // Escape closes the move dialog only; the page itself wrote nothing.
    await page.keyboard.press('Escape');
    await moveDialog.waitFor({ state: 'detached' });
    expect(await dialog.isVisible()).toBe(true);
    expect(posts).toEqual([]);
  });

  it('has no accessibility violation with the details open or on the cards, light or dark', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      expect(await scan()).toEqual([]);
    }
    await page.keyboard.press('Escape');
    await page.locator('dialog[open]').waitFor({ state: 'detached' });
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      expect(await scan()).toEqual([]);
    }
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('reported no Content-Security-Policy violation and no script error', () => {
    expect(watched.problems).toEqual([]);
  });
});
