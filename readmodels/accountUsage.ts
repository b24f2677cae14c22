import { walletKey, walletOf, type UsageSegment, type WalletKey } from '../ledger/ledger.js';
import { dayBuckets, type DayBuckets } from './dayBuckets.js';
import { halves, joined, scaledOf } from './exactSums.js';
import type { UsageQuery, UsageRow } from './usage.js';
import { bound, Dictionary, WalletUsage } from './walletUsage.js';
import type { UsageBasis } from '../storage/accountChanges.js';

/**
 * One account's usage events in memory, and the answers computed from them: usage rows over any
 * range and grouping, the ledger's usage per segment, the next day with usage. Voided usage is
 * held as a negative copy of the voided event, so sums and counts net it out exactly as the
 * storage reads do. What it holds is decided by the usage index's catch-up (`usageIndex.ts`):
 * rows are applied as reads return them, and forgotten only to be read again.
 */

const DAY_MS = 86_400_000;

/** Byte order of UTF-8 text, as ClickHouse orders strings. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The least a read looks back before the previous one: a block's stamp precedes its commit. */
export const MIN_OVERLAP_MS = 500;
/**
 * The most a read looks back before the previous one; rows stamped since are remembered by id,
 * so the next read skips those it returns again.
 */
export const MAX_OVERLAP_MS = 2_000;
/** How long a late row keeps the reads looking further back. */
export const LATENESS_MEMORY_MS = 60_000;

/** One account's usage in memory. */
export class AccountUsage {
  readonly wallets = new Map<WalletKey, WalletUsage>();
  readonly users = new Dictionary();
  readonly services = new Dictionary();
  readonly products = new Dictionary();
  /** Entries held, usage and voided copies together. */
  size = 0;
  /** Stored usage rows held (voided copies not counted): compared with storage's exact count. */
  usageRows = 0;
  /** Storage's clock when the last read ran: the next one reads rows stamped from `overlapMs` before it. */
  readAt = 0;
  /**
   * The most a row was stamped before a read that did not see it yet (it became visible after),
   * over the reads of the last `LATENESS_MEMORY_MS`, and when that was seen.
   */
  private late = { ms: 0, seenAt: 0 };
  /** Ids of the rows read that the next read reads again: it skips them. */
  private recent = new Map<string, number>();
  /** The ids the read being applied skips: `recent` as the read began. */
  private earlier = new Map<string, number>();
  /** Voided events already held as negative copies. */
  readonly voided = new Set<string>();
  /** When the last read of storage began (wall clock). */
  checkedAt = 0;

  /** What the index holds, as storage counts it (`UsageBasis`): equal to storage's after each read of it. */
  basis(): UsageBasis {
    return { rows: this.usageRows, voided: this.voided.size };
  }

  /**
   * Applies rows of a read, in one part or several (`moreOfTheRead` for all but the first);
   * returns how many entries it added. Ids of rows stamped at or after `rereadFrom` are kept,
   * since the next read returns them again; a row is skipped only when an earlier read returned
   * it, so two stored rows with one id are both held, as storage counts both.
   */
  apply(rows: string[][], rereadFrom: number, moreOfTheRead = false, previousReadAt = Number.NEGATIVE_INFINITY): number {
    if (!moreOfTheRead) {
      this.earlier = this.recent;
      this.recent = new Map();
    }
    let added = 0;
    for (const [kind = '', eventId = '', at = '0', ingested = '0', type = '', id = '', user = '', product = '', service = '', amount = '0'] of rows) {
      if (kind === 'u') {
        const stamp = Number(ingested);
        if (stamp >= rereadFrom) this.recent.set(eventId, stamp);
        if (this.earlier.has(eventId)) continue;
        if (stamp < previousReadAt) this.noteLate(previousReadAt - stamp);
        this.add(walletKey(type, id), Number(at), stamp, user, product, service, amount, 1);
        this.usageRows++;
        added++;
      } else if (kind === 'v') {
        if (this.voided.has(eventId)) continue;
        this.voided.add(eventId);
        this.add(walletKey(type, id), Number(at), 0, user, product, service, amount, -1);
        added++;
      }
    }
    return added;
  }

  /**
   * How far before the last read the next one looks: twice the latest a row became visible
   * after its stamp in the last `LATENESS_MEMORY_MS`, within `MIN_OVERLAP_MS` and `MAX_OVERLAP_MS`.
   * Any later row is found by the count check (usageIndex.ts), which widens the read.
   */
  overlapMs(): number {
    const late = this.readAt - this.late.seenAt <= LATENESS_MEMORY_MS ? this.late.ms : 0;
    return Math.min(MAX_OVERLAP_MS, Math.max(MIN_OVERLAP_MS, 2 * late));
  }

  /** A row became visible `ms` after the read its stamp preceded (or more: a read missed one). */
  noteLate(ms: number): void {
    if (ms >= this.late.ms || this.readAt - this.late.seenAt > LATENESS_MEMORY_MS) this.late = { ms, seenAt: this.readAt };
  }

  /** Forgets the stored usage stamped at or after `from`, so that a read of rows from `from` puts it back whole. */
  forgetStampedFrom(from: number): void {
    for (const usage of this.wallets.values()) {
      const removed = usage.forgetStampedFrom(from);
      this.size -= removed;
      this.usageRows -= removed;
    }
    for (const [eventId, stamp] of this.recent) if (stamp >= from) this.recent.delete(eventId);
  }

  private add(wallet: WalletKey, at: number, ingested: number, user: string, product: string, service: string, amount: string, sign: 1 | -1): void {
    let usage = this.wallets.get(wallet);
    if (!usage) this.wallets.set(wallet, (usage = new WalletUsage()));
    const [hi, lo] = halves(amount);
    usage.push(at, ingested, this.users.id(user), this.services.id(service), this.products.id(product), hi, lo, sign);
    this.size++;
  }

  /**
   * The ledger's usage input for some wallets at `at`: one sum per wallet and segment between
   * its breakpoints, as `loadLedgerInput` reads it from storage. Nothing when an event falls on
   * a move's very instant: it orders with the move by event id, which is not held here.
   */
  segments(wallets: Iterable<WalletKey>, at: number, points: Map<WalletKey, number[]>, moveInstants: Map<WalletKey, Set<number>>): UsageSegment[] | undefined {
    const segments: UsageSegment[] = [];
    for (const wallet of wallets) {
      const usage = this.wallets.get(wallet);
      if (!usage) continue;
      const list = points.get(wallet) ?? [];
      const instants = moveInstants.get(wallet);
      const hiSum = new Float64Array(list.length + 1);
      const loSum = new Float64Array(list.length + 1);
      usage.ordered();
      const times = usage.at.data;
      const end = bound(times, usage.size, at, true);
      if (instants) for (const instant of instants) if (bound(times, end, instant) < bound(times, end, instant, true)) return undefined;
      // Entries and breakpoints are both in time order: one walk over the entries, the segment
      // (the number of breakpoints at or before an entry's instant) moving on as it passes them.
      const hi = usage.hi.data;
      const lo = usage.lo.data;
      let seg = 0;
      let next = list.length > 0 ? (list[0] as number) : Number.POSITIVE_INFINITY;
      for (let i = 0; i < end; i++) {
        const t = times[i] as number;
        while (t >= next) next = ++seg < list.length ? (list[seg] as number) : Number.POSITIVE_INFINITY;
        hiSum[seg] = (hiSum[seg] as number) + (hi[i] as number);
        loSum[seg] = (loSum[seg] as number) + (lo[i] as number);
      }
      for (let seg = 0; seg <= list.length; seg++) {
        const amount = scaledOf(hiSum[seg] as number, loSum[seg] as number);
        if (amount === 0n) continue;
        segments.push({
          wallet,
          from: seg === 0 ? Number.MIN_SAFE_INTEGER : (list[seg - 1] as number),
          to: seg >= list.length ? Number.MAX_SAFE_INTEGER : (list[seg] as number),
          amount,
        });
      }
    }
    return segments;
  }

  /**
   * The start of the first UTC day after the one holding `at` with usage dated in it: an answer
   * for `at` changes when that day comes. Usage dated later on `at`'s own day is left to the
   * answer's freshness bound (`FRESHNESS_MS`), as the storage read does: events arriving on a
   * stream are dated a moment after the instant a snapshot is computed for.
   */
  nextUsageDayAfter(at: number): number {
    const tomorrow = (Math.floor(at / DAY_MS) + 1) * DAY_MS;
    let next = Number.MAX_SAFE_INTEGER;
    for (const usage of this.wallets.values()) {
      usage.ordered();
      const i = bound(usage.at.data, usage.size, tomorrow);
      if (i < usage.size && (usage.at.data[i] as number) < next) next = usage.at.data[i] as number;
    }
    return next === Number.MAX_SAFE_INTEGER ? next : Math.floor(next / DAY_MS) * DAY_MS;
  }

  /** The usage rows of a query, summed and ordered exactly as the storage reads answer them. */
  rows(query: UsageQuery, days?: DayBuckets): UsageRow[] {
    const { from, to, groupBy } = query;
    const wallets: WalletUsage[] = [];
    if (query.walletId !== undefined) {
      const one = this.wallets.get(walletKey(query.walletType ?? '', query.walletId));
      if (one) wallets.push(one);
    } else {
      for (const [key, usage] of this.wallets) if (query.walletType === undefined || walletOf(key).type === query.walletType) wallets.push(usage);
    }
    const dictionary = groupBy === 'user' ? this.users : groupBy === 'service' ? this.services : groupBy === 'product' ? this.products : undefined;
    const buckets = groupBy === 'day' ? (days ?? dayBuckets(query.tz, from, to)) : undefined;
    const width = dictionary ? dictionary.values.length : (buckets?.labels.length ?? 0);
    const hiSum = new Float64Array(width);
    const loSum = new Float64Array(width);
    const count = new Float64Array(width);
    for (const usage of wallets) {
      // In place, so the columns read here are the ordered ones.
      const [first, end] = usage.range(from, to);
      const hi = usage.hi.data;
      const lo = usage.lo.data;
      const sign = usage.sign.data;
      if (buckets) {
        // Entries and day starts are both in time order: one walk over the entries, the day (the
        // number of day starts at or before an entry's instant, as `DayBuckets.of` counts them)
        // moving on as it passes them, and no lookup per entry.
        const at = usage.at.data;
        const starts = buckets.starts;
        let day = 0;
        let next = starts.length > 0 ? (starts[0] as number) : Number.POSITIVE_INFINITY;
        for (let i = first; i < end; i++) {
          const t = at[i] as number;
          while (t >= next) next = ++day < starts.length ? (starts[day] as number) : Number.POSITIVE_INFINITY;
          hiSum[day] = (hiSum[day] as number) + (hi[i] as number);
          loSum[day] = (loSum[day] as number) + (lo[i] as number);
          count[day] = (count[day] as number) + (sign[i] as number);
        }
      } else {
        const keys = groupBy === 'user' ? usage.user.data : groupBy === 'service' ? usage.service.data : usage.product.data;
        for (let i = first; i < end; i++) {
          const k = keys[i] as number;
          hiSum[k] = (hiSum[k] as number) + (hi[i] as number);
          loSum[k] = (loSum[k] as number) + (lo[i] as number);
          count[k] = (count[k] as number) + (sign[i] as number);
        }
      }
    }
    const rows: Array<UsageRow & { scaled: bigint }> = [];
    for (let k = 0; k < width; k++) {
      const h = hiSum[k] as number;
      const l = loSum[k] as number;
      const events = count[k] as number;
      if (events === 0 && h === 0 && l === 0) continue;
      const scaled = scaledOf(h, l);
      if (events === 0 && scaled === 0n) continue;
      const key = dictionary ? (dictionary.values[k] as string) : (buckets as DayBuckets).labels[k] as string;
      rows.push({ key, amount: joined(h, l), events, scaled });
    }
    if (groupBy === 'day') rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    else rows.sort((a, b) => (a.scaled > b.scaled ? -1 : a.scaled < b.scaled ? 1 : byteOrder(a.key, b.key)));
    return rows.map(({ key, amount, events }) => ({ key, amount, events }));
  }
}
