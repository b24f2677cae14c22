import { formatScaled } from '../core/decimal.js';
import { DAY_MS, walletOf, type LedgerResult, type WalletKey } from '../ledger/ledger.js';
import type { AccountForecast } from './forecasts.js';

/**
 * Alerts as a pure function of a ledger and its forecast: `low_balance` for every wallet whose
 * status is red, `expiring` for every wallet with something left in lots that expire within 90
 * days; with a forecast, `runs_out` for every wallet that runs out within `runsOutDays` at its
 * burn rate, and `expiring_unused` for every wallet with a lot expiring within 90 days that the
 * projection leaves something in.
 */
export interface Alert {
  /** Stable identity of the alert: its type and wallet. */
  key: string;
  type: 'low_balance' | 'expiring' | 'runs_out' | 'expiring_unused';
  wallet: { type: string; id: string };
  details: Record<string, unknown>;
}

const EXPIRY_WINDOW_DAYS = 90;
/** `ALERT_RUNS_OUT_DAYS`' default. */
export const DEFAULT_RUNS_OUT_DAYS = 30;

export interface ForecastAlertOptions {
  forecast: AccountForecast;
  /** A wallet that runs out within this many days of the forecast's instant is alerted. */
  runsOutDays: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const daysLeft = (until: number, from: number) => Math.max(0, Math.ceil((until - from) / DAY_MS));

export function alertsOf(ledger: LedgerResult, forecasts?: ForecastAlertOptions): Alert[] {
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
          expires_at: iso(first.expiresAt),
          days_left: daysLeft(first.expiresAt, ledger.at),
          lots: lots.map((l) => ({
            lot_id: l.lotId,
            remaining: formatScaled(l.remaining),
            expires_at: iso(l.expiresAt),
            days_left: daysLeft(l.expiresAt, ledger.at),
          })),
        },
      });
    }
    if (forecasts) alerts.push(...forecastAlerts(key, balance.available, forecasts));
  }
  return alerts;
}

/** A wallet's `runs_out` and `expiring_unused` alerts, keyed by type and wallet like the others. */
function forecastAlerts(key: WalletKey, available: bigint, { forecast, runsOutDays }: ForecastAlertOptions): Alert[] {
  const row = forecast.wallets.get(key);
  if (!row) return [];
  const alerts: Alert[] = [];
  const { runsOutAt, expiringUnused } = row.forecast;
  if (runsOutAt !== null && runsOutAt <= forecast.at + runsOutDays * DAY_MS) {
    alerts.push({
      key: `runs_out/${key}`,
      type: 'runs_out',
      wallet: walletOf(key),
      details: {
        runs_out_at: iso(runsOutAt),
        days_left: daysLeft(runsOutAt, forecast.at),
        burn_rate_per_day: formatScaled(row.ratePerDay),
        available: formatScaled(available),
      },
    });
  }
  const horizon = forecast.at + EXPIRY_WINDOW_DAYS * DAY_MS;
  const lots = expiringUnused.filter((l) => l.expiresAt <= horizon);
  const first = lots[0];
  if (first) {
    alerts.push({
      key: `expiring_unused/${key}`,
      type: 'expiring_unused',
      wallet: walletOf(key),
      details: {
        projected_unused: formatScaled(lots.reduce((s, l) => s + l.projectedUnused, 0n)),
        expires_at: iso(first.expiresAt),
        days_left: daysLeft(first.expiresAt, forecast.at),
        lots: lots.map((l) => ({ lot_id: l.lotId, projected_unused: formatScaled(l.projectedUnused), expires_at: iso(l.expiresAt), days_left: daysLeft(l.expiresAt, forecast.at) })),
      },
    });
  }
  return alerts;
}
