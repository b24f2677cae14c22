/**
 * Voids over HTTP: a voided purchase or usage is as if it never happened, whenever the void arrives (SPEC section 3).
 * Hand-written end-to-end scenarios on chDB: each test is named after the ledger rule it proves.
 * One store and one API serve the file; every test uses wallets and event ids of its own.
 */
import { describe, expect, it } from 'vitest';
import { purchase, usage, voidOf } from '../support/events.js';
import { ledgerOverHttp, team } from '../support/ledgerScenarios.js';

const { setClock, post, amounts, tokenEvents } = ledgerOverHttp();

describe('ledger rules over HTTP: voids', () => {
  it('a void removes a purchase as if it never happened, and usage it covered becomes overage', async () => {
    await post(
      purchase('r14-p', { wallet: team('r14'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
      usage('r14-u', { wallet: team('r14'), occurred_at: '2026-02-01T12:00:00Z', amount: '30' }),
      // A second wallet with another lot: the usage falls back to it, as if the voided lot never was.
      purchase('r14b-p', { wallet: team('r14b'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-06-01T00:00:00Z' }),
      purchase('r14b-keep', { wallet: team('r14b'), occurred_at: '2026-01-01T00:00:00Z', amount: '50', expires_at: '2026-12-01T00:00:00Z' }),
      usage('r14b-u', { wallet: team('r14b'), occurred_at: '2026-02-01T12:00:00Z', amount: '30' }),
    );
    setClock('2026-03-01T00:00:00Z');
    expect(await amounts('r14')).toEqual({ total: '100', used: '30', available: '70', status: 'green', overage: '0', expired: '0' });
    expect(await amounts('r14b')).toEqual({ total: '150', used: '30', available: '120', status: 'green', overage: '0', expired: '0' });

    await post(voidOf('r14-v', 'r14-p'), voidOf('r14b-v', 'r14b-p'));
    setClock('2026-04-01T00:00:00Z');
    expect(await amounts('r14')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '30', expired: '0' });
    expect(await amounts('r14b')).toEqual({ total: '50', used: '30', available: '20', status: 'green', overage: '0', expired: '0' });
    expect(await tokenEvents('r14')).toEqual([]);
    expect((await tokenEvents('r14b')).map((e) => `${e.type}:${e.event_id}`)).toEqual(['purchased:r14b-keep']);
    // As if it never happened: also before the void's own occurred_at.
    expect(await amounts('r14', '2026-02-15T00:00:00Z')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '30', expired: '0' });
    // And the voided lot never expires.
    setClock('2026-07-01T00:00:00Z');
    expect(await amounts('r14b')).toEqual({ total: '50', used: '30', available: '20', status: 'green', overage: '0', expired: '0' });
  });

  it('a void that arrives before its target still removes it', async () => {
    await post(voidOf('r15-v1', 'r15-p-void'), voidOf('r15-v2', 'r15-u-void'));
    await post(
      purchase('r15-p', { wallet: team('r15'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
      purchase('r15-p-void', { wallet: team('r15'), occurred_at: '2026-01-01T00:00:00Z', amount: '500', expires_at: '2026-12-01T00:00:00Z' }),
      usage('r15-u', { wallet: team('r15'), occurred_at: '2026-02-01T12:00:00Z', amount: '10' }),
      usage('r15-u-void', { wallet: team('r15'), occurred_at: '2026-02-01T13:00:00Z', amount: '40' }),
    );
    setClock('2026-03-01T00:00:00Z');
    expect(await amounts('r15')).toEqual({ total: '100', used: '10', available: '90', status: 'green', overage: '0', expired: '0' });
    // On the day of the usage, read from raw events.
    expect(await amounts('r15', '2026-02-01T18:00:00Z')).toEqual({ total: '100', used: '10', available: '90', status: 'green', overage: '0', expired: '0' });
    expect((await tokenEvents('r15')).map((e) => `${e.type}:${e.event_id}`)).toEqual(['purchased:r15-p']);
  });

  it('a voided usage is not counted', async () => {
    await post(
      purchase('r16-p', { wallet: team('r16'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
      usage('r16-u1', { wallet: team('r16'), occurred_at: '2026-02-01T10:00:00Z', amount: '10' }),
      usage('r16-u2', { wallet: team('r16'), occurred_at: '2026-02-01T11:00:00Z', amount: '20' }),
    );
    setClock('2026-03-01T00:00:00Z');
    expect(await amounts('r16')).toEqual({ total: '100', used: '30', available: '70', status: 'green', overage: '0', expired: '0' });
    await post(voidOf('r16-v', 'r16-u2'));
    // Weeks later (daily rollup) and on the day itself (raw events).
    expect(await amounts('r16')).toEqual({ total: '100', used: '10', available: '90', status: 'green', overage: '0', expired: '0' });
    expect(await amounts('r16', '2026-02-01T12:00:00Z')).toEqual({ total: '100', used: '10', available: '90', status: 'green', overage: '0', expired: '0' });
    setClock('2026-02-01T12:00:00Z');
    expect(await amounts('r16')).toEqual({ total: '100', used: '10', available: '90', status: 'green', overage: '0', expired: '0' });
  });
});
