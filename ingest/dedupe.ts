import type { Store } from '../core/clickhouse.js';

/** Keys per lookup query: keeps the query text well under ClickHouse's URL and query-size limits. */
const LOOKUP_CHUNK = 5_000;

export function eventKey(accountId: string, eventId: string): string {
  return `${accountId}\u0000${eventId}`;
}

export interface BatchLookup {
  /** Keys already stored: these events are duplicates. */
  stored: Set<string>;
  /** Keys that a stored void names as its target. */
  voided: Set<string>;
}

/**
 * One round trip per chunk tells which (account, event_id) keys are already stored and which
 * a stored void targets. The keys travel as one JSON string parameter: binding a long
 * Array(String) parameter costs several times more.
 */
export async function lookupKeys(store: Store, keys: Array<[string, string]>): Promise<BatchLookup> {
  const lookup: BatchLookup = { stored: new Set(), voided: new Set() };
  for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
    const chunk = keys.slice(i, i + LOOKUP_CHUNK);
    const accounts = [...new Set(chunk.map(([a]) => a))];
    const rows = await store.queryRows<{ kind: 'stored' | 'voided'; a: string; e: string }>(
      `WITH batch AS (
         SELECT tupleElement(k, 1) AS a, tupleElement(k, 2) AS e
         FROM (SELECT arrayJoin(JSONExtract({keys:String}, 'Array(Tuple(String, String))')) AS k))
       SELECT 'stored' AS kind, account_id AS a, event_id AS e FROM ${store.table('event_keys_v1')}
       WHERE account_id IN {accounts:Array(String)} AND (account_id, event_id) IN (SELECT a, e FROM batch)
       UNION ALL
       SELECT DISTINCT 'voided' AS kind, account_id AS a, voids_event_id AS e FROM ${store.table('voids_v1')}
       WHERE account_id IN {accounts:Array(String)} AND (account_id, voids_event_id) IN (SELECT a, e FROM batch)`,
      { accounts, keys: JSON.stringify(chunk) },
    );
    for (const row of rows) lookup[row.kind].add(eventKey(row.a, row.e));
  }
  return lookup;
}
