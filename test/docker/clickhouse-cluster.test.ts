import { GenericContainer, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../core/clickhouse.js';
import { migrate } from '../../storage/migrate.js';
import { startApi, type TestApi } from '../support/api.js';
import { dockerAvailable } from '../support/docker.js';
import { purchase, usage } from '../support/events.js';
import { count } from '../support/store.js';

const SUITE = 'ClickHouse cluster of two shards with Keeper (testcontainers)';
const docker = await dockerAvailable(SUITE);
const IMAGE = 'clickhouse/clickhouse-server:25.8';
const KEEPER_IMAGE = 'clickhouse/clickhouse-keeper:25.8';

const keeperConfig = `<clickhouse>
  <listen_host>0.0.0.0</listen_host>
  <keeper_server>
    <tcp_port>9181</tcp_port>
    <server_id>1</server_id>
    <log_storage_path>/var/lib/clickhouse/coordination/log</log_storage_path>
    <snapshot_storage_path>/var/lib/clickhouse/coordination/snapshots</snapshot_storage_path>
    <raft_configuration><server><id>1</id><hostname>keeper</hostname><port>9234</port></server></raft_configuration>
  </keeper_server>
</clickhouse>`;

const nodeConfig = (shard: string, replica: string) => `<clickhouse>
  <remote_servers>
    <balances>
      <shard><replica><host>ch1</host><port>9000</port><user>balances</user><password>balances</password></replica></shard>
      <shard><replica><host>ch2</host><port>9000</port><user>balances</user><password>balances</password></replica></shard>
    </balances>
  </remote_servers>
  <zookeeper><node><host>keeper</host><port>9181</port></node></zookeeper>
  <macros><shard>${shard}</shard><replica>${replica}</replica></macros>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</clickhouse>`;

describe.skipIf(!docker)(SUITE, () => {
  let network: StartedNetwork;
  const containers: StartedTestContainer[] = [];
  let first: Store;
  let second: Store;
  let api: TestApi;

  const node = (name: string, shard: string) =>
    new GenericContainer(IMAGE)
      .withNetwork(network)
      .withNetworkAliases(name)
      .withEnvironment({ CLICKHOUSE_USER: 'balances', CLICKHOUSE_PASSWORD: 'balances', CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT: '1' })
      .withCopyContentToContainer([{ content: nodeConfig(shard, name), target: '/etc/clickhouse-server/config.d/cluster.xml' }])
      .withExposedPorts(8123)
      .withWaitStrategy(Wait.forHttp('/ping', 8123))
      .start();

  beforeAll(async () => {
    network = await new Network().start();
    containers.push(
      await new GenericContainer(KEEPER_IMAGE)
        .withNetwork(network)
        .withNetworkAliases('keeper')
        .withCopyContentToContainer([{ content: keeperConfig, target: '/etc/clickhouse-keeper/keeper_config.xml' }])
        .start(),
    );
    containers.push(...(await Promise.all([node('ch1', '01'), node('ch2', '02')])));
    const storeOn = (c: StartedTestContainer) =>
      createStore({ url: `http://${c.getHost()}:${c.getMappedPort(8123)}`, username: 'balances', password: 'balances', database: 'balances_cluster', cluster: 'balances' });
    first = storeOn(containers[1] as StartedTestContainer);
    second = storeOn(containers[2] as StartedTestContainer);
    await migrate(first);
    api = await startApi(first);
  }, 300_000);

  afterAll(async () => {
    await api?.close();
    await first?.close();
    await second?.close();
    for (const c of containers.reverse()) await c.stop();
    await network?.stop();
  });

  it('has every table and twin on both nodes, and migrating again changes nothing', async () => {
    expect((await migrate(second)).applied).toEqual([]);
    const tables = (s: Store) => count(s, `SELECT count() AS n FROM system.tables WHERE database = 'balances_cluster'`);
    expect(await tables(second)).toBe(await tables(first));
  });

  it('stores events exactly once across shards, and either node answers for all of them', async () => {
    const accounts = ['acme', 'globex'];
    for (const account of accounts) {
      const key = `${account}-admin`;
      const events = [purchase(`c-p-${account}`), usage(`c-u1-${account}`), usage(`c-u1-${account}`), usage(`c-u2-${account}`)].map((e) => ({ ...e, account_id: account }));
      const res = await api.request('/v1/events', { method: 'POST', key, body: JSON.stringify(events) });
      expect(await res.json()).toMatchObject({ accepted: 3, duplicates: 1 });
    }
    for (const s of [first, second]) {
      expect(await count(s, `SELECT count() AS n FROM ${s.table('events_v1')}`)).toBe(6);
      expect(await count(s, `SELECT count() AS n FROM ${s.table('lots_v1')}`)).toBe(2);
    }
    // An account lives on one shard: its rows are on one node only.
    const local = (s: Store) => count(s, `SELECT count() AS n FROM balances_cluster.events_v1 WHERE account_id = 'acme'`);
    expect([await local(first), await local(second)].sort()).toEqual([0, 3]);
    const balance = await (await api.request('/v1/wallets/team/platform/balance', { key: 'acme-admin' })).json();
    expect(balance).toMatchObject({ wallet: { type: 'team', id: 'platform' } });
  });
});
