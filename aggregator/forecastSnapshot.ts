import type { Store } from '../core/clickhouse.js';
import { breakpointsByWallet, type LedgerInput, type LedgerResult, type WalletKey } from '../ledger/ledger.js';
import type { AccountUsage } from '../readmodels/accountUsage.js';
import { DEFAULT_WINDOW_DAYS, forecastsOf, windowOf, wholeSecond, type AccountForecast } from '../readmodels/forecasts.js';
import { loadUsageInput } from '../readmodels/ledgerSource.js';
import { closedDays, withDayEnds } from './dailyBalances.js';

/**
 * What a snapshot adds for the forecast tables (migration 029): the ledger's input with its usage
 * split at every closed day's end and at both ends of the burn-rate window, so that one usage
 * read serves the balances now, each closed day's balance and every wallet's burn rate; and the
 * forecast from it, as the API computes it (`forecastsOf`, `readmodels/forecasts.ts`).
 */

export interface SnapshotInput {
  /** The ledger's input at `at`, its usage split at the end of every day of `days` and at the window's ends. */
  input: LedgerInput;
  /** The closed days whose closing balances the snapshot holds. */
  days: number[];
  /** The burn-rate window: `[at − 28 days, at)`, `at` the ledger's instant to the second. */
  window: { from: number; to: number };
}

/**
 * `input` (as `loadLedgerInput` read it) with its usage read again, split finer; a wallet with
 * usage but no lot or move too. With the account's usage in memory the split is a pass over it;
 * otherwise one more usage query, which reads whole days from the daily rollup as the first did
 * (a day's end is a midnight and splits no day) and, raw, the day the window starts in.
 */
export async function splitSnapshotInput(store: Store, accountId: string, input: LedgerInput, usage?: AccountUsage): Promise<SnapshotInput> {
  const { at } = input;
  const days = closedDays(at);
  const window = windowOf(wholeSecond(at), DEFAULT_WINDOW_DAYS);
  const breakpoints = breakpointsByWallet(input.lots, input.moves, at);
  const wallets = [...input.usageSegments.map((s) => s.wallet), ...input.usageEvents.map((e) => e.wallet)];
  const points = withDayEnds(breakpoints.points, wallets, days, [window.from, window.to]);
  const inMemory = usage?.segments(points.keys(), at, points, breakpoints.moveInstants);
  const read = inMemory ? { usageSegments: inMemory, usageEvents: [] } : await loadUsageInput(store, { accountId, at }, { points, moveInstants: breakpoints.moveInstants });
  return { input: { ...input, usageSegments: read.usageSegments, usageEvents: read.usageEvents }, days, window };
}

/** Each wallet's non-voided usage in `[from, to)`, from an input whose usage is split at both. */
export function usageBetween(input: LedgerInput, from: number, to: number): Map<WalletKey, bigint> {
  const sums = new Map<WalletKey, bigint>();
  const add = (wallet: WalletKey, amount: bigint) => sums.set(wallet, (sums.get(wallet) ?? 0n) + amount);
  for (const segment of input.usageSegments) if (segment.from >= from && segment.to <= to) add(segment.wallet, segment.amount);
  for (const event of input.usageEvents) if (event.at >= from && event.at < to && !input.voided.has(event.eventId)) add(event.wallet, event.amount);
  return sums;
}

/** Every wallet's forecast over the default window, from the ledger's instant to the second, as the API answers it. */
export function snapshotForecast(ledger: LedgerResult, snapshot: SnapshotInput): AccountForecast {
  const { window } = snapshot;
  return forecastsOf(ledger, usageBetween(snapshot.input, window.from, window.to), DEFAULT_WINDOW_DAYS, window.to);
}
