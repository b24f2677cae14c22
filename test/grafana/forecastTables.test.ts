import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { formatScaled, toScaled } from '../../core/decimal.js';
import { BalanceAggregator } from '../../aggregator/process.js';
import { closingInstant, DAILY_HISTORY_DAYS } from '../../aggregator/dailyBalances.js';
import { computeLedger, walletOf } from '../../ledger/ledger.js';
import { DEFAULT_WINDOW_DAYS, forecastsOf, usageInWindow, windowOf } from '../../readmodels/forecasts.js';
import { ledgerInputOf } from '../support/histories.js';
import type { RefEvent } from '../support/reference.js';
import { freshStore, pipelineFor, silentLog } from '../support/store.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** The instant the aggregator computes at: noon, a whole second. */
const AT = Date.UTC(2026, 5, 15, 12);
const ACCOUNT = 'forecasts';
const iso = (ms: number) => new Date(ms).toISOString();
const dayOf = (ms: number) => iso(Math.floor(ms / DAY) * DAY).slice(0, 10);
const time = (ms: number) => iso(ms).replace('T', ' ').replace('Z', '');

let store: Store;
let delivered: RefEvent[] = [];

const wallet = (id: string, type = 'team') => ({ type, id });
const purchase = (id: string, w: { type: string; id: string }, amount: string, expiresAt: number, occurredAt = AT - 40 * DAY) =>
  ({ event_id: id, type: 'purchase', account_id: ACCOUNT, occurred_at: iso(occurredAt), wallet: w, amount, expires_at: iso(expiresAt) }) as RefEvent;
const usage = (id: string, w: { type: string; id: string }, amount: string, occurredAt: number) =>
  ({ event_id: id, type: 'usage', account_id: ACCOUNT, occurred_at: iso(occurredAt), wallet: w, amount, user_id: 'ada', product: 'compiler' }) as RefEvent;

/**
 * - team/fast: 1,000 bought, 280 used two weeks ago: 10 a day over 28 days, 720 left, so it runs
 *   out in 72 days with nothing expiring unused;
 * - team/slow: 500 expiring in 30 days and 100 in 300, 56 used a week ago: 2 a day. The 500 lot
 *   goes first and keeps 444 − 60 = 384 when it expires; the 100 lot then lasts 50 days;
 * - team/idle: 50, never used: rate 0, never runs out, all 50 expire unused in 60 days;
 * - contract/old: 30 that expired 20 days ago after 10 were used, then 28 used 10 days ago as
 *   overage: it has nothing and a rate of 1, so it runs out now.
 */
const history: RefEvent[] = [
  purchase('p-fast', wallet('fast'), '1000', AT + 365 * DAY),
  usage('u-fast', wallet('fast'), '280', AT - 14 * DAY),
  purchase('p-slow-soon', wallet('slow'), '500', AT + 30 * DAY),
  purchase('p-slow-late', wallet('slow'), '100', AT + 300 * DAY),
  usage('u-slow', wallet('slow'), '56', AT - 7 * DAY),
  purchase('p-idle', wallet('idle'), '50', AT + 60 * DAY),
  purchase('p-old', wallet('old', 'contract'), '30', AT - 20 * DAY),
  usage('u-old-1', wallet('old', 'contract'), '10', AT - 30 * DAY),
  usage('u-old-2', wallet('old', 'contract'), '28', AT - 10 * DAY),
];

async function deliver(events: RefEvent[]) {
  const result = await pipelineFor(store).ingest(events.map((e) => ({ text: JSON.stringify(e) })), { source: 'http' });
  expect(result.rejected).toBe(0);
  delivered = [...delivered, ...events];
}

const amount = (text: unknown) => formatScaled(toScaled(String(text)));

async function walletForecasts() {
  const rows = await store.queryRows<Record<string, unknown>>(
    `SELECT concat(toString(wallet_type), '/', wallet_id) AS wallet, toString(at) AS at, window_days, toString(burn_rate_per_day) AS rate,
            if(runs_out_at IS NULL, NULL, toString(runs_out_at)) AS runs_out_at, toString(projected_unused_total) AS unused
     FROM ${store.table('wallet_forecasts_v1')} WHERE account_id = {account:String} ORDER BY wallet`,
    { account: ACCOUNT },
  );
  return rows.map((r): Record<string, unknown> => ({ ...r, rate: amount(r.rate), unused: amount(r.unused) }));
}

async function lotForecasts() {
  const rows = await store.queryRows<Record<string, unknown>>(
    `SELECT concat(toString(wallet_type), '/', wallet_id) AS wallet, lot_id, toString(expires_at) AS expires_at, toString(projected_unused) AS unused
     FROM ${store.table('lot_forecasts_v1')} WHERE account_id = {account:String} ORDER BY wallet, expires_at`,
    { account: ACCOUNT },
  );
  return rows.map((r): Record<string, unknown> => ({ ...r, unused: amount(r.unused) }));
}

async function dailyBalances() {
  const rows = await store.queryRows<Record<string, unknown>>(
    `SELECT concat(toString(wallet_type), '/', wallet_id) AS wallet, toString(day) AS day, toString(total) AS total, toString(used) AS used,
            toString(available) AS available, toString(expired) AS expired, toString(overage) AS overage
     FROM ${store.table('daily_balances_v1')} WHERE account_id = {account:String} ORDER BY wallet, day`,
    { account: ACCOUNT },
  );
  return rows.map((r): Record<string, unknown> => ({ ...r, total: amount(r.total), used: amount(r.used), available: amount(r.available), expired: amount(r.expired), overage: amount(r.overage) }));
}

/**
 * The ledger's own balance at the end of each of the 90 closed days, computed from the events
 * without ClickHouse, one ledger run per day, for every wallet the ledger knows at `at`: 0 before
 * a wallet's first event.
 */
function ledgerDays(events: RefEvent[], at: number) {
  const today = Math.floor(at / DAY) * DAY;
  const wallets = [...computeLedger(ledgerInputOf(events, at, 'events')).wallets.keys()];
  const rows: Array<Record<string, unknown>> = [];
  for (let day = today - DAILY_HISTORY_DAYS * DAY; day < today; day += DAY) {
    const balances = computeLedger(ledgerInputOf(events, closingInstant(day), 'events')).wallets;
    for (const key of wallets) {
      const balance = balances.get(key);
      const { type, id } = walletOf(key);
      const zero = formatScaled(0n);
      rows.push({
        wallet: `${type}/${id}`,
        day: dayOf(day),
        total: balance ? formatScaled(balance.total) : zero,
        used: balance ? formatScaled(balance.used) : zero,
        available: balance ? formatScaled(balance.available) : zero,
        expired: balance ? formatScaled(balance.expired) : zero,
        overage: balance ? formatScaled(balance.overage) : zero,
      });
    }
  }
  return rows.sort((a, b) => `${a.wallet as string}|${a.day as string}`.localeCompare(`${b.wallet as string}|${b.day as string}`));
}

beforeAll(async () => {
  store = await freshStore();
  await deliver(history);
});

afterAll(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  await store?.close();
});

describe('the forecast and daily balance tables, written by the aggregator', () => {
  const aggregator = () => new BalanceAggregator({ store, log: silentLog, clock: () => AT });

  it("hold each wallet's burn rate over 28 days, when it runs out and what its lots leave unused, as the ledger's forecast and the API say", async () => {
    await aggregator().recompute(ACCOUNT);
    expect(await walletForecasts()).toEqual([
      { wallet: 'contract/old', at: time(AT), window_days: 28, rate: '1', runs_out_at: time(AT), unused: '0' },
      { wallet: 'team/fast', at: time(AT), window_days: 28, rate: '10', runs_out_at: time(AT + 72 * DAY), unused: '0' },
      { wallet: 'team/idle', at: time(AT), window_days: 28, rate: '0', runs_out_at: null, unused: '50' },
      { wallet: 'team/slow', at: time(AT), window_days: 28, rate: '2', runs_out_at: time(AT + 80 * DAY), unused: '384' },
    ]);
    expect(await lotForecasts()).toEqual([
      { wallet: 'team/idle', lot_id: 'p-idle', expires_at: time(AT + 60 * DAY), unused: '50' },
      { wallet: 'team/slow', lot_id: 'p-slow-soon', expires_at: time(AT + 30 * DAY), unused: '384' },
    ]);
    // What the API answers: the window's usage read from storage on its own, the same projection.
    const ledger = computeLedger(ledgerInputOf(delivered, AT, 'events'));
    const window = windowOf(AT, DEFAULT_WINDOW_DAYS);
    const api = forecastsOf(ledger, await usageInWindow(store, ACCOUNT, window.from, window.to), DEFAULT_WINDOW_DAYS, AT);
    const stored = new Map((await walletForecasts()).map((r) => [r.wallet, r]));
    for (const [key, row] of api.wallets) {
      const { type, id } = walletOf(key);
      expect(stored.get(`${type}/${id}`)).toMatchObject({
        rate: formatScaled(row.ratePerDay),
        runs_out_at: row.forecast.runsOutAt === null ? null : time(row.forecast.runsOutAt),
        unused: formatScaled(row.forecast.projectedUnusedTotal),
      });
    }
  });

  it('hold the closing balance of each of the last 90 UTC days, equal to the ledger at each day’s last millisecond', async () => {
    const rows = await dailyBalances();
    expect(rows).toEqual(ledgerDays(delivered, AT));
    // Every wallet on each of the 90 days, nothing before its purchase 40 days ago; no row for
    // today (wallet_balances_v1 holds it).
    expect(rows.filter((r) => r.wallet === 'team/fast')).toHaveLength(90);
    expect(rows.filter((r) => r.wallet === 'team/fast' && r.total !== '0')).toHaveLength(40);
    expect(rows.some((r) => r.day === dayOf(AT))).toBe(false);
    const on = (w: string, ms: number) => rows.find((r) => r.wallet === w && r.day === dayOf(ms));
    expect(on('team/fast', AT - 15 * DAY)).toMatchObject({ total: '1000', used: '0', available: '1000' });
    expect(on('team/fast', AT - 14 * DAY)).toMatchObject({ total: '1000', used: '280', available: '720' });
    // The lot expires at noon: that day closes with it expired; the overage is cumulative.
    expect(on('contract/old', AT - 21 * DAY)).toMatchObject({ total: '30', used: '10', available: '20', expired: '0' });
    expect(on('contract/old', AT - 20 * DAY)).toMatchObject({ total: '0', used: '0', available: '0', expired: '20', overage: '0' });
    expect(on('contract/old', AT - DAY)).toMatchObject({ available: '0', expired: '20', overage: '28' });
  });

  it('keep the closed days when only today changed, and write them again when an event dated among them arrives or is voided', async () => {
    let clock = AT - 2 * HOUR;
    const writer = new BalanceAggregator({ store, log: silentLog, clock: () => clock });
    const first = await writer.recompute(ACCOUNT);
    expect(first.dailyBalances).toBe(4 * 90);
    // Usage today, and the clock later the same day (the burn-rate window moves with it): the
    // forecast moves (70 more over 28 days), the closed days do not.
    await deliver([usage('u-fast-today', wallet('fast'), '70', AT - HOUR)]);
    // A millisecond past AT: the first test's aggregator wrote AT's snapshot, and only a later
    // instant is sure to get a higher version (two writers at one instant draw random low bits).
    clock = AT + 1;
    expect((await writer.recompute(ACCOUNT)).dailyBalances).toBe(0);
    expect((await walletForecasts()).find((r) => r.wallet === 'team/fast')).toMatchObject({ rate: '12.5', runs_out_at: time(AT + 52 * DAY) });
    expect(await dailyBalances()).toEqual(ledgerDays(delivered, AT));
    // A late usage dated five days ago changes five closing balances of team/idle.
    await deliver([usage('u-idle-late', wallet('idle'), '20', AT - 5 * DAY)]);
    expect((await writer.recompute(ACCOUNT)).dailyBalances).toBeGreaterThan(0);
    const rows = await dailyBalances();
    expect(rows).toEqual(ledgerDays(delivered, AT));
    expect(rows.filter((r) => r.wallet === 'team/idle' && r.available === '30')).toHaveLength(5);
    // Voided, it is gone from the history and the forecast again.
    await deliver([{ event_id: 'v-idle', type: 'void', account_id: ACCOUNT, occurred_at: iso(AT - HOUR), voids_event_id: 'u-idle-late' } as RefEvent]);
    await writer.recompute(ACCOUNT);
    expect((await dailyBalances()).filter((r) => r.wallet === 'team/idle' && r.total !== '0' && r.available !== '50')).toEqual([]);
    expect((await walletForecasts()).find((r) => r.wallet === 'team/idle')).toMatchObject({ rate: '0', runs_out_at: null, unused: '50' });
  });

  it('show a later snapshot only: a restarted aggregator writes every table again, and an older instant written last stays unseen', async () => {
    const later = new BalanceAggregator({ store, log: silentLog, clock: () => AT + DAY });
    const report = await later.recompute(ACCOUNT);
    expect(report.dailyBalances).toBeGreaterThan(0);
    const days = await dailyBalances();
    expect(days).toEqual(ledgerDays(delivered, AT + DAY));
    expect(days.some((r) => r.day === dayOf(AT))).toBe(true);
    // A slow writer that computed the earlier instant finishes last.
    await aggregator().recompute(ACCOUNT);
    expect(await dailyBalances()).toEqual(days);
    expect((await walletForecasts()).every((r) => r.at === time(AT + DAY))).toBe(true);
  });
});
