import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeLedger, type LedgerResult, type WalletKey } from './ledger.js';
import { historyArb, ledgerInputOf } from '../test/support/histories.js';
import { expiringLots, replay, type RefResult } from '../test/support/reference.js';

function sumsByWalletAndType(events: Array<{ type: string; wallet: string; amount: bigint }>) {
  const sums = new Map<string, bigint>();
  for (const e of events) sums.set(`${e.wallet} ${e.type}`, (sums.get(`${e.wallet} ${e.type}`) ?? 0n) + e.amount);
  for (const [k, v] of sums) if (v === 0n) sums.delete(k);
  return sums;
}

function expectSameAsReference(ledger: LedgerResult, reference: RefResult, at: number) {
  for (const [wallet, ref] of reference.wallets) {
    // The reference spells a wallet's key as the ledger does: `type/id`.
    const ours = ledger.wallets.get(wallet as WalletKey);
    expect(ours, wallet).toBeDefined();
    expect({ wallet, total: ours?.total, used: ours?.used, available: ours?.available, status: ours?.status, overage: ours?.overage, expired: ours?.expired }).toEqual({
      wallet,
      ...ref,
    });
  }
  expect(sumsByWalletAndType(ledger.tokenEvents)).toEqual(sumsByWalletAndType(reference.tokenEvents));
  const lotKey = (l: { wallet: string; lotId: string; amount: bigint; consumed: bigint; movedOut: bigint; expired: bigint }) =>
    `${l.wallet}|${l.lotId}|${l.amount}|${l.consumed}|${l.movedOut}|${l.expired}`;
  expect(ledger.lots.map(lotKey).sort()).toEqual(reference.lots.map(lotKey).sort());
  const expiring = (rows: Array<{ wallet: string; lotId: string; remaining: bigint; expiresAt: number }>) =>
    rows.map((r) => `${r.wallet}|${r.lotId}|${r.remaining}|${r.expiresAt}`).sort();
  expect(expiring(ledger.lots.filter((l) => !l.hasExpired && l.remaining > 0n && l.expiresAt <= at + 90 * 86_400_000))).toEqual(
    expiring(expiringLots(reference, at, 90)),
  );
}

function expectInvariants(ledger: LedgerResult, usageTotal: bigint) {
  let purchased = 0n;
  let remaining = 0n;
  let consumed = 0n;
  let expired = 0n;
  for (const lot of ledger.lots) {
    expect(lot.amount).toBe(lot.consumed + lot.movedOut + lot.expired + lot.remaining);
    for (const part of [lot.consumed, lot.movedOut, lot.expired, lot.remaining]) expect(part >= 0n).toBe(true);
    if (lot.moveEventId === undefined) purchased += lot.amount;
    remaining += lot.remaining;
    consumed += lot.consumed;
    expired += lot.expired;
  }
  expect(purchased).toBe(remaining + consumed + expired);
  const overage = [...ledger.wallets.values()].reduce((s, w) => s + w.overage, 0n);
  expect(usageTotal).toBe(consumed + overage);
}

describe('the ledger agrees with a one-by-one replay of the SPEC rules', () => {
  it('on every balance, lot, token event and expiring lot, at random instants, for 1,000 random histories', () => {
    fc.assert(
      fc.property(historyArb(), (history) => {
        for (const at of history.instants) {
          const reference = replay(history.delivered, at);
          for (const mode of ['events', 'segments'] as const) {
            const ledger = computeLedger(ledgerInputOf(history.delivered, at, mode));
            expectSameAsReference(ledger, reference, at);
            expectInvariants(ledger, reference.usageTotal);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('whatever the arrival order and redelivery', () => {
    fc.assert(
      fc.property(historyArb(), fc.integer({ min: 0, max: 1000 }), (history, seed) => {
        const at = history.instants[0] as number;
        const reversed = [...history.delivered].reverse();
        const rotated = [...history.delivered.slice(seed % history.delivered.length), ...history.delivered.slice(0, seed % history.delivered.length)];
        const a = computeLedger(ledgerInputOf(history.delivered, at, 'segments'));
        for (const order of [reversed, rotated]) {
          const b = computeLedger(ledgerInputOf(order, at, 'segments'));
          expect([...b.wallets.entries()].sort()).toEqual([...a.wallets.entries()].sort());
        }
      }),
      { numRuns: 300 },
    );
  });
});
