import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../api/app.js';
import { ApiResponse } from '../../api/readPath.js';
import { BalanceService, freshnessOf } from '../../readmodels/balances.js';
import type { Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { KEYS } from '../support/api.js';
import { move, purchase, usage, voidOf } from '../support/events.js';
import { freshStore, silentLog } from '../support/store.js';

/**
 * The read path answers as express does. One app is served twice: by its own `listen`, where
 * the read path takes the API's reads, and by a plain node server handing every request to
 * express. Each request gets the same status, headers (Date aside) and bytes from both, and the
 * read path is seen to take exactly the requests it should.
 */
const NOW = Date.UTC(2026, 5, 15, 12, 0, 0, 0);
let store: Store;
let servers: Server[] = [];
let viaReadPath = '';
let viaExpress = '';

const listening = (server: Server) =>
  new Promise<string>((resolve) => server.once('listening', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));

beforeAll(async () => {
  store = await freshStore();
  const metrics = createMetrics();
  const balances = new BalanceService(store, () => NOW);
  const pipeline = createIngestPipeline({ store, metrics, log: silentLog, onStored: (accounts, source) => balances.invalidate(accounts, freshnessOf(source)) });
  const app = createApp({ store, pipeline, metrics, log: silentLog, apiKeys: KEYS, bodyLimitBytes: 1024 * 1024, balances });
  const own = app.listen(0, '127.0.0.1');
  const plain = createServer(app).listen(0, '127.0.0.1');
  servers = [own, plain];
  [viaReadPath, viaExpress] = await Promise.all([listening(own), listening(plain)]);
  const team = (id: string) => ({ type: 'team', id });
  const events = [
    purchase('rp-p1', { wallet: team('eng'), amount: '500', expires_at: '2026-07-01T00:00:00Z', occurred_at: '2026-05-01T00:00:00Z' }),
    purchase('rp-p2', { wallet: team('ops'), amount: '80', expires_at: '2027-01-01T00:00:00Z', occurred_at: '2026-05-02T00:00:00Z' }),
    ...Array.from({ length: 40 }, (_, i) =>
      usage(`rp-u${i}`, { wallet: team(i % 3 === 0 ? 'ops' : 'eng'), amount: `${1 + (i % 7)}.25`, user_id: `user-${i % 4}`, product: i % 2 ? 'search' : 'assistant', occurred_at: new Date(NOW - (40 - i) * 3_600_000 * 9).toISOString() }),
    ),
    move('rp-m1', { from_wallet: team('eng'), to_wallet: team('ops'), amount: '20', occurred_at: '2026-06-10T00:00:00Z' }),
    voidOf('rp-v1', 'rp-u7', { occurred_at: '2026-06-14T00:00:00Z' }),
  ].map((e) => ({ ...e, account_id: 'acme' }));
  const res = await fetch(`${viaExpress}/v1/events`, { method: 'POST', headers: { authorization: 'Bearer acme-admin' }, body: JSON.stringify(events) });
  expect(await res.json()).toMatchObject({ rejected: [] });
}, 60_000);

afterAll(async () => {
  for (const s of servers) s.close();
  await store.close();
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function ask(base: string, path: string, init: { method?: string; key?: string; headers?: Record<string, string> }): Promise<Answer> {
  const res = await fetch(base + path, {
    method: init.method ?? 'GET',
    headers: { ...(init.key ? { authorization: `Bearer ${init.key}` } : {}), ...init.headers },
  });
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (name !== 'date') headers[name] = value;
  });
  return { status: res.status, headers, body: await res.text() };
}

/** Asks both servers; returns the read path's answer and how many answers the read path sent for it. */
async function both(path: string, init: { method?: string; key?: string; headers?: Record<string, string> } = {}) {
  const sent = vi.spyOn(ApiResponse.prototype, 'send');
  try {
    const ours = await ask(viaReadPath, path, init);
    const taken = sent.mock.calls.length;
    const theirs = await ask(viaExpress, path, init);
    expect(sent.mock.calls.length, 'express answers without the read path').toBe(taken);
    expect(ours, `${init.method ?? 'GET'} ${path}`).toEqual(theirs);
    return { answer: ours, taken };
  } finally {
    sent.mockRestore();
  }
}

const admin = { key: 'acme-admin' };

describe('the read path', () => {
  it('answers every read route as express does, JSON, CSV, HEAD and conditional requests alike', async () => {
    const reads = [
      '/v1/wallets',
      '/v1/wallets?type=team',
      '/v1/wallets/team/eng/balance',
      '/v1/wallets/team/eng/balance?at=now-10d',
      '/v1/wallets/team/eng/events?limit=3',
      '/v1/wallets/team/eng/usage-summary?days=30',
      '/v1/wallets/team/eng/forecast',
      '/v1/wallets/team/eng/history?from=now-7d&tz=Europe%2FBerlin',
      '/v1/usage?group_by=service',
      '/v1/usage?group_by=day&tz=Europe%2FBerlin&from=now-20d',
      '/v1/usage?wallet_type=team&wallet_id=eng&group_by=user',
      '/v1/expiring?within_days=30',
      '/v1/alerts',
      '/v1/suggestions/moves',
    ];
    for (const path of reads) {
      const { answer, taken } = await both(path, admin);
      expect(answer.status, path).toBe(200);
      expect(taken, path).toBe(1);
      // The same body again, asked with its ETag, is not sent again; unless the client says no-cache.
      // (As a browser revalidates: fetch would otherwise add Cache-Control: no-cache to a conditional request.)
      const etag = answer.headers.etag as string;
      expect((await both(path, { ...admin, headers: { 'if-none-match': etag, 'cache-control': 'max-age=0' } })).answer.status, path).toBe(304);
      expect((await both(path, { ...admin, headers: { 'if-none-match': etag, 'cache-control': 'no-cache' } })).answer.status, path).toBe(200);
      expect((await both(path, { ...admin, method: 'HEAD' })).answer.body, path).toBe('');
    }
    const csv = await both('/v1/usage?group_by=user', { ...admin, headers: { accept: 'text/csv' } });
    expect(csv.answer.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.answer.body.split('\n')[0]).toBe('user,amount,events');
  });

  it('answers refusals as express does, under the same error object', async () => {
    const refusals: Array<[string, { key?: string; headers?: Record<string, string> }, number]> = [
      ['/v1/wallets', {}, 401],
      ['/v1/wallets', { key: 'not-a-key' }, 401],
      ['/v1/wallets', { key: 'acme-ingest' }, 403],
      ['/v1/usage?group_by=nope', admin, 400],
      ['/v1/usage?unknown=1', admin, 400],
      ['/v1/usage?group_by=user&group_by=service', admin, 400],
      ['/v1/wallets/team/nobody/balance', admin, 404],
      ['/v1/wallets/team/a%2Fb/balance', admin, 404],
      ['/v1/wallets/pool/eng/balance', admin, 400],
      ['/v1/wallets/team/eng/events?cursor=%7B', admin, 400],
    ];
    for (const [path, init, status] of refusals) {
      const { answer, taken } = await both(path, init);
      expect(answer.status, path).toBe(status);
      expect(taken, path).toBe(1);
      expect(JSON.parse(answer.body).error.code, path).toEqual(expect.any(String));
    }
  });

  it('leaves to express what it does not recognise exactly', async () => {
    const others: Array<[string, { method?: string; key?: string; headers?: Record<string, string> }]> = [
      ['/v1/wallets/', admin],
      ['/V1/wallets', admin],
      ['/v1/wallets/team/%E0%A4%A/balance', admin],
      ['/v1/nothing', admin],
      ['/v1/wallets', { ...admin, method: 'OPTIONS' }],
      ['/healthz', {}],
      ['/openapi.json', {}],
    ];
    for (const [path, init] of others) expect((await both(path, init)).taken, path).toBe(0);
  });
});
