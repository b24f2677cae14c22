import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from '../support/api.js';
import { purchase, usage } from '../support/events.js';
import { freshStore } from '../support/store.js';

let store: Store;
let api: TestApi;
let reads = 0;
const clock = () => Date.parse('2026-03-01T00:00:00Z');

beforeAll(async () => {
  store = await freshStore();
  // Storage's usage totals, by the named query's own report of each run.
  const counting: Store = {
    ...store,
    observer: (sample) => {
      if (sample.name === 'usage.totals' || sample.name === 'usage.wallet_totals') reads++;
    },
  };
  api = await startApi(counting, { clock });
  await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify([purchase('rc-p'), usage('rc-u1', { amount: '3' })]) });
});
afterAll(async () => {
  await api.close();
  await store.close();
});

const path = '/v1/usage?group_by=user&wallet_type=team&wallet_id=platform&from=2026-01-01T00:00:00Z';
const used = async () => ((await (await api.request(path, { key: 'acme-analyst' })).json()) as { rows: Array<{ amount: string }> }).rows[0]?.amount;

describe('repeated reads', () => {
  it('asked at once, or again within the second, share one query', async () => {
    const before = reads;
    const answers = await Promise.all(Array.from({ length: 8 }, () => used()));
    expect(answers).toEqual(Array(8).fill('3'));
    expect(await used()).toBe('3');
    expect(reads - before).toBe(1);
  });

  it('are asked again after this process stores an event for the account', async () => {
    await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify([usage('rc-u2', { amount: '4' })]) });
    expect(await used()).toBe('7');
  });

  it('never share an answer between accounts', async () => {
    const res = await api.request(path, { key: 'globex-admin' });
    expect(res.status).toBe(404);
  });
});
