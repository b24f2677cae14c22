import type { Store } from '../core/clickhouse.js';
import { walletKey, type WalletKey } from '../ledger/ledger.js';

/** Every named wallet of an account and its latest name (SPEC section 2). */
export async function loadWalletNames(store: Store, accountId: string): Promise<Map<WalletKey, string>> {
  const rows = await store.queryTsv(
    `SELECT toString(wallet_type), wallet_id, argMaxMerge(name)
     FROM ${store.table('wallet_names_v1')}
     WHERE account_id = {account:String}
     GROUP BY wallet_type, wallet_id`,
    { account: accountId },
  );
  return new Map(rows.map(([type = '', id = '', name = '']) => [walletKey(type, id), name]));
}
