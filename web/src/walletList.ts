import type { ExpiringLot, WalletRow } from './api';
import { walletKey, walletLabel } from './api';
import { compareAmounts, percentOf, toScaled } from './amount';
import type { ViewState } from './urlState';

// One collator for every comparison: `localeCompare` with options builds a new one per call.
const collator = new Intl.Collator(undefined, { numeric: true });

/** The wallets the toolbar asks for: searched by name or id, filtered, then sorted. */
export function selectWallets(rows: WalletRow[], view: ViewState, nextExpiry: Map<string, ExpiringLot>): WalletRow[] {
  const needle = view.q.trim().toLowerCase();
  const selected = rows.filter((row) => {
    if (needle && !walletLabel(row).toLowerCase().includes(needle) && !row.wallet.id.toLowerCase().includes(needle)) return false;
    if (view.filters.includes('red') && row.status !== 'red') return false;
    if (view.filters.includes('expiring') && toScaled(row.expiring_within_90d) <= 0n) return false;
    if (view.filters.includes('overage') && toScaled(row.overage) <= 0n) return false;
    return true;
  });
  const byName = (a: WalletRow, b: WalletRow) => collator.compare(walletLabel(a), walletLabel(b)) || collator.compare(walletKey(a.wallet), walletKey(b.wallet));
  const expiry = (row: WalletRow) => nextExpiry.get(walletKey(row.wallet))?.days_left ?? Number.POSITIVE_INFINITY;
  const comparators: Record<ViewState['sort'], (a: WalletRow, b: WalletRow) => number> = {
    name: byName,
    available: (a, b) => percentOf(a.available, a.total) - percentOf(b.available, b.total) || byName(a, b),
    expiry: (a, b) => expiry(a) - expiry(b) || byName(a, b),
    overage: (a, b) => compareAmounts(b.overage, a.overage) || byName(a, b),
    total: (a, b) => compareAmounts(b.total, a.total) || byName(a, b),
  };
  return selected.sort(comparators[view.sort]);
}
