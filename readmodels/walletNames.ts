import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { param, read, tsvQuery } from '../core/query.js';
import { walletKey, type WalletKey } from '../ledger/ledger.js';

const walletNamesQuery = tsvQuery({
  name: 'wallets.names',
  params: z.object({ account: param.account }),
  sql: (t) =>
    `SELECT toString(wallet_type) AS type, wallet_id, argMaxMerge(name) AS name
     FROM ${t.table('wallet_names_v1')}
     WHERE account_id = {account:String}
     GROUP BY wallet_type, wallet_id`,
  columns: { type: 'String', wallet_id: 'String', name: 'String' },
});

/** Every named wallet of an account and its latest name (SPEC section 2). */
export async function loadWalletNames(store: Store, accountId: string): Promise<Map<WalletKey, string>> {
  const rows = await read(store, walletNamesQuery, { account: accountId });
  return new Map(rows.map(([type = '', id = '', name = '']) => [walletKey(type, id), name]));
}
