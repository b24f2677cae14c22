import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from '../support/api.js';
import { freshStore } from '../support/store.js';

let store: Store;
let api: TestApi;
beforeAll(async () => {
  store = await freshStore();
  api = await startApi(store);
});
afterAll(async () => {
  await api.close();
  await store.close();
});

/** Each series of the product's own metrics, by name and labels, without its value. */
async function productSeries(): Promise<Set<string>> {
  const text = await (await api.request('/metrics')).text();
  const series = text
    .split('\n')
    .filter((line) => line.startsWith('balances_'))
    .map((line) => line.slice(0, line.lastIndexOf(' ')));
  return new Set(series);
}

/** Requests nobody may make grow: unknown paths with and without a key, under /v1 and outside it. */
function strangerRequest(i: number): { noise: string; path: string; method: string; key?: string; accept: string } {
  const noise = randomUUID();
  const shapes: Array<{ path: string; method: string; key?: string }> = [
    { path: `/v1/${noise}`, method: 'GET' },
    { path: `/v1/${noise}`, method: 'GET', key: 'acme-admin' },
    { path: `/v1/wallets/credits/${noise}/${noise}`, method: 'GET', key: 'acme-analyst' },
    { path: `/v1/${noise}/events`, method: 'POST' },
    { path: `/v1/${noise}`, method: 'POST', key: 'acme-ingest' },
    { path: `/${noise}`, method: 'GET' },
  ];
  return { noise, ...shapes[i % shapes.length]!, accept: 'application/json' };
}

describe('GET /metrics', () => {
  it('requests to unknown paths, with or without a key, add no series to /metrics; known routes keep their own label', async () => {
    // One of each kind first, so every bounded label set already exists.
    for (let i = 0; i < 6; i++) {
      const { path, method, key, accept } = strangerRequest(i);
      await api.request(path, { method, key, headers: { accept } });
    }
    await api.request('/metrics');
    const before = await productSeries();

    const noises: string[] = [];
    for (let i = 0; i < 300; i++) {
      const { noise, path, method, key, accept } = strangerRequest(i);
      noises.push(noise);
      const res = await api.request(path, { method, key, headers: { accept } });
      expect(res.status, path).toBeGreaterThanOrEqual(400);
    }
    const after = await productSeries();

    const added = [...after].filter((s) => !before.has(s));
    expect(added.length, `series added, among them:\n${added.slice(0, 3).join('\n')}`).toBe(0);
    expect(after.size).toBe(before.size);
    const httpSeries = [...after].filter((s) => s.startsWith('balances_http_request_duration_seconds'));
    const routes = new Set(httpSeries.map((s) => /route="([^"]*)"/.exec(s)?.[1]));
    expect([...routes].sort()).toEqual(['/metrics', 'unmatched']);
    expect(httpSeries.filter((s) => noises.some((noise) => s.includes(noise)))).toEqual([]);

    await api.request(`/v1/wallets/credits/${randomUUID()}/balance`, { key: 'acme-admin' });
    const withRoute = [...(await productSeries())].filter((s) => s.startsWith('balances_http_request_duration_seconds_count'));
    expect(withRoute.some((s) => s.includes('route="/v1/wallets/:type/:id/balance"'))).toBe(true);
  });
});
