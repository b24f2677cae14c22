import { createHash } from 'node:crypto';
import { computeLedger, DAY_MS, type LedgerInput, type WalletBalance, type WalletKey } from '../ledger/ledger.js';

/**
 * Each wallet's closing balance per UTC day (SPEC section 3, "Balance at time T"), for the daily
 * balance table Grafana charts. A day closes at its last millisecond, so its balance reflects the
 * events that occurred that day: a lot expiring at the next midnight still counts, and shows as
 * expired the day after.
 *
 * Exact by construction: the balance at a day's end is the ledger itself at that instant. One
 * ledger run per day, over one input whose usage is split at every day's end (`withDayEnds`), so
 * each run applies exactly the usage up to its instant; the ledger drops what occurred later.
 * A purchase may be backdated (effective before it occurred), which lets later knowledge change
 * earlier draws, so a day cannot be derived from another day's run.
 *
 * Bounded: DAILY_HISTORY_DAYS closed days, the Forecast dashboard's default range. A run costs
 * about what the snapshot's own ledger run does, since usage before the window stays a few
 * segments per wallet; the aggregator skips the runs when nothing up to the last closed day
 * changed (`historyFingerprint`), which under a stream of today's usage is every time but the first.
 */

/** Closed UTC days written per snapshot: the Forecast dashboard's default range. */
export const DAILY_HISTORY_DAYS = 90;

/** The starts of the `count` UTC days before the day holding `at`, earliest first. */
export function closedDays(at: number, count = DAILY_HISTORY_DAYS): number[] {
  const today = Math.floor(at / DAY_MS) * DAY_MS;
  return Array.from({ length: count }, (_, i) => today - (count - i) * DAY_MS);
}

/** The instant a day's balance is taken at: its last millisecond. */
export const closingInstant = (day: number) => day + DAY_MS - 1;

/**
 * Breakpoints for the ledger's usage input with every day's end (and any `instants`) added, for
 * `wallets` too when they have no breakpoint of their own (a wallet with usage but no lot): a
 * usage segment then never spans a day's end, and a day's run takes exactly the usage up to it.
 */
export function withDayEnds(
  points: ReadonlyMap<WalletKey, number[]>,
  wallets: Iterable<WalletKey>,
  days: readonly number[],
  instants: readonly number[] = [],
): Map<WalletKey, number[]> {
  const added = [...days.map((day) => day + DAY_MS), ...instants];
  const out = new Map<WalletKey, number[]>();
  for (const wallet of new Set<WalletKey>([...points.keys(), ...wallets])) {
    const merged = new Set([...(points.get(wallet) ?? []), ...added]);
    out.set(wallet, [...merged].sort((a, b) => a - b));
  }
  return out;
}

export interface DailyBalances {
  /** The day's start, UTC. */
  day: number;
  /** Every wallet the ledger knows at the day's end. */
  wallets: Map<WalletKey, WalletBalance>;
}

/** The balances at each day's end; `input`'s usage must be split at every day's end (`withDayEnds`). */
export function dailyClosingBalances(input: Omit<LedgerInput, 'at'>, days: readonly number[]): DailyBalances[] {
  return days.map((day) => ({ day, wallets: computeLedger({ ...input, at: closingInstant(day) }).wallets }));
}

/**
 * What the closed days' balances depend on, as a digest to compare: the days, and every input the
 * ledger applies up to the last day's end. Equal digests, equal balances.
 */
export function historyFingerprint(input: Omit<LedgerInput, 'at'>, days: readonly number[]): string {
  const last = days.length === 0 ? Number.NEGATIVE_INFINITY : closingInstant(days[days.length - 1] as number);
  const live = (eventId: string) => !input.voided.has(eventId);
  const parts: string[] = [days.length === 0 ? '' : `${days[0]}-${last}`];
  for (const lot of input.lots) if (lot.occurredAt <= last && live(lot.eventId)) parts.push(`l${lot.eventId}|${lot.lotId}|${lot.wallet}|${lot.amount}|${lot.effectiveAt}|${lot.expiresAt}`);
  for (const move of input.moves) if (move.occurredAt <= last && live(move.eventId)) parts.push(`m${move.eventId}|${move.occurredAt}|${move.from}|${move.to}|${move.lotId ?? ''}|${move.amount ?? ''}`);
  for (const usage of input.usageEvents) if (usage.at <= last && live(usage.eventId)) parts.push(`u${usage.eventId}|${usage.wallet}|${usage.at}|${usage.amount}`);
  for (const segment of input.usageSegments) if (segment.from <= last && segment.amount !== 0n) parts.push(`s${segment.wallet}|${segment.from}|${segment.amount}`);
  // Inputs arrive in storage's order, which may differ between two reads of the same rows.
  return createHash('sha256').update(parts.sort().join('\n')).digest('hex');
}
