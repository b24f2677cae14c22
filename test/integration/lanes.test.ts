import { afterAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../core/clickhouse.js';
import { lanesOf } from '../../core/lanes.js';
import { testDataDir } from '../support/store.js';

let store: Store | undefined;
afterAll(async () => {
  await store?.close();
});

/**
 * A statement that holds one chDB connection for two seconds without using a core, so the short
 * reads beside it have the margin of a whole second and more even on a loaded machine.
 */
const LONG = 'SELECT sleepEachRow(0.25) FROM numbers(8) SETTINGS max_block_size = 1';

describe('lanes on embedded chDB', () => {
  it('runs a balance read, the aggregator and an analyst read beside a long ingest statement, not after it', async () => {
    store = createStore({ dataDir: testDataDir, database: 'default' });
    const lanes = lanesOf(store);
    const finished: string[] = [];
    const long = lanes.ingest.queryRows(LONG).then(() => finished.push('ingest'));
    // Both short reads are asked while the long statement runs.
    await new Promise((r) => setTimeout(r, 20));
    await Promise.all([
      lanes.balances.queryRows('SELECT 1 AS one').then(() => finished.push('balances')),
      lanes.aggregate.queryRows('SELECT 1 AS one').then(() => finished.push('aggregate')),
      lanes.reads.queryRows('SELECT 1 AS one').then(() => finished.push('reads')),
    ]);
    await long;
    expect(finished.at(-1)).toBe('ingest');
  });

  it('closes every session with the store', async () => {
    const other = createStore({ dataDir: testDataDir, database: 'default' });
    const session = other.session();
    expect(await session.ping()).toBe(true);
    await other.close();
    await expect(session.queryRows('SELECT 1')).rejects.toThrow();
  });

  it('is the store itself on a ClickHouse server', () => {
    const server = createStore({ url: 'http://127.0.0.1:1', database: 'default' });
    expect(lanesOf(server)).toEqual({ ingest: server, balances: server, aggregate: server, reads: server });
  });
});
