import { z } from 'zod';
import { param, tsvQuery } from '../core/query.js';

/** The aggregator's own read of storage: which accounts changed. */

/**
 * Every account's change count (as `accountChangesQuery`), with the usage storage holds for it
 * (`UsageBasis`: usage rows in `events_v1`, paired voids in `voided_usage_v2`, and for `rolled`
 * the daily wallet rollup's event count) and its lots, moves and voids (`StructureBasis`): an
 * account whose count changed, or whose usage or structure differs from what its last snapshot
 * read, is recomputed. Usage and structure are counted only for `summed`, the accounts with a
 * snapshot (0 for the others), usage rows and voids from the projection of counts by account
 * and type in each part of `events_v1` (migration 030), not from the rows; the rollup only for
 * `rolled`, the accounts whose last snapshot read its usage from storage. A list longer than
 * `LISTED_ACCOUNTS` is not sent (`everySummed`, `everyRolled`): every account is counted instead,
 * since a server takes parameters in the request's URL, whose size it bounds.
 */
export const LISTED_ACCOUNTS = 1_000;

export const changeCountsQuery = tsvQuery({
  name: 'aggregator.account_changes',
  params: z.object({ summed: param.texts, rolled: param.texts, everySummed: z.boolean(), everyRolled: z.boolean() }),
  sql: (t, p) => {
    const changes = `SELECT account_id, toInt64(sum(changes)) AS changes FROM ${t.table('account_changes_v1')} GROUP BY account_id`;
    const summing = p.everySummed || p.summed.length > 0;
    const rolling = p.everyRolled || p.rolled.length > 0;
    if (!summing) return `SELECT account_id, changes, toInt64(0) AS rows, toInt64(0) AS voided, toInt64(0) AS days, toInt64(0) AS lots, toInt64(0) AS moves, toInt64(0) AS voids FROM (${changes})`;
    /** Rows of the listed accounts, or of every account. */
    const of = (list: 'summed' | 'rolled', every: boolean) => (every ? '1' : `account_id IN {${list}:Array(String)}`);
    const days = rolling
      ? `
     LEFT JOIN (SELECT account_id, toInt64(sum(events)) AS days FROM ${t.table('usage_wallet_daily_v1')}
                WHERE ${of('rolled', p.everyRolled)} GROUP BY account_id) AS d ON d.account_id = c.account_id`
      : '';
    /** A count of the summed accounts' rows of a table, by account (as `accountChangesAndUsageQuery` counts one account's). */
    const counted = (table: string, as: string, where = '') =>
      `LEFT JOIN (SELECT account_id, toInt64(count()) AS ${as} FROM ${t.table(table)}
                WHERE ${where}${of('summed', p.everySummed)} GROUP BY account_id) AS n_${as} ON n_${as}.account_id = c.account_id`;
    return `SELECT c.account_id AS account_id, c.changes AS changes, n_rows.rows AS rows, p.voided AS voided, ${rolling ? 'd.days' : 'toInt64(0)'} AS days,
            n_lots.lots AS lots, n_moves.moves AS moves, n_voids.voids AS voids
     FROM (${changes}) AS c
     ${counted('events_v1', 'rows', "type = 'usage' AND ")}
     ${counted('lots_v1', 'lots')}
     ${counted('moves_v1', 'moves')}
     ${counted('events_v1', 'voids', "type = 'void' AND ")}
     LEFT JOIN (SELECT account_id, toInt64(uniqExact(event_id)) AS voided FROM ${t.table('voided_usage_v2')}
                WHERE ${of('summed', p.everySummed)} GROUP BY account_id) AS p ON p.account_id = c.account_id${days}`;
  },
  columns: { account_id: 'String', changes: 'Int64', rows: 'Int64', voided: 'Int64', days: 'Int64', lots: 'Int64', moves: 'Int64', voids: 'Int64' },
});

/** The poll's parameters for these accounts: a list longer than `LISTED_ACCOUNTS` is not sent. */
export function changeCountsParams(summed: string[], rolled: string[]) {
  const everySummed = summed.length > LISTED_ACCOUNTS;
  const everyRolled = rolled.length > LISTED_ACCOUNTS;
  return { summed: everySummed ? [] : summed, rolled: everyRolled ? [] : rolled, everySummed, everyRolled };
}
