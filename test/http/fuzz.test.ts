import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from '../support/api.js';
import { move, purchase, usage, voidOf } from '../support/events.js';
import { expectErrorObject, expectNoInternals, rawRequest } from '../support/rawHttp.js';
import { count, freshStore } from '../support/store.js';

/**
 * Generated malformed requests against the real app over chDB. Reads use the keys of the two
 * accounts that hold data; writes use a third account's keys, so that whatever a write stores,
 * the two accounts' answers must not change.
 */
const RUNS = 1_200;
const NOW = Date.UTC(2026, 2, 15);
const FUZZ_KEYS = [
  { key: 'fuzz-admin', accountId: 'fuzz', role: 'admin' as const },
  { key: 'fuzz-ingest', accountId: 'fuzz', role: 'ingest' as const },
];

let store: Store;
let api: TestApi;
let port: number;

beforeAll(async () => {
  store = await freshStore();
  api = await startApi(store, { clock: () => NOW, keys: FUZZ_KEYS, bodyLimitBytes: 256 * 1024 });
  port = Number(new URL(api.url).port);
  for (const account of ['acme', 'globex']) {
    const a = (id: string) => `${account}-${id}`;
    const events = [
      purchase(a('p1'), { account_id: account }),
      purchase(a('p2'), { account_id: account, wallet: { type: 'contract', id: 'emea' }, expires_at: '2026-04-01T00:00:00Z' }),
      usage(a('u1'), { account_id: account }),
      usage(a('u2'), { account_id: account, wallet: { type: 'contract', id: 'emea' }, amount: '999' }),
      move(a('m1'), { account_id: account, amount: '10' }),
      voidOf(a('v1'), a('u1'), { account_id: account }),
    ];
    const res = await api.request('/v1/events', { method: 'POST', key: `${account}-admin`, body: JSON.stringify(events) });
    expect((await res.json()).accepted).toBe(events.length);
  }
});
afterAll(async () => {
  await api.close();
  await store.close();
});

const percentBytes = (bytes: Uint8Array) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');
const encode = (text: string) => {
  try {
    return encodeURIComponent(text);
  } catch {
    return percentBytes(Buffer.from(text));
  }
};

const HOSTILE = [
  '..', '%2e%2e', '..%2F..%2Fetc%2Fpasswd', '%00', "'%20OR%201=1--", '%27)%3B%20DROP%20TABLE%20events_v1--', '%', '%ZZ', '%E0%A4%A',
  '%ED%A0%80', '%C0%AE%C0%AE', '__proto__', 'constructor', 'prototype', '%7Bid%3AString%7D', '%0D%0ASet-Cookie:%20x=1', 'team', 'contract', 'platform', 'emea',
];
const segment = fc.oneof(
  fc.constantFrom(...HOSTILE),
  fc.string({ maxLength: 24 }).map(encode),
  fc.string({ unit: 'binary', maxLength: 12 }).map(encode),
  fc.uint8Array({ maxLength: 12 }).map(percentBytes),
  fc.integer({ min: 200, max: 3_000 }).map((n) => 'x'.repeat(n)),
);
const path = fc.oneof(
  fc.tuple(fc.oneof(fc.constantFrom('team', 'contract'), segment), fc.oneof(fc.constantFrom('platform', 'emea', 'mobile'), segment), fc.constantFrom('balance', 'events', 'usage-summary', 'nothing', ''))
    .map(([type, id, route]) => `/v1/wallets/${type}/${id}/${route}`),
  fc.constantFrom('/v1/wallets', '/v1/expiring', '/v1/usage', '/v1/alerts', '/v1/events', '/healthz', '/readyz', '/openapi.json', '/metrics', '/v1', '/'),
  fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => `/v1/${parts.join('/')}`),
);
const parameterName = fc.oneof(
  fc.constantFrom('type', 'at', 'from', 'to', 'limit', 'cursor', 'within_days', 'wallet_type', 'wallet_id', 'group_by', 'tz', 'days', '__proto__', '__proto__[polluted]', 'constructor[prototype][polluted]', 'type[]', 'limit[0]'),
  segment,
);
const parameterValue = fc.oneof(
  segment,
  fc.constantFrom('now', 'now-999999w', 'now%2B999999w', 'now-90d', 'now-0s', 'now-1y', '9999-12-31T23:59:59Z', '1969-12-31T23:59:59Z', '2026-02-30T00:00:00Z', '2026-01-01T00:00:00%2B25:00',
    '1e308', '-1', '99999999999999999999', '00001', 'NaN', 'Infinity', 'team', 'contract', 'user', 'day', 'service', 'product', 'Australia/Lord_Howe', 'Etc/GMT%2B14', "UTC'--", ''),
  fc.integer().map(String),
  fc.double().map((d) => encode(String(d))),
  fc.bigInt().map(String),
  fc.date({ noInvalidDate: true }).map((d) => encode(d.toISOString())),
);
const query = fc.array(fc.tuple(parameterName, parameterValue), { maxLength: 4 }).map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));

/** A contract-valid event with one field replaced by anything, sent as the wrong account. */
const EVENT_FIELDS = ['event_id', 'type', 'account_id', 'occurred_at', 'wallet', 'amount', 'user_id', 'product', 'service', 'expires_at', 'lot_id', 'from', 'to', 'voids_event_id', '__proto__', 'constructor', 'wallet_name'];
const mutatedEvent = fc
  .tuple(fc.constantFrom(usage('fz-u', { account_id: 'acme' }), purchase('fz-p', { account_id: 'acme' }), move('fz-m', { account_id: 'globex' }), voidOf('fz-v', 'acme-u1', { account_id: 'acme' })), fc.constantFrom(...EVENT_FIELDS), fc.jsonValue({ maxDepth: 3 }), fc.string({ maxLength: 8 }))
  .map(([event, field, value, suffix]) => {
    const copy: Record<string, unknown> = { ...event, event_id: `${String(event.event_id)}-${suffix}` };
    Object.defineProperty(copy, field, { value, enumerable: true, writable: true, configurable: true });
    return copy;
  });
const invalidUtf8 = fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x00]).map((b) => Buffer.from(b));

const body = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.array(mutatedEvent, { minLength: 1, maxLength: 5 }).map((events) => JSON.stringify(events)),
  fc.array(mutatedEvent, { minLength: 1, maxLength: 5 }).map((events) => events.map((e) => JSON.stringify(e)).join('\n')),
  fc.tuple(mutatedEvent, invalidUtf8).map(([event, bad]) => {
    const text = JSON.stringify([event]);
    const at = text.indexOf('"', text.indexOf(':') + 1) + 1;
    return Buffer.concat([Buffer.from(text.slice(0, at)), bad, Buffer.from(text.slice(at))]);
  }),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.integer({ min: 1, max: 60_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.integer({ min: 1, max: 60_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
  fc.integer({ min: 16, max: 5_000 }).map((n) => `[{"event_id":"fz-big","amount":1${'0'.repeat(n)},"account_id":"acme"}]`),
  fc.constantFrom('', 'null', 'true', '"x"', '[', '{', '[]', '{}', '[{}]', '[null]', '\uFEFF[]', 'NaN', '[1e999]', '{"__proto__":{"polluted":1}}', '[{"constructor":{"prototype":{"polluted":1}}}]'),
);
const contentType = fc.constantFrom(
  'application/json', 'application/x-ndjson', 'text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded',
  'application/json; charset=utf-16', 'application/json; charset=latin1', '*/*', 'invalid', undefined,
);
const encoding = fc.constantFrom(undefined, undefined, undefined, 'gzip', 'gzip-garbage', 'br', 'deflate', 'identity', 'x-evil');

const readKey = fc.constantFrom('acme-admin', 'acme-analyst', 'acme-ingest', 'globex-admin', 'fuzz-admin', 'wrong-key', "'%20OR%201=1", undefined);
const writeKey = fc.constantFrom('fuzz-admin', 'fuzz-ingest', 'acme-analyst', 'wrong-key', undefined);

const requestArb = fc
  .record({
    method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
    path,
    query,
    body,
    contentType,
    encoding,
    readKey,
    writeKey,
    bigHeader: fc.boolean().map((b) => b && Math.random() < 0.1),
  })
  .map((r) => {
    const writes = r.method !== 'GET' && r.method !== 'HEAD' && r.method !== 'OPTIONS';
    const key = writes ? r.writeKey : r.readKey;
    const headers: Record<string, string> = {};
    if (key) headers.authorization = `Bearer ${key}`;
    let payload: Buffer | undefined;
    if (writes) {
      if (r.contentType) headers['content-type'] = r.contentType;
      payload = Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
      if (r.encoding === 'gzip') payload = gzipSync(payload);
      if (r.encoding) headers['content-encoding'] = r.encoding === 'gzip-garbage' ? 'gzip' : r.encoding;
    }
    if (r.bigHeader) headers['x-padding'] = 'p'.repeat(20_000);
    return { method: r.method, target: r.path + r.query, headers, payload };
  });

async function accountsState(): Promise<unknown> {
  const seen = [];
  for (const key of ['acme-admin', 'globex-admin']) {
    for (const path of ['/v1/wallets', '/v1/expiring?within_days=3650', '/v1/usage?group_by=user&from=2025-01-01T00:00:00Z']) {
      seen.push(await (await api.request(path, { key })).json());
    }
  }
  const events = await count(store, `SELECT count() AS n FROM ${store.table('events_v1')} WHERE account_id IN ('acme', 'globex')`);
  return { seen, events };
}

describe('fuzzing the API with generated malformed requests', () => {
  it(`answers ${RUNS} of them with no 5xx, no stack trace, the error object on every refusal, and no change to other accounts`, async () => {
    const before = await accountsState();
    let sent = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requestArb, async (req) => {
        const answer = await rawRequest(port, req.method, req.target, req.headers, req.payload);
        sent++;
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const what = `${req.method} ${req.target.slice(0, 200)} ${JSON.stringify(req.headers).slice(0, 200)}`;
        expect(answer.status, what).toBeLessThan(500);
        expect(answer.status, what).toBeGreaterThanOrEqual(200);
        if (req.method === 'HEAD') return;
        expectNoInternals(answer.body, what);
        if (answer.status >= 400) expectErrorObject(answer, what);
        else if (req.method === 'POST' && req.target.split('?')[0] === '/v1/events') {
          const result = JSON.parse(answer.body) as { accepted: number; rejected: unknown[] };
          expect(typeof result.accepted, what).toBe('number');
        }
      }),
      { numRuns: RUNS },
    );
    expect(sent).toBeGreaterThanOrEqual(1_000);
    // The mix reached the routes, not only the front door.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(50);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(50);
    expect(statuses.get(404) ?? 0).toBeGreaterThan(50);
    expect(await accountsState()).toEqual(before);
    expect(Object.prototype).not.toHaveProperty('polluted');
  }, 300_000);
});
