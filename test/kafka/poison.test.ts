import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { createKafkaWorker, type KafkaWorker } from '../../ingest/kafkaWorker.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { rejectedEventsTable } from '../../ingest/service.js';
import { createKafkaSource, deadLetterTopic } from '../../ingest/sources/kafka.js';
import { usage } from '../support/events.js';
import { committedTotal, produce, topicSpans, waitFor } from '../support/kafkaTools.js';
import { consumeWithKcat, startMockBroker, type MockBroker } from '../support/mockBroker.js';
import { count, freshStore, silentLog, uniqueName } from '../support/store.js';
import { tearDown } from '../support/teardown.js';

/**
 * Poison on one partition: every bad message reaches the dead-letter topic and the rejected
 * table with its reason, and the good messages around it are stored and committed.
 * For Kafka an "unknown account" is an account_id the contract cannot accept (missing, not a
 * string, control characters, too long): the product keeps no list of accounts, and an account
 * exists once it has an event.
 */
let broker: MockBroker;
let store: Store;
const workers: KafkaWorker[] = [];

beforeAll(async () => {
  broker = await startMockBroker();
  store = await freshStore();
});
afterAll(async () => {
  await tearDown(
    ...workers.map((worker) => () => worker.stop()),
    () => store?.close(),
    () => broker?.stop(),
  );
});

async function consume(topic: string, groupId: string): Promise<void> {
  const metrics = createMetrics();
  const source = createKafkaSource({ brokers: broker.brokers, topic, groupId, clientId: 'poison', log: silentLog });
  const worker = createKafkaWorker({
    source,
    pipeline: createIngestPipeline({ store, metrics, log: silentLog }),
    metrics,
    log: silentLog,
    batchSize: 50,
    flushMs: 20,
    maxInFlight: 500,
    recordRejections: rejectedEventsTable(store),
  });
  workers.push(worker);
  await worker.start();
}

/** Everything produced as raw text under one key, so it all lands on one partition, in order. */
const onePartition = (values: string[]) => values;

const rejectedCodes = async (topic: string) =>
  (
    await store.queryRows<{ code: string }>(
      `SELECT code FROM ${store.table('rejected_events_v1')} WHERE kafka_topic = {topic:String} ORDER BY kafka_partition, kafka_offset`,
      { topic },
    )
  ).map((r) => r.code);

describe('poison messages on a Kafka partition', () => {
  it('not JSON, over 1 MB, wrong types and unknown accounts reach the DLQ and the rejected table with their reasons, and the partition keeps flowing', async () => {
    const topic = uniqueName('poison').replace('_', '.');
    const noAccount = usage('p-no-account') as Record<string, unknown>;
    delete noAccount.account_id;
    const oversized = JSON.stringify({ ...usage('p-huge'), note: 'x'.repeat(1_100_000) });
    const poison: Array<[string, string]> = [
      ['{"event_id": "p-cut", "type": "us', 'invalid_json'],
      ['not json at all', 'invalid_json'],
      [oversized, 'message_too_large'],
      [JSON.stringify({ ...usage('p-amount-bool'), amount: true }), 'invalid_amount'],
      [JSON.stringify({ ...usage('p-time-number'), occurred_at: 1_767_225_600 }), 'invalid_timestamp'],
      [JSON.stringify({ ...usage('p-wallet-string'), wallet: 'platform' }), 'invalid_wallet'],
      [JSON.stringify([usage('p-array')]), 'not_an_object'],
      [JSON.stringify(noAccount), 'missing_field'],
      [JSON.stringify({ ...usage('p-account-number'), account_id: 42 }), 'invalid_field'],
      [JSON.stringify({ ...usage('p-account-control'), account_id: 'ac\u0001me' }), 'invalid_field'],
      [JSON.stringify({ ...usage('p-account-long'), account_id: 'a'.repeat(300) }), 'invalid_field'],
    ];
    // Good events before, between and after every poison message.
    const values: string[] = [JSON.stringify(usage('good-0'))];
    poison.forEach(([value], i) => values.push(value, JSON.stringify(usage(`good-${i + 1}`))));
    await produce(broker.brokers, topic, onePartition(values), { chunk: 3 });
    const spans = await topicSpans(broker.brokers, topic);
    expect(spans.filter((s) => s.high > 0)).toHaveLength(1);
    expect(spans.reduce((n, s) => n + s.high, 0)).toBe(values.length);

    const groupId = uniqueName('poison-group');
    await consume(topic, groupId);
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === values.length, 'the whole partition is committed');

    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')} WHERE event_id LIKE 'good-%'`)).toBe(poison.length + 1);
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')} WHERE event_id LIKE 'p-%'`)).toBe(0);
    expect(await rejectedCodes(topic)).toEqual(poison.map(([, code]) => code));

    // Each letter names its poison by position, so a failure prints no megabyte of text.
    const letters = await consumeWithKcat(broker.brokers, deadLetterTopic(topic));
    const which = new Map(poison.map(([value], i) => [value, i]));
    const received = letters.map((l) => ({ poison: which.get(l.value) ?? -1, reason: /(?:^|,)reason=([a-z_]+)/.exec(l.headers)?.[1] }));
    expect(received.sort((a, b) => a.poison - b.poison)).toEqual(poison.map(([, code], i) => ({ poison: i, reason: code })));
    const huge = await store.queryRows<{ bytes: string }>(
      `SELECT toString(length(payload)) AS bytes FROM ${store.table('rejected_events_v1')} WHERE kafka_topic = {topic:String} AND code = 'message_too_large'`,
      { topic },
    );
    expect(huge).toEqual([{ bytes: String(Buffer.byteLength(oversized)) }]);
  });

  it('a conflicting payload under an event_id already stored: the first stored copy wins, the second is reported to the DLQ and the rejected table', async () => {
    const topic = uniqueName('conflict').replace('_', '.');
    const groupId = uniqueName('conflict-group');
    const first = usage('c-1', { amount: '2.5' });
    await produce(broker.brokers, topic, onePartition([JSON.stringify(first), JSON.stringify(usage('c-good-0'))]));
    await consume(topic, groupId);
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === 2, 'the first copy is committed');

    const conflicting = JSON.stringify(usage('c-1', { amount: '99' }));
    const inBatchFirst = JSON.stringify(usage('c-2', { amount: '1' }));
    const inBatchConflicting = JSON.stringify(usage('c-2', { amount: '7' }));
    const later = [conflicting, JSON.stringify(first), inBatchFirst, inBatchConflicting, JSON.stringify(usage('c-good-1'))];
    await produce(broker.brokers, topic, onePartition(later));
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === 2 + later.length, 'the partition is committed past the conflict');

    const amounts = await store.queryRows<{ event_id: string; amount: string }>(
      `SELECT event_id, toString(amount) AS amount FROM ${store.table('events_v1')} WHERE event_id IN ('c-1', 'c-2') ORDER BY event_id`,
    );
    expect(amounts).toEqual([
      { event_id: 'c-1', amount: '2.5' },
      { event_id: 'c-2', amount: '1' },
    ]);
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')} WHERE event_id LIKE 'c-good-%'`)).toBe(2);
    // An identical redelivery stays a silent duplicate; only the conflicting copies are reported.
    const letters = await consumeWithKcat(broker.brokers, deadLetterTopic(topic));
    expect(letters.map((l) => l.value)).toEqual([conflicting, inBatchConflicting]);
    expect(await rejectedCodes(topic)).toEqual(['conflicting_duplicate', 'conflicting_duplicate']);
  });
});
