import type { Store } from '../core/clickhouse.js';

/** Keys per lookup query: keeps the query text well under ClickHouse's URL and query-size limits. */
const LOOKUP_CHUNK = 5_000;

export function eventKey(accountId: string, eventId: string): string {
  return `${accountId}\u0000${eventId}`;
}

/**
 * Which of these (account, event_id) keys are already stored. The keys travel as one JSON
 * string parameter: binding a long Array(String) parameter costs several times more.
 */
export async function findStoredKeys(store: Store, keys: Array<[string, string]>): Promise<Set<string>> {
  const stored = new Set<string>();
  for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
    const chunk = keys.slice(i, i + LOOKUP_CHUNK);
    const accounts = [...new Set(chunk.map(([a]) => a))];
    const rows = await store.queryRows<{ a: string; e: string }>(
      `SELECT account_id AS a, event_id AS e FROM ${store.table('event_keys_v1')}
       WHERE account_id IN {accounts:Array(String)}
         AND (account_id, event_id) IN (
           SELECT tupleElement(k, 1), tupleElement(k, 2)
           FROM (SELECT arrayJoin(JSONExtract({keys:String}, 'Array(Tuple(String, String))')) AS k))`,
      { accounts, keys: JSON.stringify(chunk) },
    );
    for (const row of rows) stored.add(eventKey(row.a, row.e));
  }
  return stored;
}
