import { z } from 'zod';
import { LRUCache } from 'lru-cache';
import type { Store } from '../core/clickhouse.js';
import { cachePolicy } from '../core/cache.js';
import { read, tsvQuery } from '../core/query.js';
import { toScaled } from '../core/decimal.js';
import { walletKey, type WalletKey } from '../ledger/ledger.js';
import { voidedUsageRows } from './voidedUsage.js';

/**
 * Each account's voided usage events (its pairings, `voided_usage_v2`) by wallet, held for reads
 * of one wallet's raw usage, which subtract them: few (one usage event in a thousand in the
 * benchmark), confirmed by a count, and read whole again only when it changed.
 */

/** A voided usage event, as a read of raw usage subtracts it. */
export interface Pairing {
  at: number;
  amount: bigint;
  service: string;
  user: string;
  product: string;
}

/** Every pairing of an account (`voided_usage_v2`): one row per voided event, however often paired. */
const pairingsQuery = tsvQuery({
  name: 'usage.pairings',
  params: z.object({ account: z.string().min(1) }),
  sql: (t) =>
    `SELECT toString(wallet_type) AS wallet_type, wallet_id, toUnixTimestamp64Milli(occurred_at) AS at, toString(amount) AS amount,
            toString(service) AS service, user_id, toString(product) AS product
     FROM ${voidedUsageRows(t, 'account_id = {account:String}', 'raw')}`,
  columns: { wallet_type: 'String', wallet_id: 'String', at: 'Int64', amount: 'String', service: 'String', user_id: 'String', product: 'String' },
});

/**
 * How long an account's pairings are used without asking storage whether they changed, absent
 * writes by this process: pairings made by another process or by the aggregator show within this
 * bound, as balances show those writes (`cachePolicy.confirmMs`). A write by this process is seen
 * at once: the caller passes its write stamp, and a new stamp asks again.
 */
export const PAIRINGS_FRESH_MS = cachePolicy.confirmMs;

/**
 * How many events of the account have a pairing. Pairings are only ever added (a voided event
 * stays voided), so an unchanged count means an unchanged set: held pairings are confirmed by
 * this small read instead of being read whole again.
 */
const pairedCountQuery = tsvQuery({
  name: 'usage.paired_count',
  params: z.object({ account: z.string().min(1) }),
  sql: (t) => `SELECT uniqExact(event_id) AS n FROM ${t.table('voided_usage_v2')} WHERE account_id = {account:String}`,
  columns: { n: 'UInt64' },
});

interface HeldPairings {
  /** This process's write stamp of the account when they were read. */
  stamp: number;
  /** When the read, or the last count that confirmed it, began. */
  checkedAt: number;
  byWallet: Promise<{ count: number; byWallet: Map<WalletKey, Pairing[]> }>;
}

/** Each held account's pairings by wallet; few (one usage event in a thousand in the benchmark). */
export class AccountPairings {
  private readonly held: LRUCache<string, HeldPairings>;

  constructor(
    private readonly store: Store,
    private readonly clock: () => number = Date.now,
    maxAccounts: number = cachePolicy.pairingAccounts,
  ) {
    this.held = new LRUCache({ max: maxAccounts });
  }

  /**
   * The account's pairings as storage held them at most PAIRINGS_FRESH_MS ago and after this
   * process's last write (`stamp`): past either, their count is read again, and they are read
   * whole only when it changed.
   */
  async of(accountId: string, stamp: number): Promise<Map<WalletKey, Pairing[]>> {
    const held = this.held.get(accountId);
    if (held && held.stamp === stamp && this.clock() - held.checkedAt < PAIRINGS_FRESH_MS) return (await held.byWallet).byWallet;
    const checkedAt = this.clock();
    if (held) {
      const [[n = '-1'] = []] = await read(this.store, pairedCountQuery, { account: accountId });
      const { count, byWallet } = await held.byWallet;
      if (Number(n) === count) {
        this.held.set(accountId, { stamp, checkedAt, byWallet: held.byWallet });
        return byWallet;
      }
    }
    const entry: HeldPairings = { stamp, checkedAt, byWallet: this.read(accountId) };
    this.held.set(accountId, entry);
    // A failed read is not kept: the next caller reads again, and this one receives the failure.
    entry.byWallet.catch(() => this.held.get(accountId) === entry && this.held.delete(accountId));
    return (await entry.byWallet).byWallet;
  }

  private async read(accountId: string): Promise<{ count: number; byWallet: Map<WalletKey, Pairing[]> }> {
    const rows = await read(this.store, pairingsQuery, { account: accountId });
    const byWallet = new Map<WalletKey, Pairing[]>();
    for (const [type = '', id = '', at = '0', amount = '0', service = '', user = '', product = ''] of rows) {
      const key = walletKey(type, id);
      const list = byWallet.get(key) ?? [];
      list.push({ at: Number(at), amount: toScaled(amount), service, user, product });
      byWallet.set(key, list);
    }
    return { count: rows.length, byWallet };
  }
}
