import { afterAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../core/clickhouse.js';
import { lanesOf } from '../../core/lanes.js';
import { testDataDir } from '../support/store.js';

let store: Store | undefined;
afterAll(async () => {
  await store?.close();
});

/** A statement that keeps one chDB connection busy for a few hundred milliseconds of CPU. */
const LONG = 'SELECT sum(cityHash64(number)) AS s FROM numbers(400000000)';

describe('lanes on embedded chDB', () => {
  it('runs a balance read and an analyst read beside a long ingest statement, not after it', async () => {
    store = createStore({ dataDir: testDataDir, database: 'default' });
    const lanes = lanesOf(store);
    const finished: string[] = [];
    const long = lanes.ingest.queryRows(LONG).then(() => finished.push('ingest'));
    // Both short reads are asked while the long statement runs.
    await new Promise((r) => setTimeout(r, 20));
    await Promise.all([
      lanes.balances.queryRows('SELECT 1 AS one').then(() => finished.push('balances')),
      lanes.reads.queryRows('SELECT 1 AS one').then(() => finished.push('reads')),
    ]);
    await long;
    expect(finished.at(-1)).toBe('ingest');
  });

  it('runs the calls of one connection one after the other', async () => {
    const s = store as Store;
    const finished: string[] = [];
    const long = s.queryRows(LONG).then(() => finished.push('long'));
    await new Promise((r) => setTimeout(r, 20));
    await s.queryRows('SELECT 1 AS one').then(() => finished.push('short'));
    await long;
    // The reason for the lanes: on one connection the short read waited out the long one.
    expect(finished).toEqual(['long', 'short']);
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
    expect(lanesOf(server)).toEqual({ ingest: server, balances: server, reads: server });
  });
});
