import { formatScaled } from '../core/decimal.js';
import { DAY_MS, walletOf, type LedgerResult, type WalletKey } from '../ledger/ledger.js';

/**
 * Alerts as a pure function of a ledger: `low_balance` for every wallet whose status is red,
 * `expiring` for every wallet with something left in lots that expire within 90 days.
 */
export interface Alert {
  /** Stable identity of the alert: its type and wallet. */
  key: string;
  type: 'low_balance' | 'expiring';
  wallet: { type: string; id: string };
  details: Record<string, unknown>;
}

const EXPIRY_WINDOW_DAYS = 90;

export function alertsOf(ledger: LedgerResult): Alert[] {
  const alerts: Alert[] = [];
  const horizon = ledger.at + EXPIRY_WINDOW_DAYS * DAY_MS;
  const expiringLots = new Map<WalletKey, typeof ledger.lots>();
  for (const lot of ledger.lots) {
    if (lot.hasExpired || lot.remaining <= 0n || lot.expiresAt > horizon) continue;
    expiringLots.set(lot.wallet, [...(expiringLots.get(lot.wallet) ?? []), lot]);
  }
  for (const [key, balance] of [...ledger.wallets].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (balance.status === 'red') {
      alerts.push({
        key: `low_balance/${key}`,
        type: 'low_balance',
        wallet: walletOf(key),
        details: {
          total: formatScaled(balance.total),
          available: formatScaled(balance.available),
          overage: formatScaled(balance.overage),
        },
      });
    }
    const lots = (expiringLots.get(key) ?? []).sort((a, b) => a.expiresAt - b.expiresAt);
    if (lots.length > 0) {
      const first = lots[0] as (typeof lots)[number];
      alerts.push({
        key: `expiring/${key}`,
        type: 'expiring',
        wallet: walletOf(key),
        details: {
          amount: formatScaled(lots.reduce((s, l) => s + l.remaining, 0n)),
          expires_at: new Date(first.expiresAt).toISOString(),
          days_left: Math.max(0, Math.ceil((first.expiresAt - ledger.at) / DAY_MS)),
          lots: lots.map((l) => ({
            lot_id: l.lotId,
            remaining: formatScaled(l.remaining),
            expires_at: new Date(l.expiresAt).toISOString(),
            days_left: Math.max(0, Math.ceil((l.expiresAt - ledger.at) / DAY_MS)),
          })),
        },
      });
    }
  }
  return alerts;
}
