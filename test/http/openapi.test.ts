import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError, type Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from '../support/api.js';
import { move, purchase, usage, voidOf } from '../support/events.js';
import { freshStore } from '../support/store.js';

let store: Store;
let api: TestApi;
let document: {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components: { schemas: Record<string, unknown> };
};
const ajv = new (Ajv2020 as unknown as typeof Ajv2020.default)({ strict: false, allErrors: true });
(addFormats as unknown as (a: unknown) => void)(ajv);

beforeAll(async () => {
  store = await freshStore();
  api = await startApi(store, { clock: () => Date.UTC(2026, 6, 1), bodyLimitBytes: 4096 });
  const res = await api.request('/v1/events', {
    method: 'POST',
    key: 'acme-admin',
    body: JSON.stringify([
      purchase('oa-p1', { amount: '100', expires_at: '2026-08-01T00:00:00Z' }),
      purchase('oa-p2', { wallet: { type: 'team', id: 'mobile' }, amount: '10' }),
      usage('oa-u1', { amount: '95' }),
      usage('oa-u2', { amount: '3', wallet: { type: 'contract', id: 'apac' }, service: 'linker' }),
      move('oa-m1', { amount: '2' }),
      voidOf('oa-v1', 'oa-u9'),
    ]),
  });
  expect((await res.json()).rejected).toEqual([]);
  document = await (await api.request('/openapi.json')).json();
  ajv.addSchema({ $id: 'components', $defs: document.components.schemas });
});
afterAll(async () => {
  await api.close();
  await store.close();
});

/** The operation a concrete request path matches, as the document names it. */
function templateOf(path: string): string {
  const bare = path.split('?')[0] as string;
  for (const template of Object.keys(document.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (pattern.test(bare)) return template;
  }
  throw new Error(`no documented path for ${path}`);
}

const covered = new Set<string>();

async function conforms(method: 'get' | 'post', path: string, init: { key?: string; body?: string; headers?: Record<string, string> }, status: number, on: TestApi = api) {
  const res = await on.request(path, { method: method.toUpperCase(), ...init });
  expect(res.status, `${method} ${path}`).toBe(status);
  const template = templateOf(path);
  const documented = document.paths[template]?.[method]?.responses[String(status)];
  expect(documented, `${method} ${template} documents ${status}`).toBeDefined();
  const contentType = (res.headers.get('content-type') ?? '').split(';')[0] as string;
  const schema = documented?.content?.[contentType]?.schema;
  expect(schema, `${method} ${template} ${status} documents ${contentType}`).toBeDefined();
  const body = contentType === 'application/json' ? await res.json() : await res.text();
  const schemaRef = JSON.parse(JSON.stringify(schema).replace(/#\/components\/schemas\//g, 'components#/$defs/'));
  const validate = ajv.compile(schemaRef as object);
  expect(validate(body), `${method} ${path} ${status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`).toBe(true);
  covered.add(`${method} ${template} ${status}`);
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and every schema in it compiles', () => {
    expect(document.openapi).toBe('3.1.0');
    for (const [name, schema] of Object.entries(document.components.schemas)) {
      expect(() => ajv.compile(JSON.parse(JSON.stringify(schema).replace(/#\/components\/schemas\//g, 'components#/$defs/'))), name).not.toThrow();
    }
  });

  it('describes every answer of every route', async () => {
    const admin = { key: 'acme-admin' };
    await conforms('get', '/healthz', {}, 200);
    await conforms('get', '/readyz', {}, 200);
    await conforms('get', '/healthz?verbose=1', {}, 400);
    await conforms('get', '/readyz?verbose=1', {}, 400);
    await conforms('post', '/v1/events', { ...admin, body: JSON.stringify([usage('oa-u3'), { type: 'usage' }]) }, 200);
    await conforms('post', '/v1/events', { ...admin, body: '[{', headers: { 'content-type': 'application/json' } }, 400);
    await conforms('post', '/v1/events', { body: '[]' }, 401);
    await conforms('post', '/v1/events', { key: 'acme-analyst', body: '[]' }, 403);
    await conforms('post', '/v1/events', { ...admin, body: JSON.stringify(Array.from({ length: 40 }, (_, i) => usage(`big-${i}`))) }, 413);
    await conforms('post', '/v1/events', { ...admin, body: '<events/>', headers: { 'content-type': 'application/xml' } }, 415);

    await conforms('get', '/v1/wallets', admin, 200);
    await conforms('get', '/v1/wallets?type=contract', admin, 200);
    await conforms('get', '/v1/wallets?type=person', admin, 400);
    await conforms('get', '/v1/wallets', {}, 401);
    await conforms('get', '/v1/wallets', { key: 'acme-ingest' }, 403);

    for (const route of ['balance', 'events', 'usage-summary', 'forecast', 'history']) {
      await conforms('get', `/v1/wallets/team/platform/${route}`, admin, 200);
      await conforms('get', `/v1/wallets/team/nobody/${route}`, admin, 404);
      await conforms('get', `/v1/wallets/team/platform/${route}`, { key: 'globex-admin' }, 404);
      await conforms('get', `/v1/wallets/team/platform/${route}?bogus=1`, admin, 400);
      await conforms('get', `/v1/wallets/team/platform/${route}`, {}, 401);
      await conforms('get', `/v1/wallets/team/platform/${route}`, { key: 'acme-ingest' }, 403);
    }
    await conforms('get', '/v1/wallets/team/platform/balance?at=2026-03-01T00:00:00Z', admin, 200);
    await conforms('get', '/v1/wallets/team/platform/events?limit=1&from=now-365d', admin, 200);
    await conforms('get', '/v1/wallets/team/mobile/events', admin, 200);
    await conforms('get', '/v1/wallets/team/platform/forecast?window_days=7', admin, 200);
    await conforms('get', '/v1/wallets/contract/apac/forecast', admin, 200);
    await conforms('get', '/v1/wallets/team/platform/forecast?window_days=400', admin, 400);
    await conforms('get', '/v1/wallets/team/platform/history?from=2026-01-01T00:00:00Z&tz=Europe/Paris', admin, 200);
    await conforms('get', '/v1/wallets/team/platform/history?tz=Nowhere/City', admin, 400);

    await conforms('get', '/v1/suggestions/moves', admin, 200);
    await conforms('get', '/v1/suggestions/moves?wallet_type=team', admin, 200);
    await conforms('get', '/v1/suggestions/moves?wallet_type=person', admin, 400);
    await conforms('get', '/v1/suggestions/moves', {}, 401);
    await conforms('get', '/v1/suggestions/moves', { key: 'acme-ingest' }, 403);

    await conforms('get', '/v1/expiring?within_days=60', admin, 200);
    await conforms('get', '/v1/expiring?within_days=soon', admin, 400);
    await conforms('get', '/v1/expiring', {}, 401);
    await conforms('get', '/v1/expiring', { key: 'acme-ingest' }, 403);

    for (const group of ['service', 'user', 'product', 'day']) await conforms('get', `/v1/usage?group_by=${group}&from=now-365d`, admin, 200);
    await conforms('get', '/v1/usage?group_by=user&limit=1&from=now-365d', admin, 200);
    await conforms('get', '/v1/usage?group_by=service', { ...admin, headers: { accept: 'text/csv' } }, 200);
    await conforms('get', '/v1/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', admin, 400);
    await conforms('get', '/v1/usage?wallet_type=team&wallet_id=nobody', admin, 404);
    await conforms('get', '/v1/usage', {}, 401);
    await conforms('get', '/v1/usage', { key: 'acme-ingest' }, 403);

    await conforms('get', '/v1/alerts', admin, 200);
    await conforms('get', '/v1/alerts?x=1', admin, 400);
    await conforms('get', '/v1/alerts', {}, 401);
    await conforms('get', '/v1/alerts', { key: 'acme-ingest' }, 403);

    // A store that refuses writes: events are answered 503 with Retry-After, not accepted.
    const refusing: Store = { ...store, insertJsonEachRow: (table) => Promise.reject(StorageError.of(`insert into ${table}`, Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }))) };
    const down = await startApi(refusing);
    try {
      await conforms('post', '/v1/events', { ...admin, body: JSON.stringify([usage('oa-down-1')]) }, 503, down);
    } finally {
      await down.close();
    }

    // Every documented answer but server faults and an unreachable store was produced and checked.
    const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).flatMap(([method, op]) => Object.keys(op.responses).filter((s) => s !== '500' && !(path === '/readyz' && s === '503')).map((s) => `${method} ${path} ${s}`)),
    );
    expect(documented.filter((d) => !covered.has(d))).toEqual([]);
  });

  it('heavy answers carry Cache-Control and an ETag, and a matching If-None-Match answers 304', async () => {
    const res = await api.request('/v1/usage?group_by=user&from=now-365d', { key: 'acme-admin' });
    expect(res.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
    const etag = res.headers.get('etag');
    expect(etag).toBeTruthy();
    // As a browser revalidates; fetch would otherwise add Cache-Control: no-cache to a conditional request.
    const again = await api.request('/v1/usage?group_by=user&from=now-365d', {
      key: 'acme-admin',
      headers: { 'if-none-match': etag as string, 'cache-control': 'max-age=0' },
    });
    expect(again.status).toBe(304);
    for (const path of ['/v1/wallets', '/v1/expiring', '/v1/alerts', '/v1/wallets/team/platform/balance', '/v1/wallets/team/platform/forecast', '/v1/wallets/team/platform/history', '/v1/suggestions/moves']) {
      const r = await api.request(path, { key: 'acme-admin' });
      expect(r.headers.get('cache-control'), path).toMatch(/^private, max-age=\d+$/);
      expect(r.headers.get('etag'), path).toBeTruthy();
    }
  });
});
