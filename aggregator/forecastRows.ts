import { formatScaled } from '../core/decimal.js';
import { walletOf, type WalletKey } from '../ledger/ledger.js';
import type { AccountForecast } from '../readmodels/forecasts.js';
import { clickhouseTime } from './balanceRows.js';
import type { DailyBalances } from './dailyBalances.js';

/**
 * The forecast and the daily closing balances as rows of their tables (migration 029), every
 * amount as exact decimal text. Pure, so a test can compare the tables with the ledger's
 * forecast row for row.
 */

export interface WalletForecastRow {
  account_id: string;
  wallet_type: string;
  wallet_id: string;
  name: string;
  at: string;
  window_days: number;
  burn_rate_per_day: string;
  runs_out_at: string | null;
  projected_unused_total: string;
}

export interface LotForecastRow {
  account_id: string;
  wallet_type: string;
  wallet_id: string;
  lot_id: string;
  part: number;
  expires_at: string;
  projected_unused: string;
}

export interface DailyBalanceRow {
  account_id: string;
  wallet_type: string;
  wallet_id: string;
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  total: string;
  used: string;
  available: string;
  expired: string;
  overage: string;
}

export interface ForecastRows {
  wallets: WalletForecastRow[];
  lots: LotForecastRow[];
}

export function forecastRowsOf(accountId: string, account: AccountForecast, names: ReadonlyMap<WalletKey, string>): ForecastRows {
  const { at, windowDays } = account;
  const wallets: WalletForecastRow[] = [];
  const lots: LotForecastRow[] = [];
  for (const { wallet, ratePerDay, forecast } of account.wallets.values()) {
    const { type, id } = walletOf(wallet);
    wallets.push({
      account_id: accountId,
      wallet_type: type,
      wallet_id: id,
      name: names.get(wallet) ?? id,
      at: clickhouseTime(at),
      window_days: windowDays,
      burn_rate_per_day: formatScaled(ratePerDay),
      runs_out_at: forecast.runsOutAt === null ? null : clickhouseTime(forecast.runsOutAt),
      projected_unused_total: formatScaled(forecast.projectedUnusedTotal),
    });
    // Two lots of a wallet may share a lot_id (a part moved back, or two purchases naming one).
    const parts = new Map<string, number>();
    for (const lot of forecast.expiringUnused) {
      const part = parts.get(lot.lotId) ?? 0;
      parts.set(lot.lotId, part + 1);
      lots.push({
        account_id: accountId,
        wallet_type: type,
        wallet_id: id,
        lot_id: lot.lotId,
        part,
        expires_at: clickhouseTime(lot.expiresAt),
        projected_unused: formatScaled(lot.projectedUnused),
      });
    }
  }
  return { wallets, lots };
}

export function dailyBalanceRowsOf(accountId: string, days: readonly DailyBalances[]): DailyBalanceRow[] {
  const rows: DailyBalanceRow[] = [];
  for (const { day, wallets } of days) {
    const date = new Date(day).toISOString().slice(0, 10);
    for (const balance of wallets.values()) {
      const { type, id } = walletOf(balance.wallet);
      rows.push({
        account_id: accountId,
        wallet_type: type,
        wallet_id: id,
        day: date,
        total: formatScaled(balance.total),
        used: formatScaled(balance.used),
        available: formatScaled(balance.available),
        expired: formatScaled(balance.expired),
        overage: formatScaled(balance.overage),
      });
    }
  }
  return rows;
}
