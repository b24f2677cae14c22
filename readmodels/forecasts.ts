import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { cachePolicy } from '../core/cache.js';
import { field, jsonQuery, param, read } from '../core/query.js';
import { toScaled } from '../core/decimal.js';
import { DAY_MS, walletKey, walletOf, type LedgerResult, type WalletKey } from '../ledger/ledger.js';
import { burnRatePerDay, forecastLotsOf, forecastWallet, type ForecastLot, type WalletForecast } from '../ledger/forecast.js';
import { suggestMoves, type MoveSuggestion } from '../ledger/suggestions.js';
import type { AccountUsage } from './accountUsage.js';
import type { BalanceService } from './balances.js';
import type { UsageIndex } from './usageIndex.js';
import { scaledOf } from './exactSums.js';
import { voidedUsageRows } from './voidedUsage.js';

/**
 * Forecasts (SPEC section 5) of an account's wallets from its current ledger: each wallet's
 * burn rate over a window of past days, and its lots projected forward at that rate
 * (`ledger/forecast.ts`); suggested moves between wallets of one type (`ledger/suggestions.ts`).
 * The API answers from `ForecastService`; the aggregator writes tables from `forecastsOf`.
 */

export const DEFAULT_WINDOW_DAYS = 28;
export const MIN_WINDOW_DAYS = 7;
export const MAX_WINDOW_DAYS = 365;

const SECOND_MS = 1_000;

export interface WalletForecastRow {
  wallet: WalletKey;
  /** `burn_rate_per_day`, scaled by 10^4. */
  ratePerDay: bigint;
  /** Its lots with something left at `at`. */
  lots: ForecastLot[];
  forecast: WalletForecast;
}

export interface AccountForecast {
  /** The instant the projection runs from, a whole second; the window ends there. */
  at: number;
  windowDays: number;
  /** Every wallet of the ledger. */
  wallets: Map<WalletKey, WalletForecastRow>;
}

/** The whole second at or before `ms`: instants are answered to the second. */
export const wholeSecond = (ms: number) => Math.floor(ms / SECOND_MS) * SECOND_MS;

/**
 * Every wallet's forecast from a ledger and each wallet's non-voided usage in the window
 * `[at − windowDays, at)` (`usageInWindow`), projected from `at`: by default the ledger's
 * instant, to the second.
 */
export function forecastsOf(ledger: LedgerResult, usageByWallet: ReadonlyMap<WalletKey, bigint>, windowDays: number, at = wholeSecond(ledger.at)): AccountForecast {
  const lotsByWallet = lotsOf(ledger);
  const wallets = new Map<WalletKey, WalletForecastRow>();
  for (const wallet of ledger.wallets.keys()) wallets.set(wallet, walletForecastOf(wallet, lotsByWallet.get(wallet) ?? [], usageByWallet, windowDays, at));
  return { at, windowDays, wallets };
}

function walletForecastOf(wallet: WalletKey, lots: ForecastLot[], usageByWallet: ReadonlyMap<WalletKey, bigint>, windowDays: number, at: number): WalletForecastRow {
  const ratePerDay = burnRatePerDay(usageByWallet.get(wallet) ?? 0n, windowDays);
  return { wallet, ratePerDay, lots, forecast: forecastWallet(lots, ratePerDay, at) };
}

/** Each wallet's lots with something left, read once per snapshot (its lots array names it). */
const lotsBySnapshot = new WeakMap<LedgerResult['lots'], Map<WalletKey, ForecastLot[]>>();
function lotsOf(ledger: LedgerResult): Map<WalletKey, ForecastLot[]> {
  let lots = lotsBySnapshot.get(ledger.lots);
  // A snapshot's answers differ only in `at`; lots ending at or before it are skipped when projected.
  if (!lots) lotsBySnapshot.set(ledger.lots, (lots = forecastLotsOf(ledger)));
  return lots;
}

/** Suggested moves among the account's wallets, one type after the other (a move stays within a type). */
export function suggestionsOf(forecast: AccountForecast, walletType?: string): MoveSuggestion[] {
  const byType = new Map<string, Array<{ wallet: WalletKey; lots: ForecastLot[]; ratePerDay: bigint }>>();
  for (const row of forecast.wallets.values()) {
    const type = walletOf(row.wallet).type;
    if (walletType !== undefined && type !== walletType) continue;
    let list = byType.get(type);
    if (!list) byType.set(type, (list = []));
    list.push({ wallet: row.wallet, lots: row.lots, ratePerDay: row.ratePerDay });
  }
  return [...byType.keys()].sort().flatMap((type) => suggestMoves(byType.get(type) ?? [], forecast.at));
}

/** The window of a forecast at `at`: `[at − windowDays days, at)`. */
export function windowOf(at: number, windowDays: number): { from: number; to: number } {
  return { from: at - windowDays * DAY_MS, to: at };
}

/**
 * Each wallet's non-voided usage in `[from, to)`, scaled by 10^4; a wallet without any is
 * absent. From the account's usage in memory when given, else one query.
 */
export async function usageInWindow(store: Store, accountId: string, from: number, to: number, memory?: AccountUsage): Promise<Map<WalletKey, bigint>> {
  const sums = new Map<WalletKey, bigint>();
  if (memory) {
    for (const [wallet, usage] of memory.wallets) {
      const [first, end] = usage.range(from, to);
      let hi = 0;
      let lo = 0;
      for (let i = first; i < end; i++) {
        hi += usage.hi.data[i] as number;
        lo += usage.lo.data[i] as number;
      }
      const amount = scaledOf(hi, lo);
      if (amount !== 0n) sums.set(wallet, amount);
    }
    return sums;
  }
  const firstDay = Math.ceil(from / DAY_MS) * DAY_MS;
  const endDay = Math.floor(to / DAY_MS) * DAY_MS;
  const wholeDays = firstDay < endDay;
  const rows = await read(store, usageByWalletQuery, {
    account: accountId,
    from,
    to,
    // Without a whole day inside, the raw part covers the range alone.
    firstDay: wholeDays ? firstDay : to,
    endDay: wholeDays ? endDay : to,
  });
  for (const row of rows) sums.set(walletKey(row.wt, row.wi), toScaled(row.amount));
  return sums;
}

const instant = (name: string) => `fromUnixTimestamp64Milli({${name}:Int64}, 'UTC')`;

/**
 * Usage per wallet of an account in `[from, to)`: whole UTC days in `[firstDay, endDay)` from
 * the daily wallet rollup, the partial days at either end from the time-ordered usage copy, and
 * the voided usage of the range subtracted (both count every stored event, less the pairings
 * the old views netted: `voidedUsageRows`). One query: chDB spends 4–5 ms analysing each.
 */
const usageByWalletQuery = jsonQuery({
  name: 'forecasts.usage_by_wallet',
  params: z.object({ account: param.account, from: param.millis, to: param.millis, firstDay: param.millis, endDay: param.millis }),
  sql: (t) =>
    `SELECT wt, wi, toString(sum(a)) AS amount FROM (
       SELECT toString(wallet_type) AS wt, wallet_id AS wi, toDecimal128(amount, 4) AS a FROM ${t.table('usage_wallet_daily_v1')}
       WHERE account_id = {account:String}
         AND day >= toDate(${instant('firstDay')}) AND day < toDate(${instant('endDay')})
       UNION ALL
       SELECT toString(wallet_type), wallet_id, toDecimal128(amount, 4) FROM ${t.table('usage_by_time_v1')}
       WHERE account_id = {account:String}
         AND ((occurred_at >= ${instant('from')} AND occurred_at < ${instant('firstDay')})
              OR (occurred_at >= ${instant('endDay')} AND occurred_at < ${instant('to')}))
       UNION ALL
       SELECT toString(wallet_type), wallet_id, -toDecimal128(amount, 4)
       FROM ${voidedUsageRows(t, `account_id = {account:String} AND occurred_at >= ${instant('from')} AND occurred_at < ${instant('to')}`)})
     GROUP BY wt, wi
     HAVING sum(a) != 0
     SETTINGS compile_expressions = 0, compile_aggregate_expressions = 0`,
  rows: z.object({ wt: field.text, wi: field.text, amount: field.decimal }),
});

interface CachedForecast {
  /** The snapshot it was computed from: its lots, unchanged while the snapshot stands. */
  lots: LedgerResult['lots'];
  at: number;
  forecast: Promise<AccountForecast>;
}

interface CachedSuggestions {
  lots: LedgerResult['lots'];
  at: number;
  /** By wallet type asked for ('' for all). */
  byType: Map<string, MoveSuggestion[]>;
}

interface CachedUsage {
  lots: LedgerResult['lots'];
  /** The window's end; summed from memory, the sums serve that second only. */
  at: number;
  fromMemory: boolean;
  sums: Promise<Map<WalletKey, bigint>>;
}

/**
 * Forecasts of the current ledger (`BalanceService.current`), kept with its snapshot, and
 * projected once per second. The window's usage is summed each second from memory when the
 * account's usage is held there (a pass over the window's entries); otherwise in one query, once
 * per snapshot and window, so its window may end up to a snapshot's life (`FRESHNESS_MS`, 30 s)
 * before the forecast's instant, as a snapshot's balances are that old at most. Suggested moves, which re-project receivers
 * for every offer (a few hundred milliseconds for 1,000 wallets that all run out), are made
 * once per snapshot, from the forecast of the second they were first asked for, and say so.
 */
export class ForecastService {
  private readonly forecasts: LRUCache<string, CachedForecast>;
  private readonly usage: LRUCache<string, CachedUsage>;
  private readonly suggestions: LRUCache<string, CachedSuggestions>;

  constructor(
    private readonly balances: Pick<BalanceService, 'current'>,
    private readonly store: Store,
    private readonly usageIndex?: Pick<UsageIndex, 'ready'>,
    maxEntries: number = cachePolicy.forecasts,
  ) {
    this.forecasts = new LRUCache({ max: maxEntries });
    this.usage = new LRUCache({ max: maxEntries });
    this.suggestions = new LRUCache({ max: maxEntries });
  }

  /** The account's forecast now, over `windowDays`, and the ledger it projects. */
  async current(accountId: string, windowDays = DEFAULT_WINDOW_DAYS): Promise<{ ledger: LedgerResult; forecast: AccountForecast }> {
    const ledger = await this.balances.current(accountId);
    const at = wholeSecond(ledger.at);
    const key = `${windowDays}\u0001${accountId}`;
    let cached = this.forecasts.get(key);
    if (!cached || cached.lots !== ledger.lots || cached.at !== at) {
      const forecast = this.usageOf(key, accountId, ledger, at, windowDays).then((sums) => forecastsOf(ledger, sums, windowDays, at));
      cached = { lots: ledger.lots, at, forecast };
      this.forecasts.set(key, cached);
      const failed = cached;
      forecast.catch(() => this.forecasts.get(key) === failed && this.forecasts.delete(key));
    }
    return { ledger, forecast: await cached.forecast };
  }

  /** One wallet's forecast now: its own projection only, from the snapshot's window sums. */
  async wallet(accountId: string, wallet: WalletKey, windowDays = DEFAULT_WINDOW_DAYS): Promise<{ ledger: LedgerResult; at: number; row: WalletForecastRow }> {
    const ledger = await this.balances.current(accountId);
    const at = wholeSecond(ledger.at);
    const sums = await this.usageOf(`${windowDays}\u0001${accountId}`, accountId, ledger, at, windowDays);
    return { ledger, at, row: walletForecastOf(wallet, lotsOf(ledger).get(wallet) ?? [], sums, windowDays, at) };
  }

  /** The account's suggested moves (of one wallet type, when given) and the instant they project from. */
  async suggestedMoves(accountId: string, walletType?: string): Promise<{ at: number; suggestions: MoveSuggestion[] }> {
    const { ledger, forecast } = await this.current(accountId);
    let cached = this.suggestions.get(accountId);
    if (!cached || cached.lots !== ledger.lots) {
      cached = { lots: ledger.lots, at: forecast.at, byType: new Map() };
      this.suggestions.set(accountId, cached);
    }
    const type = walletType ?? '';
    let found = cached.byType.get(type);
    if (!found) {
      // The forecast of the instant the snapshot's suggestions are made for.
      const from = cached.at === forecast.at ? forecast : forecastsOf(ledger, await this.usageOf(`${DEFAULT_WINDOW_DAYS}\u0001${accountId}`, accountId, ledger, cached.at, DEFAULT_WINDOW_DAYS), DEFAULT_WINDOW_DAYS, cached.at);
      found = suggestionsOf(from, walletType);
      cached.byType.set(type, found);
    }
    return { at: cached.at, suggestions: found };
  }

  private usageOf(key: string, accountId: string, ledger: LedgerResult, at: number, windowDays: number): Promise<Map<WalletKey, bigint>> {
    const cached = this.usage.get(key);
    if (cached && cached.lots === ledger.lots && (!cached.fromMemory || cached.at === at)) return cached.sums;
    const window = windowOf(at, windowDays);
    const entry: CachedUsage = { lots: ledger.lots, at, fromMemory: false, sums: Promise.resolve(new Map()) };
    const sums = (async () => {
      const memory = await this.usageIndex?.ready(accountId);
      entry.fromMemory = memory !== undefined;
      return usageInWindow(this.store, accountId, window.from, window.to, memory);
    })();
    entry.sums = sums;
    this.usage.set(key, entry);
    sums.catch(() => this.usage.get(key) === entry && this.usage.delete(key));
    return sums;
  }
}
