import { createHash } from 'node:crypto';
import { balancesAtInstants } from '../ledger/history.js';
import { breakpointsByWallet, DAY_MS, type LedgerInput, type WalletBalance, type WalletKey } from '../ledger/ledger.js';

/**
 * Each wallet's closing balance per UTC day (SPEC section 3, "Balance at time T"), for the daily
 * balance table Grafana charts. A day closes at its last millisecond, so its balance reflects the
 * events that occurred that day: a lot expiring at the next midnight still counts, and shows as
 * expired the day after. The balances come from the ledger's own checkpoints, all days in one
 * pass (`ledger/history.ts`, as the API's history), over an input whose usage is split at every
 * day's end (`withDayEnds`); a wallet reads 0 on the days before its first event, as there.
 *
 * Bounded: DAILY_HISTORY_DAYS closed days, the Forecast dashboard's default range. The
 * aggregator computes and writes them again only when something dated up to the last closed day
 * changed, or a day closed (`historyFingerprint`): under a stream of today's usage, only the
 * first recomputation of an account in a process and the first after midnight do.
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
 * usage segment then never spans a day's end, as the ledger's checkpoints require.
 */
export function withDayEnds(points: ReadonlyMap<WalletKey, number[]>, wallets: Iterable<WalletKey>, days: readonly number[], instants: readonly number[] = []): Map<WalletKey, number[]> {
  const added = [...days.map((day) => day + DAY_MS), ...instants];
  const out = new Map<WalletKey, number[]>();
  for (const wallet of new Set<WalletKey>([...points.keys(), ...wallets])) {
    const merged = new Set([...(points.get(wallet) ?? []), ...added]);
    out.set(wallet, [...merged].sort((a, b) => a - b));
  }
  return out;
}

/** Each wallet's balance at the end of each day, by day ascending: `wallets` at every one. */
export function dailyClosingBalances(input: Omit<LedgerInput, 'at'>, wallets: readonly WalletKey[], days: readonly number[]): DailyBalances[] {
  const { lots, moves, voided, usageEvents, usageSegments } = input;
  return balancesAtInstants({ lots, moves, voided, usageEvents, usageSegments }, wallets, days.map(closingInstant)).map((closing, i) => ({ day: days[i] as number, wallets: closing.wallets }));
}

export interface DailyBalances {
  /** The day's start, UTC. */
  day: number;
  wallets: Map<WalletKey, WalletBalance>;
}

/**
 * What the closed days' balances depend on, as a digest to compare: the days, the wallets, the
 * lots, moves and voids up to the last day's end, and the usage up to it summed per wallet, day and stretch
 * between the wallet's own breakpoints (lots starting or expiring, moves): within one, usage
 * draws from the same lots wherever it falls, so how finely a read split it (the burn-rate
 * window's start, which moves with the clock) leaves the digest as it is. Equal digests,
 * equal balances.
 */
export function historyFingerprint(input: LedgerInput, wallets: readonly WalletKey[], days: readonly number[]): string {
  if (days.length === 0) return '';
  const first = days[0] as number;
  const last = closingInstant(days[days.length - 1] as number);
  const live = (eventId: string) => !input.voided.has(eventId);
  // The wallets too: a wallet first seen today still gets its zeros for the closed days.
  const parts: string[] = [`${first}-${last}`, ...wallets.map((wallet) => `w${wallet}`)];
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
