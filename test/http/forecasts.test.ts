import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from '../support/api.js';
import { purchase, usage, voidOf } from '../support/events.js';
import { freshStore } from '../support/store.js';

/**
 * A small account on 2026-06-01 (28-day window: May 4 to May 31):
 * - runner: 1,000 bought, 500 used in March, 280 in the window (a voided 100 does not count):
 *   10 a day, 220 left, runs out on June 23;
 * - waster: 500 expiring July 1 and 10,000 expiring in 2029, 56 used in the window: 2 a day,
 *   so 384 of the first lot expires unused; it does not run out within two years;
 * - odd: 1 expiring June 15, 0.5 used in the window: 0.0178 a day (0.5 ÷ 28 truncated), it
 *   leaves 0.2508 to expire and runs out when that lot does;
 * - gone: 100 that expired on March 2 after 30 was used, and 10 of overage since.
 */
const NOW = Date.UTC(2026, 5, 1);
const team = (id: string) => ({ type: 'team', id });

const EVENTS = [
  purchase('fc-r1', { wallet: team('runner'), amount: '1000', expires_at: '2027-01-01T00:00:00Z' }),
  usage('fc-r-march', { wallet: team('runner'), amount: '500', occurred_at: '2026-03-01T12:00:00Z' }),
  ...['05-05', '05-12', '05-19', '05-26'].map((day, i) => usage(`fc-r-${i}`, { wallet: team('runner'), amount: '70', occurred_at: `2026-${day}T09:00:00Z` })),
  usage('fc-r-voided', { wallet: team('runner'), amount: '100', occurred_at: '2026-05-20T09:00:00Z' }),
  voidOf('fc-r-void', 'fc-r-voided', { occurred_at: '2026-05-21T00:00:00Z' }),
  purchase('fc-w1', { wallet: team('waster'), amount: '500', expires_at: '2026-07-01T00:00:00Z' }),
  purchase('fc-w2', { wallet: team('waster'), amount: '10000', expires_at: '2029-01-01T00:00:00Z' }),
  usage('fc-w-u', { wallet: team('waster'), amount: '56', occurred_at: '2026-05-10T00:00:00Z' }),
  purchase('fc-o1', { wallet: team('odd'), amount: '1', expires_at: '2026-06-15T00:00:00Z' }),
  usage('fc-o-u', { wallet: team('odd'), amount: '0.5', occurred_at: '2026-05-20T00:00:00Z' }),
  purchase('fc-g1', { wallet: team('gone'), amount: '100', expires_at: '2026-03-02T00:00:00Z' }),
  usage('fc-g-u1', { wallet: team('gone'), amount: '30', occurred_at: '2026-03-01T10:00:00Z' }),
  usage('fc-g-u2', { wallet: team('gone'), amount: '10', occurred_at: '2026-03-02T10:00:00Z' }),
];

let store: Store;
let api: TestApi;
beforeAll(async () => {
  store = await freshStore();
  api = await startApi(store, { clock: () => NOW });
  const res = await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify(EVENTS) });
  expect((await res.json()).rejected).toEqual([]);
});
afterAll(async () => {
  await api.close();
  await store.close();
});

const get = async (path: string, key = 'acme-analyst') => {
  const res = await api.request(path, { key });
  return { status: res.status, body: await res.json() };
};

describe('a wallet forecast', () => {
  it('says when a team runs out at its burn rate over the last 28 days, voided usage left out', async () => {
    expect((await get('/v1/wallets/team/runner/forecast')).body).toEqual({
      wallet: team('runner'),
      at: '2026-06-01T00:00:00.000Z',
      window_days: 28,
      burn_rate_per_day: '10',
      runs_out_at: '2026-06-23T00:00:00.000Z',
      expiring_unused: [],
      projected_unused_total: '0',
    });
  });

  it('lists what a lot leaves to expire unused, and no run-out for a wallet that lasts past two years', async () => {
    expect((await get('/v1/wallets/team/waster/forecast')).body).toEqual({
      wallet: team('waster'),
      at: '2026-06-01T00:00:00.000Z',
      window_days: 28,
      burn_rate_per_day: '2',
      runs_out_at: null,
      expiring_unused: [{ lot_id: 'fc-w1', expires_at: '2026-07-01T00:00:00.000Z', projected_unused: '384' }],
      projected_unused_total: '384',
    });
  });

  it('truncates the burn rate to 4 decimals and projects at exactly that rate', async () => {
    expect((await get('/v1/wallets/team/odd/forecast')).body).toMatchObject({
      burn_rate_per_day: '0.0178',
      runs_out_at: '2026-06-15T00:00:00.000Z',
      expiring_unused: [{ lot_id: 'fc-o1', expires_at: '2026-06-15T00:00:00.000Z', projected_unused: '0.2508' }],
      projected_unused_total: '0.2508',
    });
  });

  it('averages over window_days: runner used 780 in the last 100 days', async () => {
    const { body } = await get('/v1/wallets/team/runner/forecast?window_days=100');
    expect(body).toMatchObject({ window_days: 100, burn_rate_per_day: '7.8' });
    // 220 at 7.8 a day: 28.2051... days, rounded up to the second.
    expect(body.runs_out_at).toBe(new Date(NOW + Math.ceil((220 / 7.8) * 86_400) * 1000).toISOString());
  });

  it('a wallet with no usage in the window has rate 0 and never runs out', async () => {
    expect((await get('/v1/wallets/team/gone/forecast')).body).toMatchObject({ burn_rate_per_day: '0', runs_out_at: null, expiring_unused: [], projected_unused_total: '0' });
  });

  it('window_days outside 7–365 or not a number is a 400 naming it', async () => {
    for (const value of ['6', '366', 'week', '0']) {
      const { status, body } = await get(`/v1/wallets/team/runner/forecast?window_days=${value}`);
      expect(status, value).toBe(400);
      expect(body.error.details).toEqual({ parameter: 'window_days' });
    }
    expect((await get('/v1/wallets/team/runner/forecast?window_days=7')).status).toBe(200);
    expect((await get('/v1/wallets/team/runner/forecast?window_days=365')).status).toBe(200);
  });

  it("answers 404 for an unknown wallet and for another account's", async () => {
    expect((await get('/v1/wallets/team/nobody/forecast')).status).toBe(404);
    const foreign = await get('/v1/wallets/team/runner/forecast', 'globex-admin');
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('wallet_not_found');
  });
});

describe('the wallet list', () => {
  it('carries every wallet burn rate, run-out and projected unused total', async () => {
    const { body } = await get('/v1/wallets');
    const fields = Object.fromEntries(
      body.wallets.map((w: Record<string, unknown> & { wallet: { id: string } }) => [w.wallet.id, { rate: w.burn_rate_per_day, runsOut: w.runs_out_at, unused: w.projected_unused_total }]),
    );
    expect(fields).toEqual({
      gone: { rate: '0', runsOut: null, unused: '0' },
      odd: { rate: '0.0178', runsOut: '2026-06-15T00:00:00.000Z', unused: '0.2508' },
      runner: { rate: '10', runsOut: '2026-06-23T00:00:00.000Z', unused: '0' },
      waster: { rate: '2', runsOut: null, unused: '384' },
    });
  });
});

describe('suggested moves', () => {
  it('give what a lot would waste to the teams that run out before it expires, soonest first, as much as each would use', async () => {
    expect((await get('/v1/suggestions/moves')).body).toEqual({
      at: '2026-06-01T00:00:00.000Z',
      suggestions: [
        // odd runs out June 15 and would use 16 days × 0.0178 of it by July 1.
        { account_id: 'acme', from: team('waster'), to: team('odd'), lot_id: 'fc-w1', amount: '0.2848', expires_at: '2026-07-01T00:00:00.000Z', to_runs_out_at_before: '2026-06-15T00:00:00.000Z', to_runs_out_at_after: '2026-07-01T00:00:00.000Z' },
        // runner runs out June 23 and would use 8 days × 10 by July 1.
        { account_id: 'acme', from: team('waster'), to: team('runner'), lot_id: 'fc-w1', amount: '80', expires_at: '2026-07-01T00:00:00.000Z', to_runs_out_at_before: '2026-06-23T00:00:00.000Z', to_runs_out_at_after: '2026-07-01T00:00:00.000Z' },
      ],
    });
  });

  it('filter by wallet type, and refuse an unknown one naming it', async () => {
    expect((await get('/v1/suggestions/moves?wallet_type=contract')).body.suggestions).toEqual([]);
    expect((await get('/v1/suggestions/moves?wallet_type=team')).body.suggestions).toHaveLength(2);
    const { status, body } = await get('/v1/suggestions/moves?wallet_type=person');
    expect(status).toBe(400);
    expect(body.error.details).toEqual({ parameter: 'wallet_type' });
  });

  it('sent as move events, lower the projected unused total by exactly their sum and make no team run out earlier', async () => {
    const otherStore = await freshStore();
    const other = await startApi(otherStore, { clock: () => NOW });
    try {
      const { body: before } = await get('/v1/wallets');
      const { body } = await get('/v1/suggestions/moves');
      // The same account in a store of its own, with the moves sent.
      const moves = body.suggestions.map((s: { from: unknown; to: unknown; lot_id: string; amount: string }, i: number) => ({
        event_id: `fc-move-${i}`, type: 'move', account_id: 'acme', occurred_at: '2026-06-01T00:00:00Z', from: s.from, to: s.to, lot_id: s.lot_id, amount: s.amount,
      }));
      const sent = await other.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify([...EVENTS, ...moves]) });
      expect((await sent.json()).rejected).toEqual([]);
      const after = await (await other.request('/v1/wallets', { key: 'acme-admin' })).json();
      const total = (w: { wallets: Array<{ projected_unused_total: string }> }) => w.wallets.reduce((s, x) => s + Number(x.projected_unused_total) * 10_000, 0);
      expect(total(before) - total(after)).toBe(2848 + 800_000);
      expect(Object.fromEntries(after.wallets.map((w: { wallet: { id: string }; runs_out_at: string | null }) => [w.wallet.id, w.runs_out_at]))).toEqual({
        gone: null,
        odd: '2026-07-01T00:00:00.000Z',
        runner: '2026-07-01T00:00:00.000Z',
        waster: null,
      });
    } finally {
      await other.close();
      await otherStore.close();
    }
  });
});

describe('balance history', () => {
  const row = (day: string, total: string, used: string, available: string, expired = '0', overage = '0') => ({ day, total, used, available, expired, overage });

  it('gives the balance at the close of each UTC day, expired and overage cumulative', async () => {
    const { body } = await get('/v1/wallets/team/gone/history?from=2026-02-28T00:00:00Z&to=2026-03-04T00:00:00Z');
    expect(body).toEqual({
      wallet: team('gone'),
      from: '2026-02-28T00:00:00.000Z',
      to: '2026-03-04T00:00:00.000Z',
      tz: 'UTC',
      rows: [row('2026-02-28', '100', '0', '100'), row('2026-03-01', '100', '30', '70'), row('2026-03-02', '0', '0', '0', '70', '10'), row('2026-03-03', '0', '0', '0', '70', '10')],
    });
  });

  it('cuts days in the time zone asked for, and each row is the balance just before the local midnight', async () => {
    const { body } = await get('/v1/wallets/team/runner/history?from=2026-02-28T05:00:00Z&to=2026-03-02T05:00:00Z&tz=America/New_York');
    expect(body.rows).toEqual([row('2026-02-28', '1000', '0', '1000'), row('2026-03-01', '1000', '500', '500')]);
    for (const [day, at] of [['2026-02-28', '2026-03-01T04:59:59.999Z'], ['2026-03-01', '2026-03-02T04:59:59.999Z']]) {
      const balance = (await get(`/v1/wallets/team/runner/balance?at=${at}`)).body;
      const closing = body.rows.find((r: { day: string }) => r.day === day);
      expect({ total: closing.total, used: closing.used, available: closing.available }).toEqual({ total: balance.total, used: balance.used, available: balance.available });
    }
  });

  it('covers the last 90 days by default, up to now', async () => {
    const { body } = await get('/v1/wallets/team/runner/history');
    // March 3 to May 31: now is June 1's first instant, where the range ends.
    expect(body.rows).toHaveLength(90);
    expect(body.rows[0]).toEqual(row('2026-03-03', '1000', '500', '500'));
    expect(body.rows[89]).toEqual(row('2026-05-31', '1000', '780', '220'));
  });

  it('equals the balance at each day close, across moves, a backdated purchase and days in another zone, read from storage', async () => {
    const own = await freshStore();
    const fresh = await startApi(own, { clock: () => NOW });
    try {
      const events = [
        purchase('hm-a', { wallet: team('a'), amount: '100', occurred_at: '2026-04-01T00:00:00Z', expires_at: '2026-04-09T12:00:00Z' }),
        purchase('hm-b', { wallet: team('b'), amount: '40', occurred_at: '2026-04-03T00:00:00Z', expires_at: '2026-12-01T00:00:00Z' }),
        // Bought on April 6 but effective from April 2: the ledger draws on it before it was bought.
        purchase('hm-late', { wallet: team('a'), amount: '25', occurred_at: '2026-04-06T08:00:00Z', effective_at: '2026-04-02T00:00:00Z', expires_at: '2026-12-01T00:00:00Z' }),
        ...Array.from({ length: 12 }, (_, i) => usage(`hm-u${i}`, { wallet: team(i % 3 === 0 ? 'b' : 'a'), amount: `${7 + i}.5`, occurred_at: new Date(Date.UTC(2026, 3, 1, 6) + i * 19 * 3_600_000).toISOString() })),
        { event_id: 'hm-m1', type: 'move', account_id: 'acme', occurred_at: '2026-04-04T10:00:00Z', from: team('a'), to: team('b'), amount: '30' },
        { event_id: 'hm-m2', type: 'move', account_id: 'acme', occurred_at: '2026-04-07T23:30:00Z', from: team('b'), to: team('a'), lot_id: 'hm-a' },
      ];
      expect((await (await fresh.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify(events) })).json()).rejected).toEqual([]);
      for (const tz of ['UTC', 'Asia/Kolkata']) {
        for (const id of ['a', 'b']) {
          const history = await (await fresh.request(`/v1/wallets/team/${id}/history?from=2026-03-31T00:00:00Z&to=2026-04-12T00:00:00Z&tz=${tz}`, { key: 'acme-admin' })).json();
          expect(history.rows.length, tz).toBeGreaterThanOrEqual(12);
          const days = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' });
          for (const r of history.rows as Array<Record<string, string>>) {
            // The day's last millisecond: the last instant whose local date is that day, up to `to`.
            let close = Date.parse('2026-04-12T00:00:00Z') - 1;
            while (days.format(close) > (r.day as string)) close -= 15 * 60_000;
            while (days.format(close + 1) === r.day && close + 1 < Date.parse('2026-04-12T00:00:00Z')) close += 1;
            const at = new Date(close).toISOString();
            const balance = await (await fresh.request(`/v1/wallets/team/${id}/balance?at=${at}`, { key: 'acme-admin' })).json();
            expect(r, `${tz} ${id} ${r.day}`).toEqual({ day: r.day, total: balance.total, used: balance.used, available: balance.available, expired: balance.expired, overage: balance.overage });
          }
        }
      }
    } finally {
      await fresh.close();
      await own.close();
    }
  });

  it('refuses a range over 5 years, an unknown zone and a foreign wallet', async () => {
    const long = await get('/v1/wallets/team/runner/history?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z');
    expect(long.status).toBe(400);
    expect(long.body.error.details).toEqual({ parameter: 'from' });
    const zone = await get('/v1/wallets/team/runner/history?tz=Mars/Olympus');
    expect(zone.status).toBe(400);
    expect(zone.body.error.details).toEqual({ parameter: 'tz' });
    expect((await get('/v1/wallets/team/runner/history', 'globex-admin')).status).toBe(404);
    expect((await get('/v1/wallets/team/nobody/history')).status).toBe(404);
  });
});

describe('forecast alerts', () => {
  it('GET /v1/alerts adds runs_out within 30 days and expiring_unused within 90 days', async () => {
    const { body } = await get('/v1/alerts');
    const forecastAlerts = body.alerts.filter((a: { type: string }) => a.type === 'runs_out' || a.type === 'expiring_unused');
    expect(forecastAlerts).toEqual([
      { type: 'runs_out', wallet: team('odd'), runs_out_at: '2026-06-15T00:00:00.000Z', days_left: 14, burn_rate_per_day: '0.0178', available: '0.5' },
      {
        type: 'expiring_unused',
        wallet: team('odd'),
        projected_unused: '0.2508',
        expires_at: '2026-06-15T00:00:00.000Z',
        days_left: 14,
        lots: [{ lot_id: 'fc-o1', projected_unused: '0.2508', expires_at: '2026-06-15T00:00:00.000Z', days_left: 14 }],
      },
      { type: 'runs_out', wallet: team('runner'), runs_out_at: '2026-06-23T00:00:00.000Z', days_left: 22, burn_rate_per_day: '10', available: '220' },
      {
        type: 'expiring_unused',
        wallet: team('waster'),
        projected_unused: '384',
        expires_at: '2026-07-01T00:00:00.000Z',
        days_left: 30,
        lots: [{ lot_id: 'fc-w1', projected_unused: '384', expires_at: '2026-07-01T00:00:00.000Z', days_left: 30 }],
      },
    ]);
  });
});
