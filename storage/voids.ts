import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { param, read, tsvQuery, type Tables } from '../core/query.js';

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
 * Cheap when there is nothing to pair: a read finds the accounts with a pair to write (a stored
 * void not yet paired whose target is a stored usage event), and only those are written, so a run
 * that finds nothing writes nothing. A void stored after that read is seen by the next run, which
 * follows it. A void whose target is not a stored usage event (a purchase, a move, or one not
 * arrived yet) is looked up again on each run, through the bloom filter on `events_v1.event_id`.
 */
export async function pairVoidedUsage(store: Store, accountIds: string[] | 'all'): Promise<void> {
  const accounts = accountIds === 'all' ? accountIds : await withUnpairedVoids(store, accountIds);
  if (accounts !== 'all' && accounts.length === 0) return;
  const scoped = accounts !== 'all';
  const inAccounts = scoped ? inListed : () => '1';
  const unpaired = unpairedVoid(store, inAccounts);
  await store.command(
    `INSERT INTO ${store.table('voided_usage_v2')}
       (account_id, event_id, void_event_id, occurred_at, wallet_type, wallet_id, amount, user_id, product, service)
     SELECT u.account_id, u.event_id, v.void_event_id, u.occurred_at, CAST(u.wallet_type, 'Enum8(\\'team\\' = 1, \\'contract\\' = 2)'),
            u.wallet_id, assumeNotNull(u.amount), u.user_id, u.product, u.service
     FROM ${store.table('events_v1')} AS u
     INNER JOIN (
       SELECT account_id, voids_event_id, min(event_id) AS void_event_id FROM ${store.table('events_v1')}
       WHERE ${unpaired}
       GROUP BY account_id, voids_event_id
     ) AS v ON u.account_id = v.account_id AND u.event_id = v.voids_event_id
     WHERE u.type = 'usage' AND ${inAccounts('u.account_id')}
       AND u.event_id IN (SELECT voids_event_id FROM ${store.table('events_v1')} WHERE ${unpaired})`,
    scoped ? { accounts } : {},
  );
}

/** The accounts among these with a pair to write: the pairing's own join, read without writing. */
async function withUnpairedVoids(store: Store, accounts: string[]): Promise<string[]> {
  if (accounts.length === 0) return [];
  const rows = await read(store, unpairedVoidsQuery, { accounts });
  return rows.map(([accountId = '']) => accountId);
}

/** The column is one of the accounts the `accounts` parameter lists. */
const inListed = (column: string) => `${column} IN {accounts:Array(String)}`;

/** A row of `events_v1` that is a void of the accounts `inAccounts` admits, not yet paired. */
function unpairedVoid(t: Pick<Tables, 'table'>, inAccounts: (column: string) => string): string {
  return `type = 'void' AND ${inAccounts('account_id')}
         AND (account_id, voids_event_id) NOT IN (SELECT account_id, event_id FROM ${t.table('voided_usage_v2')} WHERE ${inAccounts('account_id')})`;
}

const unpairedVoidsQuery = tsvQuery({
  name: 'voids.unpaired',
  params: z.object({ accounts: param.texts }),
  sql: (t) =>
    `SELECT DISTINCT account_id FROM ${t.table('events_v1')}
     WHERE type = 'usage' AND account_id IN {accounts:Array(String)}
       AND (account_id, event_id) IN (
         SELECT account_id, voids_event_id FROM ${t.table('events_v1')}
         WHERE ${unpairedVoid(t, inListed)})`,
  columns: { account_id: 'String' },
});
