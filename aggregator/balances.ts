import type { Store } from '../core/clickhouse.js';
import { computeLedger, type LedgerResult, type WalletKey } from './ledger.js';
import { loadLedgerInput } from './ledgerSource.js';

export interface Snapshot {
  result: LedgerResult;
  /** Stored events of the account when computed: any new event makes the snapshot stale. */
  version: number;
  changesAt: number;
  /** When the version was last confirmed against storage. */
  checkedAt: number;
}

/**
 * How long a snapshot is trusted without asking storage for the account's version. Writes by
 * this process invalidate it at once; writes by another process show within this bound.
 */
export const VERSION_CHECK_MS = 1_000;

/**
 * Balances per account. The answer for "now" is a snapshot, reused until the account stores
 * another event or the clock passes the next instant at which a lot activates or expires.
 * Answers at another instant are computed for the wallets they concern.
 */
export class BalanceService {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly computing = new Map<string, Promise<Snapshot>>();
  /** Accounts this process stored events for since their snapshot was taken. */
  private readonly dirty = new Set<string>();
  /** Writes by this process per account, so each cache below knows when it is stale. */
  private readonly generations = new Map<string, number>();
  private readonly voidedUsage = new Map<string, { ids: string[]; version: number; generation: number; checkedAt: number }>();

  constructor(
    private readonly store: Store,
    private readonly clock: () => number = Date.now,
  ) {}

  now(): number {
    return this.clock();
  }

  async version(accountId: string): Promise<number> {
    const [row] = await this.store.queryRows<{ v: string }>(
      `SELECT sum(events) AS v FROM ${this.store.table('account_versions_v1')} WHERE account_id = {account:String}`,
      { account: accountId },
    );
    return Number(row?.v ?? 0);
  }

  /** Called by the ingest pipeline of this process after it stored events for these accounts. */
  invalidate(accountIds: Iterable<string>): void {
    for (const accountId of accountIds) {
      this.dirty.add(accountId);
      this.generations.set(accountId, (this.generations.get(accountId) ?? 0) + 1);
    }
  }

  /**
   * The account's voided usage events, which reads of raw usage must leave out. Kept with the
   * same freshness as the snapshots, so a usage query need not read the pairings table.
   */
  async voidedUsageIds(accountId: string): Promise<string[]> {
    const generation = this.generations.get(accountId) ?? 0;
    const cached = this.voidedUsage.get(accountId);
    if (cached && cached.generation === generation && Date.now() - cached.checkedAt < VERSION_CHECK_MS) return cached.ids;
    const version = await this.version(accountId);
    if (cached && cached.version === version) {
      Object.assign(cached, { generation, checkedAt: Date.now() });
      return cached.ids;
    }
    const rows = await this.store.queryRows<{ event_id: string }>(
      `SELECT DISTINCT event_id FROM ${this.store.table('voided_usage_v1')} WHERE account_id = {account:String}`,
      { account: accountId },
    );
    const ids = rows.map((r) => r.event_id);
    this.voidedUsage.set(accountId, { ids, version, generation, checkedAt: Date.now() });
    return ids;
  }

  /** The whole account's ledger at the current instant. */
  async current(accountId: string): Promise<LedgerResult> {
    const at = this.clock();
    const cached = this.snapshots.get(accountId);
    const usable = (s: Snapshot | undefined): s is Snapshot => s !== undefined && at < s.changesAt && at >= s.result.at;
    if (usable(cached) && !this.dirty.has(accountId) && Date.now() - cached.checkedAt < VERSION_CHECK_MS) {
      return { ...cached.result, at };
    }
    this.dirty.delete(accountId);
    const version = await this.version(accountId);
    if (usable(cached) && cached.version === version) {
      cached.checkedAt = Date.now();
      return { ...cached.result, at };
    }
    const key = `${accountId}\u0001${version}`;
    let pending = this.computing.get(key);
    if (!pending) {
      pending = (async () => {
        const input = await loadLedgerInput(this.store, { accountId, at });
        const snapshot = { result: computeLedger(input), version, changesAt: input.changesAt, checkedAt: Date.now() };
        this.snapshots.set(accountId, snapshot);
        return snapshot;
      })().finally(() => this.computing.delete(key));
      this.computing.set(key, pending);
    }
    const snapshot = await pending;
    return snapshot.result;
  }

  /** The ledger at `at` for the wallets connected to `wallet` by moves. */
  async at(accountId: string, wallet: WalletKey, at: number): Promise<LedgerResult> {
    const wallets = await this.connectedWallets(accountId, wallet);
    const input = await loadLedgerInput(this.store, { accountId, at, wallets });
    return computeLedger(input);
  }

  /** A wallet and every wallet that moves link to it, directly or not. */
  async connectedWallets(accountId: string, wallet: WalletKey): Promise<WalletKey[]> {
    const rows = await this.store.queryRows<{ a: string; b: string }>(
      `SELECT DISTINCT concat(toString(wallet_type), '/', from_wallet_id) AS a, concat(toString(wallet_type), '/', to_wallet_id) AS b
       FROM ${this.store.table('moves_v1')} WHERE account_id = {account:String}`,
      { account: accountId },
    );
    const neighbours = new Map<WalletKey, WalletKey[]>();
    for (const { a, b } of rows) {
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

  /** Whether any event of the account names this wallet; stops at the first one found. */
  async walletExists(accountId: string, type: string, id: string): Promise<boolean> {
    const rows = await this.store.queryRows<{ found: number }>(
      `SELECT 1 AS found FROM ${this.store.table('events_v1')}
       WHERE account_id = {account:String} AND wallet_type = {type:String} AND wallet_id = {id:String} LIMIT 1
       UNION ALL
       SELECT 1 AS found FROM ${this.store.table('moves_v1')}
       WHERE account_id = {account:String} AND wallet_type = {type:String} AND to_wallet_id = {id:String} LIMIT 1`,
      { account: accountId, type, id },
    );
    return rows.length > 0;
  }
}
