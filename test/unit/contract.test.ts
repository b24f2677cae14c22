import { describe, expect, it } from 'vitest';
import { decodeEvent, validateEvent, type ValidationContext } from '../../ingest/contract.js';
import { move, purchase, usage, voidOf } from '../support/events.js';

const ctx: ValidationContext = { source: 'test' };

function rejectionOf(event: unknown, context = ctx) {
  const result = validateEvent(event, context);
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.row)}`);
  return result.code;
}

function rowOf(event: unknown) {
  const result = validateEvent(event, ctx);
  if (!result.ok) throw new Error(`expected acceptance, got ${result.code}: ${result.message}`);
  return result.row;
}

describe('every event', () => {
  it('must be a JSON object', () => {
    for (const bad of [null, 42, 'x', [], [usage('u1')]]) expect(rejectionOf(bad)).toBe('not_an_object');
  });

  it('must have an event_id of 1 to 128 characters, without control characters', () => {
    expect(rejectionOf(usage('a\nb'))).toBe('invalid_event_id');
    expect(rejectionOf(usage('a\u0001b'))).toBe('invalid_event_id');
    expect(rejectionOf(usage('u1', { account_id: 'ac\nme' }))).toBe('invalid_field');
    expect(rowOf(usage('ünïcødé id with spaces')).event_id).toBe('ünïcødé id with spaces');
    const { event_id: _, ...noId } = usage('u1');
    expect(rejectionOf(noId)).toBe('missing_field');
    expect(rejectionOf(usage(''))).toBe('invalid_event_id');
    expect(rejectionOf(usage('x'.repeat(129)))).toBe('invalid_event_id');
    expect(rejectionOf({ ...usage('u1'), event_id: 7 })).toBe('invalid_event_id');
    expect(rowOf(usage('x'.repeat(128))).event_id).toHaveLength(128);
  });

  it('must have a known type', () => {
    expect(rejectionOf({ ...usage('u1'), type: 'refund' })).toBe('unknown_type');
    expect(rejectionOf({ ...usage('u1'), type: 'USAGE' })).toBe('unknown_type');
    const { type: _, ...noType } = usage('u1');
    expect(rejectionOf(noType)).toBe('missing_field');
  });

  it('must name its account', () => {
    const { account_id: _, ...noAccount } = usage('u1');
    expect(rejectionOf(noAccount)).toBe('missing_field');
    expect(rejectionOf({ ...usage('u1'), account_id: '' })).toBe('invalid_field');
    expect(rejectionOf({ ...usage('u1'), account_id: 5 })).toBe('invalid_field');
  });

  it("must belong to the API key's account when one is given", () => {
    expect(rejectionOf(usage('u1'), { source: 'http', accountScope: 'globex' })).toBe('account_mismatch');
    expect(validateEvent(usage('u1'), { source: 'http', accountScope: 'acme' }).ok).toBe(true);
  });

  it('must have an RFC 3339 occurred_at', () => {
    const { occurred_at: _, ...noTime } = usage('u1');
    expect(rejectionOf(noTime)).toBe('missing_field');
    for (const bad of ['2026-02-01', '2026-02-01T12:00:00', '2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-02-01T24:00:00Z', 'yesterday', 1767225600000, '1969-12-31T23:59:59Z']) {
      expect(rejectionOf(usage('u1', { occurred_at: bad })), String(bad)).toBe('invalid_timestamp');
    }
  });

  it('keeps the instant of an offset timestamp, in UTC at millisecond precision', () => {
    expect(rowOf(usage('u1', { occurred_at: '2026-02-01T12:00:00.123456+02:00' })).occurred_at).toBe('2026-02-01 10:00:00.123');
    expect(rowOf(usage('u1', { occurred_at: '2026-02-01t12:00:00z' })).occurred_at).toBe('2026-02-01 12:00:00.000');
  });

  it('ignores fields it does not know, for forward compatibility', () => {
    expect(rowOf({ ...usage('u1'), region: 'eu' }).event_id).toBe('u1');
  });
});

describe('a purchase', () => {
  it('defaults effective_at to occurred_at and lot_id to event_id', () => {
    const row = rowOf(purchase('p1'));
    expect(row).toMatchObject({ effective_at: '2026-01-01 00:00:00.000', lot_id: 'p1', wallet_type: 'team', wallet_id: 'platform', amount: '1000' });
  });

  it('keeps an explicit effective_at, lot_id, sku and order_id', () => {
    const row = rowOf(purchase('p1', { effective_at: '2026-01-05T00:00:00Z', lot_id: 'L-9', sku: 'flex-1k', order_id: 'SO-1' }));
    expect(row).toMatchObject({ effective_at: '2026-01-05 00:00:00.000', lot_id: 'L-9', sku: 'flex-1k', order_id: 'SO-1' });
  });

  it('needs a wallet, a positive amount and an expiry after it becomes effective', () => {
    const { wallet: _w, ...noWallet } = purchase('p1');
    expect(rejectionOf(noWallet)).toBe('missing_field');
    const { amount: _a, ...noAmount } = purchase('p1');
    expect(rejectionOf(noAmount)).toBe('missing_field');
    const { expires_at: _e, ...noExpiry } = purchase('p1');
    expect(rejectionOf(noExpiry)).toBe('missing_field');
    expect(rejectionOf(purchase('p1', { amount: '-10' }))).toBe('amount_not_positive');
    expect(rejectionOf(purchase('p1', { amount: '10.12345' }))).toBe('too_many_decimals');
    expect(rejectionOf(purchase('p1', { expires_at: '2025-12-31T00:00:00Z' }))).toBe('invalid_expiry');
    expect(rejectionOf(purchase('p1', { expires_at: '2026-01-01T00:00:00Z' }))).toBe('invalid_expiry');
    expect(rejectionOf(purchase('p1', { effective_at: '2027-06-01T00:00:00Z' }))).toBe('invalid_expiry');
  });

  it('needs a wallet of type team or contract with an id', () => {
    expect(rejectionOf(purchase('p1', { wallet: { type: 'person', id: 'x' } }))).toBe('invalid_wallet');
    expect(rejectionOf(purchase('p1', { wallet: 'platform' }))).toBe('invalid_wallet');
    expect(rejectionOf(purchase('p1', { wallet: { type: 'team' } }))).toBe('missing_field');
    expect(rejectionOf(purchase('p1', { wallet: { type: 'team', id: '' } }))).toBe('invalid_field');
    expect(rowOf(purchase('p1', { wallet: { type: 'contract', id: 'apac' } })).wallet_type).toBe('contract');
  });
});

describe('a usage', () => {
  it('defaults service to product', () => {
    expect(rowOf(usage('u1')).service).toBe('compiler');
    expect(rowOf(usage('u1', { service: 'linker' })).service).toBe('linker');
  });

  it('needs a user, a product and a positive amount', () => {
    const { user_id: _u, ...noUser } = usage('u1');
    expect(rejectionOf(noUser)).toBe('missing_field');
    const { product: _p, ...noProduct } = usage('u1');
    expect(rejectionOf(noProduct)).toBe('missing_field');
    expect(rejectionOf(usage('u1', { amount: 0 }))).toBe('amount_not_positive');
    expect(rejectionOf(usage('u1', { amount: '1e2' }))).toBe('invalid_amount');
    expect(rejectionOf(usage('u1', { amount: '2000000000000' }))).toBe('amount_too_large');
  });
});

describe('a move', () => {
  it('may omit lot_id and amount', () => {
    const row = rowOf(move('m1'));
    expect(row).toMatchObject({ wallet_id: 'platform', to_wallet_id: 'mobile' });
    expect(row.amount).toBeUndefined();
    expect(row.lot_id).toBeUndefined();
    expect(rowOf(move('m2', { lot_id: 'p1', amount: '5' }))).toMatchObject({ lot_id: 'p1', amount: '5' });
  });

  it('stays within one wallet type', () => {
    expect(rejectionOf(move('m1', { to: { type: 'contract', id: 'apac' } }))).toBe('wallet_type_mismatch');
  });

  it('stays within one account', () => {
    expect(rejectionOf(move('m1', { to: { type: 'team', id: 'mobile', account_id: 'globex' } }))).toBe('cross_account_move');
    expect(rowOf(move('m1', { to: { type: 'team', id: 'mobile', account_id: 'acme' } })).to_wallet_id).toBe('mobile');
  });

  it('goes between two different wallets', () => {
    expect(rejectionOf(move('m1', { to: { type: 'team', id: 'platform' } }))).toBe('same_wallet_move');
  });

  it('refuses a negative or over-precise amount', () => {
    expect(rejectionOf(move('m1', { amount: -1 }))).toBe('amount_not_positive');
    expect(rejectionOf(move('m1', { amount: '0.00001' }))).toBe('too_many_decimals');
  });
});

describe('a void', () => {
  it('names the event it removes', () => {
    expect(rowOf(voidOf('v1', 'u1')).voids_event_id).toBe('u1');
    const { voids_event_id: _, ...noTarget } = voidOf('v1', 'u1');
    expect(rejectionOf(noTarget)).toBe('missing_field');
    expect(rejectionOf(voidOf('v1', 'v1'))).toBe('invalid_field');
  });
});

describe('decoding raw messages', () => {
  it('refuses text that is not JSON', () => {
    expect(decodeEvent('not json', ctx)).toMatchObject({ ok: false, code: 'invalid_json' });
    expect(decodeEvent('', ctx)).toMatchObject({ ok: false, code: 'invalid_json' });
  });

  it('refuses an amount written as a JSON number with an exponent', () => {
    const text = JSON.stringify(usage('u1')).replace('"2.5"', '25e-1');
    expect(decodeEvent(text, ctx)).toMatchObject({ ok: false, code: 'invalid_amount', event_id: 'u1' });
  });

  it('is not fooled by an exponent-like string value', () => {
    const text = JSON.stringify(usage('u1e5', { user_id: 'dev9e9', product: '1e3' }));
    expect(decodeEvent(text, ctx).ok).toBe(true);
  });

  it('accepts an event whose unknown field holds a number with an exponent', () => {
    const text = JSON.stringify({ ...usage('u1'), note: 1 }).replace('"note":1', '"note":1e3');
    expect(decodeEvent(text, ctx)).toMatchObject({ ok: true, row: { amount: '2.5' } });
  });

  it('reports the identity it could read from a refused event', () => {
    expect(decodeEvent(JSON.stringify(usage('u7', { amount: -1 })), ctx)).toMatchObject({ account_id: 'acme', event_id: 'u7' });
  });
});
