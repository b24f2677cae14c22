import type { Store } from '../core/clickhouse.js';
import { pairVoidedUsage } from '../ingest/voids.js';

export interface BackfillReport {
  views: string[];
  rows: Record<string, number>;
}

/** Tables that are entirely derived from `events_v1`, and rebuilt from it. */
const DERIVED_TABLES = [
  'event_keys_v1',
  'lots_v1',
  'moves_v1',
  'voids_v1',
  'voided_usage_v1',
  'usage_wallet_levels_v1',
  'usage_wallet_daily_v1',
  'account_versions_v1',
  'usage_dims_daily_v1',
  'usage_dims_monthly_v1',
  'usage_quarter_hours_v1',
  'usage_by_time_v1',
  'usage_account_dims_v1',
];

interface View {
  name: string;
  target: string;
  select: string;
}

async function materializedViews(store: Store): Promise<View[]> {
  return store.queryRows<View>(
    `SELECT name,
            arrayElement(extractAll(create_table_query, '\\\\sTO\\\\s+\`?[A-Za-z0-9_]+\`?\\\\.\`?([A-Za-z0-9_]+)\`?'), 1) AS target,
            as_select AS select
     FROM system.tables
     WHERE database = {db:String} AND engine = 'MaterializedView'
     ORDER BY name`,
    { db: store.database },
  );
}

/**
 * Fills a rollup created over existing events: it is emptied, then every view that writes into
 * it replays its own SELECT over its source. Run before ingest starts, as migrations are.
 */
export async function fillRollup(store: Store, table: string): Promise<string[]> {
  const views = (await materializedViews(store)).filter((view) => view.target === table);
  await store.command(`TRUNCATE TABLE IF EXISTS ${store.table(table)}`);
  for (const view of views) await store.command(`INSERT INTO ${store.table(table)} ${view.select}`);
  return views.map((view) => view.name);
}

/**
 * Rebuilds every rollup from the raw events, for use after a rollup is added or changed.
 * Each materialized view's own SELECT is replayed over the whole raw table, so a backfill can
 * never disagree with what the view computes on insert. Stop ingest while it runs.
 */
export async function rebuildRollups(store: Store): Promise<BackfillReport> {
  const views = await materializedViews(store);
  for (const table of DERIVED_TABLES) await store.command(`TRUNCATE TABLE IF EXISTS ${store.table(table)}`);

  const replayed: string[] = [];
  for (const view of views) {
    // Only views over the raw events are replayed: views over a rollup (or over the void
    // pairings rebuilt below) fire by themselves as their source is refilled.
    if (!/\.`?events_v1`?\b/.test(view.select) || !view.target) continue;
    await store.command(`INSERT INTO ${store.table(view.target)} ${view.select}`);
    replayed.push(view.name);
  }
  await pairVoidedUsage(store, 'all');

  const rows: Record<string, number> = {};
  for (const table of DERIVED_TABLES) {
    const [row] = await store.queryRows<{ n: string }>(`SELECT count() AS n FROM ${store.table(table)}`);
    rows[table] = Number(row?.n ?? 0);
  }
  return { views: replayed, rows };
}
