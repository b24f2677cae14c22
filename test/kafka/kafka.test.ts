import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createMetrics } from '../../core/metrics.js';
import { createKafkaWorker } from '../../ingest/kafkaWorker.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { createKafkaSource, deadLetterTopic } from '../../ingest/sources/kafka.js';
import { createThreadedKafkaSource } from '../../ingest/sources/kafkaThread.js';
import { startApi } from '../support/api.js';
import { usage, purchase } from '../support/events.js';
import { consumeWithKcat, produceWithKcat, startMockBroker, type MockBroker } from '../support/mockBroker.js';
import { runEntry } from '../support/processes.js';
import { count, freshStore, silentLog, uniqueName } from '../support/store.js';

let broker: MockBroker;
beforeAll(async () => {
  broker = await startMockBroker();
});
afterAll(async () => {
  await broker?.stop();
});

function walletKey(event: Record<string, unknown>): string {
  const wallet = event.wallet as { type: string; id: string };
  return `${String(event.account_id)}/${wallet.type}/${wallet.id}`;
}

async function produceWithKafkajs(topic: string, events: Array<Record<string, unknown>>, extra: string[] = []) {
  const kafka = new Kafka({ clientId: 'test-producer', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({
    topic,
    messages: [
      ...events.map((e) => ({ key: walletKey(e), value: JSON.stringify(e) })),
      ...extra.map((value) => ({ key: 'poison', value })),
    ],
  });
  await producer.disconnect();
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the condition');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function wallets(n: number, prefix: string) {
  return Array.from({ length: n }, (_, i) =>
    usage(`${prefix}-${i}`, { wallet: { type: 'team', id: `team-${i % 7}` }, amount: `${(i % 50) + 1}.5` }),
  );
}

describe('Kafka ingest over the real wire protocol', () => {
  it.each([
    ['on the event loop', createKafkaSource],
    ['on a thread of its own', createThreadedKafkaSource],
  ])('drains a topic filled by kafkajs and by kcat, sends poison to the DLQ, and shares dedupe with HTTP (source %s)', async (_, createSource) => {
    const store = await freshStore();
    onTestFinished(() => store.close());
    const topic = uniqueName('events').replace('_', '.');
    const api = await startApi(store);
    // Posted first over HTTP: arriving later over Kafka, it must count as a duplicate.
    const postedFirst = usage('http-first', { wallet: { type: 'team', id: 'team-1' } });
    expect(await (await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify([postedFirst]) })).json()).toMatchObject({ accepted: 1 });

    const fromKafkajs = [...wallets(400, 'kjs'), purchase('kjs-p1')];
    const fromKcat = wallets(300, 'kcat');
    const poison = ['this is not json', JSON.stringify(usage('bad-amount', { amount: '1.23456' })), JSON.stringify({ ...usage('bad-type'), type: 'refund' })];
    await produceWithKafkajs(topic, [...fromKafkajs, postedFirst, fromKafkajs[0] as Record<string, unknown>], poison);
    await produceWithKcat(broker.brokers, topic, fromKcat.map((e) => JSON.stringify(e)));
    await produceWithKcat(broker.brokers, topic, [JSON.stringify(fromKcat[5]), '{"half": '], 'acme/team/team-5');

    const metrics = createMetrics();
    const pipeline = createIngestPipeline({ store, metrics, log: silentLog });
    const source = createSource({ brokers: broker.brokers, topic, groupId: uniqueName('group'), clientId: 'test', log: silentLog });
    const worker = createKafkaWorker({ source, pipeline, metrics, log: silentLog, batchSize: 128, flushMs: 50, maxInFlight: 256 });
    await worker.start();
    const expected = 1 + fromKafkajs.length + fromKcat.length;
    await waitFor(async () => (await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)) >= expected);
    await waitFor(async () => (await count(store, `SELECT count() AS n FROM ${store.table('rejected_events_v1')} WHERE source = 'kafka'`)) >= 4);
    await worker.stop();

    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(expected);
    expect(await count(store, `SELECT uniqExact(event_id) AS n FROM ${store.table('events_v1')}`)).toBe(expected);
    const sum = await store.queryRows<{ total: string }>(`SELECT toString(sum(amount)) AS total FROM ${store.table('events_v1')} WHERE type = 'usage' AND event_id LIKE 'kcat-%'`);
    expect(sum[0]?.total).toBe(String(fromKcat.reduce((s, e) => s + Number(e.amount), 0)));

    const deadLetters = await consumeWithKcat(broker.brokers, deadLetterTopic(topic));
    expect(deadLetters.map((d) => d.value).sort()).toEqual([...poison, '{"half": '].sort());
    expect(deadLetters.find((d) => d.value === 'this is not json')?.headers).toContain('reason=invalid_json');
    expect(deadLetters.find((d) => d.value.includes('bad-amount'))?.headers).toContain('reason=too_many_decimals');
    const rejected = await store.queryRows<{ code: string; kafka_topic: string }>(
      `SELECT code, kafka_topic FROM ${store.table('rejected_events_v1')} WHERE source = 'kafka' ORDER BY code`,
    );
    expect(rejected.map((r) => r.code)).toEqual(['invalid_json', 'invalid_json', 'too_many_decimals', 'unknown_type']);
    expect(new Set(rejected.map((r) => r.kafka_topic))).toEqual(new Set([topic]));

    // Everything Kafka delivered now answers as a duplicate over HTTP.
    const again = await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify([fromKcat[0], fromKafkajs[10], usage('fresh-http')]) });
    expect(await again.json()).toEqual({ accepted: 1, duplicates: 2, rejected: [] });
    await api.close();

    const text = await metrics.registry.metrics();
    expect(text).toMatch(/balances_ingest_events_total\{outcome="duplicate",source="kafka"\} 3/);
    expect(text).toMatch(/balances_kafka_consumer_lag\{topic="[^"]+",partition="\d"\} 0/);
  });

  it('a consumer killed after the insert and before the commit re-delivers, and nothing is counted twice', async () => {
    const topic = uniqueName('crash').replace('_', '.');
    const events = wallets(1200, 'crash');
    await produceWithKafkajs(topic, events);
    const dir = mkdtempSync(join(tmpdir(), 'balances-kafka-crash-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const env = {
      BALANCES_DATA_DIR: join(dir, 'data'),
      CLICKHOUSE_DATABASE: 'crash',
      KAFKA_BROKERS: broker.brokers.join(','),
      KAFKA_TOPIC: topic,
      KAFKA_GROUP_ID: 'crash-group',
      INGEST_BATCH_SIZE: '200',
      INGEST_FLUSH_MS: '50',
      // The killed member never leaves the group; the next one waits out its session.
      KAFKA_SESSION_TIMEOUT_MS: '6000',
    };

    const killed = await runEntry('test/fixtures/ingestProbe.ts', ['kill-before-commit'], env);
    expect(killed.signal, killed.stdout + killed.stderr).toBe('SIGKILL');
    const storedBeforeDeath = Number(killed.logs.find((l) => l.event === 'killing_before_commit')?.stored);
    expect(storedBeforeDeath).toBeGreaterThan(0);

    // The real worker, same group: nothing was committed, so it must see every message again.
    let seen = 0;
    const resumed = await runEntry('ingest/main.ts', [], { ...env, LOG_LEVEL: 'debug' }, {
      onLog(line, kill) {
        if (line.event === 'kafka_batch_committed') {
          seen += Number(line.events);
          if (seen >= events.length) kill('SIGTERM');
        }
      },
    });
    expect(resumed.code, resumed.stdout.slice(-3000) + resumed.stderr).toBe(0);
    const batches = resumed.logs.filter((l) => l.event === 'kafka_batch_committed');
    expect(batches.reduce((s, l) => s + Number(l.duplicates), 0)).toBeGreaterThanOrEqual(storedBeforeDeath);
    expect(resumed.logs.some((l) => l.event === 'kafka_worker_stopped')).toBe(true);

    // SIGTERM committed: a third start of the group receives nothing.
    const idle = await runEntry('ingest/main.ts', [], { ...env, LOG_LEVEL: 'debug' }, {
      onLog(line, kill) {
        if (line.event === 'kafka_worker_started') setTimeout(() => kill('SIGTERM'), 4_000);
      },
    });
    expect(idle.code, idle.stderr).toBe(0);
    expect(idle.logs.filter((l) => l.event === 'kafka_batch_committed')).toEqual([]);

    const counted = await runEntry('test/fixtures/ingestProbe.ts', ['count'], env);
    const counts = counted.logs.find((l) => l.event === 'counts') ?? {};
    expect([counts.events, counts.distinct_events, counts.keys].map(Number)).toEqual([events.length, events.length, events.length]);
  });
});
