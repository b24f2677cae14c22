import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { field, jsonQuery, param, read, tsvQuery } from '../core/query.js';
import { warnOnBackgroundFailure, type BackgroundFailure } from '../core/background.js';
import { cachePolicy, SingleFlight } from '../core/cache.js';
import { AccountUsage, MAX_OVERLAP_MS } from './accountUsage.js';
import type { Freshness } from './balances.js';
import { HeldAccounts } from './heldAccounts.js';

/**
 * The catch-up invariant: after every read of storage, an account's index holds exactly the
 * usage rows of `events_v1` that one snapshot of storage holds, and says so by count. Each read
 * returns, from one snapshot (`enable_shared_storage_snapshot_in_query`), the rows stamped since
 * a little before the previous read (`AccountUsage.overlapMs`) and the exact number of the
 * account's usage rows. Rows are never removed from `events_v1`, and the index only holds rows
 * a read returned, so what it holds is a subset of that snapshot: equal counts mean equal sets. When the counts differ, a row
 * stamped before the window became visible after the read that should have seen it (a stamp is
 * taken when the block is formed, and the row is visible once the insert commits, which on a
 * loaded server or a cluster can be minutes later). Then the rows held from a wider window back
 * are forgotten and read again, until the counts agree; at the widest, the account is read whole.
 * No answer relies on a row being visible within some time of its stamp. (On a cluster, each
 * part of the read goes to the shards as its own query, so the rows and the count may come from
 * two snapshots a moment apart: a difference then costs a wider read, and a row missed for it is
 * found by the next read, which counts again.) A balance snapshot summed from the index keeps
 * what it held (`AccountUsage.basis`), and whoever confirms the snapshot later compares it with
 * storage's counts (`accountChangesAndUsageQuery`, the aggregator's poll): when they differ,
 * whatever the cause, the snapshot is computed again.
 *
 * The usage index: every usage event of recently read accounts, in memory, column by column
 * (`accountUsage.ts`), so usage over any range, by any grouping, is one pass over numbers instead
 * of a storage query. Embedded ClickHouse runs parameterised queries one at a time (about 15 ms
 * each under load), so 32 readers asking for usage queue for seconds; the same answers from
 * memory take about a millisecond. Storage stays the source of truth and the planner in
 * `usage.ts` the fallback: an account is answered from memory only once loaded and fresh enough
 * (the bounds of `cachePolicy`, as balances), and never when its events exceed the budget
 * (`heldAccounts.ts`).
 */

/**
 * How far back a read looks again when storage holds more rows than the index (each wider than
 * the last); past the last, the account is read whole. A read otherwise looks back before the
 * previous one by twice the latest a row was seen after its stamp in the last minute, between
 * `MIN_OVERLAP_MS` and `MAX_OVERLAP_MS` (`AccountUsage.overlapMs`): under a stream of 5,000
 * events/s, a catch-up every 0.3 s read 2.3 s of rows with a fixed 2 s.
 */
const WIDER_WINDOWS_MS = [MAX_OVERLAP_MS * 2, 60_000, 3_600_000];
/** Rows applied between two turns of the event loop while an account loads. */
const APPLY_SLICE = 10_000;

export interface UsageIndexOptions {
  /** Entries held over all accounts; an account that would not fit is answered from storage. */
  maxEntries?: number;
  onBackgroundFailure?: BackgroundFailure;
}

interface Pending {
  /** A write this process made that the next read must see. */
  now: boolean;
  /** Writes a read may see within `cachePolicy.staleMs`. */
  soon: boolean;
}

/**
 * The usage indexes of recently read accounts, least recently read dropped first, within a
 * budget of entries. `ready` gives an account's index when it may answer, or nothing: then the
 * caller asks storage, and the index loads behind.
 */
export class UsageIndex {
  private readonly accounts: HeldAccounts<AccountUsage>;
  private readonly loads = new SingleFlight<void>();
  /** Reads of storage for new rows: one at a time per account. */
  private readonly catchUps = new SingleFlight<AccountUsage>();
  private readonly pending = new Map<string, Pending>();
  private readonly onBackgroundFailure: BackgroundFailure;
  /** Answers from memory and from storage, for `/metrics` and the benchmarks. */
  readonly answered = { memory: 0, storage: 0 };

  constructor(
    private readonly store: Store,
    options: UsageIndexOptions = {},
  ) {
    this.accounts = new HeldAccounts(options.maxEntries ?? cachePolicy.usageEntries);
    this.onBackgroundFailure = options.onBackgroundFailure ?? warnOnBackgroundFailure;
  }

  /** Entries held over all accounts. */
  get entries(): number {
    return this.accounts.entries;
  }

  /** Called after this process stored events for these accounts. */
  invalidate(accountIds: Iterable<string>, freshness: Freshness = 'now'): void {
    for (const account of accountIds) {
      // A load under way may have read storage before this write: its first read after is a catch-up.
      if (!this.accounts.get(account) && !this.loads.has(account)) continue;
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
    const usage = this.accounts.read(accountId);
    if (!usage) {
      this.startLoading(accountId);
      this.answered.storage++;
      return undefined;
    }
    const pending = this.pending.get(accountId);
    const age = Date.now() - usage.checkedAt;
    try {
      if (pending?.now || age >= cachePolicy.staleMs) {
        const fresh = await this.catchUp(accountId, usage);
        this.answered.memory++;
        return fresh;
      }
      // At most one read of storage a `confirmMs`, even under a steady stream of writes.
      if (age >= cachePolicy.confirmMs) {
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
    if (this.loads.has(accountId) || this.accounts.recentlyTooBig(accountId)) return;
    void this.loads.join(accountId, () => this.load(accountId).catch((err: unknown) => this.onBackgroundFailure('usage_index_load', err)));
  }

  /** Resolves when no load of the account is running; for tests and benchmarks. */
  async settled(accountId: string): Promise<void> {
    await this.loads.settled(accountId);
    // A failure here was reported by whoever started the catch-up.
    await this.catchUps.settled(accountId);
  }

  private async load(accountId: string): Promise<void> {
    const [row] = await read(this.store, usageCountQuery, { account: accountId });
    if ((row?.n ?? 0) > this.accounts.maxEntries) {
      this.accounts.markTooBig(accountId);
      return;
    }
    // Before the read: a write stored while it runs marks the account for the next read.
    this.pending.delete(accountId);
    const usage = await this.readWhole(accountId);
    this.forget(this.accounts.hold(accountId, usage));
  }

  /** The account read whole, in slices, so requests run between them. */
  private async readWhole(accountId: string): Promise<AccountUsage> {
    const usage = new AccountUsage();
    const { rows } = await this.readStorage(accountId, usage, 0);
    for (let i = 0; i < rows.length; i += APPLY_SLICE) {
      usage.apply(rows.slice(i, i + APPLY_SLICE), usage.readAt - MAX_OVERLAP_MS, i > 0);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Every row of one snapshot: the count agrees with it, unless the count came from another
    // snapshot (a cluster reads each part of a query on the shards apart), when the next read
    // compares again.
    return usage;
  }

  /** A read of storage for the account; `beginNow`: one begun after this call, not one under way. */
  private catchUp(accountId: string, usage: AccountUsage, beginNow = false): Promise<AccountUsage> {
    const read = async () => {
      // The index as held when the read begins: a queued read follows the one before it.
      const held = this.accounts.get(accountId) ?? usage;
      this.pending.delete(accountId);
      const caughtUp = await this.readNew(accountId, held);
      if (this.accounts.get(accountId) !== held) return caughtUp;
      // Held again, at its size now: caught up in place, or read whole as a new index that
      // replaces the old one, which answered meanwhile.
      this.forget(this.accounts.hold(accountId, caughtUp));
      return caughtUp;
    };
    if (!beginNow && !this.pending.get(accountId)?.now) return this.catchUps.join(accountId, read);
    // A read that must see a write waits for a read of storage begun after it. Reads of one
    // account never overlap: two would both apply the rows they share, and count them twice.
    return this.catchUps.next(accountId, read);
  }

  /**
   * The rows stored since the last read, applied so that the index holds exactly what storage
   * does (the invariant at the top): rows stamped since a little before the last read, then, while
   * storage counts more rows than the index holds, the rows of ever wider windows again, and at
   * last the whole account, as a new index.
   */
  private async readNew(accountId: string, usage: AccountUsage): Promise<AccountUsage> {
    let since = usage.readAt - usage.overlapMs();
    for (let wider = 0; wider <= WIDER_WINDOWS_MS.length; wider++) {
      const previousReadAt = usage.readAt;
      const { rows, stored } = await this.readStorage(accountId, usage, since);
      // No await from here: a request sees the index before these rows or after all of them.
      if (wider > 0) usage.forgetStampedFrom(since);
      // Ids are remembered from the widest look-back, whatever the next read's, so it skips
      // every row it returns again.
      usage.apply(rows, usage.readAt - MAX_OVERLAP_MS, false, wider === 0 ? previousReadAt : Number.NEGATIVE_INFINITY);
      if (usage.usageRows === stored) return usage;
      // A row visible later than the look-back allowed for: the next reads look back further.
      if (wider === 0) usage.noteLate(previousReadAt - since);
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

  /**
   * The usage events of the account that the index holds as voided (their pairings in
   * `voided_usage_v2`, as of its last read), when it holds the account. Pairings are never
   * removed, so each of these is paired in storage.
   */
  pairedVoids(accountId: string): ReadonlySet<string> | undefined {
    return this.accounts.get(accountId)?.voided;
  }

  /** Stored usage rows the index holds for the account, when it holds it: a change of it is a change of the account's usage. */
  usageCount(accountId: string): number | undefined {
    return this.accounts.get(accountId)?.usageRows;
  }

  /** Accounts the budget dropped: no write of theirs is waited for. */
  private forget(dropped: string[]): void {
    for (const accountId of dropped) this.pending.delete(accountId);
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
