import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { BalanceService } from '../../readmodels/balances.js';
import type { Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { createKafkaWorker, type KafkaWorker } from '../../ingest/kafkaWorker.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { createKafkaSource } from '../../ingest/sources/kafka.js';
import { KEYS } from '../support/api.js';
import { capturedLog } from '../support/capturedLog.js';
import { usage } from '../support/events.js';
import { faultyStore, type FaultyStore } from '../support/faultyStore.js';
import { committedTotal, produce, waitFor } from '../support/kafkaTools.js';
import { startMockBroker, type MockBroker } from '../support/mockBroker.js';
import { count, freshStore, uniqueName } from '../support/store.js';
import { tearDown } from '../support/teardown.js';

/**
 * Storage goes away under a running process (API and Kafka worker sharing one pipeline, as
 * `npm start` runs them): nothing is committed or acknowledged that was not stored, the process
 * says it is not ready, and when storage returns everything arrives exactly once.
 */
let broker: MockBroker;
let real: Store;
let store: FaultyStore;
let server: Server;
let url: string;
let worker: KafkaWorker;
const captured = capturedLog();
const metrics = createMetrics();
const topic = uniqueName('outage').replace('_', '.');
const groupId = uniqueName('outage-group');
// Over this, a member that stopped heartbeating would be evicted and its partitions rebalanced.
const SESSION_TIMEOUT_MS = 6_000;

const post = (events: unknown[]) =>
  fetch(`${url}/v1/events`, { method: 'POST', headers: { authorization: 'Bearer acme-ingest', 'content-type': 'application/json' }, body: JSON.stringify(events) });
const ready = async () => (await fetch(`${url}/readyz`)).status;
const events = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => usage(`${prefix}-${i}`, { wallet: { type: 'team', id: `team-${i % 5}` }, amount: `${(i % 9) + 1}.25` }));
const stored = () => count(real, `SELECT count() AS n FROM ${real.table('events_v1')}`);
const distinct = () => count(real, `SELECT uniqExact(account_id, event_id) AS n FROM ${real.table('events_v1')}`);
const storeRetries = async () => Number((await metrics.storeRetries.get()).values[0]?.value ?? 0);

beforeAll(async () => {
  broker = await startMockBroker();
  real = await freshStore();
  store = faultyStore(real);
  const pipeline = createIngestPipeline({ store, metrics, log: captured.log });
  const app = createApp({
    store,
    pipeline,
    metrics,
    log: captured.log,
    apiKeys: KEYS,
    bodyLimitBytes: 1024 * 1024,
    balances: new BalanceService(store),
    ingestDeadlineMs: 1_500,
  });
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const source = createKafkaSource({ brokers: broker.brokers, topic, groupId, clientId: 'outage', log: captured.log, sessionTimeoutMs: SESSION_TIMEOUT_MS });
  // A small in-flight bound: during the outage the consumer blocks on back-pressure.
  worker = createKafkaWorker({ source, pipeline, metrics, log: captured.log, batchSize: 200, flushMs: 50, maxInFlight: 400 });
  await worker.start();
});

afterAll(async () => {
  store?.up();
  // The worker retries storage until it is stopped: it stops cleanly, or says why it could not.
  await tearDown(
    () => worker?.stop(),
    () => new Promise((resolve) => server?.close(resolve)),
    () => real?.close(),
    () => broker?.stop(),
  );
});

describe('storage down or stalling under a running process', () => {
  it('storage down: the consumer stops committing and backs off, readiness and HTTP ingest answer 503, and nothing is lost when it returns', async () => {
    const before = events('before', 1_500);
    await produce(broker.brokers, topic, before);
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === before.length, 'the first events are committed');
    expect(await ready()).toBe(200);

    store.down();
    const during = events('during', 1_500);
    await produce(broker.brokers, topic, during);
    await waitFor(async () => (await storeRetries()) >= 3, 'the worker retries the store');
    expect(await ready()).toBe(503);
    const refused = await post([usage('http-during-1'), usage('http-during-2')]);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused.json()).toMatchObject({ error: { code: 'storage_unavailable' } });

    // Longer than the session timeout: heartbeats keep the blocked consumer in its group.
    const deadline = Date.now() + SESSION_TIMEOUT_MS + 1_500;
    await waitFor(() => Date.now() > deadline, 'the outage outlasts the session timeout', SESSION_TIMEOUT_MS + 5_000, 250);
    expect(await committedTotal(broker.brokers, groupId, topic)).toBe(before.length);
    // Backs off: a few attempts over seconds, not a tight loop.
    expect(await storeRetries()).toBeLessThan(20);

    store.up();
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === before.length + during.length, 'everything is committed', 30_000);
    expect(await ready()).toBe(200);
    // The refused request waited behind the worker's write and may have landed once storage
    // returned; the client's retry is then answered as duplicates, and nothing counts twice.
    const retried = await post([usage('http-during-1'), usage('http-during-2')]);
    expect(retried.status).toBe(200);
    const body = (await retried.json()) as { accepted: number; duplicates: number };
    expect(body.accepted + body.duplicates).toBe(2);

    const total = before.length + during.length + 2;
    expect(await stored()).toBe(total);
    expect(await distinct()).toBe(total);
    // Never evicted, never rebalanced: the blocked consumer kept its membership throughout.
    const rejoins = captured.lines.filter((l) => l.event === 'kafka_client' && /rebalancing|not aware of this member/i.test(String(l.msg)));
    expect(rejoins).toEqual([]);
  });

  it('storage stalling mid-request: readiness and HTTP ingest answer 503 in bounded time, the consumer commits nothing, and the stalled writes land once', async () => {
    const committedBefore = await committedTotal(broker.brokers, groupId, topic);
    const storedBefore = await stored();
    store.stall();
    const stalled = events('stalled', 1_000);
    await produce(broker.brokers, topic, stalled);
    await waitFor(() => store.refused > 0, 'a write is waiting on the stalled store');

    const started = Date.now();
    expect(await ready()).toBe(503);
    const answer = await post([usage('http-stalled-1')]);
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await answer.json()).toMatchObject({ error: { code: 'storage_unavailable' } });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await committedTotal(broker.brokers, groupId, topic)).toBe(committedBefore);

    store.up();
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === committedBefore + stalled.length, 'the stalled events are committed', 30_000);
    // The request answered 503 may have landed once storage resumed: its retry is then a duplicate.
    const retried = await post([usage('http-stalled-1')]);
    expect(retried.status).toBe(200);
    const body = (await retried.json()) as { accepted: number; duplicates: number };
    expect(body.accepted + body.duplicates).toBe(1);
    expect(await stored()).toBe(storedBefore + stalled.length + 1);
    expect(await distinct()).toBe(storedBefore + stalled.length + 1);
  });
});
