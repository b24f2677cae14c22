import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { field, jsonQuery, param, read, tsvQuery } from '../core/query.js';
import { breakpointsByWallet, computeLedger, walletKey, type LedgerInput, type LedgerResult, type WalletKey } from '../ledger/ledger.js';
import type { AccountUsage } from './accountUsage.js';
import type { UsageIndex } from './usageIndex.js';
import { loadLedgerInput, loadLedgerStructure, loadUsageInput, structureBasisOf, type LedgerStructure } from './ledgerSource.js';
import { warnOnBackgroundFailure, type BackgroundFailure } from '../core/background.js';
import { cachePolicy, SingleFlight } from '../core/cache.js';
import { accountChangesAndUsageQuery, sameStructure, sameUsage, type UsageBasis } from '../storage/accountChanges.js';

export interface Snapshot {
  result: LedgerResult;
  /**
   * The lots, moves and voids it was computed from: a past instant's ledger reuses them, and
   * storage holding other counts of them makes it stale (`structureBasisOf`).
   */
  input: Pick<LedgerInput, 'lots' | 'moves' | 'voided'> & Pick<LedgerStructure, 'voidEvents'>;
  /** Display names of the account's named wallets, as of the same version. */
  names: Map<WalletKey, string>;
  /** The account's version when computed (`accountChangesQuery`): a greater one makes the snapshot stale. */
  version: number;
  /**
   * What its usage was summed from, from the usage index or from storage: storage holding other
   * usage makes it stale too, though the version is the same (the version may count rows before
   * they are visible: `accountChanges.ts`).
   */
  usage: UsageBasis;
  changesAt: number;
  /** When the version was last confirmed against storage: trusted for `cachePolicy.confirmMs`. */
  checkedAt: number;
  /** Wall-clock time of the computation, for the staleness bound (`cachePolicy.staleMs`). */
  computedAt: number;
  /** Wall-clock time a read was last answered from it: a snapshot read within `staleMs` follows the stream. */
  servedAt: number;
}

/**
 * The least time between the end of one recomputation of an account that follows a stream and
 * the start of the next: batches stored meanwhile are taken together.
 */
export const FOLLOW_GAP_MS = 250;

/**
 * `now`: the writer reads its write back next (an API client); `soon`: within the staleness
 * bound (a Kafka stream, a backfill), a snapshot served meanwhile while a newer one is computed.
 */
export type Freshness = 'now' | 'soon';

/** An API request's writes are read back at once; streamed and bulk writes within the bound. */
export function freshnessOf(source: string): Freshness {
  return source === 'http' ? 'now' : 'soon';
}

export interface BalanceServiceOptions {
  /** Accounts whose snapshot is kept; the least recently read is dropped first. */
  maxAccounts?: number;
  onBackgroundFailure?: BackgroundFailure;
}

/**
 * Balances per account. The answer for "now" is a snapshot, reused until the account stores
 * another event or the clock passes the next instant at which a lot activates or expires.
 * Answers at another instant are computed for the wallets they concern.
 */
export class BalanceService {
  /** Least recently read dropped first; an account dropped is computed again when read. */
  private readonly snapshots: LRUCache<string, Snapshot>;
  /** Accounts whose next read must see this process's latest writes. */
  private readonly dirty = new Set<string>();
  /** Accounts with writes that a read may see a little later. */
  private readonly behind = new Set<string>();
  /** How many times this process stored events for each account; the least recently written dropped first. */
  private readonly writes: LRUCache<string, number>;
  private readonly refreshing = new SingleFlight<Snapshot>();

  private readonly onBackgroundFailure: BackgroundFailure;

  constructor(
    private readonly store: Store,
    private readonly clock: () => number = Date.now,
    options: BalanceServiceOptions = {},
  ) {
    const maxAccounts = options.maxAccounts ?? cachePolicy.snapshotAccounts;
    this.snapshots = new LRUCache<string, Snapshot>({
      max: maxAccounts,
      dispose: (_snapshot, accountId, reason) => {
        if (reason !== 'evict') return;
        // Read fresh when read again: no mark to keep.
        this.dirty.delete(accountId);
        this.behind.delete(accountId);
      },
    });
    this.writes = new LRUCache<string, number>({ max: cachePolicy.writeStampsPerAccount * maxAccounts });
    this.onBackgroundFailure = options.onBackgroundFailure ?? warnOnBackgroundFailure;
  }

  now(): number {
    return this.clock();
  }

  /**
   * Whether the snapshot still holds: the account's version, and storage's counts of the usage it
   * was summed from (`UsageBasis`) and of the lots, moves and voids it read (`StructureBasis`).
   */
  private async stillHolds(accountId: string, cached: Snapshot): Promise<{ holds: boolean; version: number }> {
    const [row] = await read(this.store, accountChangesAndUsageQuery, { account: accountId, days: cached.usage.days !== undefined });
    const version = row?.v ?? 0;
    const holds =
      version === cached.version &&
      sameUsage(cached.usage, { rows: row?.rows ?? 0, voided: row?.voided ?? 0, days: row?.days ?? 0 }) &&
      sameStructure(structureBasisOf(cached.input), { lots: row?.lots ?? 0, moves: row?.moves ?? 0, voids: row?.voids ?? 0 });
    return { holds, version };
  }

  /**
   * Changes whenever this process stores events for the account that must be read back at once
   * (`now`): answers cached under it are not served after them. Streamed writes (`soon`) leave it
   * as it is: they show once the answer's second has passed (`cachePolicy.answerTtlMs`), as
   * another process's writes do, so a stream does not make every repeat of a read compute again.
   */
  writeStamp(accountId: string): number {
    return this.writes.peek(accountId) ?? 0;
  }

  private readonly listeners: Array<(accountIds: string[], freshness: Freshness) => void> = [];
  private usage?: UsageIndex;

  /**
   * Sums usage from this index, when it holds the account, instead of reading it from storage;
   * it learns of this process's writes as balances do.
   */
  useUsageIndex(index: UsageIndex): void {
    this.usage = index;
    this.onInvalidate((accounts, freshness) => index.invalidate(accounts, freshness));
  }

  /** Other read models of this process that must learn of its writes as balances do. */
  onInvalidate(listener: (accountIds: string[], freshness: Freshness) => void): void {
    this.listeners.push(listener);
  }

  /** Called by the ingest pipeline of this process after it stored events for these accounts. */
  invalidate(accountIds: Iterable<string>, freshness: Freshness = 'now'): void {
    const accounts = [...accountIds];
    for (const listener of this.listeners) listener(accounts, freshness);
    for (const accountId of accounts) {
      if (freshness === 'now') this.writes.set(accountId, (this.writes.peek(accountId) ?? 0) + 1);
      // An account with nothing cached or computing is read fresh anyway: no mark to keep.
      if (!this.snapshots.has(accountId) && !this.refreshing.has(accountId)) continue;
      (freshness === 'now' ? this.dirty : this.behind).add(accountId);
      if (freshness === 'soon') this.follow(accountId);
    }
  }

  /**
   * Streamed writes of an account that readers watch (its snapshot answered a read within
   * `staleMs`) are taken in as they are stored, not at the next read after `confirmMs`: a
   * recomputation begins after the one under way, at least `FOLLOW_GAP_MS` after it, and takes
   * in every batch stored until it begins.
   */
  private follow(accountId: string): void {
    const cached = this.snapshots.peek(accountId);
    if (cached && Date.now() - cached.servedAt < cachePolicy.staleMs) this.scheduleRefresh(accountId, FOLLOW_GAP_MS);
  }

  /** The whole account's ledger at the current instant. */
  async current(accountId: string): Promise<LedgerResult> {
    const at = this.clock();
    const cached = this.snapshots.get(accountId);
    const usable = cached !== undefined && at < cached.changesAt && at >= cached.result.at;
    const wall = Date.now();
    if (cached) cached.servedAt = wall;
    if (usable && !this.dirty.has(accountId)) {
      const confirmed = !this.behind.has(accountId) && wall - cached.checkedAt < cachePolicy.confirmMs;
      if (confirmed) return { ...cached.result, at };
      if (wall - cached.computedAt < cachePolicy.staleMs) {
        // Serve what we have; the refresh runs behind it.
        this.refreshBehind(accountId);
        return { ...cached.result, at };
      }
    }
    const snapshot = await this.refresh(accountId);
    return { ...snapshot.result, at: Math.max(at, snapshot.result.at) };
  }

  /** Refreshes waiting for their turn: one a `confirmMs` at most, per account. */
  private readonly scheduled = new Map<string, Promise<void>>();

  /**
   * A refresh behind a served answer: once per account at a time and, under a steady stream of
   * writes, at most once a `confirmMs` after the last one, instead of one after another.
   */
  private refreshBehind(accountId: string): void {
    if (!this.refreshing.has(accountId)) this.scheduleRefresh(accountId, cachePolicy.confirmMs);
  }

  /**
   * One refresh waiting per account: it begins once the refresh running ends and `gapMs` after
   * the account's snapshot was last checked, so it takes in every write stored before it begins.
   */
  private scheduleRefresh(accountId: string, gapMs: number): void {
    if (this.scheduled.has(accountId)) return;
    const later = Promise.allSettled([this.refreshing.get(accountId)])
      .then(() => {
        const wait = (this.snapshots.peek(accountId)?.checkedAt ?? 0) + gapMs - Date.now();
        return wait > 0 ? new Promise<void>((resolve) => setTimeout(resolve, wait).unref()) : undefined;
      })
      .then(() => {
        this.scheduled.delete(accountId);
        // Begun after the write: one running now began after the wait above, so it is joined.
        return this.refresh(accountId);
      })
      .then(
        () => undefined,
        (err: unknown) => this.onBackgroundFailure('snapshot_refresh', err),
      );
    this.scheduled.set(accountId, later);
  }

  /**
   * The lots, moves and voids the account's snapshot was computed from, as fresh as `current`
   * last made it; for reads that run the ledger over them at other instants (a balance history).
   */
  snapshotInput(accountId: string): Snapshot['input'] | undefined {
    return this.snapshots.peek(accountId)?.input;
  }

  /** The last computed ledger of the account, however old, without asking storage; for existence checks. */
  latest(accountId: string): LedgerResult | undefined {
    return this.snapshots.peek(accountId)?.result;
  }

  /**
   * Display names of the account's wallets, as of the snapshot `current` last answered from;
   * a wallet never named is absent.
   */
  namesOf(accountId: string): Map<WalletKey, string> {
    return this.snapshots.peek(accountId)?.names ?? new Map();
  }

  /** Resolves when no refresh of the account is running. */
  async settled(accountId: string): Promise<void> {
    await this.scheduled.get(accountId);
    // A failure here was reported by the refresh's own reader.
    await this.refreshing.settled(accountId);
  }

  /**
   * Confirms the snapshot against storage, recomputing it when the account has changed. Reads
   * share the refresh running, except one that must see a write: it does not wait for an older one.
   */
  private refresh(accountId: string): Promise<Snapshot> {
    const compute = async () => {
      // Marked: this process stored events for the account since the snapshot, so its version
      // has grown; the version is then read with the ledger's input, in one statement.
      const marked = this.dirty.has(accountId) || this.behind.has(accountId);
      this.dirty.delete(accountId);
      this.behind.delete(accountId);
      const at = this.clock();
      const cached = this.snapshots.peek(accountId);
      let checked: number | undefined;
      if (cached && !marked && at < cached.changesAt && at >= cached.result.at) {
        const { holds, version } = await this.stillHolds(accountId, cached);
        checked = version;
        if (holds) {
          cached.checkedAt = Date.now();
          return cached;
        }
      }
      // The version is read before the input's usage, from memory when held there and caught
      // up by a read begun after the version's; lots, moves, voids and names in the same
      // statement as the version, or after it.
      const structure = await loadLedgerStructure(this.store, { accountId }, { names: true, version: checked === undefined });
      const version = checked ?? structure.version ?? 0;
      const usage = await this.usage?.fresh(accountId);
      const input = await loadLedgerInput(this.store, { accountId, at }, usage, structure, { basis: true });
      const snapshot: Snapshot = { result: computeLedger(input), input: { lots: input.lots, moves: input.moves, voided: input.voided, voidEvents: structure.voidEvents }, names: structure.names ?? new Map(), version, usage: input.basis, changesAt: input.changesAt, checkedAt: Date.now(), computedAt: Date.now(), servedAt: cached?.servedAt ?? Date.now() };
      // Two refreshes may overlap (a read that must see a write does not wait for an older
      // one); the older must not replace the newer.
      const current = this.snapshots.peek(accountId);
      if (!current || current.version <= version) this.snapshots.set(accountId, snapshot);
      return snapshot;
    };
    return this.dirty.has(accountId) ? this.refreshing.begin(accountId, compute) : this.refreshing.join(accountId, compute);
  }

  /**
   * The ledger at `at` for the wallets connected to `wallet` by moves. With the account's
   * snapshot held (or its usage in memory), lots, moves and voids come from the snapshot, kept
   * as fresh as "now" answers are, and usage from memory (`UsageIndex`) or, failing that, from
   * one read of the group's usage; otherwise everything is read from storage.
   */
  async at(accountId: string, wallet: WalletKey, at: number, usage?: AccountUsage): Promise<LedgerResult> {
    if (usage || this.snapshots.has(accountId)) {
      await this.current(accountId);
      const input = this.snapshots.peek(accountId)?.input;
      if (input) return this.atFromSnapshot(accountId, input, wallet, at, usage);
    }
    const wallets = await this.connectedWallets(accountId, wallet);
    const input = await loadLedgerInput(this.store, { accountId, at, wallets });
    return computeLedger(input);
  }

  private async atFromSnapshot(accountId: string, input: Snapshot['input'], wallet: WalletKey, at: number, usage?: AccountUsage): Promise<LedgerResult> {
    const wallets = connected(wallet, input.moves.map((m) => [m.from, m.to]));
    const group = new Set(wallets);
    const lots = input.lots.filter((l) => group.has(l.wallet));
    const moves = input.moves.filter((m) => group.has(m.from));
    const breakpoints = breakpointsByWallet(lots, moves, at);
    // Memory cannot order usage at a move's very instant (no event ids): then storage answers.
    const usageSegments = usage?.segments(group, at, breakpoints.points, breakpoints.moveInstants);
    const found = usageSegments ? { usageEvents: [], usageSegments } : await loadUsageInput(this.store, { accountId, at, wallets }, breakpoints);
    return computeLedger({ at, lots, moves, voided: input.voided, usageEvents: found.usageEvents, usageSegments: found.usageSegments });
  }

  /** A wallet and every wallet that moves link to it, directly or not. */
  async connectedWallets(accountId: string, wallet: WalletKey): Promise<WalletKey[]> {
    const rows = await read(this.store, moveLinksQuery, { account: accountId });
    return connected(wallet, rows.map(([type = '', from = '', to = '']) => [walletKey(type, from), walletKey(type, to)]));
  }

  /** Whether any event of the account names this wallet; stops at the first one found. */
  async walletExists(accountId: string, type: string, id: string): Promise<boolean> {
    const rows = await read(this.store, walletFoundQuery, { account: accountId, type, id });
    return rows.length > 0;
  }
}

/** A wallet and every wallet that these links (moves) connect to it, directly or not. */
export function connected(wallet: WalletKey, links: Array<[WalletKey, WalletKey]>): WalletKey[] {
  const neighbours = new Map<WalletKey, WalletKey[]>();
  for (const [a, b] of links) {
    neighbours.set(a, [...(neighbours.get(a) ?? []), b]);
    neighbours.set(b, [...(neighbours.get(b) ?? []), a]);
  }
  const seen = new Set<WalletKey>([wallet]);
  const queue = [wallet];
  while (queue.length) {
    for (const next of neighbours.get(queue.pop() as WalletKey) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return [...seen];
}

/** The account's moves as links between wallets. */
const moveLinksQuery = tsvQuery({
  name: 'balances.move_links',
  params: z.object({ account: param.account }),
  sql: (t) => `SELECT DISTINCT toString(wallet_type) AS type, from_wallet_id, to_wallet_id FROM ${t.table('moves_v1')} WHERE account_id = {account:String}`,
  columns: { type: 'String', from_wallet_id: 'String', to_wallet_id: 'String' },
});

/** A row when an event of the account names the wallet (or a move fills it); none when not. */
const walletFoundQuery = jsonQuery({
  name: 'balances.wallet_found',
  params: z.object({ account: param.account, type: z.string(), id: z.string() }),
  sql: (t) =>
    `SELECT 1 AS found FROM ${t.table('events_v1')}
     WHERE account_id = {account:String} AND wallet_type = {type:String} AND wallet_id = {id:String} LIMIT 1
     UNION ALL
     SELECT 1 AS found FROM ${t.table('moves_v1')}
     WHERE account_id = {account:String} AND wallet_type = {type:String} AND to_wallet_id = {id:String} LIMIT 1`,
  rows: z.object({ found: field.int }),
});
