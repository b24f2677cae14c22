import type { Store } from '../core/clickhouse.js';

/**
 * Keeps the usage rollups free of voided usage. For every stored usage that a stored void
 * targets there must be exactly one row in `voided_usage_v1`, whose materialized views subtract
 * it from the rollups. A void may come before or after its target, so this runs for the usage
 * keys and void targets of each batch after the batch is stored. It writes only the pairings
 * that are missing, which makes it safe to run again on a redelivered batch.
 *
 * `keys` limits the work to those (account, event_id) keys; 'all' pairs the whole store, as a
 * backfill does.
 */
export async function pairVoidedUsage(store: Store, keys: Array<[string, string]> | 'all'): Promise<void> {
  if (keys !== 'all' && keys.length === 0) return;
  const scoped = keys !== 'all';
  const params = scoped ? { accounts: [...new Set(keys.map(([a]) => a))], keys: JSON.stringify(keys) } : {};
  const batch = `(SELECT tupleElement(k, 1), tupleElement(k, 2)
                  FROM (SELECT arrayJoin(JSONExtract({keys:String}, 'Array(Tuple(String, String))')) AS k))`;
  const inBatch = (account: string, event: string) =>
    scoped ? `${account} IN {accounts:Array(String)} AND (${account}, ${event}) IN ${batch}` : '1';
  await store.command(
    `INSERT INTO ${store.table('voided_usage_v1')}
       (account_id, event_id, void_event_id, occurred_at, wallet_type, wallet_id, amount, user_id, product, service)
     SELECT u.account_id, u.event_id, v.void_event_id, u.occurred_at, CAST(u.wallet_type, 'Enum8(\\'team\\' = 1, \\'contract\\' = 2)'),
            u.wallet_id, assumeNotNull(u.amount), u.user_id, u.product, u.service
     FROM ${store.table('events_v1')} AS u
     INNER JOIN (
       SELECT account_id, voids_event_id, min(event_id) AS void_event_id FROM ${store.table('voids_v1')}
       WHERE ${inBatch('account_id', 'voids_event_id')}
       GROUP BY account_id, voids_event_id
     ) AS v ON u.account_id = v.account_id AND u.event_id = v.voids_event_id
     WHERE u.type = 'usage'${scoped ? ' AND u.account_id IN {accounts:Array(String)}' : ''}
       AND (u.account_id, u.event_id) NOT IN (
         SELECT account_id, event_id FROM ${store.table('voided_usage_v1')} WHERE ${inBatch('account_id', 'event_id')})`,
    params,
  );
}
