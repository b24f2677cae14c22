/**
 * The Kafka client, against ours: kafkajs against librdkafka's own consumer (kcat, every value
 * written through a pipe to this process) and @platformatic/kafka, each draining the same topics
 * of the test broker in a fresh consumer group, gzip and uncompressed. @platformatic/kafka speaks
 * only the protocol versions of Kafka 3.5 and later (ApiVersions v3, Fetch v12, JoinGroup v6 and
 * up), which librdkafka 2.0's test broker does not: the run records its answer instead of a rate.
 */
import { spawn } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import { produceWithKcat, type MockBroker } from '../test/support/mockBroker.js';
import { fmt, percentile, report } from './harness.js';

const median = (samples: number[]) => fmt(percentile(samples, 50), 0);
const spread = (samples: number[]) => `${fmt(Math.min(...samples), 0)}–${fmt(Math.max(...samples), 0)}`;

interface Drain {
  /** From connecting to the last message, group join included. */
  seconds: number;
  /** Events/s after the first batch arrived: the client's own pace, without the group join. */
  warmRate: number;
}

async function drainWithKafkajs(brokers: string[], topics: string[], total: number, group: string): Promise<Drain> {
  const started = performance.now();
  const consumer = new Kafka({ brokers, logLevel: logLevel.NOTHING }).consumer({ groupId: group, maxBytesPerPartition: 8 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  let count = 0;
  let firstAt = 0;
  let firstCount = 0;
  let chars = 0;
  const drained = await new Promise<Drain>((resolve, reject) => {
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) chars += m.value?.toString().length ?? 0;
          count += batch.messages.length;
          const now = performance.now();
          if (!firstAt) [firstAt, firstCount] = [now, count];
          if (count >= total) resolve({ seconds: (now - started) / 1000, warmRate: (count - firstCount) / ((now - firstAt) / 1000) });
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  if (count !== total || chars === 0) throw new Error(`kafkajs read ${count} of ${total} messages`);
  return drained;
}

/** librdkafka's own consumer (kcat) in a group, writing each value as a line to a pipe that is only counted; it exits at the end of every partition. */
function drainWithKcat(brokers: string[], topics: string[], total: number, group: string): Promise<Drain> {
  const started = performance.now();
  const child = spawn('kcat', ['-b', brokers.join(','), '-G', group, '-X', 'auto.offset.reset=earliest', '-e', '-q', '-f', '%s\n', ...topics], { stdio: ['ignore', 'pipe', 'ignore'] });
  let count = 0;
  let firstAt = 0;
  let firstCount = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) count++;
    if (!firstAt) [firstAt, firstCount] = [performance.now(), count];
  });
  return new Promise<Drain>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => {
      const now = performance.now();
      if (count !== total) reject(new Error(`kcat read ${count} of ${total} messages`));
      else resolve({ seconds: (now - started) / 1000, warmRate: (count - firstCount) / ((now - firstAt) / 1000) });
    });
  });
}

/** Whether @platformatic/kafka can join a group on this broker at all: it speaks Kafka 3.5's protocol versions and up. */
async function platformaticJoins(brokers: string[], topic: string): Promise<string> {
  const { Consumer, stringDeserializers } = await import('@platformatic/kafka');
  const consumer = new Consumer({ groupId: 'peer-platformatic', clientId: 'bench', bootstrapBrokers: brokers, deserializers: stringDeserializers, retries: 0 });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    await stream.close();
    return 'joined';
  } catch (err) {
    const cause = (err as { errors?: Array<{ message?: string }> }).errors?.[0]?.message ?? (err as Error).message;
    return `refused: ${(err as Error).message.split('\n')[0]} (${cause})`;
  } finally {
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
  }
}

export interface KafkaClientFigures {
  events: number;
  runs: number;
  /** Per compression, per client: events/s with the group join, and after the first batch (the client’s own pace), each against kafkajs. */
  by_codec: Record<string, Record<string, { events_per_s: number; spread: string; vs_kafkajs: number; warm_events_per_s: number; warm_spread: string; warm_vs_kafkajs: number }>>;
  platformatic_kafka: string;
  fastest: string;
}

/**
 * Fills the test broker once per codec (over several topics: it keeps about 5 MB per partition),
 * then lets each client drain every topic in a fresh consumer group, alternately.
 */
export async function measureKafkaClients(options: { broker: MockBroker; lines: string[]; events: number; runs: number }): Promise<KafkaClientFigures> {
  const { brokers } = options.broker;
  const lines = options.lines.slice(0, options.events);
  // About 2.5 MB a topic uncompressed. librdkafka's sticky partitioner may put all of a topic on one
  // partition, and the broker keeps 5 MB of each: at 25,000 a topic (6 MB) it once dropped 8,222
  // of 200,000 events, and the benchmark stopped there.
  const perTopic = 10_000;
  const figures: KafkaClientFigures = { events: lines.length, runs: options.runs, by_codec: {}, platformatic_kafka: '', fastest: '' };
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  for (const codec of ['gzip', 'none'] as const) {
    const topics: string[] = [];
    for (let t = 0; t * perTopic < lines.length; t++) {
      const topic = `peers.${codec}.${t}`;
      topics.push(topic);
      for (let i = t * perTopic; i < Math.min((t + 1) * perTopic, lines.length); i += 10_000) {
        await produceWithKcat(brokers, topic, lines.slice(i, Math.min(i + 10_000, (t + 1) * perTopic, lines.length)), undefined, codec === 'gzip' ? 'gzip' : undefined);
      }
    }
    let held = 0;
    for (const topic of topics) held += (await admin.fetchTopicOffsets(topic)).reduce((s, o) => s + Number(o.high) - Number(o.low), 0);
    if (held !== lines.length) throw new Error(`the test broker holds ${held} of ${lines.length} ${codec} events`);
    if (!figures.platformatic_kafka) figures.platformatic_kafka = await platformaticJoins(brokers, topics[0] as string);
    const drains: Record<string, Drain[]> = { kafkajs: [], 'librdkafka (kcat)': [] };
    for (let run = 0; run < options.runs; run++) {
      const order = run % 2 === 0 ? ['kafkajs', 'librdkafka (kcat)'] : ['librdkafka (kcat)', 'kafkajs'];
      for (const client of order) {
        const drain = client === 'kafkajs' ? drainWithKafkajs : drainWithKcat;
        drains[client]?.push(await drain(brokers, topics, lines.length, `peer-${codec}-${client.slice(0, 5)}-${run}`));
      }
    }
    const rate = (d: Drain[]) => d.map((x) => lines.length / x.seconds);
    const warmRate = (d: Drain[]) => d.map((x) => x.warmRate);
    const ours = drains.kafkajs as Drain[];
    figures.by_codec[codec] = Object.fromEntries(
      Object.entries(drains).map(([client, d]) => [
        client,
        {
          events_per_s: median(rate(d)),
          spread: spread(rate(d)),
          vs_kafkajs: fmt(percentile(rate(d), 50) / percentile(rate(ours), 50), 2),
          warm_events_per_s: median(warmRate(d)),
          warm_spread: spread(warmRate(d)),
          warm_vs_kafkajs: fmt(percentile(warmRate(d), 50) / percentile(warmRate(ours), 50), 2),
        },
      ]),
    );
  }
  await admin.disconnect();
  const faster = Object.entries(figures.by_codec).map(([codec, clients]) => {
    const [name, best] = Object.entries(clients).sort((a, b) => b[1].warm_events_per_s - a[1].warm_events_per_s)[0] as [string, { warm_vs_kafkajs: number }];
    return `${codec}: ${name} (${best.warm_vs_kafkajs}× kafkajs after the first batch)`;
  });
  figures.fastest = faster.join('; ');
  return figures;
}

export function reportKafkaClients(f: KafkaClientFigures): void {
  report(
    `Kafka clients draining ${f.events} events from the test broker in a consumer group (values decoded or counted, nothing stored); median of ${f.runs} runs, clients alternating`,
    Object.entries(f.by_codec).flatMap(([codec, clients]) =>
      Object.entries(clients).map(([client, x]) => ({
        compression: codec,
        client,
        'after first batch, events/s': x.warm_events_per_s,
        'after first batch, spread': x.warm_spread,
        'after first batch ÷ kafkajs': x.warm_vs_kafkajs,
        'join included, events/s': x.events_per_s,
        'join included, spread': x.spread,
        'join included ÷ kafkajs': x.vs_kafkajs,
      })),
    ),
  );
  console.log(`@platformatic/kafka on this broker: ${f.platformatic_kafka}`);
}
