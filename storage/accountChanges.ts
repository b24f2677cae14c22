import { z } from 'zod';
import { field, jsonQuery, param } from '../core/query.js';

/**
 * An account's change count: rows ever written for it into `events_v1` and `voided_usage_v2` by any
 * process (migration 027). It grows whenever the account changes, and never goes back, not even
 * across a backfill, so a greater count is always the newer state.
 */
export const accountChangesQuery = jsonQuery({
  name: 'balances.version',
  params: z.object({ account: param.account }),
  sql: (t) => `SELECT sum(changes) AS v FROM ${t.table('account_changes_v1')} WHERE account_id = {account:String}`,
  rows: z.object({ v: field.int64 }),
});
