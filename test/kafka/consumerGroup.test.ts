import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { createKafkaWorker, type KafkaWorker } from '../../ingest/kafkaWorker.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { createKafkaSource, type KafkaSource, type KafkaSourceOptions } from '../../ingest/sources/kafka.js';
import { createThreadedKafkaSource } from '../../ingest/sources/kafkaThread.js';
import { capturedLog, type CapturedLog } from '../support/capturedLog.js';
import { committedTotal, produce, topicSpans, waitFor } from '../support/kafkaTools.js';
import { startMockBroker, type MockBroker } from '../support/mockBroker.js';
import { count, freshStore, uniqueName } from '../support/store.js';
import { tearDown } from '../support/teardown.js';
import { storedUsageTotals, usageTotals, workload } from '../support/workload.js';

/**
 * Several ingest processes share one consumer group, each with its own partitions. Here two
 * workers, each with a pipeline of its own as two processes would have, write one store.
 */
let broker: MockBroker;
let store: Store;
const running: KafkaWorker[] = [];

beforeAll(async () => {
  broker = await startMockBroker();
  store = await freshStore();
});
afterAll(async () => {
  await tearDown(
    ...running.map((worker) => () => worker.stop()),
    () => store?.close(),
    () => broker?.stop(),
  );
});

/** The same store, every insert taking `ms` longer: a member whose writes are still under way when the group rebalances. */
function slowed(base: Store, ms: number): Store {
  return {
    ...base,
    table: (name) => base.table(name),
    insertJsonEachRow: async (table, ndjson) => {
      await new Promise((r) => setTimeout(r, ms));
      await base.insertJsonEachRow(table, ndjson);
    },
  };
}

function memberOf(topic: string, groupId: string, name: string, through: Store = store, createSource: (options: KafkaSourceOptions) => KafkaSource = createKafkaSource): { worker: KafkaWorker; log: CapturedLog } {
  const log = capturedLog('debug');
  const metrics = createMetrics();
  const source = createSource({ brokers: broker.brokers, topic, groupId, clientId: name, log: log.log, sessionTimeoutMs: 6_000 });
  const worker = createKafkaWorker({
    source,
    pipeline: createIngestPipeline({ store: through, metrics, log: log.log }),
    metrics,
    log: log.log,
    batchSize: 500,
    flushMs: 50,
    maxInFlight: 2_000,
  });
  running.push(worker);
  return { worker, log };
}

const committedEvents = (log: CapturedLog) => log.lines.filter((l) => l.event === 'kafka_batch_committed').reduce((n, l) => n + Number(l.events), 0);

describe('two ingest workers in one consumer group', () => {
  it.each([
    ['on the event loop', createKafkaSource],
    ['on threads of their own', createThreadedKafkaSource],
  ])('count every event exactly once, with a rebalance when the second joins and another when the first leaves (consumers %s)', { timeout: 180_000 }, async (_, createSource) => {
    // A database of its own for each way the members consume: the same events go to each.
    const store = await freshStore();
    onTestFinished(() => store.close());
    const member = (topic: string, groupId: string, name: string) => memberOf(topic, groupId, name, store, createSource);
    const topic = uniqueName('group').replace('_', '.');
    const groupId = uniqueName('shared-group');
    const events = workload(30_000, 'cg');
    // Slow the first worker's pace: the topic is produced in three parts while consuming.
    const parts = [events.slice(0, 10_000), events.slice(10_000, 20_000), events.slice(20_000)];
    await produce(broker.brokers, topic, parts[0] as unknown as Array<Record<string, unknown>>, { gzip: true });

    const a = member(topic, groupId, 'worker-a');
    await a.worker.start();
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) >= 5_000, 'the first worker commits', 60_000);

    const b = member(topic, groupId, 'worker-b');
    await b.worker.start();
    // The rebalance is complete once the second has partitions; what comes next is split.
    const assigned = (log: CapturedLog) => log.lines.filter((l) => l.event === 'kafka_partitions_assigned').at(-1)?.partitions as number[] | undefined;
    await waitFor(() => (assigned(b.log)?.length ?? 0) > 0, 'the second worker is assigned partitions', 60_000).catch((err: Error) => {
      const story = (log: CapturedLog) => log.lines.filter((l) => String(l.event).startsWith('kafka')).map((l) => `${String(l.event)} ${String(l.msg)}`).slice(-15).join('\n  ');
      throw new Error(`${err.message}\nfirst worker:\n  ${story(a.log)}\nsecond worker:\n  ${story(b.log)}`);
    });
    expect(assigned(b.log)?.length).toBeLessThan(4);
    await produce(broker.brokers, topic, parts[1] as unknown as Array<Record<string, unknown>>, { gzip: true });
    await waitFor(() => committedEvents(b.log) > 0, 'the second worker commits partitions of its own', 60_000);

    await a.worker.stop();
    await produce(broker.brokers, topic, parts[2] as unknown as Array<Record<string, unknown>>, { gzip: true });
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === events.length, 'the group commits the whole topic', 90_000, 250);
    expect(assigned(b.log)?.length).toBe(4);
    await b.worker.stop();

    const spans = await topicSpans(broker.brokers, topic);
    expect(spans.every((s) => s.low === 0)).toBe(true);
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(events.length);
    expect(await count(store, `SELECT uniqExact(account_id, event_id) AS n FROM ${store.table('events_v1')}`)).toBe(events.length);
    expect(await storedUsageTotals(store)).toEqual(usageTotals(events));
    expect(committedEvents(a.log)).toBeGreaterThan(0);
    expect(committedEvents(a.log) + committedEvents(b.log)).toBeGreaterThanOrEqual(events.length);
  });

  it('a member still writing when the group rebalances drops what it buffered and finishes its writes before the new owner reads', { timeout: 180_000 }, async () => {
    const topic = uniqueName('slowgroup').replace('_', '.');
    const groupId = uniqueName('slow-group');
    const events = workload(12_000, 'sg', 11);
    await produce(broker.brokers, topic, events as unknown as Array<Record<string, unknown>>, { gzip: true });
    const before = await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`);

    const a = memberOf(topic, groupId, 'slow-a', slowed(store, 700));
    await a.worker.start();
    await waitFor(() => committedEvents(a.log) > 0, 'the slow worker commits', 60_000);
    const b = memberOf(topic, groupId, 'fast-b');
    await b.worker.start();
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === events.length, 'the group commits the whole topic', 120_000, 250);
    await a.worker.stop();
    await b.worker.stop();

    expect(committedEvents(b.log)).toBeGreaterThan(0);
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(before + events.length);
    expect(await count(store, `SELECT uniqExact(account_id, event_id) AS n FROM ${store.table('events_v1')} WHERE event_id LIKE 'sg-%'`)).toBe(events.length);
  });
});
