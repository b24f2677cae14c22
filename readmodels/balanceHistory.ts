import type { Store } from '../core/clickhouse.js';
import { breakpointsByWallet, type WalletBalance, type WalletKey } from '../ledger/ledger.js';
import { balancesAtInstants } from '../ledger/history.js';
import { connected, type BalanceService } from './balances.js';
import { dayBuckets } from './dayBuckets.js';
import { loadUsageInput } from './ledgerSource.js';
import type { UsageIndex } from './usageIndex.js';

/**
 * A wallet's balance at the close of each local day of a range (SPEC section 5, "History"):
 * the ledger's balance at the day's last millisecond, so a day counts what happened before its
 * midnight; the range's last day closes at `to`, and no day closes after now. All days come
 * from one ledger pass over the snapshot's lots and moves (`ledger/history.ts`), with usage
 * summed between the day boundaries: from memory, or from storage, where a UTC day's usage is
 * one row of the daily rollup.
 */

export interface ClosingBalance {
  /** The local date, YYYY-MM-DD. */
  day: string;
  /** The instant the balance is taken at. */
  at: number;
  balance: WalletBalance;
}

/** Local days of `tz` touching `[from, to)`, each with the instant it ends, `to` for the last. */
export function localDayEnds(tz: string, from: number, to: number): Array<{ day: string; end: number }> {
  const { labels, starts } = dayBuckets(tz, from, to);
  // A day ends where the next begins; the last at `to`.
  return labels.map((day, i) => ({ day, end: starts[i] ?? to }));
}

export async function walletHistory(
  balances: BalanceService,
  store: Store,
  usageIndex: Pick<UsageIndex, 'ready'> | undefined,
  accountId: string,
  wallet: WalletKey,
  range: { from: number; to: number; tz: string },
): Promise<ClosingBalance[]> {
  const ledger = await balances.current(accountId);
  const input = balances.snapshotInput(accountId);
  if (!input) throw new Error(`no snapshot of account ${accountId} to run its history from`);
  const days = localDayEnds(range.tz, range.from, range.to)
    .map(({ day, end }) => ({ day, end: Math.min(end, ledger.at + 1) }))
    .filter((d, i, all) => d.end > range.from && (i === 0 || d.end > (all[i - 1] as { end: number }).end));
  if (days.length === 0) return [];
  const instants = days.map((d) => d.end - 1);
  const last = instants[instants.length - 1] as number;

  const group = connected(wallet, input.moves.map((m) => [m.from, m.to]));
  const inGroup = new Set(group);
  const lots = input.lots.filter((l) => inGroup.has(l.wallet));
  const moves = input.moves.filter((m) => inGroup.has(m.from));
  // Usage is summed between the day ends too, so no sum spans one.
  const breakpoints = breakpointsByWallet(lots, moves, last);
  for (const member of group) {
    const points = new Set(breakpoints.points.get(member) ?? [last]);
    for (const d of days) points.add(d.end);
    breakpoints.points.set(member, [...points].sort((a, b) => a - b));
  }
  const memory = await usageIndex?.ready(accountId);
  const fromMemory = memory?.segments(group, last, breakpoints.points, breakpoints.moveInstants);
  const usage = fromMemory ? { usageEvents: [], usageSegments: fromMemory } : await loadUsageInput(store, { accountId, at: last, wallets: group }, breakpoints);

  const closing = balancesAtInstants({ lots, moves, voided: input.voided, usageEvents: usage.usageEvents, usageSegments: usage.usageSegments }, [wallet], instants);
  return closing.map((c, i) => ({ day: (days[i] as { day: string }).day, at: c.at, balance: c.wallets.get(wallet) as WalletBalance }));
}
