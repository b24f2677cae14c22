import type { Tables } from '../core/query.js';

/**
 * The voided usage an account's reads subtract, as a subquery of its rows: one row per voided
 * event however often it was paired. `where` filters on the table's own columns (wallet, time)
 * and must scope by `account_id`.
 *
 * What to subtract depends on what the read sums. Pairings copied by migration 017 (`netted = 1`)
 * were already taken out of the rollups by the views of that time, so a read of rollups skips
 * them (`rollups`). The raw events were never netted: a read of `events_v1` subtracts every
 * pairing (`raw`), as the usage index does, so both give one answer on an upgraded store.
 */
export function voidedUsageRows(store: Tables, where: string, against: 'rollups' | 'raw' = 'rollups'): string {
  const pairings = `(SELECT * FROM ${store.table('voided_usage_v2')} FINAL WHERE ${where})`;
  return against === 'raw' ? pairings : `(SELECT * FROM ${pairings} WHERE netted = 0)`;
}
