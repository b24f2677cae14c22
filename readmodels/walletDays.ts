import { breakpointsByWallet, DAY_MS, walletKey, type UsageEvent, type UsageSegment, type WalletKey } from '../ledger/ledger.js';
import { toScaled } from '../core/decimal.js';

/**
 * A few wallets' usage summed into the ledger's segments here rather than in storage: the rows of
 * `walletDaysQuery` (readmodels/ledgerSource.ts) are days, pairings and raw events, each in one
 * key range per wallet, and a few thousand of them cost less than storage joining each row to its
 * wallet's breakpoints.
 */

/** Row kinds of `walletDaysQuery`. */
export const DAY_ROW = 0;
export const PAIRED_ROW = 1;
export const RAW_ROW = 2;

/**
 * Usage summed per segment of its wallet (between two of its breakpoints), as the ledger takes
 * it: `add` a segment's share, `segments` the sums.
 */
export function segmentSums(breakpoints: ReturnType<typeof breakpointsByWallet>) {
  const sums = new Map<string, UsageSegment>();
  return {
    add(wallet: WalletKey, seg: number, amount: bigint): void {
      const key = `${wallet}\u0001${seg}`;
      const existing = sums.get(key);
      if (existing) {
        existing.amount += amount;
        return;
      }
      const list = breakpoints.points.get(wallet) ?? [];
      sums.set(key, { wallet, from: seg === 0 ? Number.MIN_SAFE_INTEGER : (list[seg - 1] as number), to: seg >= list.length ? Number.MAX_SAFE_INTEGER : (list[seg] as number), amount });
    },
    segments: (): UsageSegment[] => [...sums.values()],
  };
}

/**
 * The ledger's usage input from `walletDaysQuery`'s rows: whole days before the day of `at` that
 * no breakpoint splits, less their voids, summed per segment (a sum of nothing is no segment, as
 * in `usageSegmentsQuery`); split days and the day of `at` event by event, less paired ones; and
 * the first day after the day of `at` that holds usage.
 */
export function segmentsOfWalletDays(
  rows: string[][],
  atDay: number,
  breakpoints: ReturnType<typeof breakpointsByWallet>,
  splitDays: Set<string>,
): { usageSegments: UsageSegment[]; usageEvents: UsageEvent[]; nextUsageDay: number } {
  const dayOf = (t: number) => Math.floor(t / DAY_MS) * DAY_MS;
  const sums = segmentSums(breakpoints);
  const usageEvents: UsageEvent[] = [];
  let nextUsageDay = Number.MAX_SAFE_INTEGER;
  /** The segment of an instant: how many of the wallet's breakpoints are at or before it. */
  const segmentAt = (wallet: WalletKey, t: number) => {
    let seg = 0;
    for (const p of breakpoints.points.get(wallet) ?? []) if (p <= t) seg++;
    return seg;
  };
  const paired = new Set<string>();
  /** Whole days before the day of `at`, by wallet and day: stored usage less what voids took out. */
  const days = new Map<string, { wallet: WalletKey; day: number; amount: bigint }>();
  const addDay = (wallet: WalletKey, day: number, amount: bigint) => {
    const key = `${wallet}|${day}`;
    const existing = days.get(key);
    if (existing) existing.amount += amount;
    else days.set(key, { wallet, day, amount });
  };
  const raw: UsageEvent[] = [];
  for (const [kind, wt = '', wi = '', t = '0', eventId = '', amount = '0', netted] of rows) {
    const wallet = walletKey(wt, wi);
    const instant = Number(t);
    if (Number(kind) === DAY_ROW) {
      if (instant < atDay) addDay(wallet, instant, toScaled(amount));
      else if (instant > atDay && instant < nextUsageDay) nextUsageDay = instant;
    } else if (Number(kind) === PAIRED_ROW) {
      paired.add(eventId);
      // The daily rollup counts every stored usage; voids the old views did not net come out here.
      if (netted === '0' && instant < atDay) addDay(wallet, dayOf(instant), -toScaled(amount));
    } else {
      raw.push({ wallet, at: instant, eventId, amount: toScaled(amount) });
    }
  }
  // Per segment, the sums of its whole days that no breakpoint splits; a sum of nothing is no segment.
  const daySums = new Map<string, { wallet: WalletKey; seg: number; amount: bigint }>();
  for (const { wallet, day, amount } of days.values()) {
    if (splitDays.has(`${wallet}|${day}`)) continue;
    const seg = segmentAt(wallet, day);
    const key = `${wallet}\u0001${seg}`;
    const existing = daySums.get(key);
    if (existing) existing.amount += amount;
    else daySums.set(key, { wallet, seg, amount });
  }
  for (const { wallet, seg, amount } of daySums.values()) if (amount !== 0n) sums.add(wallet, seg, amount);
  // Split days and the day of `at`, event by event; one at a move's very instant stays alone.
  for (const event of raw) {
    if (paired.has(event.eventId)) continue;
    if (breakpoints.moveInstants.get(event.wallet)?.has(event.at)) usageEvents.push(event);
    else sums.add(event.wallet, segmentAt(event.wallet, event.at), event.amount);
  }
  return { usageSegments: sums.segments(), usageEvents, nextUsageDay };
}
