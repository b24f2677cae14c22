/**
 * Moves over HTTP: what a move takes, from which lots, and what the moved part keeps (SPEC section 3).
 * Hand-written end-to-end scenarios on chDB: each test is named after the ledger rule it proves.
 * One store and one API serve the file; every test uses wallets and event ids of its own.
 */
import { describe, expect, it } from 'vitest';
import { move, purchase, usage } from '../support/events.js';
import { ledgerOverHttp, team, iso } from '../support/ledgerScenarios.js';

const { setClock, post, amounts, tokenEvents, expiring, lotsLeft } = ledgerOverHttp();

describe('ledger rules over HTTP: moves', () => {
  it("a move keeps the lot's expiry", async () => {
    await post(
      purchase('r07-p', { wallet: team('r07-src'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-07-01T00:00:00Z' }),
      move('r07-m', { from: team('r07-src'), to: team('r07-dst'), occurred_at: '2026-03-01T00:00:00Z', amount: '40' }),
    );
    setClock('2026-04-01T00:00:00Z');
    expect(await expiring(['r07-src', 'r07-dst'], 120)).toEqual([
      { wallet: team('r07-dst'), lot_id: 'r07-p', remaining: '40', expires_at: iso('2026-07-01T00:00:00Z'), days_left: 91 },
      { wallet: team('r07-src'), lot_id: 'r07-p', remaining: '60', expires_at: iso('2026-07-01T00:00:00Z'), days_left: 91 },
    ]);
    // 90 days ahead the lot is not yet within the horizon; 91 days ahead it is.
    expect(await expiring(['r07-dst'], 90)).toEqual([]);
    expect(await amounts('r07-dst')).toEqual({ total: '40', used: '0', available: '40', status: 'green', overage: '0', expired: '0' });
    expect((await tokenEvents('r07-dst'))[0]).toEqual({
      type: 'moved_in',
      at: iso('2026-03-01T00:00:00Z'),
      event_id: 'r07-m',
      amount: '40',
      lots: [{ lot_id: 'r07-p', amount: '40', expires_at: iso('2026-07-01T00:00:00Z') }],
      counterparty: team('r07-src'),
      requested: '40',
      shortfall: '0',
    });

    setClock('2026-07-02T00:00:00Z');
    expect(await amounts('r07-dst')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '0', expired: '40' });
    expect(await amounts('r07-src')).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '0', expired: '60' });
    expect((await tokenEvents('r07-dst'))[0]).toEqual({
      type: 'expired',
      at: iso('2026-07-01T00:00:00Z'),
      event_id: 'r07-p',
      amount: '40',
      lots: [{ lot_id: 'r07-p', amount: '40', expires_at: iso('2026-07-01T00:00:00Z') }],
    });
    // Still there one millisecond before the parent's expiry, gone at it.
    expect((await amounts('r07-dst', '2026-06-30T23:59:59.999Z')).available).toBe('40');
    expect((await amounts('r07-dst', '2026-07-01T00:00:00Z')).available).toBe('0');
  });

  it('a move without amount takes everything remaining, in burn-down order across lots', async () => {
    await post(
      purchase('r08-a', { wallet: team('r08-src'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-06-01T00:00:00Z' }),
      purchase('r08-b', { wallet: team('r08-src'), occurred_at: '2026-01-01T00:00:00Z', amount: '50', expires_at: '2026-09-01T00:00:00Z' }),
      purchase('r08-c', { wallet: team('r08-src'), occurred_at: '2026-01-01T00:00:00Z', amount: '70', expires_at: '2026-06-01T00:00:00Z' }),
      usage('r08-u', { wallet: team('r08-src'), occurred_at: '2026-02-01T12:00:00Z', amount: '20' }),
      move('r08-m', { from: team('r08-src'), to: team('r08-dst'), occurred_at: '2026-03-01T00:00:00Z' }),
    );
    setClock('2026-04-01T00:00:00Z');
    const lots = [
      { lot_id: 'r08-c', amount: '50', expires_at: iso('2026-06-01T00:00:00Z') },
      { lot_id: 'r08-a', amount: '100', expires_at: iso('2026-06-01T00:00:00Z') },
      { lot_id: 'r08-b', amount: '50', expires_at: iso('2026-09-01T00:00:00Z') },
    ];
    const common = { at: iso('2026-03-01T00:00:00Z'), event_id: 'r08-m', amount: '200', lots };
    expect(await tokenEvents('r08-src', 'from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z')).toEqual([{ type: 'moved_out', ...common, counterparty: team('r08-dst') }]);
    expect(await tokenEvents('r08-dst')).toEqual([{ type: 'moved_in', ...common, counterparty: team('r08-src') }]);
    expect(await amounts('r08-src')).toEqual({ total: '20', used: '20', available: '0', status: 'red', overage: '0', expired: '0' });
    expect(await amounts('r08-dst')).toEqual({ total: '200', used: '0', available: '200', status: 'green', overage: '0', expired: '0' });
    expect(await lotsLeft(['r08-src', 'r08-dst'])).toEqual([
      { wallet: 'r08-dst', lot_id: 'r08-a', remaining: '100', expires_at: iso('2026-06-01T00:00:00Z') },
      { wallet: 'r08-dst', lot_id: 'r08-c', remaining: '50', expires_at: iso('2026-06-01T00:00:00Z') },
      { wallet: 'r08-dst', lot_id: 'r08-b', remaining: '50', expires_at: iso('2026-09-01T00:00:00Z') },
    ]);
  });

  it('a move asking more than remains takes what remains and reports the shortfall', async () => {
    await post(
      purchase('r09-p', { wallet: team('r09-src'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
      usage('r09-u', { wallet: team('r09-src'), occurred_at: '2026-02-01T12:00:00Z', amount: '30' }),
      move('r09-m', { from: team('r09-src'), to: team('r09-dst'), occurred_at: '2026-03-01T00:00:00Z', amount: '100' }),
    );
    setClock('2026-04-01T00:00:00Z');
    const common = {
      at: iso('2026-03-01T00:00:00Z'),
      event_id: 'r09-m',
      amount: '70',
      lots: [{ lot_id: 'r09-p', amount: '70', expires_at: iso('2026-12-01T00:00:00Z') }],
      requested: '100',
      shortfall: '30',
    };
    expect(await tokenEvents('r09-src', 'from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z')).toEqual([{ type: 'moved_out', ...common, counterparty: team('r09-dst') }]);
    expect(await tokenEvents('r09-dst')).toEqual([{ type: 'moved_in', ...common, counterparty: team('r09-src') }]);
    expect(await amounts('r09-src')).toEqual({ total: '30', used: '30', available: '0', status: 'red', overage: '0', expired: '0' });
    expect(await amounts('r09-dst')).toEqual({ total: '70', used: '0', available: '70', status: 'green', overage: '0', expired: '0' });
  });

  it('a move with lot_id takes only from that lot', async () => {
    await post(
      purchase('r10-a', { wallet: team('r10-src'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-06-01T00:00:00Z' }),
      purchase('r10-b', { wallet: team('r10-src'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-09-01T00:00:00Z', lot_id: 'r10-lot-b' }),
      // Burn-down order would take from r10-a; the named lot is r10-lot-b.
      move('r10-m1', { from: team('r10-src'), to: team('r10-dst'), occurred_at: '2026-03-01T00:00:00Z', amount: '30', lot_id: 'r10-lot-b' }),
      // Asks more than the named lot holds: takes its 70, not a token of r10-a.
      move('r10-m2', { from: team('r10-src'), to: team('r10-dst'), occurred_at: '2026-03-02T00:00:00Z', amount: '100', lot_id: 'r10-lot-b' }),
    );
    setClock('2026-04-01T00:00:00Z');
    const lotB = (amount: string) => [{ lot_id: 'r10-lot-b', amount, expires_at: iso('2026-09-01T00:00:00Z') }];
    expect(await tokenEvents('r10-src', 'from=2026-03-01T00:00:00Z&to=2026-03-03T00:00:00Z')).toEqual([
      { type: 'moved_out', at: iso('2026-03-02T00:00:00Z'), event_id: 'r10-m2', amount: '70', lots: lotB('70'), counterparty: team('r10-dst'), requested: '100', shortfall: '30' },
      { type: 'moved_out', at: iso('2026-03-01T00:00:00Z'), event_id: 'r10-m1', amount: '30', lots: lotB('30'), counterparty: team('r10-dst'), requested: '30', shortfall: '0' },
    ]);
    expect(await lotsLeft(['r10-src'])).toEqual([{ wallet: 'r10-src', lot_id: 'r10-a', remaining: '100', expires_at: iso('2026-06-01T00:00:00Z') }]);
    expect((await lotsLeft(['r10-dst'])).sort((x, y) => Number(x.remaining) - Number(y.remaining))).toEqual([
      { wallet: 'r10-dst', lot_id: 'r10-lot-b', remaining: '30', expires_at: iso('2026-09-01T00:00:00Z') },
      { wallet: 'r10-dst', lot_id: 'r10-lot-b', remaining: '70', expires_at: iso('2026-09-01T00:00:00Z') },
    ]);
    expect(await amounts('r10-src')).toEqual({ total: '100', used: '0', available: '100', status: 'green', overage: '0', expired: '0' });
    expect(await amounts('r10-dst')).toEqual({ total: '100', used: '0', available: '100', status: 'green', overage: '0', expired: '0' });
  });

  it("a moved lot keeps its burn-down attributes in the target wallet", async () => {
    // Original amount: the moved part (10) is smaller than the target's own lot (50), but its
    // parent (1000) is bigger, so the own lot burns first.
    await post(
      purchase('r11-big', { wallet: team('r11-s1'), occurred_at: '2026-01-01T00:00:00Z', amount: '1000', expires_at: '2026-09-01T00:00:00Z' }),
      purchase('r11-own', { wallet: team('r11-t1'), occurred_at: '2026-02-01T00:00:00Z', amount: '50', expires_at: '2026-09-01T00:00:00Z' }),
      move('r11-m1', { from: team('r11-s1'), to: team('r11-t1'), occurred_at: '2026-03-01T00:00:00Z', amount: '10' }),
      usage('r11-u1', { wallet: team('r11-t1'), occurred_at: '2026-04-01T12:00:00Z', amount: '5' }),
    );
    // effective_at: equal original amounts; the parent became effective before the target's own
    // lot, the move after it. The moved part burns first (its lot_id is the higher one).
    await post(
      purchase('r11-early', { wallet: team('r11-s2'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-09-01T00:00:00Z', lot_id: 'r11-z-early' }),
      purchase('r11-mine', { wallet: team('r11-t2'), occurred_at: '2026-02-01T00:00:00Z', amount: '100', expires_at: '2026-09-01T00:00:00Z', lot_id: 'r11-a-own' }),
      move('r11-m2', { from: team('r11-s2'), to: team('r11-t2'), occurred_at: '2026-03-01T00:00:00Z', amount: '10' }),
      usage('r11-u2', { wallet: team('r11-t2'), occurred_at: '2026-04-01T12:00:00Z', amount: '5' }),
    );
    setClock('2026-05-01T00:00:00Z');
    expect(await lotsLeft(['r11-t1', 'r11-t2'])).toEqual([
      { wallet: 'r11-t1', lot_id: 'r11-big', remaining: '10', expires_at: iso('2026-09-01T00:00:00Z') },
      { wallet: 'r11-t1', lot_id: 'r11-own', remaining: '45', expires_at: iso('2026-09-01T00:00:00Z') },
      { wallet: 'r11-t2', lot_id: 'r11-a-own', remaining: '100', expires_at: iso('2026-09-01T00:00:00Z') },
      { wallet: 'r11-t2', lot_id: 'r11-z-early', remaining: '5', expires_at: iso('2026-09-01T00:00:00Z') },
    ]);
    expect(await amounts('r11-t1')).toEqual({ total: '60', used: '5', available: '55', status: 'green', overage: '0', expired: '0' });
    expect(await amounts('r11-t2')).toEqual({ total: '110', used: '5', available: '105', status: 'green', overage: '0', expired: '0' });
  });

  /** Two wallet pairs, one per order, with usage and move at the same instant. */
  async function usageAtMoveInstant(prefix: string, instant: string) {
    // Usage id below the move id: the usage comes first, the move takes the rest.
    await post(
      purchase(`${prefix}a-p`, { wallet: team(`${prefix}a-src`), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
      usage(`${prefix}a-1-usage`, { wallet: team(`${prefix}a-src`), occurred_at: instant, amount: '30' }),
      move(`${prefix}a-2-move`, { from: team(`${prefix}a-src`), to: team(`${prefix}a-dst`), occurred_at: instant }),
    );
    // Move id below the usage id: the move takes everything, the usage is overage.
    await post(
      purchase(`${prefix}b-p`, { wallet: team(`${prefix}b-src`), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }),
      move(`${prefix}b-1-move`, { from: team(`${prefix}b-src`), to: team(`${prefix}b-dst`), occurred_at: instant }),
      usage(`${prefix}b-2-usage`, { wallet: team(`${prefix}b-src`), occurred_at: instant, amount: '30' }),
    );
    const day = instant.slice(0, 10);
    // Read on the day of the move (raw usage) and weeks later (daily rollup).
    for (const now of [`${day}T18:00:00Z`, '2026-04-15T00:00:00Z']) {
      setClock(now);
      const moved = async (id: string) => (await tokenEvents(id)).find((e) => e.type === 'moved_out')?.amount;
      expect.soft(await moved(`${prefix}a-src`), `usage first, read at ${now}`).toBe('70');
      expect.soft(await amounts(`${prefix}a-src`), `usage first, read at ${now}`).toEqual({ total: '30', used: '30', available: '0', status: 'red', overage: '0', expired: '0' });
      expect.soft((await amounts(`${prefix}a-dst`)).available, `usage first, read at ${now}`).toBe('70');
      expect.soft(await moved(`${prefix}b-src`), `move first, read at ${now}`).toBe('100');
      expect.soft(await amounts(`${prefix}b-src`), `move first, read at ${now}`).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '30', expired: '0' });
      expect.soft((await amounts(`${prefix}b-dst`)).available, `move first, read at ${now}`).toBe('100');
      // The same instant asked for explicitly.
      expect.soft(await amounts(`${prefix}a-src`, now), `usage first, at=${now}`).toEqual({ total: '30', used: '30', available: '0', status: 'red', overage: '0', expired: '0' });
      expect.soft(await amounts(`${prefix}b-src`, now), `move first, at=${now}`).toEqual({ total: '0', used: '0', available: '0', status: 'red', overage: '30', expired: '0' });
    }
  }

  it("usage at a move's instant is ordered with the move by event_id", async () => {
    await usageAtMoveInstant('r12', '2026-03-10T12:00:00Z');
  });

  it("usage at a move's instant is ordered with the move by event_id (move at midnight UTC)", async () => {
    await usageAtMoveInstant('r12m', '2026-03-11T00:00:00Z');
  });
});
