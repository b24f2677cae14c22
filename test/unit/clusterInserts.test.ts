import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, insertStatement, type Store } from '../../core/clickhouse.js';

/** What a ClickHouse server would have been asked: each request's settings and its SQL. */
interface Seen {
  params: URLSearchParams;
  sql: string;
}

let seen: Seen[] = [];
let url = '';
const server = createServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const params = new URL(req.url ?? '/', 'http://x').searchParams;
    // The statement travels in the query string when a body carries rows, else as the body.
    seen.push({ params, sql: params.get('query') ?? Buffer.concat(chunks).toString('utf8') });
    res.writeHead(200, { 'content-type': 'text/plain', 'x-clickhouse-summary': '{}' });
    res.end('');
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const foreground = (s: Seen) => s.params.get('distributed_foreground_insert') === '1' || /distributed_foreground_insert = 1/.test(s.sql);

describe('on a cluster, every write reaches its shard before it is confirmed', () => {
  let store: Store;
  beforeAll(() => {
    store = createStore({ url, database: 'balances', cluster: 'prod' });
  });
  afterAll(() => store.close());

  it('rows inserted through a Distributed twin are forwarded synchronously, under their deduplication token', async () => {
    seen = [];
    await store.insertJsonEachRow('events_v1', '{"account_id":"acme"}\n', { deduplicationToken: 'e-abc' });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.sql).toContain('INSERT INTO `balances`.`events_v1_dist`');
    expect(foreground(seen[0] as Seen)).toBe(true);
    expect(seen[0]?.sql).toContain("insert_deduplication_token = 'e-abc'");
    expect(seen[0]?.sql).toContain('deduplicate_blocks_in_dependent_materialized_views = 1');
  });

  it('so are INSERT … SELECT statements (fills, void pairing) and the rows of derived tables', async () => {
    seen = [];
    await store.command(`INSERT INTO ${store.table('voided_usage_v2')} SELECT * FROM ${store.table('events_v1')} WHERE 0`);
    await store.insertJsonEachRow('wallet_balance_versions_v1', '{"account_id":"acme"}\n');
    expect(seen).toHaveLength(2);
    for (const request of seen) expect(foreground(request), request.sql).toBe(true);
  });
});

describe('on one server', () => {
  it('an insert is synchronous and carries no cluster setting', () => {
    const sql = insertStatement('`balances`.`events_v1`', { token: 'k-1' });
    expect(sql).toContain('async_insert = 0');
    expect(sql).not.toContain('distributed_foreground_insert');
  });
});
