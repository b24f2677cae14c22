/**
 * Lots over HTTP: the burn-down order, a lot's effective_at, and its expiry (SPEC section 3).
 * Hand-written end-to-end scenarios on chDB: each test is named after the ledger rule it proves.
 * One store and one API serve the file; every test uses wallets and event ids of its own.
 */
import { describe, expect, it } from 'vitest';
import { purchase, usage } from '../support/events.js';
import { ledgerOverHttp, team, iso, type TokenEventJson, type EventsPage } from '../support/ledgerScenarios.js';

const { setClock, post, getJson, amounts, tokenEvents, lotsLeft } = ledgerOverHttp();

describe('ledger rules over HTTP: lots, their burn-down order and expiry', () => {
  it('usage draws from the lot that expires first', async () => {
    // The later-expiring lot wins every other tie-break: smaller, earlier, lower lot_id.
    await post(
      purchase('r01-late', { wallet: team('r01'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-09-01T00:00:00Z', lot_id: 'r01-lot-a' }),
      purchase('r01-early', { wallet: team('r01'), occurred_at: '2026-01-02T00:00:00Z', amount: '200', expires_at: '2026-06-01T00:00:00Z', lot_id: 'r01-lot-b' }),
      usage('r01-u', { wallet: team('r01'), occurred_at: '2026-02-01T12:00:00Z', amount: '30' }),
    );
    setClock('2026-03-01T00:00:00Z');
    expect(await lotsLeft(['r01'])).toEqual([
      { wallet: 'r01', lot_id: 'r01-lot-b', remaining: '170', expires_at: iso('2026-06-01T00:00:00Z') },
      { wallet: 'r01', lot_id: 'r01-lot-a', remaining: '100', expires_at: iso('2026-09-01T00:00:00Z') },
    ]);
    expect(await amounts('r01')).toEqual({ total: '300', used: '30', available: '270', status: 'green', overage: '0', expired: '0' });
    setClock('2026-07-01T00:00:00Z');
    expect(await amounts('r01')).toEqual({ total: '100', used: '0', available: '100', status: 'green', overage: '0', expired: '170' });
  });

  it('with equal expiry, the smaller original amount burns first', async () => {
    // The bigger lot is earlier and has the lower lot_id: only the amount can pick the smaller.
    await post(
      purchase('r02a-big', { wallet: team('r02a'), occurred_at: '2026-01-01T00:00:00Z', amount: '200', expires_at: '2026-12-01T00:00:00Z', lot_id: 'r02a-lot-a' }),
      purchase('r02a-small', { wallet: team('r02a'), occurred_at: '2026-01-05T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z', lot_id: 'r02a-lot-b' }),
      usage('r02a-u', { wallet: team('r02a'), occurred_at: '2026-02-01T12:00:00Z', amount: '30' }),
    );
    setClock('2026-03-01T00:00:00Z');
    expect(await lotsLeft(['r02a'])).toEqual([
      { wallet: 'r02a', lot_id: 'r02a-lot-a', remaining: '200', expires_at: iso('2026-12-01T00:00:00Z') },
      { wallet: 'r02a', lot_id: 'r02a-lot-b', remaining: '70', expires_at: iso('2026-12-01T00:00:00Z') },
    ]);
  });

  it('with equal expiry and original amount, the earlier effective_at burns first', async () => {
    // Lot a was purchased first and has the lower lot_id, but becomes effective later.
    await post(
      purchase('r02b-p1', { wallet: team('r02b'), occurred_at: '2025-12-01T00:00:00Z', effective_at: '2026-01-10T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z', lot_id: 'r02b-lot-a' }),
      purchase('r02b-p2', { wallet: team('r02b'), occurred_at: '2026-01-02T00:00:00Z', effective_at: '2026-01-03T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z', lot_id: 'r02b-lot-b' }),
      usage('r02b-u', { wallet: team('r02b'), occurred_at: '2026-02-01T12:00:00Z', amount: '30' }),
    );
    setClock('2026-03-01T00:00:00Z');
    expect(await lotsLeft(['r02b'])).toEqual([
      { wallet: 'r02b', lot_id: 'r02b-lot-a', remaining: '100', expires_at: iso('2026-12-01T00:00:00Z') },
      { wallet: 'r02b', lot_id: 'r02b-lot-b', remaining: '70', expires_at: iso('2026-12-01T00:00:00Z') },
    ]);
  });

  it('with equal expiry, original amount and effective_at, the lower lot_id burns first', async () => {
    // The event ids order the other way round: the lot_id decides, not the event_id.
    await post(
      purchase('r02c-p1', { wallet: team('r02c'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z', lot_id: 'r02c-lot-b' }),
      purchase('r02c-p2', { wallet: team('r02c'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z', lot_id: 'r02c-lot-a' }),
      usage('r02c-u', { wallet: team('r02c'), occurred_at: '2026-02-01T12:00:00Z', amount: '30' }),
    );
    setClock('2026-03-01T00:00:00Z');
    expect(await lotsLeft(['r02c'])).toEqual([
      { wallet: 'r02c', lot_id: 'r02c-lot-a', remaining: '70', expires_at: iso('2026-12-01T00:00:00Z') },
      { wallet: 'r02c', lot_id: 'r02c-lot-b', remaining: '100', expires_at: iso('2026-12-01T00:00:00Z') },
    ]);
  });

  it('a lot is active from effective_at: usage before it is overage', async () => {
    await post(
      purchase('r03-p', { wallet: team('r03'), occurred_at: '2026-01-01T00:00:00Z', effective_at: '2026-02-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
      usage('r03-before', { wallet: team('r03'), occurred_at: '2026-01-15T12:00:00Z', amount: '10' }),
      usage('r03-last-ms', { wallet: team('r03'), occurred_at: '2026-01-31T23:59:59.999Z', amount: '1' }),
      usage('r03-at', { wallet: team('r03'), occurred_at: '2026-02-01T00:00:00Z', amount: '2' }),
      usage('r03-after', { wallet: team('r03'), occurred_at: '2026-02-15T12:00:00Z', amount: '5' }),
    );
    setClock('2026-03-01T00:00:00Z');
    expect(await amounts('r03')).toEqual({ total: '100', used: '7', available: '93', status: 'green', overage: '11', expired: '0' });
    // Purchased but not yet effective: no total, and usage is overage.
    expect(await amounts('r03', '2026-01-20T00:00:00Z')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '10', expired: '0' });
    expect(await amounts('r03', '2026-02-01T00:00:00Z')).toEqual({ total: '100', used: '2', available: '98', status: 'green', overage: '11', expired: '0' });
  });

  it('usage at the expiry instant cannot draw from the expiring lot', async () => {
    // One lot only: the usage one millisecond before expiry draws from it, the one at expiry is overage.
    await post(
      purchase('r04-p', { wallet: team('r04'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-04-01T00:00:00Z' }),
      usage('r04-u1', { wallet: team('r04'), occurred_at: '2026-03-31T23:59:59.999Z', amount: '5' }),
      usage('r04-u2', { wallet: team('r04'), occurred_at: '2026-04-01T00:00:00Z', amount: '10' }),
    );
    // Two lots: the usage at the first one's expiry draws from the second.
    await post(
      purchase('r04b-p1', { wallet: team('r04b'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-04-01T00:00:00Z' }),
      purchase('r04b-p2', { wallet: team('r04b'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-08-01T00:00:00Z' }),
      usage('r04b-u', { wallet: team('r04b'), occurred_at: '2026-04-01T00:00:00Z', amount: '10' }),
    );
    setClock('2026-05-01T00:00:00Z');
    expect(await amounts('r04')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '10', expired: '95' });
    expect(await amounts('r04b')).toEqual({ total: '100', used: '10', available: '90', status: 'green', overage: '0', expired: '100' });
    // Read on the expiry day itself, where usage comes from raw events rather than the daily rollup.
    expect(await amounts('r04', '2026-04-01T12:00:00Z')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '10', expired: '95' });
    expect(await amounts('r04b', '2026-04-01T12:00:00Z')).toEqual({ total: '100', used: '10', available: '90', status: 'green', overage: '0', expired: '100' });
  });

  it('a lot expires with what is left, and appears as an expired token event once the instant has passed', async () => {
    await post(
      purchase('r05-p', { wallet: team('r05'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-05-01T00:00:00Z' }),
      usage('r05-u', { wallet: team('r05'), occurred_at: '2026-02-01T12:00:00Z', amount: '40' }),
    );
    const purchased: TokenEventJson = {
      type: 'purchased',
      at: iso('2026-01-01T00:00:00Z'),
      event_id: 'r05-p',
      amount: '100',
      lots: [{ lot_id: 'r05-p', amount: '100', expires_at: iso('2026-05-01T00:00:00Z') }],
    };
    setClock('2026-04-30T23:59:59.999Z');
    expect((await getJson<EventsPage>('/v1/wallets/team/r05/events')).events).toEqual([purchased]);
    expect(await amounts('r05')).toEqual({ total: '100', used: '40', available: '60', status: 'green', overage: '0', expired: '0' });

    setClock('2026-05-01T00:00:01Z');
    expect((await getJson<EventsPage>('/v1/wallets/team/r05/events')).events).toEqual([
      {
        type: 'expired',
        at: iso('2026-05-01T00:00:00Z'),
        event_id: 'r05-p',
        amount: '60',
        lots: [{ lot_id: 'r05-p', amount: '60', expires_at: iso('2026-05-01T00:00:00Z') }],
      },
      purchased,
    ]);
    expect(await amounts('r05')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '0', expired: '60' });
    // At the instant itself the lot is gone: nothing is active, 60 expired.
    expect(await amounts('r05', '2026-05-01T00:00:00Z')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '0', expired: '60' });
    expect(await amounts('r05', '2026-04-30T23:59:59.999Z')).toEqual({ total: '100', used: '40', available: '60', status: 'green', overage: '0', expired: '0' });
  });

  it('a late usage event changes the expired amount of an already-expired lot', async () => {
    await post(
      purchase('r06-p', { wallet: team('r06'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-05-01T00:00:00Z' }),
      usage('r06-u1', { wallet: team('r06'), occurred_at: '2026-02-01T12:00:00Z', amount: '40' }),
    );
    setClock('2026-06-01T00:00:00Z');
    expect(await amounts('r06')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '0', expired: '60' });
    expect((await tokenEvents('r06')).filter((e) => e.type === 'expired').map((e) => e.amount)).toEqual(["60"]);

    // Arrives after the expiry, dated before it.
    await post(usage('r06-u2', { wallet: team('r06'), occurred_at: '2026-03-01T08:00:00Z', amount: '15' }));
    expect(await amounts('r06')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '0', expired: '45' });
    expect((await tokenEvents('r06')).filter((e) => e.type === 'expired')).toEqual([
      { type: 'expired', at: iso('2026-05-01T00:00:00Z'), event_id: 'r06-p', amount: '45', lots: [{ lot_id: 'r06-p', amount: '45', expires_at: iso('2026-05-01T00:00:00Z') }] },
    ]);
    expect(await amounts('r06', '2026-04-01T00:00:00Z')).toEqual({ total: '100', used: '55', available: '45', status: 'green', overage: '0', expired: '0' });
  });
});
