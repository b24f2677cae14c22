import { createHash } from 'node:crypto';
import { breakpointsByWallet, computeLedger, DAY_MS, type LedgerInput, type WalletBalance, type WalletKey } from '../ledger/ledger.js';

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
 * What the closed days' balances depend on, as a digest to compare: the days, the lots, moves and
 * voids up to the last day's end, and the usage up to it summed per wallet, day and stretch
 * between the wallet's own breakpoints (lots starting or expiring, moves): within one, usage
 * draws from the same lots wherever it falls, so finer splits (the burn-rate window's start,
 * which moves with the clock) leave the digest as it is. Equal digests, equal balances.
 */
export function historyFingerprint(input: LedgerInput, days: readonly number[]): string {
  if (days.length === 0) return '';
  const first = days[0] as number;
  const last = closingInstant(days[days.length - 1] as number);
  const live = (eventId: string) => !input.voided.has(eventId);
  const parts: string[] = [`${first}-${last}`];
  for (const lot of input.lots) if (lot.occurredAt <= last && live(lot.eventId)) parts.push(`l${lot.eventId}|${lot.lotId}|${lot.wallet}|${lot.amount}|${lot.effectiveAt}|${lot.expiresAt}`);
  for (const move of input.moves) if (move.occurredAt <= last && live(move.eventId)) parts.push(`m${move.eventId}|${move.occurredAt}|${move.from}|${move.to}|${move.lotId ?? ''}|${move.amount ?? ''}`);
  for (const usage of input.usageEvents) if (usage.at <= last && live(usage.eventId)) parts.push(`u${usage.eventId}|${usage.wallet}|${usage.at}|${usage.amount}`);
  const { points } = breakpointsByWallet(input.lots, input.moves, input.at);
  const sums = new Map<string, bigint>();
  for (const segment of input.usageSegments) {
    if (segment.from > last) continue;
    const own = points.get(segment.wallet) ?? [];
    let stretch = 0;
    while (stretch < own.length && (own[stretch] as number) <= segment.from) stretch++;
    const day = segment.from < first ? 'before' : String(Math.floor(segment.from / DAY_MS));
    const key = `s${segment.wallet}|${day}|${stretch}`;
    sums.set(key, (sums.get(key) ?? 0n) + segment.amount);
  }
  for (const [key, amount] of sums) if (amount !== 0n) parts.push(`${key}|${amount}`);
  // Inputs arrive in storage's order, which may differ between two reads of the same rows.
  return createHash('sha256').update(parts.sort().join('\n')).digest('hex');
}
