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
