import type { ExpiringLot, WalletRow } from './api';
import { walletKey, walletLabel } from './api';
import { compareAmounts, percentOf, toScaled } from './amount';
import type { ViewState } from './urlState';

// One collator for every comparison: `localeCompare` with options builds a new one per call.
const collator = new Intl.Collator(undefined, { numeric: true });

/** "Runs out within 30 days", as the `runs_out` alert counts it (ALERT_RUNS_OUT_DAYS). */
export const RUNS_OUT_SOON_DAYS = 30;

/** The instant the wallet runs out at the current pace, in epoch ms; infinity when it does not. */
export function runsOutAt(row: WalletRow): number {
  return row.runs_out_at === null ? Number.POSITIVE_INFINITY : Date.parse(row.runs_out_at);
}

export function runsOutSoon(row: WalletRow, now = Date.now()): boolean {
  return runsOutAt(row) - now <= RUNS_OUT_SOON_DAYS * 86_400_000;
}

/**
 * What a wallet's forecast and history are read from: its balance and burn rate. `runs_out_at`
 * and `projected_unused_total` are left out: a forecast runs from the moment it is read, so they
 * move on with the clock while nothing else changes.
 */
export function balanceSignature(row: WalletRow | undefined): string {
  return row ? [row.total, row.used, row.available, row.overage, row.burn_rate_per_day].join('|') : '';
}

/** Every wallet's signature: it changes when an event changed some wallet's balance or rate. */
export const walletsSignature = (rows: readonly WalletRow[]) => rows.map((row) => `${walletKey(row.wallet)}=${balanceSignature(row)}`).join(';');

/** The wallets the toolbar asks for: searched by name or id, filtered, then sorted. */
export function selectWallets(rows: WalletRow[], view: ViewState, nextExpiry: Map<string, ExpiringLot>, now = Date.now()): WalletRow[] {
  const needle = view.q.trim().toLowerCase();
  const selected = rows.filter((row) => {
    if (needle && !walletLabel(row).toLowerCase().includes(needle) && !row.wallet.id.toLowerCase().includes(needle)) return false;
    if (view.filters.includes('red') && row.status !== 'red') return false;
    if (view.filters.includes('expiring') && toScaled(row.expiring_within_90d) <= 0n) return false;
    if (view.filters.includes('overage') && toScaled(row.overage) <= 0n) return false;
    if (view.filters.includes('runs-out') && !runsOutSoon(row, now)) return false;
    return true;
  });
  const byName = (a: WalletRow, b: WalletRow) => collator.compare(walletLabel(a), walletLabel(b)) || collator.compare(walletKey(a.wallet), walletKey(b.wallet));
  const expiry = (row: WalletRow) => nextExpiry.get(walletKey(row.wallet))?.days_left ?? Number.POSITIVE_INFINITY;
  const comparators: Record<ViewState['sort'], (a: WalletRow, b: WalletRow) => number> = {
    name: byName,
    available: (a, b) => percentOf(a.available, a.total) - percentOf(b.available, b.total) || byName(a, b),
    expiry: (a, b) => expiry(a) - expiry(b) || byName(a, b),
    // Infinity − Infinity is NaN: two wallets that never run out fall through to their names.
    'runs-out': (a, b) => runsOutAt(a) - runsOutAt(b) || byName(a, b),
    overage: (a, b) => compareAmounts(b.overage, a.overage) || byName(a, b),
    total: (a, b) => compareAmounts(b.total, a.total) || byName(a, b),
  };
  return selected.sort(comparators[view.sort]);
}
