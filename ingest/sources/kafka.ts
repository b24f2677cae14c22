import { Kafka, Partitioners, logLevel, type Consumer, type Producer, type LogEntry } from 'kafkajs';
import type { Logger } from '../../core/log.js';

/**
 * The Kafka transport behind a small interface of our own, so the rest of ingest never sees
 * kafkajs (which is in maintenance mode and may be swapped out).
 */
export interface KafkaRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export interface PartitionBatch {
  topic: string;
  partition: number;
  records: KafkaRecord[];
  /** Messages between the last record of this batch and the partition's end. */
  lag: number;
}

export interface DeadLetter {
  record: KafkaRecord;
  code: string;
  message: string;
}

export interface CommitOffset {
  topic: string;
  partition: number;
  /** The next offset to read, i.e. last processed + 1. */
  offset: string;
}

export interface KafkaSource {
  /**
   * Starts consuming. `onBatch` is awaited before the next fetch of that partition; the records
   * are only acknowledged by a later `commit`.
   */
  start(onBatch: (batch: PartitionBatch) => Promise<void>): Promise<void>;
  commit(offsets: CommitOffset[]): Promise<void>;
  sendDeadLetters(letters: DeadLetter[]): Promise<void>;
  pause(): void;
  resume(): void;
  /** Stops fetching; batches already handed to `onBatch` finish first. */
  stopFetching(): Promise<void>;
  disconnect(): Promise<void>;
  /** Resolves or rejects when the consumer crashes on its own. */
  readonly crashed: Promise<Error>;
}

export interface KafkaSourceOptions {
  brokers: string[];
  topic: string;
  groupId: string;
  clientId: string;
  log: Logger;
  /** Partitions processed at once; fetching overlaps with storing across them. */
  partitionsConcurrently?: number;
  sessionTimeoutMs?: number;
}

export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

function kafkaLogCreator(log: Logger) {
  return () =>
    ({ level, label, log: entry }: LogEntry) => {
      const { message, ...rest } = entry;
      const fields = { event: 'kafka_client', label, ...rest };
      if (level === logLevel.ERROR) log.error(fields, message);
      else if (level === logLevel.WARN) log.warn(fields, message);
      else log.debug(fields, message);
    };
}

export function createKafkaSource(options: KafkaSourceOptions): KafkaSource {
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(options.log),
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 10_000 },
  });
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    // Large fetches keep per-request overhead small next to the insert they feed.
    maxBytesPerPartition: 8 * 1024 * 1024,
    maxBytes: 64 * 1024 * 1024,
    minBytes: 1,
    maxWaitTimeInMs: 100,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: Math.min(3_000, Math.floor((options.sessionTimeoutMs ?? 30_000) / 3)),
  });
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: true,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  let producerConnected = false;
  let rejectCrash: (err: Error) => void = () => undefined;
  const crashed = new Promise<Error>((_, reject) => {
    rejectCrash = reject;
  });
  crashed.catch(() => undefined);

  consumer.on(consumer.events.CRASH, (event) => {
    const err = event.payload.error;
    if (!event.payload.restart) rejectCrash(err instanceof Error ? err : new Error(String(err)));
  });

  return {
    crashed,
    async start(onBatch) {
      await consumer.connect();
      await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
      await consumer.run({
        // Offsets are committed by the worker only after the batch is stored.
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConcurrently ?? 4,
        eachBatch: async ({ batch, resolveOffset }) => {
          if (batch.messages.length === 0) return;
          const records: KafkaRecord[] = batch.messages.map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key,
            value: m.value,
          }));
          const last = records[records.length - 1] as KafkaRecord;
          const lag = Math.max(0, Number(batch.highWatermark) - Number(last.offset) - 1);
          await onBatch({ topic: batch.topic, partition: batch.partition, records, lag });
          // Moves only the fetch position; nothing is committed here (autoCommit is off).
          resolveOffset(last.offset);
        },
      });
    },
    async commit(offsets) {
      if (offsets.length) await consumer.commitOffsets(offsets);
    },
    async sendDeadLetters(letters) {
      if (letters.length === 0) return;
      if (!producerConnected) {
        await producer.connect();
        producerConnected = true;
      }
      await producer.send({
        topic: deadLetterTopic(options.topic),
        acks: -1,
        messages: letters.map(({ record, code, message }) => ({
          key: record.key,
          value: record.value,
          headers: {
            reason: code,
            message,
            source_topic: record.topic,
            source_partition: String(record.partition),
            source_offset: record.offset,
          },
        })),
      });
    },
    pause() {
      consumer.pause([{ topic: options.topic }]);
    },
    resume() {
      consumer.resume([{ topic: options.topic }]);
    },
    async stopFetching() {
      await consumer.stop();
    },
    async disconnect() {
      await consumer.disconnect();
      if (producerConnected) await producer.disconnect();
    },
  };
}
