/**
 * Ingest throughput. Every consumer drains the same events from librdkafka's test broker into
 * the same tables (raw events and every rollup view), each into its own database:
 *   - ClickHouse's own Kafka table engine (the peer to beat), rate after its warm-up;
 *   - a naive kafkajs worker: parse, map, insert JSONEachRow objects, one batch at a time;
 *   - our Kafka worker: validation, stored dedupe, DLQ, commit after insert;
 *   - the product as `npm start` runs it (`api/main.ts --demo`): a process of its own, demo
 *     loaded, the API, the aggregator and the usage index beside the worker, watched only from
 *     outside, through its `/metrics`.
 * Then HTTP: POST /v1/events with NDJSON bodies against a plain @clickhouse/client insert; then
 * the Kafka client (kafkaClients.ts) and the insert format (insertFormats.ts) against their peers.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { createStore, type Store } from '../core/clickhouse.js';
import type { QueryObserver } from '../core/query.js';
import { createLogger } from '../core/log.js';
import { createMetrics } from '../core/metrics.js';
import { migrate } from '../storage/migrate.js';
import { createApp } from '../api/app.js';
import { BalanceService } from '../readmodels/balances.js';
import { decodeEvent } from '../ingest/contract.js';
import { createKafkaWorker } from '../ingest/kafkaWorker.js';
import { storedBlockLog } from '../ingest/kafkaBlocks.js';
import { createIngestPipeline } from '../ingest/pipeline.js';
import { createThreadedKafkaSource } from '../ingest/sources/kafkaThread.js';
import { produceWithKcat, startMockBroker } from '../test/support/mockBroker.js';
import { syntheticUsage } from './events.js';
import { benchDataDir, fmt, recordResults, report, stealMeter } from './harness.js';
import { measureInsertFormats, reportInsertFormats } from './insertFormats.js';
import { measureInsertCost, reportInsertCost } from './insertCost.js';
import { measureKafkaClients, reportKafkaClients } from './kafkaClients.js';

const EVENTS = Number(process.env.BENCH_INGEST_EVENTS ?? 250_000);
/**
 * The test broker keeps about 5 MB per partition (about 180k of these events over a topic's 4
 * partitions, gzip) and silently drops older batches: a topic is filled with this many before its
 * consumer starts, and the rest is produced while it drains, never more than this far ahead of
 * what is stored. A batch dropped unread would leave its consumer short, and the run fails.
 */
const PREFILL = Math.min(EVENTS, 140_000);
const CHUNK = 20_000;
/** Alternating runs of each peer measurement (insert formats, Kafka clients). */
const PEER_RUNS = Number(process.env.BENCH_PEER_RUNS ?? 5);
const log = createLogger('silent');
const dataDir = benchDataDir('ingest');
const broker = await startMockBroker();
const lines = syntheticUsage({ count: EVENTS, prefix: 'ing' });

async function storeFor(database: string, observer?: QueryObserver): Promise<Store> {
  const store = createStore({ dataDir, database, observer });
  await migrate(store);
  return store;
}

async function countEvents(store: Store): Promise<number> {
  const [row] = await store.queryRows<{ n: string }>(`SELECT count() AS n FROM ${store.table('events_v1')}`);
  return Number(row?.n ?? 0);
}

/** Produces the first events in gzip batches, and checks the broker still holds every one of them. */
async function fill(topic: string): Promise<void> {
  for (let i = 0; i < PREFILL; i += CHUNK) await produceWithKcat(broker.brokers, topic, lines.slice(i, Math.min(i + CHUNK, PREFILL)), undefined, 'gzip');
  const admin = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const held = offsets.reduce((s, o) => s + Number(o.high) - Number(o.low), 0);
  if (held !== PREFILL) throw new Error(`the test broker holds ${held} of ${PREFILL} events on ${topic}`);
}

/** How many of the topic's events a consumer has stored. */
type Stored = () => Promise<number>;

/** Produces the rest while the consumer stores, never more than PREFILL events ahead of it. */
async function topUp(topic: string, stored: Stored): Promise<void> {
  for (let i = PREFILL; i < EVENTS; i += CHUNK) {
    while (i + CHUNK - (await stored()) > PREFILL) await new Promise((r) => setTimeout(r, 100));
    await produceWithKcat(broker.brokers, topic, lines.slice(i, i + CHUNK), undefined, 'gzip');
  }
}

/** Waits for every event, then checks none was stored twice. */
async function drained(store: Store, topic: string): Promise<Drain> {
  return drainedBy(() => countEvents(store), topic, store.database);
}

async function drainedBy(stored: Stored, topic: string, consumer: string): Promise<Drain> {
  const [drain] = await Promise.all([watch(stored, EVENTS), topUp(topic, stored)]);
  const count = await stored();
  if (count !== EVENTS) throw new Error(`${consumer} stored ${count} of ${EVENTS} events`);
  return drain;
}

interface Drain {
  seconds: number;
  /** Rate from the first stored row to the last: excludes connection and group warm-up. */
  warmRate: number;
}

async function watch(stored: Stored, expected: number, timeoutMs = 600_000): Promise<Drain> {
  const started = performance.now();
  let firstAt = 0;
  let firstCount = 0;
  for (;;) {
    const n = await stored();
    const now = performance.now();
    if (n > 0 && firstAt === 0) {
      firstAt = now;
      firstCount = n;
    }
    if (n >= expected) {
      const warmSeconds = (now - firstAt) / 1000;
      return { seconds: (now - started) / 1000, warmRate: warmSeconds > 0 ? (n - firstCount) / warmSeconds : Number.NaN };
    }
    if (now - started > timeoutMs) throw new Error(`only ${n} of ${expected} events arrived`);
    // Every poll is a query in the same embedded ClickHouse as the consumer under test: not too often.
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function kafkaEngine(topic: string): Promise<Drain> {
  const store = await storeFor('bench_engine');
  await store.command(
    `CREATE TABLE ${store.table('kafka_queue')} (raw String) ENGINE = Kafka SETTINGS
       kafka_broker_list = '${broker.brokers.join(',')}', kafka_topic_list = '${topic}', kafka_group_name = 'engine',
       kafka_format = 'JSONAsString', kafka_num_consumers = 1, kafka_max_block_size = 65536,
       kafka_flush_interval_ms = 100`,
  );
  await store.command(
    `CREATE MATERIALIZED VIEW ${store.table('kafka_mv')} TO ${store.table('events_v1')} AS
     SELECT JSONExtractString(raw, 'account_id') AS account_id, JSONExtractString(raw, 'event_id') AS event_id,
            JSONExtractString(raw, 'type') AS type, parseDateTime64BestEffort(JSONExtractString(raw, 'occurred_at'), 3) AS occurred_at,
            JSONExtractString(raw, 'wallet', 'type') AS wallet_type, JSONExtractString(raw, 'wallet', 'id') AS wallet_id,
            toDecimal64(JSONExtractString(raw, 'amount'), 4) AS amount, JSONExtractString(raw, 'user_id') AS user_id,
            JSONExtractString(raw, 'product') AS product, JSONExtractString(raw, 'service') AS service, 'kafka_engine' AS source
     FROM ${store.table('kafka_queue')}`,
  );
  const drain = await drained(store, topic);
  await store.command(`DROP TABLE ${store.table('kafka_mv')}`);
  await store.command(`DROP TABLE ${store.table('kafka_queue')}`);
  return drain;
}

async function naiveWorker(topic: string): Promise<Drain> {
  const store = await storeFor('bench_naive');
  const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: 'naive', maxBytesPerPartition: 8 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const watching = drained(store, topic);
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const rows = batch.messages.map((m) => {
        const result = decodeEvent(m.value?.toString() ?? '', { source: 'naive' });
        if (!result.ok) throw new Error(result.message);
        return result.row;
      });
      await store.client.insert({ table: `${store.database}.events_v1`, values: rows, format: 'JSONEachRow' });
    },
  });
  const drain = await watching;
  await consumer.disconnect();
  return drain;
}

/**
 * Bytes on disk per stored event, table by table, once every table is merged: what each view
 * costs to keep, against the raw table's own bytes.
 */
async function bytesPerEvent(store: Store): Promise<Array<{ table: string; 'bytes/event': number; 'share of raw': number }>> {
  const tables = await store.queryTsv(`SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'`, { db: store.database });
  for (const [name = ''] of tables) await store.command(`OPTIMIZE TABLE ${store.table(name)} FINAL`);
  const rows = await store.queryTsv(
    `SELECT table, sum(bytes_on_disk) FROM system.parts WHERE database = {db:String} AND active GROUP BY table ORDER BY sum(bytes_on_disk) DESC`,
    { db: store.database },
  );
  const raw = Number(rows.find(([table]) => table === 'events_v1')?.[1] ?? 1);
  return rows.map(([table = '', bytes = '0']) => ({ table, 'bytes/event': fmt(Number(bytes) / EVENTS, 1), 'share of raw': fmt(Number(bytes) / raw, 2) }));
}

let oursStore: Store | undefined;
/** Where our worker's storage time went, summed over its calls (they overlap the Kafka fetches). */
const oursTime = { insertMs: 0, inserts: 0, lookupMs: 0, lookups: 0, cpuMs: 0 };

async function ourWorker(topic: string): Promise<Drain> {
  const observed = await storeFor('bench_worker', (q) => {
    if (q.name.startsWith('ingest.')) {
      oursTime.lookupMs += q.seconds * 1000;
      oursTime.lookups++;
    }
  });
  oursStore = observed;
  const store: Store = {
    ...observed,
    async insertJsonEachRow(table, body, options) {
      const started = performance.now();
      try {
        await observed.insertJsonEachRow(table, body, options);
      } finally {
        oursTime.insertMs += performance.now() - started;
        oursTime.inserts++;
      }
    },
  };
  const cpuBefore = process.cpuUsage();
  const metrics = createMetrics();
  // As deployed (ingest/service.ts): the consumer on a thread of its own.
  const source = createThreadedKafkaSource({ brokers: broker.brokers, topic, groupId: 'ours', clientId: 'bench', log });
  const worker = createKafkaWorker({
    source,
    pipeline: createIngestPipeline({ store, metrics, log }),
    metrics,
    log,
    batchSize: 20_000,
    flushMs: 200,
    maxInFlight: 100_000,
    // As deployed: each block's range is recorded in storage before its insert.
    blocks: storedBlockLog(store),
  });
  const watching = drained(store, topic);
  await worker.start();
  const drain = await watching;
  await worker.stop();
  const cpu = process.cpuUsage(cpuBefore);
  oursTime.cpuMs = (cpu.user + cpu.system) / 1000;
  return drain;
}

/** `npm start`'s Kafka events counter, as `/metrics` reports it: events accepted (stored) from Kafka, and duplicates. */
async function productCounts(base: string): Promise<{ accepted: number; duplicates: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const counted = (outcome: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith('balances_ingest_events_total{') && line.includes(`outcome="${outcome}"`) && line.includes('source="kafka"'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  return { accepted: counted('accepted'), duplicates: counted('duplicate') };
}

/**
 * The product end to end, as a user runs it: `npm start`'s entry point (`api/main.ts --demo`) in a
 * process of its own, on a data directory of its own, configured only by its environment, the
 * topic already holding the first events when it starts. It is watched from outside only: an
 * event counts once `/metrics` reports it accepted, which the pipeline does after its insert.
 * `end-to-end s` runs from the process's start, the demo's load included.
 */
async function product(topic: string): Promise<Drain & { duplicates: number }> {
  const started = performance.now();
  const child = spawn(fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url)), [fileURLToPath(new URL('../api/main.ts', import.meta.url)), '--demo'], {
    env: { ...process.env, PORT: '0', BALANCES_DATA_DIR: benchDataDir('product'), KAFKA_BROKERS: broker.brokers.join(','), KAFKA_TOPIC: topic, KAFKA_GROUP_ID: 'product', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const found = /"event":"listening"[^\n]*"port":(\d+)/.exec(output);
      if (found) resolve(Number(found[1]));
    });
    child.once('exit', (code) => reject(new Error(`npm start's process exited (${code}) before it listened:\n${output.slice(-2_000)}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    const drain = await drainedBy(async () => (await productCounts(base)).accepted, topic, 'npm start');
    const { duplicates } = await productCounts(base);
    return { ...drain, seconds: (performance.now() - started) / 1000, duplicates };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
}

/** HTTP ingest into a fresh database, events/s. */
async function httpIngest(round: number): Promise<number> {
  const store = await storeFor(`bench_http_${round}`);
  const metrics = createMetrics();
  const app = createApp({
    store,
    pipeline: createIngestPipeline({ store, metrics, log }),
    metrics,
    log,
    apiKeys: [{ key: 'bench', accountId: 'bench', role: 'ingest' }],
    bodyLimitBytes: 8 * 1024 * 1024,
    balances: new BalanceService(store),
  });
  const server = app.listen(0);
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as { port: number }).port;
  const bodySize = 10_000;
  const bodies: string[] = [];
  for (let i = 0; i < lines.length; i += bodySize) bodies.push(lines.slice(i, i + bodySize).join('\n'));
  const started = performance.now();
  let next = 0;
  await Promise.all(
    [1, 2, 3, 4].map(async () => {
      while (next < bodies.length) {
        const body = bodies[next++] as string;
        const res = await fetch(`http://127.0.0.1:${port}/v1/events`, {
          method: 'POST',
          headers: { authorization: 'Bearer bench', 'content-type': 'application/x-ndjson' },
          body,
        });
        const result = (await res.json()) as { accepted: number };
        if (result.accepted !== body.split('\n').length) throw new Error(`HTTP accepted ${result.accepted}`);
      }
    }),
  );
  const ours = EVENTS / ((performance.now() - started) / 1000);
  server.close();
  return ours;
}

/** A plain `@clickhouse/client` JSONEachRow insert of the same events, in bodies of 10,000, into a fresh database, events/s. */
async function plainInsert(round: number): Promise<number> {
  const bodySize = 10_000;
  const plain = await storeFor(`bench_plain_${round}`);
  const rows = lines.map((l) => {
    const result = decodeEvent(l, { source: 'plain' });
    if (!result.ok) throw new Error(result.message);
    return result.row;
  });
  const plainStarted = performance.now();
  for (let i = 0; i < rows.length; i += bodySize) {
    await plain.client.insert({ table: `${plain.database}.events_v1`, values: rows.slice(i, i + bodySize), format: 'JSONEachRow' });
  }
  const rate = EVENTS / ((performance.now() - plainStarted) / 1000);
  if ((await countEvents(plain)) !== EVENTS) throw new Error('plain insert lost events');
  return rate;
}

/**
 * HTTP and the plain insert alternately, twice each, so both see the same moments of a machine
 * whose background merges of the earlier runs come and go; the better round of each counts.
 */
async function httpAgainstPlain(): Promise<{ ours: number; plainInsert: number }> {
  const rounds = { ours: [] as number[], plain: [] as number[] };
  for (const round of [1, 2]) {
    rounds.plain.push(await plainInsert(round));
    rounds.ours.push(await httpIngest(round));
  }
  return { ours: Math.max(...rounds.ours), plainInsert: Math.max(...rounds.plain) };
}

await fill('bench.engine');
await fill('bench.naive');
await fill('bench.ours');
await fill('bench.product');
const stolen = stealMeter();
const engine = await kafkaEngine('bench.engine');
const naive = await naiveWorker('bench.naive');
const ours = await ourWorker('bench.ours');
const npmStart = await product('bench.product');
const http = await httpAgainstPlain();
const kafkaClients = await measureKafkaClients({ broker, lines, events: Math.min(EVENTS, 200_000), runs: PEER_RUNS });
await broker.stop();
const insertFormats = await measureInsertFormats({ dataDir, lines, storeFor, runs: PEER_RUNS, eventsPerRun: 20_000, blockSizes: [1_000, 5_000, 20_000] });
const insertCost = await measureInsertCost({
  store: await storeFor('bench_cost'),
  lines: lines.slice(0, 40_000).flatMap((l) => {
    const decoded = decodeEvent(l, { source: 'kafka' });
    return decoded.ok ? [JSON.stringify(decoded.row)] : [];
  }),
  blockSizes: [1, 1_000, 5_000],
  rounds: PEER_RUNS,
});

report(`Kafka ingest, ${EVENTS} events into raw events + every rollup view (chDB, 2 cores)`, [
  { consumer: 'ClickHouse Kafka engine', 'events/s after warm-up': fmt(engine.warmRate, 0), 'end-to-end s': fmt(engine.seconds, 2), 'ours ÷ this': fmt(ours.warmRate / engine.warmRate, 2) },
  { consumer: 'naive kafkajs worker', 'events/s after warm-up': fmt(naive.warmRate, 0), 'end-to-end s': fmt(naive.seconds, 2), 'ours ÷ this': fmt(ours.warmRate / naive.warmRate, 2) },
  { consumer: 'our worker (validate, dedupe, DLQ, commit)', 'events/s after warm-up': fmt(ours.warmRate, 0), 'end-to-end s': fmt(ours.seconds, 2), 'ours ÷ this': 1 },
  { consumer: 'plain JSONEachRow insert of the same events, no Kafka', 'events/s after warm-up': fmt(http.plainInsert, 0), 'end-to-end s': fmt(EVENTS / http.plainInsert, 2), 'ours ÷ this': fmt(ours.warmRate / http.plainInsert, 2) },
  { consumer: '`npm start` (its own process, demo loaded; from /metrics)', 'events/s after warm-up': fmt(npmStart.warmRate, 0), 'end-to-end s': fmt(npmStart.seconds, 2), 'ours ÷ this': fmt(ours.warmRate / npmStart.warmRate, 2) },
]);
if (npmStart.duplicates !== 0) throw new Error(`npm start reported ${npmStart.duplicates} duplicates of a topic that holds none`);
/** The goals of README "Scaling": every one must hold for `met`. */
const goals = {
  npm_start_events_per_s: { goal: '>= 60000', value: fmt(npmStart.warmRate, 0), holds: npmStart.warmRate >= 60_000 },
  ours_vs_kafka_engine: { goal: '>= 1.0', value: fmt(ours.warmRate / engine.warmRate, 2), holds: ours.warmRate >= engine.warmRate },
  ours_vs_plain_insert: { goal: '>= 0.8', value: fmt(ours.warmRate / http.plainInsert, 2), holds: ours.warmRate >= 0.8 * http.plainInsert },
  http_vs_plain_insert: { goal: '>= 0.8', value: fmt(http.ours / http.plainInsert, 2), holds: http.ours >= 0.8 * http.plainInsert },
};
const met = Object.values(goals).every((g) => g.holds);
report(`Goals (met: ${met})`, Object.entries(goals).map(([name, g]) => ({ goal: name, wanted: g.goal, measured: g.value, holds: String(g.holds) })));
report(`HTTP ingest, ${EVENTS} events as NDJSON bodies of 10,000, 4 concurrent clients`, [
  { path: 'POST /v1/events (validate, dedupe, store)', 'events/s': fmt(http.ours, 0), 'ours ÷ this': 1 },
  { path: '@clickhouse/client JSONEachRow insert only', 'events/s': fmt(http.plainInsert, 0), 'ours ÷ this': fmt(http.ours / http.plainInsert, 2) },
]);
report('Where our worker’s time went (storage calls overlap the Kafka fetches; CPU is the whole process, embedded ClickHouse included)', [
  { part: 'wall time, first event to last stored', seconds: fmt(ours.seconds, 2) },
  { part: `inserts of raw events, views included (${oursTime.inserts} calls)`, seconds: fmt(oursTime.insertMs / 1000, 2) },
  { part: `duplicate lookups (${oursTime.lookups} named queries)`, seconds: fmt(oursTime.lookupMs / 1000, 2) },
  { part: 'CPU of the process over both cores', seconds: fmt(oursTime.cpuMs / 1000, 2) },
]);
const sizes = await bytesPerEvent(oursStore as Store);
const rollups = sizes.filter((r) => r.table !== 'events_v1');
const rollupShare = fmt(rollups.reduce((sum, r) => sum + r['share of raw'], 0), 2);
report(`Bytes on disk per event after merges, by table (all rollups together: ${rollupShare}× the raw table)`, sizes);
reportInsertFormats(insertFormats);
reportInsertCost(insertCost);
reportKafkaClients(kafkaClients);
stolen();
recordResults('ingest', {
  command: 'npm run bench -- ingest',
  events: EVENTS,
  met,
  goals,
  npm_start_events_per_s: fmt(npmStart.warmRate, 0),
  npm_start_end_to_end_s: fmt(npmStart.seconds, 2),
  ours_events_per_s: fmt(ours.warmRate, 0),
  kafka_engine_events_per_s: fmt(engine.warmRate, 0),
  naive_worker_events_per_s: fmt(naive.warmRate, 0),
  plain_insert_events_per_s: fmt(http.plainInsert, 0),
  http_events_per_s: fmt(http.ours, 0),
  ours_vs_kafka_engine: fmt(ours.warmRate / engine.warmRate, 2),
  ours_vs_plain_insert: fmt(ours.warmRate / http.plainInsert, 2),
  ours_profile_s: { wall: fmt(ours.seconds, 2), inserts: fmt(oursTime.insertMs / 1000, 2), lookups: fmt(oursTime.lookupMs / 1000, 2), cpu: fmt(oursTime.cpuMs / 1000, 2) },
  http_vs_plain_insert: fmt(http.ours / http.plainInsert, 2),
  bytes_per_event: fmt(sizes.reduce((sum, r) => sum + r['bytes/event'], 0), 1),
  bytes_per_event_by_table: Object.fromEntries(sizes.map((r) => [r.table, r['bytes/event']])),
  rollups_vs_raw_bytes: rollupShare,
  insert_format: insertFormats,
  insert_cost: insertCost,
  kafka_client: kafkaClients,
});
process.exit(0);
