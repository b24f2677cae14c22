import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { createKafkaWorker, type KafkaWorker } from '../../ingest/kafkaWorker.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { createKafkaSource, MAX_REJOINS } from '../../ingest/sources/kafka.js';
import { capturedLog } from '../support/capturedLog.js';
import { flakyNetwork } from '../support/flakyNetwork.js';
import { groupFaults } from '../support/groupFaults.js';
import { committedTotal, produce, topicSpans, waitFor } from '../support/kafkaTools.js';
import { startMockBroker, type MockBroker } from '../support/mockBroker.js';
import { count, freshStore, uniqueName } from '../support/store.js';
import { tearDown } from '../support/teardown.js';
import { storedUsageTotals, usageTotals, workload } from '../support/workload.js';

/**
 * The broker goes away under a consuming worker. The test broker keeps its data in memory, so a
 * restarted one would be a new, empty broker on a new port: instead every connection of the
 * worker is cut and new ones refused for a while (what a broker restart looks like from the
 * client), and the broker process is frozen (what a stalled or partitioned broker looks like).
 */
let broker: MockBroker;
let store: Store;
let worker: KafkaWorker | undefined;

beforeAll(async () => {
  broker = await startMockBroker();
  store = await freshStore();
});
afterAll(async () => {
  broker?.thaw();
  // A worker is left only by a test that failed before stopping it: what it stopped on is reported too.
  await tearDown(
    () => worker?.stop(),
    () => store?.close(),
    () => broker?.stop(),
  );
});

describe('the broker disconnects or stalls while the worker consumes', () => {
  it('the consumer reconnects by itself and loses nothing, nor counts anything twice', { timeout: 180_000 }, async () => {
    const topic = uniqueName('flaky').replace('_', '.');
    const groupId = uniqueName('flaky-group');
    const events = workload(24_000, 'fb', 3);
    const parts = [events.slice(0, 8_000), events.slice(8_000, 16_000), events.slice(16_000)];
    const network = flakyNetwork();
    const captured = capturedLog('debug');
    const metrics = createMetrics();
    const source = createKafkaSource({ brokers: broker.brokers, topic, groupId, clientId: 'flaky', log: captured.log, sessionTimeoutMs: 10_000, socketFactory: network.socketFactory });
    worker = createKafkaWorker({ source, pipeline: createIngestPipeline({ store, metrics, log: captured.log }), metrics, log: captured.log, batchSize: 500, flushMs: 50, maxInFlight: 2_000 });
    let failed: unknown;
    worker.done.catch((err: unknown) => (failed = err));

    await produce(broker.brokers, topic, parts[0] as unknown as Array<Record<string, unknown>>, { gzip: true });
    await worker.start();
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) >= 2_000, 'the worker commits', 60_000);

    // Restart, as the client sees one: every connection drops, and for 3 s none is accepted.
    network.refuse();
    expect(network.cut()).toBeGreaterThan(0);
    await produce(broker.brokers, topic, parts[1] as unknown as Array<Record<string, unknown>>, { gzip: true });
    const refusedUntil = Date.now() + 3_000;
    await waitFor(() => Date.now() > refusedUntil, 'the broker has been unreachable for 3 s', 10_000, 100);
    network.heal();
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === parts[0]!.length + parts[1]!.length, 'the worker reconnects and commits', 60_000, 250);

    // A stalled broker: connections stay open and nothing answers for 4 s.
    await produce(broker.brokers, topic, parts[2] as unknown as Array<Record<string, unknown>>, { gzip: true });
    broker.freeze();
    const frozenUntil = Date.now() + 4_000;
    await waitFor(() => Date.now() > frozenUntil, 'the broker has been frozen for 4 s', 10_000, 100);
    broker.thaw();
    network.cut();
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === events.length, 'the worker commits the whole topic', 90_000, 250);

    // The client really lost its connections and was refused, and recovered on its own.
    const clientErrors = captured.lines.filter((l) => l.event === 'kafka_client').map((l) => String(l.msg)).join('\n');
    expect(clientErrors).toContain('ECONNRESET');
    expect(clientErrors).toContain('ECONNREFUSED');
    expect(failed).toBeUndefined();
    await worker.stop();
    worker = undefined;
    expect((await topicSpans(broker.brokers, topic)).every((s) => s.low === 0)).toBe(true);
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(events.length);
    expect(await count(store, `SELECT uniqExact(account_id, event_id) AS n FROM ${store.table('events_v1')}`)).toBe(events.length);
    expect(await storedUsageTotals(store)).toEqual(usageTotals(events));
  });

  it('a group request the broker refuses as malformed: the consumer joins again, and loses nothing nor counts anything twice', { timeout: 120_000 }, async () => {
    const own = await freshStore();
    const topic = uniqueName('sync').replace('_', '.');
    const groupId = uniqueName('sync-group');
    const events = workload(6_000, 'gs', 3);
    const faults = groupFaults();
    const captured = capturedLog('debug');
    const metrics = createMetrics();
    const source = createKafkaSource({ brokers: broker.brokers, topic, groupId, clientId: 'sync', log: captured.log, sessionTimeoutMs: 10_000, socketFactory: faults.socketFactory });
    worker = createKafkaWorker({ source, pipeline: createIngestPipeline({ store: own, metrics, log: captured.log }), metrics, log: captured.log, batchSize: 500, flushMs: 50, maxInFlight: 2_000 });
    let failed: unknown;
    worker.done.catch((err: unknown) => (failed = err));
    await produce(broker.brokers, topic, events.slice(0, 3_000) as unknown as Array<Record<string, unknown>>, { gzip: true });
    // The first answer to joining the group is refused: kafkajs leaves the group and would not come back.
    faults.refuseSync(1);
    await worker.start();
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === 3_000, 'the worker joins again and commits', 60_000, 250);
    await produce(broker.brokers, topic, events.slice(3_000) as unknown as Array<Record<string, unknown>>, { gzip: true });
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === events.length, 'the worker commits the whole topic', 60_000, 250);
    expect(faults.refused).toBe(1);
    expect(captured.lines.filter((l) => l.event === 'kafka_consumer_rejoin')).toHaveLength(1);
    expect(failed).toBeUndefined();
    await worker.stop();
    worker = undefined;
    expect(await count(own, `SELECT count() AS n FROM ${own.table('events_v1')}`)).toBe(events.length);
    expect(await storedUsageTotals(own)).toEqual(usageTotals(events));
    await own.close();
  });

  it(`refused more than ${MAX_REJOINS} times in a minute, the worker stops with the error instead of joining forever`, { timeout: 120_000 }, async () => {
    const own = await freshStore();
    const topic = uniqueName('sync').replace('_', '.');
    const groupId = uniqueName('sync-group');
    const faults = groupFaults();
    const captured = capturedLog('debug');
    const metrics = createMetrics();
    const source = createKafkaSource({ brokers: broker.brokers, topic, groupId, clientId: 'sync', log: captured.log, sessionTimeoutMs: 10_000, socketFactory: faults.socketFactory });
    worker = createKafkaWorker({ source, pipeline: createIngestPipeline({ store: own, metrics, log: captured.log }), metrics, log: captured.log, batchSize: 500, flushMs: 50, maxInFlight: 2_000 });
    await produce(broker.brokers, topic, workload(100, 'gx', 1) as unknown as Array<Record<string, unknown>>, { gzip: true });
    faults.refuseSync(MAX_REJOINS + 1);
    await worker.start();
    await expect(worker.done).rejects.toThrow(/consumer stopped/);
    expect(faults.refused).toBe(MAX_REJOINS + 1);
    expect(captured.lines.filter((l) => l.event === 'kafka_consumer_rejoin')).toHaveLength(MAX_REJOINS);
    worker = undefined;
    await own.close();
  });
});
