import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { breakpointsByWallet, computeLedger, segmentUsage, type LedgerInput, type WalletKey } from './ledger.js';
import { balancesAtInstants } from './history.js';
import { historyArb, ledgerInputOf, BASE, HOUR } from '../test/support/histories.js';

/** The same input with usage summed into segments that end at every instant + 1 ms, as storage sums it for a history. */
function segmentedFor(input: LedgerInput, instants: number[]): LedgerInput {
  const breakpoints = breakpointsByWallet(input.lots, input.moves, input.at);
  // Every wallet with usage gets the instants, lots or not.
  for (const wallet of new Set([...breakpoints.points.keys(), ...input.usageEvents.map((u) => u.wallet)])) {
    breakpoints.points.set(wallet, [...new Set([...(breakpoints.points.get(wallet) ?? []), ...instants.map((t) => t + 1)])].sort((a, b) => a - b));
  }
  const kept = input.usageEvents.filter((u) => !input.voided.has(u.eventId) && u.at <= input.at);
  return { ...input, ...segmentUsage(kept, breakpoints) };
}

describe('balances at many instants in one pass', () => {
  it('equal the ledger run at each instant, for every wallet, over 1,000 random histories (backdated lots and moves included)', () => {
    fc.assert(
      fc.property(historyArb(), fc.array(fc.integer({ min: -24, max: 24 * 40 }), { minLength: 1, maxLength: 12 }), (history, hours) => {
        const instants = [...new Set([...hours.map((h) => BASE + h * HOUR - (h % 2) * 1), ...history.instants])].sort((a, b) => a - b);
        const last = instants[instants.length - 1] as number;
        const everything = ledgerInputOf(history.delivered, last, 'events');
        const wallets = [...new Set([...everything.lots.map((l) => l.wallet), ...everything.moves.flatMap((m) => [m.from, m.to]), ...everything.usageEvents.map((u) => u.wallet)])] as WalletKey[];
        for (const input of [everything, segmentedFor(everything, instants)]) {
          const { at: _at, ...rest } = input;
          const answers = balancesAtInstants(rest, wallets, instants);
          expect(answers.map((a) => a.at)).toEqual(instants);
          for (const answer of answers) {
            const alone = computeLedger(ledgerInputOf(history.delivered, answer.at, 'events'));
            for (const wallet of wallets) {
              const expected = alone.wallets.get(wallet) ?? { wallet, total: 0n, used: 0n, available: 0n, status: 'red', overage: 0n, expired: 0n, expiringWithin90d: 0n };
              expect(answer.wallets.get(wallet), `${wallet} at ${new Date(answer.at).toISOString()}`).toEqual(expected);
            }
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
