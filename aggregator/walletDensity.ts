import type { Store } from '../core/clickhouse.js';
import type { WalletKey } from './ledger.js';
import { warnOnBackgroundFailure, type BackgroundFailure } from '../core/background.js';

/**
 * How busy each wallet is, for choosing how to read its usage: the most usage events each
 * wallet of an account has had in one day. An account's figures load in the background on
 * first use and again once they are older than `maxAgeMs`; reads never wait for them. They only
 * choose between plans that give the same exact answer, so a stale figure costs speed, never
 * correctness.
 */
export class WalletDensity {
  private readonly accounts = new Map<string, { loadedAt: number; peaks: Map<WalletKey, number> }>();
  private readonly loading = new Map<string, Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly maxAgeMs = 5 * 60_000,
    /** Accounts whose figures are kept; the least recently loaded go first. */
    private readonly maxAccounts = 10_000,
    private readonly onBackgroundFailure: BackgroundFailure = warnOnBackgroundFailure,
  ) {}

  /** The wallet's busiest day in events, or undefined while unknown. */
  peakPerDay(accountId: string, walletType: string, walletId: string): number | undefined {
    const entry = this.accounts.get(accountId);
    if (!entry || Date.now() - entry.loadedAt > this.maxAgeMs) this.load(accountId).catch((err: unknown) => this.onBackgroundFailure('wallet_density_load', err));
    return entry?.peaks.get(`${walletType}/${walletId}`);
  }

  /** Loads the account's figures; one load per account at a time. */
  load(accountId: string): Promise<void> {
    const running = this.loading.get(accountId);
    if (running) return running;
    const work = (async () => {
      const rows = await this.store.queryTsv(
        // A day's rows may not have been summed into one yet.
        `SELECT wallet_type, wallet_id, max(events)
         FROM (SELECT wallet_type, wallet_id, sum(events) AS events FROM ${this.store.table('usage_wallet_daily_v1')}
               WHERE account_id = {account:String} GROUP BY wallet_type, wallet_id, day)
         GROUP BY wallet_type, wallet_id`,
        { account: accountId },
      );
      const peaks = new Map(rows.map(([type = '', id = '', peak = '0']): [WalletKey, number] => [`${type}/${id}`, Number(peak)]));
      this.accounts.delete(accountId);
      this.accounts.set(accountId, { loadedAt: Date.now(), peaks });
      if (this.accounts.size > this.maxAccounts) this.accounts.delete(this.accounts.keys().next().value as string);
    })().finally(() => this.loading.delete(accountId));
    this.loading.set(accountId, work);
    return work;
  }
}
