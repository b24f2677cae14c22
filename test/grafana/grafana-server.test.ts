import { join } from 'node:path';
import { ClickHouseContainer, type StartedClickHouseContainer } from '@testcontainers/clickhouse';
import { GenericContainer, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../core/clickhouse.js';
import { migrate } from '../../storage/migrate.js';
import { BalanceAggregator } from '../../aggregator/process.js';
import { DEMO_ACCOUNT, loadDemo } from '../../ingest/demo.js';
import { dockerAvailable } from '../support/docker.js';
import { pipelineFor, silentLog } from '../support/store.js';
import { interpolateVariables } from './support/macros.js';
import { dashboardFiles, PROVISIONING, ROOT } from './support/provisioning.js';

const SUITE = 'Grafana with the provisioning (testcontainers)';
const docker = await dockerAvailable(SUITE);
const GRAFANA_PASSWORD = 'grafana-readonly';

describe.skipIf(!docker)(SUITE, () => {
  let network: StartedNetwork;
  let clickhouse: StartedClickHouseContainer;
  let grafana: StartedTestContainer;
  let store: Store;
  let url: string;
  const auth = { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
  const get = async (path: string) => (await fetch(`${url}${path}`, { headers: auth })).json() as Promise<Record<string, unknown>>;

  beforeAll(async () => {
    network = await new Network().start();
    clickhouse = await new ClickHouseContainer('clickhouse/clickhouse-server:25.8.18.1')
      .withNetwork(network)
      .withNetworkAliases('clickhouse')
      .withEnvironment({ CLICKHOUSE_GRAFANA_PASSWORD: GRAFANA_PASSWORD })
      .withCopyFilesToContainer([{ source: join(ROOT, 'deploy/clickhouse/users.d/grafana.xml'), target: '/etc/clickhouse-server/users.d/grafana.xml' }])
      .start();
    store = createStore({ url: clickhouse.getHttpUrl(), username: clickhouse.getUsername(), password: clickhouse.getPassword(), database: 'balances' });
    await migrate(store);
    await loadDemo(pipelineFor(store));
    await new BalanceAggregator({ store, log: silentLog }).recompute(DEMO_ACCOUNT);
    grafana = await new GenericContainer('grafana/grafana:12.2.0')
      .withNetwork(network)
      .withEnvironment({
        GF_PLUGINS_PREINSTALL_SYNC: 'grafana-clickhouse-datasource',
        CLICKHOUSE_HOST: 'clickhouse',
        CLICKHOUSE_PORT: '8123',
        CLICKHOUSE_PROTOCOL: 'http',
        CLICKHOUSE_DATABASE: 'balances',
        CLICKHOUSE_GRAFANA_USER: 'grafana',
        CLICKHOUSE_GRAFANA_PASSWORD: GRAFANA_PASSWORD,
        GRAFANA_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/alerts',
      })
      .withCopyDirectoriesToContainer([{ source: PROVISIONING, target: '/etc/grafana/provisioning' }])
      .withExposedPorts(3000)
      .withWaitStrategy(Wait.forHttp('/api/health', 3000).forStatusCode(200))
      .withStartupTimeout(240_000)
      .start();
    url = `http://${grafana.getHost()}:${grafana.getMappedPort(3000)}`;
  }, 600_000);

  afterAll(async () => {
    await store?.close();
    await grafana?.stop();
    await clickhouse?.stop();
    await network?.stop();
  });

  it('answers /api/health with its database ok', async () => {
    expect(await get('/api/health')).toMatchObject({ database: 'ok' });
  });

  it('loads the three dashboards by their uids', async () => {
    const found = (await get('/api/search?type=dash-db')) as unknown as Array<{ uid: string }>;
    expect(found.map((d) => d.uid).sort()).toEqual(['balances-overview', 'balances-token-events', 'balances-usage']);
  });

  it("reaches ClickHouse as the read-only user: the datasource's health check passes and a write is refused", async () => {
    expect(await get('/api/datasources/uid/balances-clickhouse/health')).toMatchObject({ status: 'OK' });
    const write = await fetch(`${url}/api/ds/query`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        queries: [{ refId: 'A', datasource: { uid: 'balances-clickhouse' }, rawSql: 'DROP TABLE balances.events_v1', format: 1, queryType: 'table', editorType: 'sql' }],
        from: 'now-1h',
        to: 'now',
      }),
    });
    expect(JSON.stringify(await write.json())).toMatch(/readonly|Not enough privileges|ACCESS_DENIED/i);
  });

  it("runs a usage panel's query through the real plugin, which expands $__timeFilter itself", async () => {
    const usage = dashboardFiles().find((d) => d.dashboard.uid === 'balances-usage')?.dashboard;
    const bars = usage?.panels.find((p) => p.title === 'Usage by service');
    const all = { current: '$__all' as const, options: [], multi: true };
    const browserSide = interpolateVariables(bars?.targets?.[0]?.rawSql as string, {
      account: { current: [DEMO_ACCOUNT], options: [], multi: false },
      wallet_type: all,
      wallet: all,
    });
    const response = await fetch(`${url}/api/ds/query`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ queries: [{ ...bars?.targets?.[0], rawSql: browserSide }], from: 'now-90d', to: 'now' }),
    });
    const body = (await response.json()) as { results: { A: { frames: Array<{ data: { values: unknown[][] } }> } } };
    expect(response.status).toBe(200);
    expect(body.results.A.frames[0]?.data.values[0]?.length).toBeGreaterThan(0);
  });

  it('provisions both alert rules and the webhook contact point', async () => {
    const rules = (await get('/api/v1/provisioning/alert-rules')) as unknown as Array<{ uid: string }>;
    expect(rules.map((r) => r.uid).sort()).toEqual(['balances-expiring', 'balances-low-balance']);
    const points = (await get('/api/v1/provisioning/contact-points')) as unknown as Array<{ name: string; type: string }>;
    expect(points).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'balances-webhook', type: 'webhook' })]));
  });
});
