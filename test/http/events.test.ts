import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { ndjson, purchase, usage } from '../support/events.js';
import { startApi, type TestApi } from '../support/api.js';
import { count, freshStore } from '../support/store.js';

let store: Store;
let api: TestApi;
beforeAll(async () => {
  store = await freshStore();
  api = await startApi(store, { bodyLimitBytes: 64 * 1024 });
});
afterAll(async () => {
  await api.close();
  await store.close();
});

const post = (body: string, key = 'acme-admin', contentType = 'application/json') =>
  api.request('/v1/events', { method: 'POST', key, body, headers: { 'content-type': contentType } });

describe('POST /v1/events', () => {
  it('takes a JSON array and answers once the events are stored', async () => {
    const res = await post(JSON.stringify([purchase('http-p1'), usage('http-u1')]));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')} WHERE event_id LIKE 'http-%'`)).toBe(2);
  });

  it('takes NDJSON', async () => {
    const res = await post(ndjson([usage('nd-1'), usage('nd-2'), usage('nd-3')]), 'acme-ingest', 'application/x-ndjson');
    expect(await res.json()).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
  });

  it('takes a single JSON object as one event', async () => {
    const res = await post(JSON.stringify(usage('single-1')));
    expect(await res.json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  });

  it('stores the good events of a mixed request and names each bad one by index', async () => {
    const body = JSON.stringify([
      usage('mix-1'),
      usage('mix-2', { amount: '-1' }),
      { type: 'usage' },
      usage('mix-1'),
      usage('mix-3', { account_id: 'globex' }),
      usage('mix-4', { amount: '1.00001' }),
      purchase('mix-5', { expires_at: '2025-01-01T00:00:00Z' }),
      usage('mix-6', { type: 'refund' }),
      usage('mix-7'),
    ]);
    const res = await post(body);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      accepted: 2,
      duplicates: 1,
      rejected: [
        { index: 1, event_id: 'mix-2', code: 'amount_not_positive', message: expect.any(String) },
        { index: 2, code: 'missing_field', message: 'event_id is required' },
        { index: 4, event_id: 'mix-3', code: 'account_mismatch', message: expect.any(String) },
        { index: 5, event_id: 'mix-4', code: 'too_many_decimals', message: expect.any(String) },
        { index: 6, event_id: 'mix-5', code: 'invalid_expiry', message: expect.any(String) },
        { index: 7, event_id: 'mix-6', code: 'unknown_type', message: expect.any(String) },
      ],
    });
    expect(await count(store, `SELECT count() AS n FROM ${store.table('rejected_events_v1')} WHERE source = 'http' AND event_id LIKE 'mix-%'`)).toBe(5);
  });

  it('rejects an NDJSON line that is not JSON and keeps the rest', async () => {
    const res = await post(`${JSON.stringify(usage('line-1'))}\n{broken\n${JSON.stringify(usage('line-2'))}\n`, 'acme-admin', 'application/x-ndjson');
    expect(await res.json()).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: [{ index: 1, code: 'invalid_json', message: expect.any(String) }],
    });
  });

  it('answers a resent request with duplicates only', async () => {
    const body = JSON.stringify([usage('again-1'), usage('again-2')]);
    await post(body);
    expect(await (await post(body)).json()).toEqual({ accepted: 0, duplicates: 2, rejected: [] });
  });

  it('answers 400 with an error object for a body that does not parse', async () => {
    for (const body of ['[{"event_id": ', '', '"just a string"', '42']) {
      const res = await post(body);
      expect(res.status, body).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'invalid_body', message: expect.any(String) } });
    }
  });

  it('answers 413 above the body cap', async () => {
    const big = JSON.stringify(Array.from({ length: 1000 }, (_, i) => usage(`big-${i}`)));
    expect(big.length).toBeGreaterThan(64 * 1024);
    const res = await post(big);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')} WHERE event_id LIKE 'big-%'`)).toBe(0);
  });

  it('answers 401 without a key or with an unknown one', async () => {
    for (const key of [undefined, 'nope']) {
      const res = await api.request('/v1/events', { method: 'POST', key, body: '[]' });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
    }
    const malformed = await api.request('/v1/events', { method: 'POST', body: '[]', headers: { authorization: 'Basic abc' } });
    expect(malformed.status).toBe(401);
  });

  it('answers 403 to a key whose role may not ingest', async () => {
    const res = await post(JSON.stringify([usage('analyst-1')]), 'acme-analyst');
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'forbidden' } });
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')} WHERE event_id = 'analyst-1'`)).toBe(0);
  });

  it("refuses, event by event, what belongs to another account than the key's", async () => {
    const res = await post(JSON.stringify([usage('own-1', { account_id: 'globex' })]), 'globex-admin');
    expect(await res.json()).toMatchObject({ accepted: 1 });
    const cross = await post(JSON.stringify([usage('own-2', { account_id: 'globex' })]), 'acme-admin');
    expect(await cross.json()).toMatchObject({ accepted: 0, rejected: [{ code: 'account_mismatch' }] });
  });
});

describe('operations', () => {
  it('/healthz and /readyz answer without a key', async () => {
    expect((await api.request('/healthz')).status).toBe(200);
    const ready = await api.request('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('/metrics counts events by outcome in Prometheus format', async () => {
    const text = await (await api.request('/metrics')).text();
    expect(text).toMatch(/balances_ingest_events_total\{outcome="accepted",source="http"\} \d+/);
    expect(text).toMatch(/balances_ingest_events_total\{outcome="rejected",source="http"\} \d+/);
    expect(text).toContain('balances_ingest_flush_duration_seconds_bucket');
    expect(text).toContain('balances_ingest_batch_size_bucket');
  });

  it('an unknown route is a 404 error object', async () => {
    const res = await api.request('/v1/nothing', { key: 'acme-admin' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
  });
});

describe('a server fault', () => {
  it('answers 500 with an error object and never a stack trace or internal message', async () => {
    const fault = async (): Promise<never> => {
      throw new Error('connection lost at /var/lib/clickhouse/secret.sock');
    };
    const broken: Store = { ...store, queryRows: fault, queryTsv: fault, queryJsonLines: fault };
    const faulty = await startApi(broken);
    try {
      for (const path of ['/v1/wallets', '/v1/usage', '/v1/usage?limit=2', '/v1/alerts', '/v1/expiring']) {
        const res = await faulty.request(path, { key: 'acme-admin' });
        expect(res.status, path).toBe(500);
        const text = await res.text();
        expect(JSON.parse(text)).toEqual({ error: { code: 'internal_error', message: expect.any(String) } });
        expect(text).not.toMatch(/secret|\.sock|\bat\s+\S+\s*\(|Error:/);
      }
      const ready = await faulty.request('/readyz');
      expect(ready.status).toBe(200);
    } finally {
      await faulty.close();
    }
  });
});
