/**
 * Reading wallets over HTTP: who may read which wallet, token event pages, and wallet names (SPEC section 3).
 * Hand-written end-to-end scenarios on chDB: each test is named after the ledger rule it proves.
 * One store and one API serve the file; every test uses wallets and event ids of its own.
 */
import { describe, expect, it } from 'vitest';
import { move, purchase, usage } from '../support/events.js';
import { ledgerOverHttp, team, iso, type TokenEventJson, type EventsPage, type WalletsList } from '../support/ledgerScenarios.js';

const { setClock, post, getJson, tokenEvents, request } = ledgerOverHttp();

describe('ledger rules over HTTP: reading wallets', () => {
  it("another account's wallet answers 404, exactly like a missing one", async () => {
    await post(purchase('r19-p', { wallet: team('r19'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }));
    setClock('2026-03-01T00:00:00Z');
    for (const suffix of ['balance', 'events']) {
      const mine = await request(`/v1/wallets/team/r19/${suffix}`, { key: 'acme-admin' });
      expect(mine.status).toBe(200);
      const foreign = await request(`/v1/wallets/team/r19/${suffix}`, { key: 'globex-admin' });
      const missing = await request(`/v1/wallets/team/r19/${suffix}`.replace('r19', 'r19-nowhere'), { key: 'acme-admin' });
      expect(foreign.status).toBe(404);
      expect(missing.status).toBe(404);
      const foreignBody = (await foreign.json()) as { error: { code: string; message: string } };
      const missingBody = (await missing.json()) as { error: { code: string; message: string } };
      expect(foreignBody.error.code).toBe('wallet_not_found');
      expect(missingBody.error.code).toBe('wallet_not_found');
      expect(Object.keys(foreignBody)).toEqual(Object.keys(missingBody));
      expect(Object.keys(foreignBody.error).sort()).toEqual(Object.keys(missingBody.error).sort());
      // Same text but for the id named in the request.
      expect(foreignBody.error.message.replace('r19', 'ID')).toBe(missingBody.error.message.replace('r19-nowhere', 'ID'));
    }
    // Nor does it show up in the other account's lists.
    const globexWallets = await getJson<WalletsList>('/v1/wallets', 'globex-admin');
    expect(globexWallets.wallets.some((w) => w.wallet.id === 'r19')).toBe(false);
  });

  it('the ingest role cannot read balances (403)', async () => {
    await post(purchase('r19i-p', { wallet: team('r19i'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }));
    setClock('2026-03-01T00:00:00Z');
    for (const path of ['/v1/wallets/team/r19i/balance', '/v1/wallets/team/r19i/events', '/v1/wallets', '/v1/expiring']) {
      const res = await request(path, { key: 'acme-ingest' });
      expect(res.status, path).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    }
    // The analyst role can.
    expect((await request('/v1/wallets/team/r19i/balance', { key: 'acme-analyst' })).status).toBe(200);
  });

  it('token events page newest first with a cursor', async () => {
    await post(
      purchase('r20-p1', { wallet: team('r20'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-04-01T00:00:00Z' }),
      // Two purchases at the same instant: the cursor must not skip or repeat either.
      purchase('r20-p2', { wallet: team('r20'), occurred_at: '2026-02-01T00:00:00Z', amount: '50', expires_at: '2026-12-01T00:00:00Z' }),
      purchase('r20-p3', { wallet: team('r20'), occurred_at: '2026-02-01T00:00:00Z', amount: '20', expires_at: '2026-12-01T00:00:00Z' }),
      move('r20-m', { from: team('r20'), to: team('r20-dst'), occurred_at: '2026-03-01T00:00:00Z', amount: '10' }),
    );
    setClock('2026-05-01T00:00:00Z');
    const all = await tokenEvents('r20');
    expect(all.map((e) => [e.type, e.event_id, e.at, e.amount])).toEqual([
      ['expired', 'r20-p1', iso('2026-04-01T00:00:00Z'), '90'],
      ['moved_out', 'r20-m', iso('2026-03-01T00:00:00Z'), '10'],
      ['purchased', 'r20-p2', iso('2026-02-01T00:00:00Z'), '50'],
      ['purchased', 'r20-p3', iso('2026-02-01T00:00:00Z'), '20'],
      ['purchased', 'r20-p1', iso('2026-01-01T00:00:00Z'), '100'],
    ]);
    const seen: TokenEventJson[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `from=2025-01-01T00:00:00Z&to=2028-01-01T00:00:00Z&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page: EventsPage = await getJson<EventsPage>(`/v1/wallets/team/r20/events?${query}`);
      seen.push(...page.events);
      sizes.push(page.events.length);
      cursor = page.next_cursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen).toEqual(all);
    for (let i = 1; i < seen.length; i++) expect(Date.parse((seen[i - 1] as TokenEventJson).at)).toBeGreaterThanOrEqual(Date.parse((seen[i] as TokenEventJson).at));
    // A page that ends exactly at the last event has no next cursor.
    expect((await getJson<EventsPage>('/v1/wallets/team/r20/events?from=2025-01-01T00:00:00Z&to=2028-01-01T00:00:00Z&limit=5')).next_cursor).toBeNull();
  });

  it('a wallet is named by the latest wallet_name of its events, in event time, and shows its id until named', async () => {
    await post(
      purchase('r23-p', { wallet: team('r23'), occurred_at: '2026-01-01T00:00:00Z', amount: '10', expires_at: '2026-12-01T00:00:00Z', wallet_name: 'Data Platform' }),
      // Arrives later, but happened earlier: it does not rename the wallet.
      usage('r23-u-old', { wallet: team('r23'), occurred_at: '2025-12-01T00:00:00Z', amount: '1', wallet_name: 'Old name' }),
      usage('r23-u', { wallet: team('r23'), occurred_at: '2026-02-01T00:00:00Z', amount: '1' }),
      purchase('r23b-p', { wallet: team('r23b'), occurred_at: '2026-01-01T00:00:00Z', amount: '10', expires_at: '2026-12-01T00:00:00Z' }),
    );
    setClock('2026-03-01T00:00:00Z');
    const names = async () => Object.fromEntries((await getJson<WalletsList>('/v1/wallets?type=team')).wallets.filter((w) => w.wallet.id.startsWith('r23')).map((w) => [w.wallet.id, w.name]));
    expect(await names()).toEqual({ r23: 'Data Platform', r23b: 'r23b' });
    await post(usage('r23-u2', { wallet: team('r23'), occurred_at: '2026-02-02T00:00:00Z', amount: '1', wallet_name: 'Data Platform (EU)' }));
    expect(await names()).toEqual({ r23: 'Data Platform (EU)', r23b: 'r23b' });
    const res = await request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify([usage('r23-bad', { wallet: team('r23'), amount: '1', wallet_name: 'x'.repeat(201) })]) });
    expect((await res.json()).rejected).toMatchObject([{ code: 'invalid_field' }]);
  });
});
