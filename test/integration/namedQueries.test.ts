import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createStore, StorageError, type Store } from '../../core/clickhouse.js';
import { createLogger } from '../../core/log.js';
import { createMetrics, observeQueries } from '../../core/metrics.js';
import { field, jsonQuery, read, tsvQuery, type QuerySample } from '../../core/query.js';
import { migrate } from '../../storage/migrate.js';
import { faultyStore } from '../support/faultyStore.js';
import { testDataDir, uniqueName } from '../support/store.js';

/** Named queries check their parameters before storage is asked and their rows after. */
const samples: QuerySample[] = [];
const metrics = createMetrics();
const lines: string[] = [];
let store: Store;

beforeAll(async () => {
  const observe = observeQueries(createLogger('info', 'test', { write: (line: string) => lines.push(line) }), metrics);
  store = createStore({
    dataDir: testDataDir,
    database: uniqueName('q'),
    observer: (sample) => {
      samples.push(sample);
      observe(sample);
    },
  });
  await migrate(store);
  await store.command(`INSERT INTO ${store.table('account_changes_v1')} (account_id, changes) VALUES ('a', 3), ('b', 4)`);
});

afterAll(() => store.close());

const versions = jsonQuery({
  name: 'test.versions',
  params: z.object({ account: z.string().min(1) }),
  sql: (t) => `SELECT account_id, toInt64(sum(changes)) AS events FROM ${t.table('account_changes_v1')} WHERE account_id = {account:String} GROUP BY account_id`,
  rows: z.object({ account_id: field.text, events: field.int64 }),
});

describe('a named query', () => {
  it('answers rows its schema decoded, and tells its observer and metrics its name', async () => {
    expect(await read(store, versions, { account: 'b' })).toEqual([{ account_id: 'b', events: 4 }]);
    expect(samples.at(-1)).toMatchObject({ name: 'test.versions', rows: 1, outcome: 'ok' });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/balances_storage_query_duration_seconds_count\{query="test.versions",outcome="ok"\} 1/);
    expect(text).toMatch(/balances_storage_query_rows_total\{query="test.versions"\} 1/);
  });

  it('refuses parameters its schema refuses before storage is asked, naming the query', async () => {
    const asked = samples.length;
    const failure = await read(store, versions, { account: '' }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(StorageError);
    expect(failure).toMatchObject({ query: 'test.versions', code: 'SCHEMA_MISMATCH', retriable: false });
    expect((failure as Error).message).toMatch(/query "test.versions": its schema refuses the parameters/);
    expect(samples.slice(asked)).toEqual([expect.objectContaining({ name: 'test.versions', outcome: 'error', rows: 0 })]);
  });

  it('refuses rows that drifted from its schema: a number where text was declared, a missing column', async () => {
    const drifted = jsonQuery({ ...versions, name: 'test.drifted', rows: z.object({ account_id: field.text, events: field.text }) });
    await expect(read(store, drifted, { account: 'a' })).rejects.toMatchObject({ query: 'test.drifted', code: 'SCHEMA_MISMATCH', retriable: false });
    const missing = jsonQuery({ ...versions, name: 'test.missing', rows: z.object({ account_id: field.text, events: field.int64, wallets: field.int64 }) });
    await expect(read(store, missing, { account: 'a' })).rejects.toThrow(/test.missing": its schema refuses row 0/);
  });

  it('as tab-separated text, checks each column by name and type, LowCardinality counting as its values', async () => {
    const tsv = tsvQuery({
      name: 'test.versions_tsv',
      params: z.object({}),
      sql: (t) => `SELECT account_id, toInt64(sum(changes)) AS events FROM ${t.table('account_changes_v1')} GROUP BY account_id ORDER BY account_id`,
      columns: { account_id: 'String', events: 'Int64' },
    });
    expect(await read(store, tsv, {})).toEqual([['a', '3'], ['b', '4']]);
    const renamed = tsvQuery({ ...tsv, name: 'test.renamed', columns: { account: 'String', events: 'Int64' } });
    await expect(read(store, renamed, {})).rejects.toThrow(/test.renamed": its schema refuses the columns \(got account_id String, events Int64\)/);
    const retyped = tsvQuery({ ...tsv, name: 'test.retyped', columns: { account_id: 'String', events: 'UInt64' } });
    await expect(read(store, retyped, {})).rejects.toMatchObject({ query: 'test.retyped', code: 'SCHEMA_MISMATCH' });
  });

  it('fails with a StorageError that names it and keeps whether a retry may pass', async () => {
    const faulty = faultyStore(store);
    faulty.down();
    await expect(read(faulty, versions, { account: 'a' })).rejects.toMatchObject({ name: 'StorageError', query: 'test.versions', retriable: true, message: 'storage query "test.versions" failed' });
    faulty.up();
    const broken = jsonQuery({ ...versions, name: 'test.broken', sql: () => 'SELECT no_such_column FROM system.one' });
    await expect(read(store, broken, { account: 'a' })).rejects.toMatchObject({ query: 'test.broken', retriable: false });
  });

  it('is logged by name when slow', async () => {
    const slow = jsonQuery({ name: 'test.slow', params: z.object({}), sql: () => 'SELECT sleep(1) AS slept', rows: z.object({ slept: field.int }) });
    await read(store, slow, {});
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toContainEqual(expect.objectContaining({ event: 'slow_query', query: 'test.slow' }));
  });
});

describe('the product', () => {
  const sources = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
    });
  const files = ['aggregator', 'alerts', 'api', 'core', 'storage', 'ingest', 'ledger', 'readmodels', 'dashboards', 'scripts'].flatMap(sources);

  it('names each of its queries once, as <area>.<what>', () => {
    const names = files.flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/(?:json|tsv)Query\(\{\s*name: '([^']+)'/g)].map((m) => m[1]));
    expect(names.length).toBeGreaterThanOrEqual(20);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z_]+\.[a-z_]+$/);
  });
});
