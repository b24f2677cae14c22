import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { walletKey, type UsageSegment, type WalletKey } from '../../ledger/ledger.js';
import { AccountUsage } from '../../readmodels/accountUsage.js';
import { units } from '../support/reference.js';

/** The ledger's usage per segment, summed one event at a time: what `AccountUsage.segments` must answer. */
function reference(events: Array<{ wallet: WalletKey; at: number; amount: string }>, wallets: WalletKey[], at: number, points: Map<WalletKey, number[]>, instants: Map<WalletKey, Set<number>>): UsageSegment[] | undefined {
  const segments: UsageSegment[] = [];
  for (const wallet of wallets) {
    const list = points.get(wallet) ?? [];
    const sums = new Map<number, bigint>();
    for (const e of events) {
      if (e.wallet !== wallet || e.at > at) continue;
      if (instants.get(wallet)?.has(e.at)) return undefined;
      const seg = list.filter((p) => p <= e.at).length;
      sums.set(seg, (sums.get(seg) ?? 0n) + units(e.amount));
    }
    for (let seg = 0; seg <= list.length; seg++) {
      const amount = sums.get(seg) ?? 0n;
      if (amount === 0n) continue;
      segments.push({ wallet, from: seg === 0 ? Number.MIN_SAFE_INTEGER : (list[seg - 1] as number), to: seg >= list.length ? Number.MAX_SAFE_INTEGER : (list[seg] as number), amount });
    }
  }
  return segments;
}

const WALLETS = [walletKey('team', 'a'), walletKey('team', 'b'), walletKey('contract', 'c')];

describe('usage per segment from memory', () => {
  it('sums every event before the instant into the segment its breakpoints put it in, and gives up on an event at a move instant', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ wallet: fc.constantFrom(...WALLETS), at: fc.integer({ min: 0, max: 100 }), amount: fc.integer({ min: 1, max: 99_999_999 }).map((n) => (n / 10_000).toFixed(4)) }), { maxLength: 80 }),
        fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 2 }),
        fc.integer({ min: 0, max: 110 }),
        (events, breakpoints, moveInstants, at) => {
          const usage = new AccountUsage();
          // Arrival order is not time order: the columns put late arrivals in place.
          usage.apply(
            events.map((e, i) => {
              const w = e.wallet.split('/');
              return ['u', `e${i}`, String(e.at), String(i), w[0] as string, w[1] as string, 'ada', 'compiler', 'build', e.amount];
            }),
            Number.MAX_SAFE_INTEGER,
          );
          const sorted = [...breakpoints].sort((x, y) => x - y);
          const points = new Map(WALLETS.map((w) => [w, sorted]));
          const instants = new Map([[WALLETS[0] as WalletKey, new Set(moveInstants)]]);
          expect(usage.segments(WALLETS, at, points, instants)).toEqual(reference(events, WALLETS, at, points, instants));
        },
      ),
      { numRuns: 300 },
    );
  });
});
