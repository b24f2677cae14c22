import type { Store } from '../core/clickhouse.js';

/**
 * Pairs stored voids with the stored usage they remove, into `voided_usage_v2`, which every
 * usage read subtracts. It writes the pairings that are missing when it runs; run after both
 * of a usage and its void are stored, whatever their order and whichever processes stored
 * them, it finds the pair. Two runs at once may write a pairing twice: the table is keyed by the
 * voided event and read with FINAL, so it still counts once.
 *
 * The aggregator runs it for an account at each recomputation, which follows any stored event
 * (process.ts), so a run that never happened (a crash after the insert) is made up there. The
 * api process, which stores events and answers reads, also runs it on each batch it stores.
 *
 * Cheap when there is nothing to pair: one look at the account's voids among its events (a
 * table of voids alone bought 1.2× on a 10M-event account, bench/tables.ts). A void whose target
 * is not a stored usage event (a purchase, a move, or one not arrived yet) is looked up again on
 * each run, through the bloom filter on `events_v1.event_id`.
 */
export async function pairVoidedUsage(store: Store, accounts: string[] | 'all'): Promise<void> {
  if (accounts !== 'all' && accounts.length === 0) return;
  const scoped = accounts !== 'all';
  const inAccounts = (column: string) => (scoped ? `${column} IN {accounts:Array(String)}` : '1');
  await store.command(
    `INSERT INTO ${store.table('voided_usage_v2')}
       (account_id, event_id, void_event_id, occurred_at, wallet_type, wallet_id, amount, user_id, product, service)
     SELECT u.account_id, u.event_id, v.void_event_id, u.occurred_at, CAST(u.wallet_type, 'Enum8(\\'team\\' = 1, \\'contract\\' = 2)'),
            u.wallet_id, assumeNotNull(u.amount), u.user_id, u.product, u.service
     FROM ${store.table('events_v1')} AS u
     INNER JOIN (
       SELECT account_id, voids_event_id, min(event_id) AS void_event_id FROM ${store.table('events_v1')}
       WHERE type = 'void' AND ${inAccounts('account_id')}
         AND (account_id, voids_event_id) NOT IN (SELECT account_id, event_id FROM ${store.table('voided_usage_v2')} WHERE ${inAccounts('account_id')})
       GROUP BY account_id, voids_event_id
     ) AS v ON u.account_id = v.account_id AND u.event_id = v.voids_event_id
     WHERE u.type = 'usage' AND ${inAccounts('u.account_id')}
       AND u.event_id IN (
         SELECT voids_event_id FROM ${store.table('events_v1')}
         WHERE type = 'void' AND ${inAccounts('account_id')}
           AND (account_id, voids_event_id) NOT IN (SELECT account_id, event_id FROM ${store.table('voided_usage_v2')} WHERE ${inAccounts('account_id')}))`,
    scoped ? { accounts } : {},
  );
}
