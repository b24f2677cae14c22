import type { Store } from '../core/clickhouse.js';
import { burnRatePerDay, forecastLotsOf, forecastWallet } from '../ledger/forecast.js';
import { breakpointsByWallet, DAY_MS, type LedgerInput, type LedgerResult, type WalletKey } from '../ledger/ledger.js';
import type { AccountUsage } from '../readmodels/accountUsage.js';
import { loadUsageInput } from '../readmodels/ledgerSource.js';
import { closedDays, withDayEnds } from './dailyBalances.js';
import type { WalletForecastOf } from './forecastRows.js';

/**
 * The part of a snapshot the forecast tables need beyond the balances: the ledger's input with
 * usage split at every closed day's end and at the start of the burn-rate window, so one usage
 * read serves the balances now, each day's closing balance and every wallet's burn rate.
 */

/** `window_days` of the forecast tables: SPEC section 5's default. */
export const FORECAST_WINDOW_DAYS = 28;

export interface SnapshotInput {
  /** The ledger's input at `at`, usage split at every instant of `days` and the window's start. */
  input: LedgerInput;
  /** The closed days whose closing balances the snapshot holds. */
  days: number[];
}

/**
 * `input` (as `loadLedgerInput` read it) with its usage read again, split finer. With the
 * account's usage in memory the split is a pass over it; otherwise one more usage query, which
 * reads whole days from the daily rollup as before: a day's end is a midnight and splits no day.
 * A wallet with usage but no lot or move is split too.
 */
export async function splitSnapshotInput(store: Store, accountId: string, input: LedgerInput, usage?: AccountUsage): Promise<SnapshotInput> {
  const { at } = input;
  const days = closedDays(at);
  const breakpoints = breakpointsByWallet(input.lots, input.moves, at);
  const wallets = [...input.usageSegments.map((s) => s.wallet), ...input.usageEvents.map((e) => e.wallet)];
  const points = withDayEnds(breakpoints.points, wallets, days, [at - FORECAST_WINDOW_DAYS * DAY_MS]);
  const split = { points, moveInstants: breakpoints.moveInstants };
  const inMemory = usage?.segments(points.keys(), at, points, breakpoints.moveInstants);
  const read = inMemory ? { usageSegments: inMemory, usageEvents: [] } : await loadUsageInput(store, { accountId, at }, split);
  return { input: { ...input, usageSegments: read.usageSegments, usageEvents: read.usageEvents }, days };
}

/** Each wallet's non-voided usage in `[from, to)`, from an input whose usage is split at both. */
export function usageBetween(input: LedgerInput, from: number, to: number): Map<WalletKey, bigint> {
  const totals = new Map<WalletKey, bigint>();
  const add = (wallet: WalletKey, amount: bigint) => totals.set(wallet, (totals.get(wallet) ?? 0n) + amount);
  for (const segment of input.usageSegments) if (segment.from >= from && segment.to <= to) add(segment.wallet, segment.amount);
  for (const event of input.usageEvents) if (event.at >= from && event.at < to && !input.voided.has(event.eventId)) add(event.wallet, event.amount);
  return totals;
}

/** Every wallet's burn rate over the default window and its forecast from the ledger's instant. */
export function walletForecasts(ledger: LedgerResult, input: LedgerInput): WalletForecastOf[] {
  const usage = usageBetween(input, ledger.at - FORECAST_WINDOW_DAYS * DAY_MS, ledger.at);
  const lots = forecastLotsOf(ledger);
  return [...ledger.wallets.keys()].map((wallet) => {
    const ratePerDay = burnRatePerDay(usage.get(wallet) ?? 0n, FORECAST_WINDOW_DAYS);
    return { wallet, ratePerDay, forecast: forecastWallet(lots.get(wallet) ?? [], ratePerDay, ledger.at) };
  });
}
