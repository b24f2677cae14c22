import { z } from 'zod';
import { tsvQuery } from '../core/query.js';

/** The aggregator's own read of storage: which accounts changed. */

/** Every account's change count (as `accountChangesQuery`): an account whose count changed is recomputed. */
export const changeCountsQuery = tsvQuery({
  name: 'aggregator.account_changes',
  params: z.object({}),
  sql: (t) => `SELECT account_id, toInt64(sum(changes)) AS changes FROM ${t.table('account_changes_v1')} GROUP BY account_id`,
  columns: { account_id: 'String', changes: 'Int64' },
});
