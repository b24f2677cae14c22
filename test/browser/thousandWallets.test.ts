import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Store } from '../../core/clickhouse.js';
import { freshStore } from '../support/store.js';
import { KEYS, type TestApi } from '../support/api.js';
import { artifactPath, browserDataDir, collectCards, launchChromium, signIn, startPageServer, watchedPage } from './support.js';
import { teamId, teamName, THOUSAND_TEAMS, thousandWalletEvents } from './thousandWallets.js';

/** A thousand teams: only what is on screen is rendered, and search, filters and sort still see them all. */
let store: Store;
let api: TestApi;
let browser: Browser;
let page: Page;
let problems: string[];
const KEY = (KEYS[0] as { key: string }).key;

interface WalletJson {
  wallet: { type: string; id: string };
  status: string;
  overage: string | number;
  expiring_within_90d: string | number;
  available: string | number;
  total: string | number;
}
let wallets: WalletJson[];

const positive = (amount: string | number) => Number(amount) > 0;
const keysOf = (list: WalletJson[]) => new Set(list.map((w) => `${w.wallet.type}/${w.wallet.id}`));
const shown = () => page.locator('.match-count').getAttribute('data-shown');

beforeAll(async () => {
  store = await freshStore(browserDataDir);
  api = await startPageServer(store, []);
  const res = await api.request('/v1/events', { key: KEY, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(thousandWalletEvents()) });
  expect((await res.json()).accepted).toBe(THOUSAND_TEAMS * 2);
  wallets = ((await (await api.request('/v1/wallets', { key: KEY })).json()) as { wallets: WalletJson[] }).wallets;
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US', reducedMotion: 'reduce' });
  ({ page, problems } = await watchedPage(context));
  await page.goto(api.url);
  await signIn(page, KEY);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  await store?.close();
});

describe('the Balances page with a thousand teams', { timeout: 300_000 }, () => {
  it('renders only the cards near the screen, while counting all of them', async () => {
    expect(wallets).toHaveLength(THOUSAND_TEAMS);
    await expect.poll(shown, { timeout: 30_000 }).toBe(String(THOUSAND_TEAMS));
    const inDom = await page.locator('article.card[data-wallet]').count();
    expect(inDom).toBeGreaterThan(0);
    expect(inDom).toBeLessThan(60);
    // Scrolled to the middle, the cards there are rendered and the first ones are gone.
    await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight / 2));
    await expect.poll(() => page.locator(`article.card[data-wallet="team/${teamId(0)}"]`).count()).toBe(0);
    expect(await page.locator('article.card[data-wallet]').count()).toBeLessThan(60);
    await page.evaluate(() => scrollTo(0, 0));
  });

  it('finds a team by its name or by its id', async () => {
    const search = page.getByRole('searchbox');
    await search.fill(teamName(777));
    await expect.poll(() => page.locator('article.card[data-wallet]').evaluateAll((n) => n.map((e) => e.getAttribute('data-wallet')))).toEqual([`team/${teamId(777)}`]);
    await search.fill(teamId(42));
    await expect.poll(() => page.locator('article.card[data-wallet]').evaluateAll((n) => n.map((e) => e.getAttribute('data-wallet')))).toEqual([`team/${teamId(42)}`]);
    await expect.poll(() => page.locator(`article.card[data-wallet="team/${teamId(42)}"] h3`).textContent()).toBe(teamName(42));
    expect(new URL(page.url()).searchParams.get('q')).toBe(teamId(42));
    await search.fill('Squad 01');
    await expect.poll(shown).toBe('100');
    await search.fill('');
    await expect.poll(shown).toBe(String(THOUSAND_TEAMS));
  });

  it('filters red, expiring and overage wallets exactly as the API reports them', async () => {
    const filters: Array<[string, RegExp, (w: WalletJson) => boolean]> = [
      ['red', /Low balance/, (w) => w.status === 'red'],
      ['expiring', /Expiring/, (w) => positive(w.expiring_within_90d)],
      ['overage', /In overage/, (w) => positive(w.overage)],
    ];
    // A tall window: fewer scroll steps to see every matching card.
    await page.setViewportSize({ width: 1440, height: 2400 });
    for (const [name, label, matches] of filters) {
      const expected = wallets.filter(matches);
      expect(expected.length).toBeGreaterThan(0);
      expect(expected.length).toBeLessThan(THOUSAND_TEAMS);
      const box = page.getByRole('checkbox', { name: label });
      await box.check();
      await expect.poll(shown).toBe(String(expected.length));
      expect(new URL(page.url()).searchParams.get('filter')).toBe(name);
      expect(new Set((await collectCards(page)).keys())).toEqual(keysOf(expected));
      await box.uncheck();
    }
    // Filters combine: red and in overage.
    await page.getByRole('checkbox', { name: /Low balance/ }).check();
    await page.getByRole('checkbox', { name: /In overage/ }).check();
    const both = wallets.filter((w) => w.status === 'red' && positive(w.overage));
    await expect.poll(shown).toBe(String(both.length));
    // The link keeps the view: a reload shows the same filters.
    await page.reload();
    await expect.poll(shown, { timeout: 60_000 }).toBe(String(both.length));
    await page.getByRole('checkbox', { name: /Low balance/ }).uncheck();
    await page.getByRole('checkbox', { name: /In overage/ }).uncheck();
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it('sorts by the lowest share available first', async () => {
    await page.getByLabel('Sort by').selectOption('available');
    const share = (w: WalletJson) => Number(w.available) / Number(w.total);
    const lowest = [...wallets].sort((a, b) => share(a) - share(b))[0] as WalletJson;
    await expect.poll(() => page.locator('article.card[data-wallet]').first().getAttribute('data-wallet')).toBe(`team/${lowest.wallet.id}`);
    await expect.poll(() => page.locator('article.card .card-body[aria-busy="true"]').count(), { timeout: 30_000 }).toBe(0);
    await page.screenshot({ path: artifactPath('balances-1000-teams-1440-light.png') });
    expect(problems).toEqual([]);
  });
});
