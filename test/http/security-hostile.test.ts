import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from '../support/api.js';
import { purchase, usage } from '../support/events.js';
import { count, freshStore } from '../support/store.js';
import { expectErrorObject, expectNoInternals, rawRequest } from '../support/rawHttp.js';
import { utf8Body } from '../../api/validate.js';

let store: Store;
let api: TestApi;
let port: number;

beforeAll(async () => {
  store = await freshStore();
  api = await startApi(store, { bodyLimitBytes: 1024 * 1024, clock: () => Date.UTC(2026, 2, 15) });
  port = Number(new URL(api.url).port);
  for (const [key, account] of [
    ['acme-admin', 'acme'],
    ['globex-admin', 'globex'],
  ] as const) {
    const res = await api.request('/v1/events', {
      method: 'POST',
      key,
      body: JSON.stringify([purchase(`${account}-p1`, { account_id: account }), usage(`${account}-u1`, { account_id: account })]),
    });
    expect((await res.json()).accepted).toBe(2);
  }
});
afterAll(async () => {
  await api.close();
  await store.close();
});

const admin = { authorization: 'Bearer acme-admin' };
const json = { ...admin, 'content-type': 'application/json' };

async function state(): Promise<unknown> {
  const lists = [];
  for (const key of ['acme-admin', 'globex-admin']) lists.push(await (await api.request('/v1/wallets', { key })).json());
  return { lists, events: await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`) };
}

/** [what, method, path, headers, body, expected status] */
type Attack = [string, string, string, Record<string, string>, (Buffer | string)?, number?];

const GETS: Attack[] = [
  ['path traversal in a wallet id', 'GET', '/v1/wallets/team/..%2F..%2Fetc/balance', admin, undefined, 404],
  ['path traversal, dots encoded', 'GET', '/v1/wallets/team/%2e%2e%2f%2e%2e%2fetc%2fpasswd/events', admin, undefined, 404],
  ['path traversal in the wallet type', 'GET', '/v1/wallets/..%2F..%2Fetc/platform/balance', admin, undefined, 400],
  ['path traversal out of /v1', 'GET', '/v1/wallets/team/../../../etc/passwd', admin, undefined, 404],
  ['a truncated percent-escape', 'GET', '/v1/wallets/team/%E0%A4%A/balance', admin, undefined, 400],
  ['an encoded lone surrogate', 'GET', '/v1/wallets/team/%ED%A0%80/usage-summary', admin, undefined, 400],
  ['a percent sign that escapes nothing', 'GET', '/v1/wallets/%ZZ/x/balance', admin, undefined, 400],
  ['invalid UTF-8 in a path', 'GET', '/v1/wallets/team/%FF%FE/events', admin, undefined, 400],
  ['a NUL byte in an id', 'GET', '/v1/wallets/team/a%00b/balance', admin, undefined, 404],
  ['SQL in an id', 'GET', "/v1/wallets/team/x'%20OR%201=1--/balance", admin, undefined, 404],
  ['a statement in an id', 'GET', '/v1/wallets/team/x%27%3B%20DROP%20TABLE%20events_v1%3B--/events', admin, undefined, 404],
  ['a ClickHouse parameter in an id', 'GET', '/v1/wallets/team/%7Baccount%3AString%7D/balance', admin, undefined, 404],
  ['tabs, newlines and backslashes in an id', 'GET', '/v1/wallets/team/a%09b%0Ac%5C/events', admin, undefined, 404],
  ['SQL in a wallet_id parameter', 'GET', '/v1/usage?wallet_type=team&wallet_id=%27)%20OR%201%3D1--', admin, undefined, 404],
  ['SQL in group_by', 'GET', '/v1/usage?group_by=user%20UNION%20SELECT%201', admin, undefined, 400],
  ['SQL in tz', 'GET', "/v1/usage?tz=UTC')--&group_by=day", admin, undefined, 400],
  ['a path as a time zone', 'GET', '/v1/usage?tz=..%2F..%2Fetc%2Flocaltime&group_by=day', admin, undefined, 400],
  ['invalid UTF-8 in a parameter', 'GET', '/v1/usage?wallet_type=team&wallet_id=%FF', admin, undefined, 404],
  ['an array parameter', 'GET', '/v1/wallets?type[]=team', admin, undefined, 400],
  ['a repeated parameter', 'GET', '/v1/wallets?type=team&type=contract', admin, undefined, 400],
  ['__proto__ as a parameter', 'GET', '/v1/wallets?__proto__=x', admin, undefined, 400],
  ['__proto__ as a nested parameter', 'GET', '/v1/alerts?__proto__[polluted]=1', admin, undefined, 400],
  ['constructor.prototype as a parameter', 'GET', '/v1/expiring?constructor[prototype][polluted]=1', admin, undefined, 400],
  ['a relative time 19,000 years back', 'GET', '/v1/usage?from=now-999999w&to=now-999998w', admin, undefined, 400],
  ['a relative time 19,000 years ahead', 'GET', '/v1/wallets/team/platform/balance?at=now%2B999999w', admin, undefined, 400],
  ['a relative time before 1970', 'GET', '/v1/wallets/team/platform/events?from=now-99999d', admin, undefined, 400],
  ['year 9999', 'GET', '/v1/wallets/team/platform/balance?at=9999-12-31T23:59:59Z', admin, undefined, 400],
  ['a 20-digit count', 'GET', '/v1/expiring?within_days=99999999999999999999', admin, undefined, 400],
  ['an exponent as a count', 'GET', '/v1/usage?group_by=user&limit=1e308', admin, undefined, 400],
  ['a negative count', 'GET', '/v1/wallets/team/platform/events?limit=-1', admin, undefined, 400],
  ['a cursor of NUL bytes', 'GET', '/v1/wallets/team/platform/events?cursor=%00%00', admin, undefined, 400],
  ['headers above the server limit', 'GET', '/v1/wallets', { ...admin, 'x-padding': 'y'.repeat(20_000) }, undefined, 431],
  ['an 8,000-character key', 'GET', '/v1/wallets', { authorization: `Bearer ${'k'.repeat(8_000)}` }, undefined, 401],
  ['a key in Latin-1', 'GET', '/v1/wallets', { authorization: 'Bearer \u00ff\u00fe' }, undefined, 401],
  ['another scheme', 'GET', '/v1/wallets', { authorization: `Basic ${Buffer.from('acme-admin:').toString('base64')}` }, undefined, 401],
  ['a method no route has', 'DELETE', '/v1/wallets/team/platform/balance', admin, undefined, 404],
];

const POSTS: Attack[] = [
  ['a body that is not an array or object', 'POST', '/v1/events', json, 'null', 400],
  ['a JSON string body', 'POST', '/v1/events', json, '"[]"', 400],
  ['truncated JSON', 'POST', '/v1/events', json, '[{"event_id":', 400],
  ['NaN', 'POST', '/v1/events', json, '[{"amount":NaN}]', 400],
  ['an empty body', 'POST', '/v1/events', json, '', 400],
  ['garbage declared gzip', 'POST', '/v1/events', { ...json, 'content-encoding': 'gzip' }, 'not gzip', 400],
  ['garbage declared deflate', 'POST', '/v1/events', { ...json, 'content-encoding': 'deflate' }, 'not deflate', 400],
  ['garbage declared brotli', 'POST', '/v1/events', { ...json, 'content-encoding': 'br' }, 'not brotli', 400],
  ['an unknown content encoding', 'POST', '/v1/events', { ...json, 'content-encoding': 'x-evil' }, '[]', 400],
  ['a gzip bomb: 20 MB of spaces in 20 kB', 'POST', '/v1/events', { ...json, 'content-encoding': 'gzip' }, gzipSync(Buffer.alloc(20 * 1024 * 1024, 32)), 413],
  ['a body above the cap', 'POST', '/v1/events', json, `[${'1,'.repeat(600_000)}1]`, 413],
  // Bodies that parse but hold no valid event: 200 with every event rejected by index, or a 4xx.
  ['100,000 nested arrays', 'POST', '/v1/events', json, `${'['.repeat(100_000)}${']'.repeat(100_000)}`],
  ['100,000 nested objects', 'POST', '/v1/events', json, `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`],
  ['100,000 nested objects as NDJSON', 'POST', '/v1/events', { ...admin, 'content-type': 'application/x-ndjson' }, `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`],
  ['an event with a 10,000-deep field', 'POST', '/v1/events', json, `[${JSON.stringify(usage('deep-1', { account_id: 'globex' })).slice(0, -1)},"meta":${'['.repeat(10_000)}${']'.repeat(10_000)}}]`],
  ['amounts of 400 digits, 1e308 and exponent notation', 'POST', '/v1/events', json, `[${JSON.stringify(usage('huge-1', { amount: 'A' })).replace('"A"', `1${'0'.repeat(400)}`)},${JSON.stringify(usage('huge-2', { amount: 'A' })).replace('"A"', '1e308')},${JSON.stringify(usage('huge-3', { amount: '9'.repeat(40) }))},${JSON.stringify(usage('huge-4', { amount: 'Infinity' }))}]`],
  ['numbers where strings belong', 'POST', '/v1/events', json, JSON.stringify([usage('types-1', { event_id: 1e308 }), usage('types-2', { occurred_at: 9e15 }), usage('types-3', { wallet: 'team/platform' })])],
  ['invalid UTF-8 bytes as the whole body', 'POST', '/v1/events', json, Buffer.from([0xff, 0xfe, 0xfd, 0x00, 0xc3, 0x28])],
  ['invalid UTF-8 bytes inside a string of an invalid event', 'POST', '/v1/events', json, Buffer.concat([Buffer.from('[{"event_id":"utf-'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('","type":"usage"}]')])],
  ['a valid event with a byte that is not UTF-8 inside user_id', 'POST', '/v1/events', json, Buffer.concat(JSON.stringify([usage('utf-valid-1', { user_id: 'a~b' })]).split('~').flatMap((part, i) => (i === 0 ? [Buffer.from(part)] : [Buffer.from([0xff]), Buffer.from(part)]))), 400],
  ['XML posted by an analyst, who may not ingest at all', 'POST', '/v1/events', { authorization: 'Bearer acme-analyst', 'content-type': 'application/xml' }, '<x/>', 403],
  ['__proto__ and constructor keys in events', 'POST', '/v1/events', json, '[{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}},{"event_id":"proto-1","__proto__":{"account_id":"acme","type":"usage"}}]'],
  ['XML with an external entity', 'POST', '/v1/events', { ...admin, 'content-type': 'application/xml' }, '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><events>&e;</events>', 415],
  ['a form', 'POST', '/v1/events', { ...admin, 'content-type': 'application/x-www-form-urlencoded' }, 'event_id=1&type=usage', 415],
  ['multipart', 'POST', '/v1/events', { ...admin, 'content-type': 'multipart/form-data; boundary=x' }, '--x\r\nContent-Disposition: form-data; name="f"\r\n\r\n[]\r\n--x--', 415],
  ['JSON declared UTF-16', 'POST', '/v1/events', { ...admin, 'content-type': 'application/json; charset=utf-16' }, JSON.stringify([usage('utf16-1')]), 415],
  ['a content type that is no media type', 'POST', '/v1/events', { ...admin, 'content-type': '../../etc/passwd' }, '[]', 415],
];

describe('the events body helpers', () => {
  it('refuses bytes that are not UTF-8 instead of storing U+FFFD in their place', () => {
    expect(utf8Body(Buffer.from('[{"user_id":"zoë"}]'))).toBe('[{"user_id":"zoë"}]');
    for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80]]) {
      const body = Buffer.concat([Buffer.from('[{"user_id":"a'), Buffer.from(bad), Buffer.from('"}]')]);
      expect(() => utf8Body(body)).toThrow(expect.objectContaining({ status: 400, code: 'invalid_body' }));
    }
  });
});

describe('hostile requests', () => {
  it('each answers 4xx with the error object: no 5xx, no stack trace, no change of data', async () => {
    const before = await state();
    for (const [what, method, path, headers, body, expected] of GETS) {
      const answer = await rawRequest(port, method, path, headers, body);
      expectErrorObject(answer, what);
      if (expected !== undefined) expect(answer.status, what).toBe(expected);
    }
    expect(await state()).toEqual(before);
  });

  it('hostile bodies are refused whole with the error object, or answered event by event with every event rejected', async () => {
    const before = await state();
    for (const [what, method, path, headers, body, expected] of POSTS) {
      const answer = await rawRequest(port, method, path, headers, body);
      if (expected !== undefined || answer.status !== 200) {
        expectErrorObject(answer, what);
        if (expected !== undefined) expect(answer.status, what).toBe(expected);
        continue;
      }
      expectNoInternals(answer.body, what);
      const result = JSON.parse(answer.body) as { accepted: number; duplicates: number; rejected: Array<{ index: number; code: string; message: string }> };
      expect(result.accepted, what).toBe(0);
      expect(result.duplicates, what).toBe(0);
      expect(result.rejected.length, what).toBeGreaterThan(0);
      for (const r of result.rejected) expect(typeof r.code, what).toBe('string');
    }
    expect(await state()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('names that are JavaScript built-ins are ordinary wallets, users, products and event ids', async () => {
    const names = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];
    const events = names.flatMap((name, i) => [
      purchase(name, { account_id: 'globex', wallet: { type: 'team', id: name }, amount: '100', lot_id: name, sku: name }),
      usage(`${name}-use`, { account_id: 'globex', wallet: { type: 'team', id: name }, amount: String(i + 1), user_id: name, product: name, service: name }),
    ]);
    const posted = await api.request('/v1/events', { method: 'POST', key: 'globex-admin', body: JSON.stringify(events) });
    expect(await posted.json()).toEqual({ accepted: events.length, duplicates: 0, rejected: [] });
    expect(Object.prototype).not.toHaveProperty('polluted');
    const wallets = (await (await api.request('/v1/wallets', { key: 'globex-admin' })).json()) as { wallets: Array<{ wallet: { id: string }; used: string | number }> };
    for (const [i, name] of names.entries()) {
      const wallet = wallets.wallets.find((w) => w.wallet.id === name);
      expect(Number(wallet?.used), name).toBe(i + 1);
      for (const route of ['balance', 'events', 'usage-summary?days=1830']) {
        const res = await api.request(`/v1/wallets/team/${encodeURIComponent(name)}/${route}`, { key: 'globex-admin' });
        expect(res.status, `${name} ${route}`).toBe(200);
      }
    }
    for (const group of ['user', 'product', 'service']) {
      const res = await api.request(`/v1/usage?group_by=${group}&from=2025-01-01T00:00:00Z`, { key: 'globex-admin' });
      const rows = ((await res.json()) as { rows: Array<Record<string, string>> }).rows;
      for (const [i, name] of names.entries()) expect(Number(rows.find((r) => r[group] === name)?.amount), `${group} ${name}`).toBe(i + 1);
    }
  });
});
