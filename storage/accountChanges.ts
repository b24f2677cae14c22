import { z } from 'zod';
import { field, jsonQuery, param } from '../core/query.js';

/**
 * An account's change count: rows ever written for it into `events_v1` and `voided_usage_v2` by any
 * process (migration 027). It grows whenever the account changes, and never goes back, not even
 * across a backfill, so a greater count is always the newer state.
 *
 * The count is a table of its own, fed by views, and ClickHouse makes each table's part of one
 * insert visible on its own: a reader may see the count grow before the usage rows it counts.
 * So a snapshot summed from the usage index keeps what it summed (`UsageBasis`): the account's
 * usage rows in `events_v1` and its paired voids in `voided_usage_v2`. Whoever confirms it reads
 * storage's with the change count (`accountChangesAndUsageQuery`; the aggregator's poll, for every
 * account it summed so at once), and computes it again when they differ, whatever the change
 * count says.
 */
export const accountChangesQuery = jsonQuery({
  name: 'balances.version',
  params: z.object({ account: param.account }),
  sql: (t) => `SELECT sum(changes) AS v FROM ${t.table('account_changes_v1')} WHERE account_id = {account:String}`,
  rows: z.object({ v: field.int64 }),
});

/** The change count and, from the same statement, the usage storage holds for the account (`UsageBasis`). */
export const accountChangesAndUsageQuery = jsonQuery({
  name: 'balances.version_and_usage',
  params: z.object({ account: param.account }),
  sql: (t) =>
    `SELECT (SELECT sum(changes) FROM ${t.table('account_changes_v1')} WHERE account_id = {account:String}) AS v,
            (SELECT count() FROM ${t.table('events_v1')} WHERE account_id = {account:String} AND type = 'usage') AS rows,
            (SELECT uniqExact(event_id) FROM ${t.table('voided_usage_v2')} WHERE account_id = {account:String}) AS voided`,
  rows: z.object({ v: field.int64, rows: field.int64, voided: field.int64 }),
});

/**
 * What a snapshot's usage was summed from, as storage counts it: the account's usage rows in
 * `events_v1` and the usage events paired with a void in `voided_usage_v2`. The usage index holds
 * exactly these after each read of storage (`usageIndex.ts`).
 */
export interface UsageBasis {
  rows: number;
  voided: number;
}

/** Whether storage still holds the usage a snapshot was summed from; true when it was not summed from the index. */
export function sameUsage(basis: UsageBasis | undefined, stored: UsageBasis): boolean {
  return basis === undefined || (basis.rows === stored.rows && basis.voided === stored.voided);
}
