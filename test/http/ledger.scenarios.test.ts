/**
 * Hand-written end-to-end scenarios over HTTP on chDB: each test is named after the ledger rule
 * (SPEC section 3) it proves. One store and one API serve the whole file; every test uses
 * wallets and event ids of its own, so tests are independent unless a move connects wallets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from '../support/api.js';
import { move, purchase, usage, voidOf } from '../support/events.js';
import { freshStore } from '../support/store.js';

let store: Store;
let api: TestApi;
let clock = Date.parse('2026-01-15T00:00:00Z');

beforeAll(async () => {
  store = await freshStore();
  api = await startApi(store, { clock: () => clock });
});
afterAll(async () => {
  await api.close();
  await store.close();
});

type WalletRef = { type: string; id: string };

interface Balance {
  wallet: WalletRef;
  at: string;
  total: string;
  used: string;
  available: string;
  status: 'green' | 'red';
  overage: string;
  expired: string;
}

interface TokenEventJson {
  type: 'purchased' | 'expired' | 'moved_in' | 'moved_out';
  at: string;
  event_id: string;
  amount: string;
  lots: Array<{ lot_id: string; amount: string; expires_at: string }>;
  counterparty?: WalletRef;
  requested?: string;
  shortfall?: string;
}

interface EventsPage {
  wallet: WalletRef;
  from: string;
  to: string;
  events: TokenEventJson[];
  next_cursor: string | null;
}

interface ExpiringLot {
  wallet: WalletRef;
  lot_id: string;
  remaining: string;
  expires_at: string;
  days_left: number;
}

interface WalletsList {
  at: string;
  wallets: Array<{ wallet: WalletRef; name: string; total: string; used: string; available: string; status: string; overage: string; expiring_within_90d: string }>;
}

const team = (id: string) => ({ type: 'team', id });
const iso = (text: string) => new Date(Date.parse(text)).toISOString();

function setClock(text: string): void {
  clock = Date.parse(text);
}

/** Posts events as one JSON array; every one must be accepted. */
async function post(...events: unknown[]): Promise<void> {
  const res = await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify(events), headers: { 'content-type': 'application/json' } });
  const body = await res.json();
  expect(res.status).toBe(200);
  expect(body).toEqual({ accepted: events.length, duplicates: 0, rejected: [] });
}

async function getJson<T>(path: string, key = 'acme-admin'): Promise<T> {
  const res = await api.request(path, { key });
  const body = await res.json();
  expect(res.status, `${path}: ${JSON.stringify(body)}`).toBe(200);
  return body as T;
}

/** A team wallet's balance: now (the clock) or at an explicit instant. */
function balance(id: string, at?: string): Promise<Balance> {
  return getJson<Balance>(`/v1/wallets/team/${id}/balance${at === undefined ? '' : `?at=${encodeURIComponent(at)}`}`);
}

/** The balance fields that matter, without the echo of wallet and instant. */
async function amounts(id: string, at?: string) {
  const { total, used, available, status, overage, expired } = await balance(id, at);
  return { total, used, available, status, overage, expired };
}

/** All token events of a team wallet in a wide range, newest first. */
async function tokenEvents(id: string, range = 'from=2025-01-01T00:00:00Z&to=2028-01-01T00:00:00Z'): Promise<TokenEventJson[]> {
  return (await getJson<EventsPage>(`/v1/wallets/team/${id}/events?${range}&limit=1000`)).events;
}

/** Unexpired lots with something left, of the given team wallets, as of the clock. */
async function expiring(ids: string[], withinDays = 365): Promise<Array<Omit<ExpiringLot, 'days_left'> & { days_left?: number }>> {
  const body = await getJson<{ lots: ExpiringLot[] }>(`/v1/expiring?within_days=${withinDays}`);
  return body.lots.filter((l) => l.wallet.type === 'team' && ids.includes(l.wallet.id));
}

/** `{ wallet id, lot_id, remaining, expires_at }` of unexpired lots, for compact assertions. */
async function lotsLeft(ids: string[], withinDays = 365) {
  return (await expiring(ids, withinDays)).map((l) => ({ wallet: l.wallet.id, lot_id: l.lot_id, remaining: l.remaining, expires_at: l.expires_at }));
}

describe('ledger rules over HTTP', () => {
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

  it("another account's wallet answers 404, exactly like a missing one", async () => {
    await post(purchase('r19-p', { wallet: team('r19'), occurred_at: '2026-01-01T00:00:00Z', amount: '100', expires_at: '2026-12-01T00:00:00Z' }));
    setClock('2026-03-01T00:00:00Z');
    for (const suffix of ['balance', 'events']) {
      const mine = await api.request(`/v1/wallets/team/r19/${suffix}`, { key: 'acme-admin' });
      expect(mine.status).toBe(200);
      const foreign = await api.request(`/v1/wallets/team/r19/${suffix}`, { key: 'globex-admin' });
      const missing = await api.request(`/v1/wallets/team/r19/${suffix}`.replace('r19', 'r19-nowhere'), { key: 'acme-admin' });
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
      const res = await api.request(path, { key: 'acme-ingest' });
      expect(res.status, path).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    }
    // The analyst role can.
    expect((await api.request('/v1/wallets/team/r19i/balance', { key: 'acme-analyst' })).status).toBe(200);
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
    const res = await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify([usage('r23-bad', { wallet: team('r23'), amount: '1', wallet_name: 'x'.repeat(201) })]) });
    expect((await res.json()).rejected).toMatchObject([{ code: 'invalid_field' }]);
  });

  it('amounts near 10^12 keep their last digit, sent as JSON numbers or strings', async () => {
    // 999999999999.0003 and 999999999999.0002 are one double: the digits are read as written.
    const body = `[${JSON.stringify(purchase('r22-p', { wallet: team('r22'), occurred_at: '2026-01-01T00:00:00Z', amount: '0', expires_at: '2026-12-01T00:00:00Z' })).replace('"amount":"0"', '"amount":999999999999.0003')},
      ${JSON.stringify(usage('r22-u', { wallet: team('r22'), occurred_at: '2026-02-01T12:00:00Z', amount: '0' })).replace('"amount":"0"', '"amount":0.0001')},
      ${JSON.stringify(purchase('r22b-p', { wallet: team('r22b'), occurred_at: '2026-01-01T00:00:00Z', amount: '999999999999.9997', expires_at: '2026-12-01T00:00:00Z' }))}]`;
    const res = await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body, headers: { 'content-type': 'application/json' } });
    expect(await res.json()).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    setClock('2026-03-01T00:00:00Z');
    expect(await amounts('r22')).toEqual({ total: '999999999999.0003', used: '0.0001', available: '999999999999.0002', status: 'green', overage: '0', expired: '0' });
    expect(await amounts('r22b')).toMatchObject({ total: '999999999999.9997', available: '999999999999.9997' });
    const usage90 = await getJson<{ rows: Array<{ service: string; amount: string }> }>('/v1/usage?wallet_type=team&wallet_id=r22&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z');
    expect(usage90.rows).toMatchObject([{ amount: '0.0001' }]);
  });
});
