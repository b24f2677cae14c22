import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { field, jsonQuery, read } from '../core/query.js';
import { pairVoidedUsage } from './voids.js';

export interface BackfillReport {
  views: string[];
  rows: Record<string, number>;
}

/** Tables that are entirely derived from `events_v1`, and rebuilt from it. */
const DERIVED_TABLES = [
  'event_keys_v1',
  'lots_v1',
  'moves_v1',
  'voided_usage_v2',
  'usage_wallet_daily_v1',
  'usage_dims_daily_v1',
  'usage_dims_monthly_v1',
  'usage_quarter_hours_v1',
  'usage_by_time_v1',
];

interface View {
  name: string;
  target: string;
  select: string;
  /** The view's output columns, by name: its target may hold more, filled by their defaults. */
  columns: string[];
}

/** Every materialized view of the database: its target, its own SELECT and its output columns. */
const viewsQuery = jsonQuery({
  name: 'backfill.views',
  params: z.object({ db: z.string() }),
  sql: () =>
    `SELECT t.name AS name,
            arrayElement(extractAll(t.create_table_query, '\\\\sTO\\\\s+\`?[A-Za-z0-9_]+\`?\\\\.\`?([A-Za-z0-9_]+)\`?'), 1) AS target,
            t.as_select AS select,
            c.columns AS columns
     FROM system.tables AS t
     LEFT JOIN (
       SELECT table, arrayMap(x -> x.2, arraySort(groupArray((position, name)))) AS columns
       FROM system.columns WHERE database = {db:String} GROUP BY table
     ) AS c ON c.table = t.name
     WHERE t.database = {db:String} AND t.engine = 'MaterializedView'
     ORDER BY name`,
  rows: z.object({ name: field.text, target: field.text, select: field.text, columns: z.array(z.string()) }),
});

/** The rows of one derived table, after a rebuild. */
const tableRowsQuery = jsonQuery({
  name: 'backfill.table_rows',
  params: z.object({ table: z.enum(DERIVED_TABLES) }),
  sql: (t, p) => `SELECT count() AS n FROM ${t.table(p.table)}`,
  rows: z.object({ n: field.int64 }),
});

async function materializedViews(store: Store): Promise<View[]> {
  return read(store, viewsQuery, { db: store.database });
}

/** Replays a view's own SELECT into its target. */
const replay = (store: Store, view: View) =>
  store.command(`INSERT INTO ${store.table(view.target)} (${view.columns.map((c) => `\`${c}\``).join(', ')}) ${view.select}`);

/**
 * Fills a rollup created over existing events: it is emptied, then every view that writes into
 * it replays its own SELECT over its source. Run before ingest starts, as migrations are.
 */
export async function fillRollup(store: Store, table: string): Promise<string[]> {
  const views = (await materializedViews(store)).filter((view) => view.target === table);
  await store.command(`TRUNCATE TABLE IF EXISTS ${store.table(table)}`);
  for (const view of views) await replay(store, view);
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
    await replay(store, view);
    replayed.push(view.name);
  }
  await pairVoidedUsage(store, 'all');

  const rows: Record<string, number> = {};
  for (const table of DERIVED_TABLES) {
    const [row] = await read(store, tableRowsQuery, { table });
    rows[table] = row?.n ?? 0;
  }
  return { views: replayed, rows };
}
