import { z } from 'zod';
import { field, jsonQuery, param, tsvQuery } from '../core/query.js';

/** The aggregator's own reads of storage: which accounts changed, and when an account's usage next comes into range. */

/** Every account's change count (as `accountChangesQuery`): an account whose count changed is recomputed. */
export const changeCountsQuery = tsvQuery({
  name: 'aggregator.account_changes',
  params: z.object({}),
  sql: (t) => `SELECT account_id, toInt64(sum(changes)) AS changes FROM ${t.table('account_changes_v1')} GROUP BY account_id`,
  columns: { account_id: 'String', changes: 'Int64' },
});

/** The first usage dated after `at`, if any. */
export const nextUsageQuery = jsonQuery({
  name: 'aggregator.next_usage',
  params: z.object({ account: param.account, at: param.millis }),
  sql: (t) =>
    `SELECT if(count() = 0, NULL, toUnixTimestamp64Milli(min(occurred_at))) AS next
     FROM ${t.table('usage_by_time_v1')}
     WHERE account_id = {account:String} AND occurred_at > fromUnixTimestamp64Milli({at:Int64}, 'UTC')`,
  rows: z.object({ next: field.int64.nullable() }),
});
