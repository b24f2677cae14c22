import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operations } from '../../api/openapi.js';
import type { Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from '../support/api.js';
import { move, purchase, usage, voidOf } from '../support/events.js';
import { count, freshStore } from '../support/store.js';

/**
 * Two accounts whose every name carries the account's name, so that any answer to one account
 * that mentions the other's is a leak a text search finds: wallets, lots, users, products,
 * services, SKUs and event ids. Both also hold a wallet `team/shared`, with different amounts.
 */
const NOW = Date.UTC(2026, 2, 15);

function accountEvents(account: 'acme' | 'globex', amount: string): Record<string, unknown>[] {
  const n = (id: string) => `${account}-${id}`;
  const base = { account_id: account, user_id: n('user'), product: n('product'), service: n('service') };
  return [
    purchase(n('p1'), { ...base, wallet: { type: 'team', id: n('team') }, amount: '1000', lot_id: n('lot-1'), sku: n('sku'), expires_at: '2026-05-01T00:00:00Z' }),
    purchase(n('p2'), { ...base, wallet: { type: 'team', id: 'shared' }, amount, lot_id: n('lot-2'), expires_at: '2026-04-01T00:00:00Z' }),
    purchase(n('p3'), { ...base, wallet: { type: 'contract', id: n('contract') }, amount: '50', lot_id: n('lot-3') }),
    usage(n('u1'), { ...base, wallet: { type: 'team', id: n('team') }, amount: '900' }),
    usage(n('u2'), { ...base, wallet: { type: 'team', id: 'shared' }, amount: '7.5' }),
    usage(n('u3'), { ...base, wallet: { type: 'contract', id: n('contract') }, amount: '45' }),
    usage(n('u4'), { ...base, wallet: { type: 'team', id: n('team') }, amount: '1' }),
    voidOf(n('v1'), n('u4'), { account_id: account }),
    move(n('m1'), { account_id: account, from: { type: 'team', id: n('team') }, to: { type: 'team', id: n('team-2') }, amount: '20' }),
  ];
}

let store: Store;
let api: TestApi;

const post = (key: string, events: unknown[]) =>
  api.request('/v1/events', { method: 'POST', key, body: JSON.stringify(events), headers: { 'content-type': 'application/json' } });

beforeAll(async () => {
  store = await freshStore();
  api = await startApi(store, { clock: () => NOW });
  for (const [key, events] of [
    ['acme-admin', accountEvents('acme', '500')],
    ['globex-admin', accountEvents('globex', '300')],
  ] as const) {
    const res = await post(key, events);
    expect(await res.json()).toEqual({ accepted: events.length, duplicates: 0, rejected: [] });
  }
});
afterAll(async () => {
  await api.close();
  await store.close();
});

/** Every read route, with the paths an attacker would try: its own, the other account's, and none. */
const WALLET_ROUTES = ['balance', 'events', 'usage-summary', 'forecast', 'history'] as const;
const LIST_READS = [
  '/v1/wallets',
  '/v1/wallets?type=team',
  '/v1/wallets?type=contract',
  '/v1/expiring?within_days=3650',
  '/v1/alerts',
  '/v1/suggestions/moves',
  '/v1/suggestions/moves?wallet_type=team',
  ...['service', 'user', 'product', 'day'].flatMap((g) => [
    `/v1/usage?group_by=${g}&from=2025-01-01T00:00:00Z`,
    `/v1/usage?group_by=${g}&wallet_type=team&from=2025-01-01T00:00:00Z`,
    `/v1/usage?group_by=${g}&limit=1&from=2025-01-01T00:00:00Z`,
    `/v1/usage?group_by=${g}&wallet_type=team&wallet_id=shared&from=2025-01-01T00:00:00Z`,
  ]),
];
/** The documented operations each case above covers; a new route must add its case here. */
const COVERED = new Set([
  'get /healthz',
  'get /readyz',
  'post /v1/events',
  'get /v1/wallets',
  'get /v1/wallets/{type}/{id}/balance',
  'get /v1/wallets/{type}/{id}/events',
  'get /v1/wallets/{type}/{id}/usage-summary',
  'get /v1/expiring',
  'get /v1/usage',
  'get /v1/alerts',
  'get /v1/wallets/{type}/{id}/forecast',
  'get /v1/wallets/{type}/{id}/history',
  'get /v1/suggestions/moves',
]);

async function text(path: string, key: string, accept = 'application/json'): Promise<{ status: number; body: string }> {
  const res = await api.request(path, { key, headers: { accept } });
  return { status: res.status, body: await res.text() };
}

/** Everything an account can read, for before/after comparisons. */
async function everything(key: string, account: string): Promise<Record<string, string>> {
  const seen: Record<string, string> = {};
  for (const path of LIST_READS) seen[path] = (await text(path, key)).body;
  seen['csv'] = (await text('/v1/usage?group_by=user&from=2025-01-01T00:00:00Z', key, 'text/csv')).body;
  for (const wallet of [`team/${account}-team`, `team/${account}-team-2`, 'team/shared', `contract/${account}-contract`]) {
    for (const route of WALLET_ROUTES) seen[`${wallet} ${route}`] = (await text(`/v1/wallets/${wallet}/${route}?${route === 'usage-summary' ? 'days=1830' : ''}`, key)).body;
    seen[`${wallet} at`] = (await text(`/v1/wallets/${wallet}/balance?at=2026-02-15T00:00:00Z`, key)).body;
  }
  return seen;
}

describe('a key sees its own account only', () => {
  it('covers every documented operation', () => {
    expect(operations.map((op) => `${op.method} ${op.path}`).filter((op) => !COVERED.has(op))).toEqual([]);
  });

  it("another account's wallet answers 404 exactly as a wallet that does not exist, on every wallet route", async () => {
    for (const [key, foreign] of [
      ['globex-admin', 'acme-team'],
      ['globex-admin', 'acme-contract'],
      ['acme-analyst', 'globex-team-2'],
    ] as const) {
      const type = foreign.includes('contract') ? 'contract' : 'team';
      const nowhere = `${foreign.replace(/^(acme|globex)/, 'nobody')}`;
      const paths = (id: string) => [
        ...WALLET_ROUTES.map((route) => `/v1/wallets/${type}/${id}/${route}`),
        `/v1/wallets/${type}/${id}/balance?at=2026-02-15T00:00:00Z`,
        `/v1/wallets/${type}/${id}/events?from=2025-01-01T00:00:00Z&limit=1`,
        `/v1/wallets/${type}/${id}/usage-summary?days=1830`,
        `/v1/usage?wallet_type=${type}&wallet_id=${id}&from=2025-01-01T00:00:00Z`,
        `/v1/usage?wallet_type=${type}&wallet_id=${id}&group_by=day&from=2025-01-01T00:00:00Z`,
        `/v1/usage?wallet_type=${type}&wallet_id=${id}&group_by=user&limit=1&from=2025-01-01T00:00:00Z`,
      ];
      const foreignPaths = paths(foreign);
      const missingPaths = paths(nowhere);
      for (let i = 0; i < foreignPaths.length; i++) {
        const a = await api.request(foreignPaths[i] as string, { key });
        const b = await api.request(missingPaths[i] as string, { key });
        expect(a.status, foreignPaths[i]).toBe(404);
        expect(b.status).toBe(404);
        const same = (body: string, id: string) => body.split(id).join('<id>');
        expect(same(await a.text(), foreign), foreignPaths[i]).toBe(same(await b.text(), nowhere));
        const headersOf = (r: Response) => [...r.headers.keys()].filter((h) => h !== 'date' && h !== 'etag' && h !== 'content-length').sort();
        expect(headersOf(a)).toEqual(headersOf(b));
      }
    }
  });

  it("lists, usage rows, CSV, alerts and a same-named wallet never carry the other account's data", async () => {
    for (const [key, own, other] of [
      ['acme-admin', 'acme', 'globex'],
      ['acme-analyst', 'acme', 'globex'],
      ['globex-admin', 'globex', 'acme'],
    ] as const) {
      const seen = await everything(key, own);
      for (const [what, body] of Object.entries(seen)) {
        expect(body.toLowerCase(), `${key} ${what}`).not.toContain(other);
      }
      const wallets = JSON.parse(seen['/v1/wallets'] as string) as { wallets: Array<{ wallet: { id: string } }> };
      expect(wallets.wallets.map((w) => w.wallet.id).sort()).toEqual([`${own}-contract`, `${own}-team`, `${own}-team-2`, 'shared'].sort());
      // The shared name holds each account's own purchase: 500 for acme, 300 for globex.
      const shared = JSON.parse(seen['team/shared balance'] as string) as { total: string | number };
      expect(Number(shared.total)).toBe(own === 'acme' ? 500 : 300);
      // The page's own lists are not empty, so the text search above searched something.
      expect(JSON.parse(seen['/v1/expiring?within_days=3650'] as string).lots.length).toBeGreaterThan(0);
      expect(JSON.parse(seen['/v1/alerts'] as string).alerts.length).toBeGreaterThan(0);
    }
  });

  it("a cursor from one account's page opens nothing in the other's", async () => {
    const page = JSON.parse((await text('/v1/wallets/team/acme-team/events?limit=1', 'acme-admin')).body) as { next_cursor: string };
    expect(page.next_cursor).toBeTruthy();
    const res = await text(`/v1/wallets/team/acme-team/events?limit=1&cursor=${page.next_cursor}`, 'globex-admin');
    expect(res.status).toBe(404);
    const own = await text(`/v1/wallets/team/shared/events?cursor=${page.next_cursor}`, 'globex-admin');
    expect(own.body.toLowerCase()).not.toContain('acme');
  });

  it('probes and the contract answer without a key and name no account', async () => {
    for (const path of ['/healthz', '/readyz', '/openapi.json', '/metrics']) {
      const res = await api.request(path);
      expect(res.status, path).toBe(200);
      expect((await res.text()).toLowerCase(), path).not.toMatch(/acme|globex/);
    }
  });

  it("writes with a key of one account cannot reach another's: refused, or kept in the writer's own account", async () => {
    const storedBefore = await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`);
    const acmeBefore = await everything('acme-admin', 'acme');

    // Events naming the other account are refused, whatever the role.
    {
      const res = await post('globex-admin', [
        purchase('x-p1', { account_id: 'acme', wallet: { type: 'team', id: 'acme-team' } }),
        usage('x-u1', { account_id: 'acme', wallet: { type: 'team', id: 'acme-team' }, amount: '999' }),
        voidOf('x-v1', 'acme-u1', { account_id: 'acme' }),
        move('x-m1', { account_id: 'acme', from: { type: 'team', id: 'acme-team' }, to: { type: 'team', id: 'shared' } }),
      ]);
      const body = (await res.json()) as { accepted: number; rejected: Array<{ code: string }> };
      expect(body.accepted).toBe(0);
      expect(body.rejected.map((r) => r.code)).toEqual(['account_mismatch', 'account_mismatch', 'account_mismatch', 'account_mismatch']);
    }
    const ndjson = await api.request('/v1/events', {
      method: 'POST',
      key: 'acme-ingest',
      body: `${JSON.stringify(usage('y-u1', { account_id: 'globex', wallet: { type: 'team', id: 'shared' } }))}\n`,
      headers: { 'content-type': 'application/x-ndjson' },
    });
    expect(((await ndjson.json()) as { rejected: Array<{ code: string }> }).rejected[0]?.code).toBe('account_mismatch');
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(storedBefore);

    // In its own account, globex may reuse acme's event ids and wallet ids: they are globex's
    // own, are not reported as duplicates (which would reveal acme's ids), and change nothing of acme.
    const own = await post('globex-admin', [
      purchase('acme-p1', { account_id: 'globex', wallet: { type: 'team', id: 'acme-team' }, amount: '1' }),
      voidOf('acme-v9', 'acme-u1', { account_id: 'globex' }),
      move('acme-m9', { account_id: 'globex', from: { type: 'team', id: 'shared' }, to: { type: 'team', id: 'acme-team' }, amount: '1' }),
    ]);
    expect(await own.json()).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect(await everything('acme-admin', 'acme')).toEqual(acmeBefore);
  });
});
