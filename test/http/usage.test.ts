import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from '../support/api.js';
import { freshStore } from '../support/store.js';
import { units } from '../support/reference.js';
import { formatScaled, toScaled } from '../../core/decimal.js';
import { usageBy, type GroupBy } from '../../readmodels/usage.js';

/**
 * A known dataset: 3,000 usage events over 14 months in 4 wallets, at millisecond instants,
 * some voided. Every answer is checked against a recount of the events themselves.
 */
let store: Store;
let api: TestApi;
const NOW = Date.UTC(2026, 10, 28, 15, 30, 12, 345);
const START = NOW - 420 * 86_400_000;
const WALLETS = [
  { type: 'team', id: 'alpha' },
  { type: 'team', id: 'beta' },
  { type: 'contract', id: 'apac' },
  { type: 'contract', id: 'emea' },
];
// A few user ids that need escaping on every text path: tab, newline, backslash, quotes, comma,
// slash, and text beyond ASCII.
const USERS = [
  ...Array.from({ length: 35 }, (_, i) => `user-${i}`),
  'tab\tuser',
  'line\nbreak',
  'back\\slash',
  "quote'd",
  'comma,user',
  'double"quote',
  'sl/ash',
  'ünïcödé 🚀',
];
const PRODUCTS = ['compiler', 'debugger', 'profiler', 'linker', 'search', 'assistant'];

interface Usage {
  event_id: string;
  at: number;
  wallet: { type: string; id: string };
  amount: string;
  user_id: string;
  product: string;
  service: string;
}
const events: Usage[] = [];
const voided = new Set<string>();

beforeAll(async () => {
  store = await freshStore();
  api = await startApi(store, { clock: () => NOW });
  let seed = 7;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let i = 0; i < 3000; i++) {
    const product = PRODUCTS[Math.floor(rand() * PRODUCTS.length)] as string;
    events.push({
      event_id: `use-${i}`,
      at: START + Math.floor(rand() * 421 * 86_400_000),
      wallet: WALLETS[Math.floor(rand() * WALLETS.length)] as { type: string; id: string },
      amount: `${Math.floor(rand() * 1000)}.${String(Math.floor(rand() * 10000)).padStart(4, '0')}`.replace(/^0\.0000$/, '1'),
      user_id: USERS[Math.floor(rand() * USERS.length)] as string,
      product,
      // Half the events name their service; the rest default to the product.
      service: rand() < 0.5 ? `${product}-${Math.floor(rand() * 2)}` : product,
    });
  }
  const payload = events.map((e) => ({
    event_id: e.event_id,
    type: 'usage',
    account_id: 'acme',
    occurred_at: new Date(e.at).toISOString(),
    wallet: e.wallet,
    amount: e.amount,
    user_id: e.user_id,
    product: e.product,
    ...(e.service !== e.product ? { service: e.service } : {}),
  }));
  for (let i = 0; i < 3000; i += 37) voided.add(`use-${i}`);
  const voids = [...voided].map((target, i) => ({ event_id: `void-${i}`, type: 'void', account_id: 'acme', occurred_at: new Date(NOW - 1000).toISOString(), voids_event_id: target }));
  // Some voids arrive before their target.
  const res1 = await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify(voids.slice(0, 20)) });
  expect((await res1.json()).accepted).toBe(20);
  for (let i = 0; i < payload.length; i += 1000) {
    const res = await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify(payload.slice(i, i + 1000)) });
    expect((await res.json()).accepted).toBe(Math.min(1000, payload.length - i));
  }
  await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify(voids.slice(20)) });
}, 120_000);
afterAll(async () => {
  await api.close();
  await store.close();
});

type Group = GroupBy;

function dayIn(tz: string, t: number): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(t));
  return parts;
}

function recount(from: number, to: number, group: Group, scope: { type?: string; id?: string }, tz = 'UTC') {
  const totals = new Map<string, { amount: bigint; events: number }>();
  for (const e of events) {
    if (voided.has(e.event_id) || e.at < from || e.at >= to) continue;
    if (scope.type && e.wallet.type !== scope.type) continue;
    if (scope.id && e.wallet.id !== scope.id) continue;
    const key = group === 'day' ? dayIn(tz, e.at) : group === 'user' ? e.user_id : group === 'product' ? e.product : e.service;
    const t = totals.get(key) ?? { amount: 0n, events: 0 };
    t.amount += units(e.amount);
    t.events += 1;
    totals.set(key, t);
  }
  return Object.fromEntries([...totals].map(([k, v]) => [k, { amount: formatScaled(v.amount), events: v.events }]));
}

async function usage(query: string, key = 'acme-analyst') {
  const res = await api.request(`/v1/usage?${query}`, { key });
  expect(res.status, query).toBe(200);
  return (await res.json()) as { rows: Array<Record<string, unknown>>; from: string; to: string };
}

function asMap(rows: Array<Record<string, unknown>>, group: Group) {
  return Object.fromEntries(rows.map((r) => [String(r[group]), { amount: r.amount, events: r.events }]));
}

describe('GET /v1/usage', () => {
  it('matches a recount of the posted events for every group_by, random scopes and ranges', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 420 * 86_400_000 }),
        fc.integer({ min: 1, max: 400 * 86_400_000 }),
        fc.constantFrom<Group>('service', 'user', 'product', 'day'),
        fc.constantFrom({}, { type: 'team' }, { type: 'contract' }, { type: 'team', id: 'alpha' }, { type: 'contract', id: 'emea' }),
        async (offset, length, group, scope: { type?: string; id?: string }) => {
          const from = START + offset;
          const to = Math.min(from + length, NOW + 86_400_000);
          const params = new URLSearchParams({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), group_by: group });
          if (scope.type) params.set('wallet_type', scope.type);
          if (scope.id) params.set('wallet_id', scope.id);
          const body = await usage(params.toString());
          expect(asMap(body.rows, group)).toEqual(recount(from, to, group, scope));
          // Days in order; other groupings largest amount first.
          const order = body.rows.map((r) => (group === 'day' ? String(r.day) : -Number(r.amount)));
          expect(order).toEqual([...order].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);

  it('reads one wallet over any range in any zone as a recount does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 420 * 86_400_000 }),
        fc.integer({ min: 1, max: 400 * 86_400_000 }),
        fc.constantFrom<Group>('service', 'user', 'product', 'day'),
        fc.constantFrom(...WALLETS),
        fc.constantFrom('UTC', 'Asia/Kolkata', 'Australia/Lord_Howe'),
        async (offset, length, group, wallet, tz) => {
          const from = START + offset;
          const to = Math.min(from + length, NOW + 86_400_000);
          const rows = await usageBy(store, { accountId: 'acme', walletType: wallet.type as 'team' | 'contract', walletId: wallet.id, from, to, groupBy: group, tz });
          const answer = Object.fromEntries(rows.map((r) => [r.key, { amount: formatScaled(toScaled(r.amount)), events: r.events }]));
          expect(answer).toEqual(recount(from, to, group, wallet, tz));
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);

  it('aligned ranges: whole months and whole days', async () => {
    for (const [from, to] of [
      ['2026-01-01T00:00:00Z', '2026-07-01T00:00:00Z'],
      ['2026-02-03T00:00:00Z', '2026-02-04T00:00:00Z'],
      ['2025-11-15T00:00:00Z', '2026-10-15T00:00:00Z'],
      ['2026-03-01T10:15:00Z', '2026-03-01T10:30:00Z'],
      // A whole year, and whole quarters around it.
      ['2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'],
      ['2025-10-01T00:00:00Z', '2026-10-01T00:00:00Z'],
    ]) {
      for (const group of ['user', 'day'] as const) {
        const body = await usage(`from=${from}&to=${to}&group_by=${group}`);
        expect(asMap(body.rows, group), `${from} ${to} ${group}`).toEqual(recount(Date.parse(from as string), Date.parse(to as string), group, {}));
      }
    }
  });

  it('buckets days in the requested time zone, including half-hour zones', async () => {
    for (const tz of ['America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu', 'UTC']) {
      const from = '2026-03-01T05:07:00Z';
      const to = '2026-04-20T17:00:00Z';
      const body = await usage(`from=${from}&to=${to}&group_by=day&tz=${encodeURIComponent(tz)}`);
      expect(asMap(body.rows, 'day'), tz).toEqual(recount(Date.parse(from), Date.parse(to), 'day', {}, tz));
      const wallet = await usage(`from=${from}&to=${to}&group_by=day&tz=${encodeURIComponent(tz)}&wallet_type=team&wallet_id=beta`);
      expect(asMap(wallet.rows, 'day'), `${tz} beta`).toEqual(recount(Date.parse(from), Date.parse(to), 'day', { type: 'team', id: 'beta' }, tz));
    }
  });

  it('buckets days in a zone whose half-hour offset holds only between the ends of the range', async () => {
    // Lord Howe Island is +11:00 in summer and +10:30 in winter: both ends fall in summer.
    const tz = 'Australia/Lord_Howe';
    for (const [from, to] of [['2025-12-01T13:00:00Z', '2026-11-20T13:00:00Z'], ['2026-01-10T00:00:00Z', '2026-10-30T06:00:00Z']]) {
      const wallet = await usage(`from=${from}&to=${to}&group_by=day&tz=${encodeURIComponent(tz)}&wallet_type=team&wallet_id=beta`);
      expect(asMap(wallet.rows, 'day'), `${from} beta`).toEqual(recount(Date.parse(from as string), Date.parse(to as string), 'day', { type: 'team', id: 'beta' }, tz));
      const body = await usage(`from=${from}&to=${to}&group_by=day&tz=${encodeURIComponent(tz)}`);
      expect(asMap(body.rows, 'day'), from).toEqual(recount(Date.parse(from as string), Date.parse(to as string), 'day', {}, tz));
    }
  });

  it('defaults to the last 90 days, and accepts relative times', async () => {
    const body = await usage('group_by=product');
    expect(body.from).toBe(new Date(NOW - 90 * 86_400_000).toISOString());
    expect(body.to).toBe(new Date(NOW).toISOString());
    expect(asMap(body.rows, 'product')).toEqual(recount(NOW - 90 * 86_400_000, NOW, 'product', {}));
    const relative = await usage('group_by=product&from=now-30d&to=now-1d');
    expect(asMap(relative.rows, 'product')).toEqual(recount(NOW - 30 * 86_400_000, NOW - 86_400_000, 'product', {}));
  });

  it('limit keeps the top N and sums the rest into an others row', async () => {
    const full = recount(START, NOW, 'user', {});
    const body = await usage(`from=${new Date(START).toISOString()}&to=${new Date(NOW).toISOString()}&group_by=user&limit=5`);
    expect(body.rows).toHaveLength(6);
    const sorted = Object.entries(full).sort((a, b) => Number(toScaled(b[1].amount) - toScaled(a[1].amount)));
    expect(body.rows.slice(0, 5).map((r) => r.user)).toEqual(sorted.slice(0, 5).map(([k]) => k));
    const others = body.rows[5] as { others: boolean; amount: string; events: number };
    expect(others.others).toBe(true);
    const rest = sorted.slice(5);
    expect(others.events).toBe(rest.reduce((s, [, v]) => s + v.events, 0));
    expect(others.amount).toBe(formatScaled(rest.reduce((s, [, v]) => s + toScaled(v.amount), 0n)));
  });

  it('keeps CSV cells that a spreadsheet would run as formulas as text', async () => {
    const hostile = ['=HYPERLINK("http://x","y")', '+SUM(A1)', '-2+3', '@cmd', '\tTAB', 'plain, with comma'];
    const posted = hostile.map((user, i) => ({
      event_id: `csv-${i}`, type: 'usage', account_id: 'globex', occurred_at: new Date(NOW - 86_400_000).toISOString(),
      wallet: { type: 'team', id: 'csv' }, amount: '1', user_id: user, product: 'p',
    }));
    const res = await api.request('/v1/events', { method: 'POST', key: 'globex-admin', body: JSON.stringify(posted), headers: { 'content-type': 'application/json' } });
    expect((await res.json()).accepted).toBe(hostile.length);
    const csv = await api.request('/v1/usage?group_by=user&from=now-7d&wallet_type=team&wallet_id=csv', { key: 'globex-admin', headers: { accept: 'text/csv' } });
    const cells = (await csv.text()).trim().split('\n').slice(1).map((line) => line.slice(0, line.lastIndexOf(',', line.lastIndexOf(',') - 1)));
    expect(cells.sort()).toEqual(["'\tTAB", "'+SUM(A1)", "'-2+3", "'@cmd", '"\'=HYPERLINK(""http://x"",""y"")"', '"plain, with comma"'].sort());
  });

  it('streams CSV with a header row', async () => {
    const res = await api.request('/v1/usage?group_by=service&from=now-60d', { key: 'acme-analyst', headers: { accept: 'text/csv' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await res.text()).trim().split('\n');
    expect(lines[0]).toBe('service,amount,events');
    const expected = recount(NOW - 60 * 86_400_000, NOW, 'service', {});
    expect(lines.length - 1).toBe(Object.keys(expected).length);
    for (const line of lines.slice(1)) {
      const [service, amount, count] = line.split(',');
      expect(amount, line).toBe(expected[service as string]?.amount);
      expect(Number(count)).toBe(expected[service as string]?.events);
    }
  });

  it('refuses bad ranges, names the parameter, and never answers 500', async () => {
    const cases: Array<[string, string]> = [
      ['from=2026-05-01T00:00:00Z&to=2026-04-01T00:00:00Z', 'to'],
      ['from=2019-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
      ['from=yesterday', 'from'],
      ['to=2026-13-01T00:00:00Z', 'to'],
      ['group_by=team', 'group_by'],
      ['tz=Mars/Olympus', 'tz'],
      ['wallet_id=alpha', 'wallet_type'],
      ['limit=0', 'limit'],
      ['group_by=day&limit=3', 'limit'],
    ];
    for (const [query, parameter] of cases) {
      const res = await api.request(`/v1/usage?${query}`, { key: 'acme-analyst' });
      expect(res.status, query).toBe(400);
      expect(await res.json(), query).toMatchObject({ error: { code: expect.any(String), message: expect.any(String), details: { parameter } } });
    }
    expect((await api.request('/v1/usage?wallet_type=team&wallet_id=nobody', { key: 'acme-analyst' })).status).toBe(404);
  });
});

describe('GET /v1/wallets/{type}/{id}/usage-summary', () => {
  it('gives distinct products, distinct users and the amount used over the last N days', async () => {
    for (const days of [1, 30, 90, 365]) {
      const res = await api.request(`/v1/wallets/team/alpha/usage-summary?days=${days}`, { key: 'acme-analyst' });
      const body = await res.json();
      const from = NOW - days * 86_400_000;
      const users = recount(from, NOW, 'user', { type: 'team', id: 'alpha' });
      const products = recount(from, NOW, 'product', { type: 'team', id: 'alpha' });
      expect(body).toMatchObject({ wallet: { type: 'team', id: 'alpha' }, users: Object.keys(users).length, products: Object.keys(products).length, from: new Date(from).toISOString(), to: new Date(NOW).toISOString() });
      expect(body.used).toBe(formatScaled(Object.values(users).reduce((s, v) => s + toScaled(v.amount), 0n)));
    }
  });
});
