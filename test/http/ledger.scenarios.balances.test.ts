/**
 * Balances over HTTP: overage, status, the balance at an instant, and exact amounts (SPEC section 3).
 * Hand-written end-to-end scenarios on chDB: each test is named after the ledger rule it proves.
 * One store and one API serve the file; every test uses wallets and event ids of its own.
 */
import { describe, expect, it } from 'vitest';
import { purchase, usage } from '../support/events.js';
import { ledgerOverHttp, team, iso, type WalletsList } from '../support/ledgerScenarios.js';

const { setClock, post, getJson, balance, amounts, tokenEvents, request } = ledgerOverHttp();

describe('ledger rules over HTTP: balances', () => {
  it('overage is recorded per wallet and later purchases do not repay it', async () => {
    await post(
      purchase('r13-pb', { wallet: team('r13-b'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
      // Wallet a has nothing: its usage is its own overage, never drawn from wallet b.
      usage('r13-u', { wallet: team('r13-a'), occurred_at: '2026-02-01T12:00:00Z', amount: '25' }),
      purchase('r13-pa', { wallet: team('r13-a'), occurred_at: '2026-03-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
    );
    setClock('2026-04-01T00:00:00Z');
    expect(await amounts('r13-a')).toEqual({ total: '100', used: '0', available: '100', status: 'green', overage: '25', expired: '0' });
    expect(await amounts('r13-b')).toEqual({ total: '100', used: '0', available: '100', status: 'green', overage: '0', expired: '0' });
    expect(await amounts('r13-a', '2026-02-15T00:00:00Z')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '25', expired: '0' });
    const listed = await getJson<WalletsList>('/v1/wallets?type=team');
    expect(listed.wallets.filter((w) => w.wallet.id.startsWith('r13-'))).toEqual([
      // No usage in the last 28 days: nothing burns, so every lot is forecast to expire whole.
      { wallet: team('r13-a'), name: 'r13-a', total: '100', used: '0', available: '100', status: 'green', overage: '25', expiring_within_90d: '0', burn_rate_per_day: '0', runs_out_at: null, projected_unused_total: '100' },
      { wallet: team('r13-b'), name: 'r13-b', total: '100', used: '0', available: '100', status: 'green', overage: '0', expiring_within_90d: '0', burn_rate_per_day: '0', runs_out_at: null, projected_unused_total: '100' },
    ]);
  });

  it('status is green above 20 % available and red at or below', async () => {
    await post(
      purchase('r17-red-p', { wallet: team('r17-red'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
      usage('r17-red-u', { wallet: team('r17-red'), occurred_at: '2026-02-01T12:00:00Z', amount: '80' }),
      purchase('r17-green-p', { wallet: team('r17-green'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
      usage('r17-green-u', { wallet: team('r17-green'), occurred_at: '2026-02-01T12:00:00Z', amount: '79.9999' }),
    );
    setClock('2026-03-01T00:00:00Z');
    expect(await amounts('r17-red')).toEqual({ total: '100', used: '80', available: '20', status: 'red', overage: '0', expired: '0' });
    expect(await amounts('r17-green')).toEqual({ total: '100', used: '79.9999', available: '20.0001', status: 'green', overage: '0', expired: '0' });
    const listed = await getJson<WalletsList>('/v1/wallets?type=team');
    expect(listed.wallets.filter((w) => w.wallet.id.startsWith('r17-')).map((w) => [w.wallet.id, w.available, w.status])).toEqual([
      ['r17-green', '20.0001', 'green'],
      ['r17-red', '20', 'red'],
    ]);
  });

  it('balance at T reflects only events with occurred_at ≤ T', async () => {
    await post(
      purchase('r18-p1', { wallet: team('r18'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
      usage('r18-u1', { wallet: team('r18'), occurred_at: '2026-02-01T00:00:00Z', amount: '10' }),
      usage('r18-u2', { wallet: team('r18'), occurred_at: '2026-03-01T12:00:00Z', amount: '20' }),
      purchase('r18-p2', { wallet: team('r18'), occurred_at: '2026-03-15T00:00:00Z', amount: '50', expires_at: '2026-12-01T00:00:00Z' }),
    );
    setClock('2026-04-01T00:00:00Z');
    const at = (t: string) => amounts('r18', t);
    expect(await at('2025-12-31T23:59:59.999Z')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '0', expired: '0' });
    expect(await at('2026-01-01T00:00:00Z')).toEqual({ total: '100', used: '0', available: '100', status: 'green', overage: '0', expired: '0' });
    expect(await at('2026-01-31T23:59:59.999Z')).toEqual({ total: '100', used: '0', available: '100', status: 'green', overage: '0', expired: '0' });
    expect(await at('2026-02-01T00:00:00Z')).toEqual({ total: '100', used: '10', available: '90', status: 'green', overage: '0', expired: '0' });
    expect(await at('2026-03-01T11:59:59.999Z')).toEqual({ total: '100', used: '10', available: '90', status: 'green', overage: '0', expired: '0' });
    expect(await at('2026-03-01T12:00:00Z')).toEqual({ total: '100', used: '30', available: '70', status: 'green', overage: '0', expired: '0' });
    expect(await at('2026-03-14T23:59:59.999Z')).toEqual({ total: '100', used: '30', available: '70', status: 'green', overage: '0', expired: '0' });
    expect(await at('2026-03-15T00:00:00Z')).toEqual({ total: '150', used: '30', available: '120', status: 'green', overage: '0', expired: '0' });
    expect(await amounts('r18')).toEqual({ total: '150', used: '30', available: '120', status: 'green', overage: '0', expired: '0' });
    expect((await balance('r18', '2026-02-01T00:00:00Z')).at).toBe(iso('2026-02-01T00:00:00Z'));
    // The clock itself is a T: an earlier now sees only what had occurred by then.
    setClock('2026-03-01T12:00:00Z');
    expect(await amounts('r18')).toEqual({ total: '100', used: '30', available: '70', status: 'green', overage: '0', expired: '0' });
    expect((await tokenEvents('r18')).map((e) => e.event_id)).toEqual(['r18-p1']);
  });

  it('amounts stay exact to 4 decimals', async () => {
    await post(
      purchase('r21-p', { wallet: team('r21'), occurred_at: '2026-01-01T00:00:00Z', amount: '0.3', expires_at: '2026-12-01T00:00:00Z' }),
      usage('r21-u1', { wallet: team('r21'), occurred_at: '2026-02-01T12:00:00Z', amount: '0.1' }),
      usage('r21-u2', { wallet: team('r21'), occurred_at: '2026-02-01T13:00:00Z', amount: '0.2' }),
      purchase('r21b-p', { wallet: team('r21b'), occurred_at: '2026-01-01T00:00:00Z', amount: '1000000.0001', expires_at: '2026-12-01T00:00:00Z' }),
      usage('r21b-u', { wallet: team('r21b'), occurred_at: '2026-02-01T12:00:00Z', amount: '0.0001' }),
      purchase('r21c-p', { wallet: team('r21c'), occurred_at: '2026-01-01T00:00:00Z', amount: '1', expires_at: '2026-12-01T00:00:00Z' }),
      ...Array.from({ length: 10 }, (_, i) => usage(`r21c-u${i}`, { wallet: team('r21c'), occurred_at: `2026-02-0${1 + (i % 3)}T1${i}:00:00Z`, amount: '0.1' })),
    );
    // On the usage day (raw events) and later (daily rollup).
    for (const now of ['2026-02-03T23:00:00Z', '2026-03-01T00:00:00Z']) {
      setClock(now);
      expect(await amounts('r21'), now).toEqual({ total: '0.3', used: '0.3', available: '0', status: 'red', overage: '0', expired: '0' });
      expect(await amounts('r21b'), now).toEqual({ total: '1000000.0001', used: '0.0001', available: '1000000', status: 'green', overage: '0', expired: '0' });
      expect(await amounts('r21c'), now).toEqual({ total: '1', used: '1', available: '0', status: 'red', overage: '0', expired: '0' });
    }
    // Past the expiry, exactly nothing is left to expire.
    setClock('2026-12-02T00:00:00Z');
    expect(await amounts('r21')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '0', expired: '0' });
    expect((await amounts('r21b')).expired).toBe('1000000');
  });

  it('amounts near 10^12 keep their last digit, sent as JSON numbers or strings', async () => {
    // 999999999999.0003 and 999999999999.0002 are one double: the digits are read as written.
    const body = `[${JSON.stringify(purchase('r22-p', { wallet: team('r22'), occurred_at: '2026-01-01T00:00:00Z', amount: '0', expires_at: '2026-12-01T00:00:00Z' })).replace('"amount":"0"', '"amount":999999999999.0003')},
      ${JSON.stringify(usage('r22-u', { wallet: team('r22'), occurred_at: '2026-02-01T12:00:00Z', amount: '0' })).replace('"amount":"0"', '"amount":0.0001')},
      ${JSON.stringify(purchase('r22b-p', { wallet: team('r22b'), occurred_at: '2026-01-01T00:00:00Z', amount: '999999999999.9997', expires_at: '2026-12-01T00:00:00Z' }))}]`;
    const res = await request('/v1/events', { method: 'POST', key: 'acme-admin', body, headers: { 'content-type': 'application/json' } });
    expect(await res.json()).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    setClock('2026-03-01T00:00:00Z');
    expect(await amounts('r22')).toEqual({ total: '999999999999.0003', used: '0.0001', available: '999999999999.0002', status: 'green', overage: '0', expired: '0' });
    expect(await amounts('r22b')).toMatchObject({ total: '999999999999.9997', available: '999999999999.9997' });
    const usage90 = await getJson<{ rows: Array<{ service: string; amount: string }> }>('/v1/usage?wallet_type=team&wallet_id=r22&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z');
    expect(usage90.rows).toMatchObject([{ amount: '0.0001' }]);
  });
});
