import { KafkaContainer, type StartedKafkaContainer } from '@testcontainers/kafka';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { createKafkaWorker } from '../../ingest/kafkaWorker.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { createKafkaSource } from '../../ingest/sources/kafka.js';
import { dockerAvailable } from '../support/docker.js';
import { usage } from '../support/events.js';
import { count, freshStore, silentLog } from '../support/store.js';

const SUITE = 'Apache Kafka in KRaft mode (testcontainers)';
const docker = await dockerAvailable(SUITE);

describe.skipIf(!docker)(SUITE, () => {
  let container: StartedKafkaContainer;
  let brokers: string[];
  let store: Store;

  beforeAll(async () => {
    container = await new KafkaContainer('confluentinc/cp-kafka:7.9.0').withKraft().start();
    brokers = [`${container.getHost()}:${container.getMappedPort(9093)}`];
    store = await freshStore();
  }, 240_000);

  afterAll(async () => {
    await store?.close();
    await container?.stop();
  });

  it('a consumer group drains the topic exactly once, poison to the DLQ', async () => {
    const topic = 'balances.events';
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }, { topic: `${topic}.dlq`, numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const events = Array.from({ length: 2000 }, (_, i) => usage(`apache-${i}`, { wallet: { type: 'team', id: `t${i % 13}` } }));
    await producer.send({ topic, messages: [...events, events[0]].map((e) => ({ key: 'acme/team/x', value: JSON.stringify(e) })) });
    await producer.send({ topic, messages: [{ value: 'not json' }] });
    await producer.disconnect();

    const metrics = createMetrics();
    const source = createKafkaSource({ brokers, topic, groupId: 'apache-it', clientId: 'it', log: silentLog });
    const worker = createKafkaWorker({
      source,
      pipeline: createIngestPipeline({ store, metrics, log: silentLog }),
      metrics,
      log: silentLog,
      batchSize: 500,
      flushMs: 100,
      maxInFlight: 2000,
    });
    await worker.start();
    const deadline = Date.now() + 60_000;
    while ((await count(store, `SELECT count() AS n FROM ${store.table('rejected_events_v1')}`)) < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    await worker.stop();
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(events.length);
  });
});
