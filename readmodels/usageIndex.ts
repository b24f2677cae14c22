import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { formatScaled } from '../core/decimal.js';
import { field, jsonQuery, param, read, tsvQuery } from '../core/query.js';
import { warnOnBackgroundFailure, type BackgroundFailure } from '../core/background.js';
import { walletKey, walletOf, type UsageSegment, type WalletKey } from '../ledger/ledger.js';
import type { Freshness } from './balances.js';
import type { UsageQuery, UsageRow } from './usage.js';

/**
 * Every usage event of an account, in memory, column by column: usage over any range, by any
 * grouping, is one pass over numbers instead of a storage query. Embedded ClickHouse runs
 * parameterised queries one at a time (about 15 ms each under load), so 32 readers asking for
 * usage queue for seconds; the same answers from memory take about a millisecond.
 *
 * Storage stays the source of truth and the planner in `usage.ts` the fallback: an account is
 * answered from memory only once loaded and fresh enough (the same bounds as balances), and
 * never when its events exceed the configured budget. Voided usage is held as a negative copy
 * of the voided event, so sums and counts net it out exactly as the storage reads do.
 *
 * Amounts are integers scaled by 10^4, split into two doubles (`hi` × 10^8 + `lo`), each
 * summed exactly: an amount is at most 10^16 scaled, and 90 million of either half still sum
 * below 2^53.
 *
 * The catch-up invariant: after every read of storage, an account's index holds exactly the
 * usage rows of `events_v1` that one snapshot of storage holds, and says so by count. Each read
 * returns, from one snapshot (`enable_shared_storage_snapshot_in_query`), the rows stamped since
 * a little before the previous read and the exact number of the account's usage rows. Rows are
 * never removed from `events_v1`, and the index only holds rows a read returned, so what it holds
 * is a subset of that snapshot: equal counts mean equal sets. When the counts differ, a row
 * stamped before the window became visible after the read that should have seen it (a stamp is
 * taken when the block is formed, and the row is visible once the insert commits, which on a
 * loaded server or a cluster can be minutes later). Then the rows held from a wider window back
 * are forgotten and read again, until the counts agree; at the widest, the account is read whole.
 * No answer relies on a row being visible within some time of its stamp. The count held is kept
 * for the aggregator (`usageCount`): when it moves, whatever the cause, the account's balance
 * tables are written again.
 */

/** Rows re-read before the previous read's instant: the window in which rows usually become visible. */
export const OVERLAP_MS = 2_000;
/**
 * How far back a read looks again when storage holds more rows than the index (each wider than
 * the last); past the last, the account is read whole.
 */
const WIDER_WINDOWS_MS = [60_000, 3_600_000];
/** How long an index is trusted without asking storage for new rows (as `VERSION_CHECK_MS`). */
export const CHECK_MS = 1_000;
/** How old an index may be when served while it catches up behind (as `MAX_STALENESS_MS`). */
export const STALE_MS = 10_000;
/** Rows applied between two turns of the event loop while an account loads. */
const APPLY_SLICE = 10_000;
/** An account over the budget is asked about again after this long. */
const TOO_BIG_RECHECK_MS = 300_000;
const SPLIT = 100_000_000;
const DAY_MS = 86_400_000;
const QUARTER_MS = 900_000;

/** A growable column of numbers. */
class Column<A extends Float64Array | Uint32Array | Int8Array> {
  constructor(
    public data: A,
    private readonly make: (n: number) => A,
  ) {}
  ensure(size: number): void {
    if (size <= this.data.length) return;
    const next = this.make(Math.max(size, this.data.length * 2));
    next.set(this.data as never);
    this.data = next;
  }
}

const f64 = (n: number) => new Float64Array(n);
const u32 = (n: number) => new Uint32Array(n);
const i8 = (n: number) => new Int8Array(n);

/** The first index of sorted values whose value is at least (or, `after`, above) `t`. */
function bound(times: ArrayLike<number>, size: number, t: number, after = false): number {
  let lo = 0;
  let hi = size;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const v = times[mid] as number;
    if (v < t || (after && v === t)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One wallet's usage entries, +1 for a stored usage and -1 for a voided one, kept in time order
 * so a range is found by binary search. Events of a stream arrive nearly in order and are put in
 * place as they come; a bulk of them out of order is sorted at once.
 */
class WalletUsage {
  size = 0;
  /** Entries from here on may be out of time order. */
  private disorderFrom = Number.MAX_SAFE_INTEGER;
  readonly at = new Column(f64(64), f64);
  readonly ingested = new Column(f64(64), f64);
  readonly user = new Column(u32(64), u32);
  readonly service = new Column(u32(64), u32);
  readonly product = new Column(u32(64), u32);
  readonly hi = new Column(f64(64), f64);
  readonly lo = new Column(f64(64), f64);
  readonly sign = new Column(i8(64), i8);

  private get columns() {
    return [this.at, this.ingested, this.user, this.service, this.product, this.hi, this.lo, this.sign];
  }

  push(at: number, ingested: number, user: number, service: number, product: number, hi: number, lo: number, sign: 1 | -1): void {
    const i = this.size++;
    if (this.size > this.at.data.length) for (const c of this.columns) c.ensure(this.size);
    if (i > 0 && at < (this.at.data[i - 1] as number) && i < this.disorderFrom) this.disorderFrom = i;
    this.at.data[i] = at;
    this.ingested.data[i] = ingested;
    this.user.data[i] = user;
    this.service.data[i] = service;
    this.product.data[i] = product;
    this.hi.data[i] = sign * hi;
    this.lo.data[i] = sign * lo;
    this.sign.data[i] = sign;
  }

  /** Puts the entries in time order; called before every read of them. */
  ordered(): this {
    if (this.disorderFrom >= this.size) return this;
    const columns = this.columns;
    if (this.size - this.disorderFrom <= 256) {
      // A few late arrivals: each moves back to its place.
      const at = this.at.data;
      for (let i = this.disorderFrom; i < this.size; i++) {
        const t = at[i] as number;
        let j = i;
        while (j > 0 && (at[j - 1] as number) > t) j--;
        if (j === i) continue;
        for (const c of columns) {
          const d = c.data;
          const v = d[i] as number;
          d.copyWithin(j + 1, j, i);
          d[j] = v;
        }
      }
    } else {
      const at = this.at.data;
      const order = Array.from({ length: this.size }, (_, i) => i).sort((a, b) => (at[a] as number) - (at[b] as number));
      for (const c of columns) {
        const d = c.data;
        const copy = d.slice(0, this.size);
        for (let k = 0; k < this.size; k++) d[k] = copy[order[k] as number] as number;
      }
    }
    this.disorderFrom = Number.MAX_SAFE_INTEGER;
    return this;
  }

  /** Removes the stored usage (not voided copies) stamped at or after `from`; returns how many. */
  forgetStampedFrom(from: number): number {
    // Ordered first, so what stays is still in time order.
    this.ordered();
    const { ingested, sign } = this;
    const columns = this.columns;
    let kept = 0;
    for (let i = 0; i < this.size; i++) {
      if (sign.data[i] === 1 && (ingested.data[i] as number) >= from) continue;
      if (kept !== i) for (const c of columns) c.data[kept] = c.data[i] as number;
      kept++;
    }
    const removed = this.size - kept;
    this.size = kept;
    return removed;
  }

  /** Entries in `[from, to)`, as an index range. */
  range(from: number, to: number): [number, number] {
    this.ordered();
    return [bound(this.at.data, this.size, from), bound(this.at.data, this.size, to)];
  }
}

/** Strings to small integers and back. */
class Dictionary {
  readonly values: string[] = [];
  private readonly index = new Map<string, number>();
  id(value: string): number {
    let id = this.index.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.index.set(value, id);
    }
    return id;
  }
}

/** Decimal text (at most 4 fractional digits, at most 10^12) as the two exact halves of its scaled integer. */
function halves(text: string): [number, number] {
  const dot = text.indexOf('.');
  const negative = text.startsWith('-');
  const intText = dot < 0 ? text.slice(negative ? 1 : 0) : text.slice(negative ? 1 : 0, dot);
  const frac = dot < 0 ? 0 : Number(text.slice(dot + 1).padEnd(4, '0').slice(0, 4));
  const int = Number(intText);
  const hi = Math.floor(int / 10_000);
  const lo = (int % 10_000) * 10_000 + frac;
  return negative ? [-hi, -lo] : [hi, lo];
}

/** The exact decimal text of a sum of halves. */
function joined(hi: number, lo: number): string {
  return formatScaled(BigInt(hi) * BigInt(SPLIT) + BigInt(lo));
}

/** Byte order of UTF-8 text, as ClickHouse orders strings. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

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
  /** Storage's clock when the last read ran: the next one reads rows stamped from `OVERLAP_MS` before it. */
  readAt = 0;
  /** Ids of the rows read that the next read reads again: it skips them. */
  private recent = new Map<string, number>();
  /** Voided events already held as negative copies. */
  readonly voided = new Set<string>();
  /** When the last read of storage began (wall clock). */
  checkedAt = 0;

  /**
   * Applies rows of a read; returns how many entries it added. Ids of rows stamped at or after
   * `rereadFrom` are kept, since the next read returns them again; a row is skipped only when an
   * earlier read returned it, so two stored rows with one id are both held, as storage counts both.
   */
  apply(rows: string[][], rereadFrom: number): number {
    let added = 0;
    const seen = this.recent;
    const next = new Map<string, number>();
    for (const [kind = '', eventId = '', at = '0', ingested = '0', type = '', id = '', user = '', product = '', service = '', amount = '0'] of rows) {
      if (kind === 'u') {
        const stamp = Number(ingested);
        if (stamp >= rereadFrom) next.set(eventId, stamp);
        if (seen.has(eventId)) continue;
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
    // Held rows stamped in the next window that this read did not return (a read in slices).
    for (const [eventId, stamp] of seen) if (stamp >= rereadFrom && !next.has(eventId)) next.set(eventId, stamp);
    this.recent = next;
    return added;
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
      for (let i = 0; i < end; i++) {
        const t = times[i] as number;
        if (instants?.has(t)) return undefined;
        // The segment: the number of breakpoints at or before t.
        const seg = bound(list, list.length, t, true);
        hiSum[seg] = (hiSum[seg] as number) + (usage.hi.data[i] as number);
        loSum[seg] = (loSum[seg] as number) + (usage.lo.data[i] as number);
      }
      for (let seg = 0; seg <= list.length; seg++) {
        const amount = BigInt(hiSum[seg] as number) * BigInt(SPLIT) + BigInt(loSum[seg] as number);
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
      const at = usage.at.data;
      const hi = usage.hi.data;
      const lo = usage.lo.data;
      const sign = usage.sign.data;
      const keys = groupBy === 'user' ? usage.user.data : groupBy === 'service' ? usage.service.data : groupBy === 'product' ? usage.product.data : undefined;
      for (let i = first; i < end; i++) {
        const t = at[i] as number;
        const k = keys ? (keys[i] as number) : (buckets as DayBuckets).of(t);
        hiSum[k] = (hiSum[k] as number) + (hi[i] as number);
        loSum[k] = (loSum[k] as number) + (lo[i] as number);
        count[k] = (count[k] as number) + (sign[i] as number);
      }
    }
    const rows: Array<UsageRow & { scaled: bigint }> = [];
    for (let k = 0; k < width; k++) {
      const h = hiSum[k] as number;
      const l = loSum[k] as number;
      const events = count[k] as number;
      if (events === 0 && h === 0 && l === 0) continue;
      const scaled = BigInt(h) * BigInt(SPLIT) + BigInt(l);
      if (events === 0 && scaled === 0n) continue;
      const key = dictionary ? (dictionary.values[k] as string) : (buckets as DayBuckets).labels[k] as string;
      rows.push({ key, amount: joined(h, l), events, scaled });
    }
    if (groupBy === 'day') rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    else rows.sort((a, b) => (a.scaled > b.scaled ? -1 : a.scaled < b.scaled ? 1 : byteOrder(a.key, b.key)));
    return rows.map(({ key, amount, events }) => ({ key, amount, events }));
  }
}

/** The local days of a time zone that a range touches: day `i` starts at `starts[i]`. */
export interface DayBuckets {
  labels: string[];
  of(t: number): number;
}

/**
 * Days of `tz` over `[from, to)`. UTC days are arithmetic. In another zone every offset, and
 * every change of one, lies on a quarter hour, so a local day starts at the first quarter hour
 * whose local date is that day's: a day after a known start is tried 24 hours on, and only a
 * day of another length (a change of offset) is walked hour by hour, then back by quarters.
 */
export function dayBuckets(tz: string, from: number, to: number): DayBuckets {
  if (to <= from) return { labels: [], of: () => 0 };
  if (tz === 'UTC') {
    const first = Math.floor(from / DAY_MS);
    const labels: string[] = [];
    for (let d = first; d <= Math.floor((to - 1) / DAY_MS); d++) labels.push(new Date(d * DAY_MS).toISOString().slice(0, 10));
    return { labels, of: (t) => Math.floor(t / DAY_MS) - first };
  }
  const format = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' });
  const day = (t: number) => format.format(t);
  const last = to - 1;
  /** The first instant after `dayStart` that is not on `label`'s day, if it comes by `last`. */
  const next = (dayStart: number, label: string, isStart: boolean): number | undefined => {
    const guess = dayStart + DAY_MS;
    if (isStart && guess <= last && day(guess) !== label && day(guess - QUARTER_MS) === label) return guess;
    let t = dayStart + 4 * QUARTER_MS;
    while (t <= last && day(t) === label) t += 4 * QUARTER_MS;
    if (t > last) {
      if (day(last) === label) return undefined;
      t = Math.floor(last / QUARTER_MS) * QUARTER_MS;
    }
    while (t - QUARTER_MS > dayStart && day(t - QUARTER_MS) !== label) t -= QUARTER_MS;
    return t;
  };
  const labels = [day(from)];
  const starts: number[] = [];
  let dayStart = Math.floor(from / QUARTER_MS) * QUARTER_MS;
  for (let start = next(dayStart, labels[0] as string, false); start !== undefined; start = next(dayStart, labels[labels.length - 1] as string, true)) {
    starts.push(start);
    labels.push(day(start));
    dayStart = start;
  }
  return {
    labels,
    // The day: the number of day starts at or before t.
    of: (t) => bound(starts, starts.length, t, true),
  };
}

export interface UsageIndexOptions {
  /** Entries held over all accounts; an account that would not fit is answered from storage. */
  maxEntries?: number;
  onBackgroundFailure?: BackgroundFailure;
}

interface Pending {
  /** A write this process made that the next read must see. */
  now: boolean;
  /** Writes a read may see within `STALE_MS`. */
  soon: boolean;
}

/**
 * The usage indexes of recently read accounts, least recently read dropped first, within a
 * budget of entries. `ready` gives an account's index when it may answer, or nothing: then the
 * caller asks storage, and the index loads behind.
 */
export class UsageIndex {
  private readonly accounts = new Map<string, AccountUsage>();
  private readonly loading = new Map<string, Promise<void>>();
  private readonly catchingUp = new Map<string, Promise<AccountUsage>>();
  /** A read waiting for the running one to end, for writes that must be seen. */
  private readonly queuedCatchUps = new Map<string, Promise<AccountUsage>>();
  private readonly tooBig = new Map<string, number>();
  private readonly pending = new Map<string, Pending>();
  private readonly maxEntries: number;
  private readonly onBackgroundFailure: BackgroundFailure;
  /** Answers from memory and from storage, for `/metrics` and the benchmarks. */
  readonly answered = { memory: 0, storage: 0 };

  constructor(
    private readonly store: Store,
    options: UsageIndexOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? 2_000_000;
    this.onBackgroundFailure = options.onBackgroundFailure ?? warnOnBackgroundFailure;
  }

  /** Entries held over all accounts. */
  get entries(): number {
    let held = 0;
    for (const usage of this.accounts.values()) held += usage.size;
    return held;
  }

  /** Called after this process stored events for these accounts. */
  invalidate(accountIds: Iterable<string>, freshness: Freshness = 'now'): void {
    for (const account of accountIds) {
      // A load under way may have read storage before this write: its first read after is a catch-up.
      if (!this.accounts.has(account) && !this.loading.has(account)) continue;
      const p = this.pending.get(account) ?? { now: false, soon: false };
      if (freshness === 'now') p.now = true;
      else p.soon = true;
      this.pending.set(account, p);
    }
  }

  /**
   * The account's index when it may answer now, caught up as the freshness rules ask; nothing
   * when the account is not loaded yet (it starts loading), too large, or storage failed.
   */
  async ready(accountId: string): Promise<AccountUsage | undefined> {
    const usage = this.accounts.get(accountId);
    if (!usage) {
      this.startLoading(accountId);
      this.answered.storage++;
      return undefined;
    }
    // Most recently read last.
    this.accounts.delete(accountId);
    this.accounts.set(accountId, usage);
    const pending = this.pending.get(accountId);
    const age = Date.now() - usage.checkedAt;
    try {
      if (pending?.now || age >= STALE_MS) {
        const fresh = await this.catchUp(accountId, usage);
        this.answered.memory++;
        return fresh;
      }
      // At most one read of storage a CHECK_MS, even under a steady stream of writes.
      if (age >= CHECK_MS) {
        this.catchUp(accountId, usage).catch((err: unknown) => this.onBackgroundFailure('usage_index_catch_up', err));
      }
      this.answered.memory++;
      return usage;
    } catch (err) {
      // Storage will answer the read itself, or fail it with its own error.
      this.onBackgroundFailure('usage_index_catch_up', err);
      this.answered.storage++;
      return undefined;
    }
  }

  /**
   * The account's index after a read of storage begun now, so it holds every event stored
   * before the call; nothing when the account is not loaded (it starts loading) or storage failed.
   */
  async fresh(accountId: string): Promise<AccountUsage | undefined> {
    const usage = this.accounts.get(accountId);
    if (!usage) {
      this.startLoading(accountId);
      return undefined;
    }
    try {
      return await this.catchUp(accountId, usage, true);
    } catch (err) {
      this.onBackgroundFailure('usage_index_catch_up', err);
      return undefined;
    }
  }

  private startLoading(accountId: string): void {
    if (this.loading.has(accountId)) return;
    const checked = this.tooBig.get(accountId);
    if (checked !== undefined && Date.now() - checked < TOO_BIG_RECHECK_MS) return;
    const work = this.load(accountId)
      .catch((err: unknown) => this.onBackgroundFailure('usage_index_load', err))
      .finally(() => this.loading.delete(accountId));
    this.loading.set(accountId, work);
  }

  /** Resolves when no load of the account is running; for tests and benchmarks. */
  async settled(accountId: string): Promise<void> {
    await this.loading.get(accountId);
    // A failure here was reported by whoever started the catch-up.
    await Promise.allSettled([this.catchingUp.get(accountId)]);
  }

  private async load(accountId: string): Promise<void> {
    const [row] = await read(this.store, usageCountQuery, { account: accountId });
    if ((row?.n ?? 0) > this.maxEntries) {
      this.tooBig.set(accountId, Date.now());
      return;
    }
    // Before the read: a write stored while it runs marks the account for the next read.
    this.pending.delete(accountId);
    const usage = await this.readWhole(accountId);
    this.accounts.set(accountId, usage);
    this.evict(accountId);
  }

  /** The account read whole, in slices, so requests run between them. */
  private async readWhole(accountId: string): Promise<AccountUsage> {
    const usage = new AccountUsage();
    const { rows, stored } = await this.readStorage(accountId, usage, 0);
    for (let i = 0; i < rows.length; i += APPLY_SLICE) {
      usage.apply(rows.slice(i, i + APPLY_SLICE), usage.readAt - OVERLAP_MS);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // One snapshot answered both: the rows and their count cannot differ.
    if (usage.usageRows !== stored) throw new Error(`usage index of account ${accountId} read ${usage.usageRows} rows of ${stored}`);
    return usage;
  }

  /** A read of storage for the account; `beginNow`: one begun after this call, not one under way. */
  private catchUp(accountId: string, usage: AccountUsage, beginNow = false): Promise<AccountUsage> {
    const running = this.catchingUp.get(accountId);
    if (running) {
      if (!beginNow && !this.pending.get(accountId)?.now) return running;
      // A read that must see a write waits for a read of storage begun after it. Reads of one
      // account never overlap: two would both apply the rows they share, and count them twice.
      const queued = this.queuedCatchUps.get(accountId);
      if (queued) return queued;
      const next = Promise.allSettled([running]).then(() => {
        this.queuedCatchUps.delete(accountId);
        return this.catchUp(accountId, this.accounts.get(accountId) ?? usage, true);
      });
      this.queuedCatchUps.set(accountId, next);
      return next;
    }
    const work = (async () => {
      this.pending.delete(accountId);
      const caughtUp = await this.readNew(accountId, usage);
      if (this.accounts.get(accountId) !== usage) return caughtUp;
      // Read whole again: the new index replaces the old one, which answered meanwhile.
      if (caughtUp !== usage) this.accounts.set(accountId, caughtUp);
      this.evict(accountId);
      return caughtUp;
    })();
    this.catchingUp.set(accountId, work);
    const clear = () => this.catchingUp.get(accountId) === work && this.catchingUp.delete(accountId);
    work.then(clear, clear);
    return work;
  }

  /**
   * The rows stored since the last read, applied so that the index holds exactly what storage
   * does (the invariant at the top): rows stamped since a little before the last read, then, while
   * storage counts more rows than the index holds, the rows of ever wider windows again, and at
   * last the whole account, as a new index.
   */
  private async readNew(accountId: string, usage: AccountUsage): Promise<AccountUsage> {
    let since = usage.readAt - OVERLAP_MS;
    for (let wider = 0; wider <= WIDER_WINDOWS_MS.length; wider++) {
      const { rows, stored } = await this.readStorage(accountId, usage, since);
      // No await from here: a request sees the index before these rows or after all of them.
      if (wider > 0) usage.forgetStampedFrom(since);
      usage.apply(rows, usage.readAt - OVERLAP_MS);
      if (usage.usageRows === stored) return usage;
      since = usage.readAt - (WIDER_WINDOWS_MS[wider] ?? Number.POSITIVE_INFINITY);
    }
    return this.readWhole(accountId);
  }

  /**
   * One read of storage, from one snapshot: usage rows stamped since `since`, voided events when
   * their count changed, and the exact count of the account's usage rows.
   */
  private async readStorage(accountId: string, usage: AccountUsage, since: number): Promise<{ rows: string[][]; stored: number }> {
    const startedAt = Date.now();
    const rows = await read(this.store, usageRowsQuery, { account: accountId, since: Math.max(0, since), knownVoided: usage.voided.size });
    usage.readAt = Number(rows.find((r) => r[0] === 'n')?.[2] ?? startedAt);
    usage.checkedAt = startedAt;
    return { rows, stored: Number(rows.find((r) => r[0] === 'c')?.[2] ?? 0) };
  }

  /** Stored usage rows the index holds for the account, when it holds it: a change of it is a change of the account's usage. */
  usageCount(accountId: string): number | undefined {
    return this.accounts.get(accountId)?.usageRows;
  }

  private drop(accountId: string): void {
    this.accounts.delete(accountId);
    this.pending.delete(accountId);
  }

  /** Least recently read accounts out until the budget holds; one that alone exceeds it too. */
  private evict(keep: string): void {
    let held = this.entries;
    for (const [account, usage] of this.accounts) {
      if (held <= this.maxEntries) break;
      if (account === keep) continue;
      held -= usage.size;
      this.drop(account);
    }
    if (held > this.maxEntries) {
      this.drop(keep);
      this.tooBig.set(keep, Date.now());
    }
  }
}

/** The account's stored usage events, voided or not: whether the account fits the budget. */
const usageCountQuery = jsonQuery({
  name: 'usage_index.count',
  params: z.object({ account: param.account }),
  sql: (t) => `SELECT count() AS n FROM ${t.table('events_v1')} WHERE account_id = {account:String} AND type = 'usage'`,
  rows: z.object({ n: field.int64 }),
});

/**
 * One read of an account's usage, as rows of one kind each (first column): `n`, storage's clock
 * (third column); `u`, a usage event stamped since `since`; `v`, a voided usage, all of them,
 * only when their number differs from `knownVoided`; `c`, the count of all the account's usage
 * rows (third column). Every part reads one snapshot of each table, so the count is of the very
 * rows the read could see.
 */
const usageRowsQuery = tsvQuery({
  name: 'usage_index.rows',
  params: z.object({
    account: param.account,
    since: param.millis,
    knownVoided: z.number().int().min(0),
  }),
  sql: (t) =>
    `SELECT 'n' AS kind, '' AS event_id, toUnixTimestamp64Milli(now64(3)) AS occurred, toInt64(0) AS ingested, '' AS wallet_type,
            '' AS wallet_id, '' AS user_id, '' AS product, '' AS service, '0' AS amount
     UNION ALL
     SELECT 'u', event_id, toUnixTimestamp64Milli(occurred_at), toUnixTimestamp64Milli(ingested_at), toString(wallet_type), wallet_id, user_id,
            toString(product), toString(service), toString(assumeNotNull(amount))
     FROM ${t.table('events_v1')}
     WHERE account_id = {account:String} AND type = 'usage' AND ingested_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
     UNION ALL
     -- Every pairing, read again only when their number changed; each is voided in memory once.
     SELECT 'v', event_id, toUnixTimestamp64Milli(occurred_at), toInt64(0), toString(wallet_type), wallet_id, user_id,
            toString(product), toString(service), toString(amount)
     FROM ${t.table('voided_usage_v2')} FINAL
     WHERE account_id = {account:String}
       AND (SELECT uniqExact(event_id) FROM ${t.table('voided_usage_v2')} WHERE account_id = {account:String}) != {knownVoided:UInt64}
     UNION ALL
     SELECT 'c', '', toInt64(count()), toInt64(0), '', '', '', '', '', '0'
     FROM ${t.table('events_v1')}
     WHERE account_id = {account:String} AND type = 'usage'
     SETTINGS enable_shared_storage_snapshot_in_query = 1`,
  columns: {
    kind: 'String', event_id: 'String', occurred: 'Int64', ingested: 'Int64', wallet_type: 'String',
    wallet_id: 'String', user_id: 'String', product: 'String', service: 'String', amount: 'String',
  },
});
