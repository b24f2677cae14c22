import type { Tables } from '../core/query.js';

/**
 * The voided usage an account's reads subtract, as a subquery of its rows: one row per voided
 * event however often it was paired, less those the old views already took out of the rollups.
 * `where` filters on the table's own columns (wallet, time) and must scope by `account_id`.
 */
export function voidedUsageRows(store: Tables, where: string): string {
  return `(SELECT * FROM (SELECT * FROM ${store.table('voided_usage_v2')} FINAL WHERE ${where}) WHERE netted = 0)`;
}
