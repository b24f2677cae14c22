import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore, type Store } from '../../core/clickhouse.js';
import { createLogger } from '../../core/log.js';
import { createMetrics } from '../../core/metrics.js';
import { migrate } from '../../storage/migrate.js';
import { createIngestPipeline, type IngestPipeline } from '../../ingest/pipeline.js';
import { pairVoidedUsage } from '../../storage/voids.js';

/** chDB allows one data directory per process: every test file (its own process) gets one. */
export const testDataDir = join(tmpdir(), `balances-test-${process.pid}`);

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** A migrated, empty database of its own for one test. */
export async function freshStore(dataDir = testDataDir): Promise<Store> {
  const store = createStore({ dataDir, database: uniqueName('t') });
  await migrate(store);
  return store;
}

export const silentLog = createLogger('silent');

export function pipelineFor(store: Store): IngestPipeline {
  return createIngestPipeline({ store, metrics: createMetrics(), log: silentLog, afterStore: (accounts) => pairVoidedUsage(store, accounts) });
}

export async function count(store: Store, sql: string): Promise<number> {
  const rows = await store.queryRows<{ n: string }>(sql);
  return Number(rows[0]?.n ?? 0);
}

/**
 * `store` as a node sees it on which rows of `table` are not visible yet, while every other table
 * (the account version among them) already counts them: each read of the table reads it without
 * them until `show()`. `late` is an event id (its row), or a condition on the rows (a rollup's
 * rows of one wallet and day). FINAL, where a read asks for it, goes inside.
 */
export function nodeSeeingLate(store: Store, table: string, late: string | { where: string }): { node: Store; show(): void } {
  const name = store.table(table);
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const visibleRows = typeof late === 'string' ? `event_id != '${late}'` : `NOT (${late.where})`;
  let visible = false;
  const hide = (sql: string) =>
    visible ? sql : sql.replace(new RegExp(`${escaped}( FINAL)?`, 'g'), (_m, final?: string) => `(SELECT * FROM ${name}${final ?? ''} WHERE ${visibleRows})`);
  const node: Store = {
    ...store,
    queryTsv: (sql, params, options) => store.queryTsv(hide(sql), params, options),
    queryRows: (sql, params) => store.queryRows(hide(sql), params),
  };
  return { node, show: () => (visible = true) };
}
