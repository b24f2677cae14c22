import { ClickHouseContainer, type StartedClickHouseContainer } from '@testcontainers/clickhouse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../core/clickhouse.js';
import { migrate } from '../../storage/migrate.js';
import { startApi, type TestApi } from '../support/api.js';
import { dockerAvailable } from '../support/docker.js';
import { purchase, usage } from '../support/events.js';
import { count } from '../support/store.js';

const SUITE = 'ClickHouse server (testcontainers)';
const docker = await dockerAvailable(SUITE);

describe.skipIf(!docker)(SUITE, () => {
  let container: StartedClickHouseContainer;
  let store: Store;
  let api: TestApi;

  beforeAll(async () => {
    container = await new ClickHouseContainer('clickhouse/clickhouse-server:25.8').start();
    store = createStore({
      url: container.getHttpUrl(),
      username: container.getUsername(),
      password: container.getPassword(),
      database: 'balances_it',
    });
    await migrate(store);
    api = await startApi(store);
  }, 180_000);

  afterAll(async () => {
    await api?.close();
    await store?.close();
    await container?.stop();
  });

  it('runs the same migrations, idempotently', async () => {
    expect((await migrate(store)).applied).toEqual([]);
  });

  it('ingests over HTTP exactly once through the HTTP connection', async () => {
    const body = JSON.stringify([purchase('srv-p1'), usage('srv-u1'), usage('srv-u1'), usage('srv-bad', { amount: '-1' })]);
    const first = await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body });
    expect(await first.json()).toMatchObject({ accepted: 2, duplicates: 1, rejected: [{ index: 3, code: 'amount_not_positive' }] });
    const second = await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body });
    expect(await second.json()).toMatchObject({ accepted: 0, duplicates: 3 });
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(2);
  });
});
