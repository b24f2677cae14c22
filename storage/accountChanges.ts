import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { field, jsonQuery, param, read } from '../core/query.js';

/**
 * An account's change count: rows ever written for it into `events_v1` and `voided_usage_v2` by any
 * process (migration 027). It grows whenever the account changes, and never goes back, not even
 * across a backfill, so a greater count is always the newer state.
 *
 * INVARIANT: a snapshot is never kept while storage holds usage it did not sum, or lots, moves or
 * voids it did not read. The count is a table of its own, fed by views, and ClickHouse makes each
 * table's part of one insert visible on its own: a reader may see the count grow before the rows
 * it counts are visible where the snapshot's usage, lots or moves are read. So every snapshot
 * keeps how many lots, moves and voids it read (`StructureBasis`), and what its usage was summed
 * from (`UsageBasis`), taken before the sums:
 * - summed from the usage index: the account's usage rows in `events_v1` and its paired voids in
 *   `voided_usage_v2`, as the index holds them (equal to storage's after each of its reads);
 * - read from storage: the same two counts and the daily wallet rollup's event count, read from
 *   storage before the usage (`usageBasisQuery`). Each only grows (the rollup sums on merge), so
 *   a part that becomes visible later grows its table's count.
 * Whoever confirms a snapshot reads storage's counts with the change count
 * (`accountChangesAndUsageQuery`; the aggregator's poll, for every account at once) and computes
 * it again when any differs, whatever the change count says.
 */
export const accountChangesQuery = jsonQuery({
  name: 'balances.version',
  params: z.object({ account: param.account }),
  sql: (t) => `SELECT sum(changes) AS v FROM ${t.table('account_changes_v1')} WHERE account_id = {account:String}`,
  rows: z.object({ v: field.int64 }),
});

/** The account's usage as storage counts it (`UsageBasis`), the daily rollup's count with it when `days`. */
const usageCounts = (t: { table(name: string): string }, days: boolean) =>
  `(SELECT count() FROM ${t.table('events_v1')} WHERE account_id = {account:String} AND type = 'usage') AS rows,
   (SELECT uniqExact(event_id) FROM ${t.table('voided_usage_v2')} WHERE account_id = {account:String}) AS voided,
   ${days ? `(SELECT toInt64(sum(events)) FROM ${t.table('usage_wallet_daily_v1')} WHERE account_id = {account:String})` : 'toInt64(0)'} AS days`;

/**
 * How many lots, moves and voids storage holds for the account (`StructureBasis`): the lots and
 * moves tables by their key, the void events from the projection of counts by account and type in
 * each part of `events_v1` (migration 030), so a 10M-event account's voids are counted without
 * reading its rows.
 */
const structureCounts = (t: { table(name: string): string }) =>
  `(SELECT count() FROM ${t.table('lots_v1')} WHERE account_id = {account:String}) AS lots,
   (SELECT count() FROM ${t.table('moves_v1')} WHERE account_id = {account:String}) AS moves,
   (SELECT count() FROM ${t.table('events_v1')} WHERE account_id = {account:String} AND type = 'void') AS voids`;

/**
 * The change count and, from the same statement, the usage storage holds for the account
 * (`UsageBasis`), and its counts of lots, moves and voids (`StructureBasis`); the daily rollup's
 * event count only when `days`: a basis read from storage has it, one summed from the usage index
 * does not.
 */
export const accountChangesAndUsageQuery = jsonQuery({
  name: 'balances.version_and_usage',
  params: z.object({ account: param.account, days: z.boolean() }),
  sql: (t, p) => `SELECT (SELECT sum(changes) FROM ${t.table('account_changes_v1')} WHERE account_id = {account:String}) AS v, ${usageCounts(t, p.days)}, ${structureCounts(t)}`,
  rows: z.object({ v: field.int64, rows: field.int64, voided: field.int64, days: field.int64, lots: field.int64, moves: field.int64, voids: field.int64 }),
});

/** The basis of a snapshot whose usage is read from storage: read before that usage (`UsageBasis`). */
export const usageBasisQuery = jsonQuery({
  name: 'balances.usage_basis',
  params: z.object({ account: param.account }),
  sql: (t) => `SELECT ${usageCounts(t, true)}`,
  rows: z.object({ rows: field.int64, voided: field.int64, days: field.int64 }),
});

/**
 * What a snapshot's usage was summed from, as storage counts it: the account's usage rows in
 * `events_v1`, the usage events paired with a void in `voided_usage_v2`, and, when the usage was
 * read from storage, the events counted by the daily wallet rollup (`usage_wallet_daily_v1`).
 * The usage index holds exactly the first two after each read of storage (`usageIndex.ts`).
 */
export interface UsageBasis {
  rows: number;
  voided: number;
  days?: number;
}

/**
 * What a snapshot's lots, moves and voids were read from: how many rows of the account `lots_v1`
 * and `moves_v1` held, and how many void events `events_v1` held, as the snapshot read them
 * (`structureBasisOf`). Each only grows (rows are never changed or removed; a
 * backfill rebuilds lots and moves from `events_v1`, which holds every event they did), so a
 * snapshot's rows are a subset of storage's, and an equal count is an equal set. Storage holding
 * another count holds other rows: a part of the lots or moves table that became visible after the
 * change count counted its purchase or move.
 */
export interface StructureBasis {
  lots: number;
  moves: number;
  voids: number;
}

/** Whether storage still holds the lots, moves and voids a snapshot was computed from. */
export function sameStructure(basis: StructureBasis, stored: StructureBasis): boolean {
  return basis.lots === stored.lots && basis.moves === stored.moves && basis.voids === stored.voids;
}

/** Whether storage still holds the usage a snapshot was summed from. */
export function sameUsage(basis: UsageBasis, stored: UsageBasis): boolean {
  return basis.rows === stored.rows && basis.voided === stored.voided && (basis.days === undefined || basis.days === stored.days);
}

/** The basis of a snapshot whose usage is about to be read from storage. */
export async function storedUsageBasis(store: Store, account: string): Promise<UsageBasis> {
  const [row] = await read(store, usageBasisQuery, { account });
  return { rows: row?.rows ?? 0, voided: row?.voided ?? 0, days: row?.days ?? 0 };
}
