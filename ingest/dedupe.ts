import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { read, tsvQuery } from '../core/query.js';

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
 * Keys (`eventKey`) travel as one newline-joined string parameter, split inside ClickHouse:
 * binding a long array parameter, or parsing the keys as JSON, costs several times more.
 */
const keyLookup = z.object({ accounts: z.array(z.string()), keys: z.string() });
const keysTable = `(SELECT k[1], k[2] FROM (SELECT splitByChar('\\x01', arrayJoin(splitByChar('\\n', {keys:String}))) AS k))`;

const storedKeysQuery = tsvQuery({
  name: 'ingest.stored_keys',
  params: keyLookup,
  sql: (t) =>
    `SELECT account_id, event_id FROM ${t.table('event_keys_v1')}
     WHERE account_id IN {accounts:Array(String)} AND (account_id, event_id) IN ${keysTable}`,
  columns: { account_id: 'String', event_id: 'String' },
});

/** Every field of the stored events under these keys, as text, in the order `contentOf` compares. */
const storedContentsQuery = tsvQuery({
  name: 'ingest.stored_contents',
  params: keyLookup,
  sql: (t) =>
    `SELECT account_id, event_id, toString(type) AS type, toString(occurred_at) AS occurred_at,
            toString(wallet_type) AS wallet_type, wallet_id, ifNull(toString(amount), '') AS amount,
            ifNull(toString(effective_at), '') AS effective_at, ifNull(toString(expires_at), '') AS expires_at,
            lot_id, sku, order_id, user_id, toString(product) AS product, toString(service) AS service,
            toString(to_wallet_type) AS to_wallet_type, to_wallet_id, voids_event_id, wallet_name
     FROM ${t.table('events_v1')}
     WHERE account_id IN {accounts:Array(String)}
       AND event_id IN (SELECT k[2] FROM (SELECT splitByChar('\\x01', arrayJoin(splitByChar('\\n', {keys:String}))) AS k))
       AND (account_id, event_id) IN ${keysTable}`,
  columns: {
    account_id: 'String', event_id: 'String', type: 'String', occurred_at: 'String', wallet_type: 'String', wallet_id: 'String',
    amount: 'String', effective_at: 'String', expires_at: 'String', lot_id: 'String', sku: 'String', order_id: 'String',
    user_id: 'String', product: 'String', service: 'String', to_wallet_type: 'String', to_wallet_id: 'String',
    voids_event_id: 'String', wallet_name: 'String',
  },
});

/** Which of these keys are already stored: those events are duplicates. One round trip per chunk. */
export async function lookupStoredKeys(store: Store, keys: string[], accounts: string[]): Promise<Set<string>> {
  const stored = new Set<string>();
  for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
    const chunk = keys.slice(i, i + LOOKUP_CHUNK);
    const rows = await read(store, storedKeysQuery, { accounts, keys: chunk.join('\n') });
    for (const [account = '', event = ''] of rows) stored.add(eventKey(account, event));
  }
  return stored;
}

/**
 * The content (`contentOf`) of stored events, by key: compared with a new copy under the same
 * event_id to tell a redelivery from a conflicting payload. Only duplicates are looked up.
 */
export async function storedContents(store: Store, keys: string[], accounts: string[]): Promise<Map<string, string>> {
  const contents = new Map<string, string>();
  for (let i = 0; i < keys.length; i += LOOKUP_CHUNK) {
    const chunk = keys.slice(i, i + LOOKUP_CHUNK);
    const rows = await read(store, storedContentsQuery, { accounts, keys: chunk.join('\n') });
    for (const [account = '', event = '', ...fields] of rows) contents.set(eventKey(account, event), JSON.stringify(fields));
  }
  return contents;
}
