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

/**
 * Which of these keys are already stored: those events are duplicates. One round trip per
 * chunk; the keys travel as one newline-joined string parameter, split inside ClickHouse:
 * binding a long array parameter, or parsing the keys as JSON, costs several times more.
 */
export async function lookupStoredKeys(store: Store, keys: string[], accounts: string[]): Promise<Set<string>> {
  const stored = new Set<string>();
  for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
    const chunk = keys.slice(i, i + LOOKUP_CHUNK);
    const rows = await store.queryTsv(
      `SELECT account_id, event_id FROM ${store.table('event_keys_v1')}
       WHERE account_id IN {accounts:Array(String)}
         AND (account_id, event_id) IN (SELECT k[1], k[2] FROM (SELECT splitByChar('\\x01', arrayJoin(splitByChar('\\n', {keys:String}))) AS k))`,
      { accounts, keys: chunk.join('\n') },
    );
    for (const [account = '', event = ''] of rows) stored.add(eventKey(account, event));
  }
  return stored;
}
