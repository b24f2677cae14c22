import type { Store } from '../core/clickhouse.js';

/** Keys per lookup query: keeps each query's parameter well under ClickHouse's size limits. */
const LOOKUP_CHUNK = 25_000;

/**
 * `account \x01 event_id`. The contract refuses control characters in both ids, so the
 * separators of this encoding can never appear inside one.
 */
export function eventKey(accountId: string, eventId: string): string {
  return `${accountId}\u0001${eventId}`;
}

export interface BatchLookup {
  /** Keys already stored: these events are duplicates. */
  stored: Set<string>;
  /** Keys that a stored void names as its target. */
  voided: Set<string>;
}

/**
 * One round trip per chunk tells which keys are already stored and which a stored void targets.
 * The keys travel as one newline-joined string parameter, split inside ClickHouse: binding a
 * long array parameter, or parsing the keys as JSON, costs several times more.
 */
export async function lookupKeys(store: Store, keys: string[], accounts: string[]): Promise<BatchLookup> {
  const lookup: BatchLookup = { stored: new Set(), voided: new Set() };
  for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
    const chunk = keys.slice(i, i + LOOKUP_CHUNK);
    const rows = await store.queryRows<{ kind: 'stored' | 'voided'; a: string; e: string }>(
      `SELECT kind, a, e FROM (
         SELECT 'stored' AS kind, account_id AS a, event_id AS e FROM ${store.table('event_keys_v1')}
         WHERE account_id IN {accounts:Array(String)}
         UNION ALL
         SELECT DISTINCT 'voided' AS kind, account_id AS a, voids_event_id AS e FROM ${store.table('voids_v1')}
         WHERE account_id IN {accounts:Array(String)})
       WHERE (a, e) IN (SELECT k[1], k[2] FROM (SELECT splitByChar('\\x01', arrayJoin(splitByChar('\\n', {keys:String}))) AS k))`,
      { accounts, keys: chunk.join('\n') },
    );
    for (const row of rows) lookup[row.kind].add(eventKey(row.a, row.e));
  }
  return lookup;
}
