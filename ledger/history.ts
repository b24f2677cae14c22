/**
 * Balances at many instants (a wallet's daily closing balances) from one ledger input, in one
 * pass where the history allows it: each instant's balance is the one `computeLedger` gives at
 * that instant (SPEC section 3, "balance at time T"), without a ledger run per instant.
 */
import { computeLedger, type LedgerInput, type WalletBalance, type WalletKey } from './ledger.js';

/**
 * Each wallet's balance at each instant, as `computeLedger({ ...input, at: instant })` reports
 * it, by instant ascending. Usage segments must not span any `instant + 1` (see
 * `LedgerInput.checkpoints`).
 *
 * One pass answers them all, except that a lot backdated (effective before it was purchased)
 * is drawn from before its purchase in a later ledger, never in one at an instant before the
 * purchase: instants are run in groups that see the same backdated lots, one pass per group.
 */
export function balancesAtInstants(input: Omit<LedgerInput, 'at' | 'checkpoints'>, wallets: readonly WalletKey[], instants: readonly number[]): Array<{ at: number; wallets: Map<WalletKey, WalletBalance> }> {
  const sorted = [...new Set(instants)].sort((a, b) => a - b);
  const backdated = input.lots.filter((l) => l.effectiveAt < l.occurredAt && !input.voided.has(l.eventId));
  const seen = (t: number) => backdated.filter((l) => l.occurredAt <= t).length;
  const results: Array<{ at: number; wallets: Map<WalletKey, WalletBalance> }> = [];
  for (let first = 0; first < sorted.length; ) {
    const visible = seen(sorted[first] as number);
    let last = first;
    while (last + 1 < sorted.length && seen(sorted[last + 1] as number) === visible) last++;
    const group = sorted.slice(first, last + 1);
    const from = group[0] as number;
    const lots = input.lots.filter((l) => !(l.effectiveAt < l.occurredAt && l.occurredAt > from));
    const ledger = computeLedger({ ...input, lots, at: group[group.length - 1] as number, checkpoints: { wallets, instants: group } });
    results.push(...(ledger.checkpoints ?? []));
    first = last + 1;
  }
  return results;
}
