/**
 * The Kafka transport behind a small interface of our own, so the rest of ingest never sees
 * kafkajs (which is in maintenance mode and may be swapped out): consuming in batches, manual
 * commits fenced by the group generation, dead letters, and joining again after a crash kafkajs
 * does not recover from.
 *
 * Invariants: a commit goes out only under the assignment its records were read in; this member
 * joins the group only after the worker's revocation, or half the session timeout
 * (kafkajsJoinHold.ts); a batch waiting on back-pressure keeps the membership (kafkaMembership.ts);
 * fetching never waits for a storage call on libuv's thread pool (kafkaGzip.ts).
 */
import { Kafka, Partitioners, logLevel, type Consumer, type ISocketFactory, type LogEntry, type Producer } from 'kafkajs';
import type { Logger } from '../../core/log.js';
import { deliveredLater } from '../../core/promises.js';
import { isRetriable } from '../../core/errors.js';
import { sleep, withRetry } from '../../core/retry.js';
import { isOwnershipLost, isRejoinableCrash } from './kafkaErrors.js';
import { useInlineGzip } from './kafkaGzip.js';
import { holdJoinsWhereAsked, roundRobinHoldingJoins, type KafkajsConsumerGroup } from './kafkajsJoinHold.js';
import { whileKeepingMembership } from './kafkaMembership.js';

export interface KafkaRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** When the record was produced (or appended, per the topic's timestamp type), ms since the epoch. */
  timestamp?: number;
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

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** What a source calls back into while it consumes. */
export interface SourceCallbacks {
  /**
   * Awaited before the next fetch of that partition; the records are only acknowledged by a
   * later `commit`. The source keeps the group membership alive while it waits.
   */
  onBatch(batch: PartitionBatch): Promise<void>;
  /**
   * The group is rebalancing: every partition of this member may move to another. Buffered
   * records must be dropped (the next owner reads them again from the last commit), nothing new
   * written for them, and writes already under way finished. The source rejoins the group only
   * once this resolves, or once half the session timeout passed: a member that waited longer
   * would be dropped from the group, and its partitions moved, all the same.
   */
  onRevoke(): Promise<void>;
  /** A new assignment took effect; fetching restarts from the committed offsets. */
  onAssign(partitions: TopicPartition[]): void;
}

export interface KafkaSource {
  start(callbacks: SourceCallbacks): Promise<void>;
  /**
   * The consumer group's generation of this member's assignment: grows with every assignment,
   * and a later rebalance of the group has a larger one, whichever member looks. Commits name
   * the one they belong to.
   */
  generation(): number;
  /**
   * Commits offsets taken under assignment `generation`. Resolves false, committing nothing,
   * when the partitions may have moved since: the group rebalanced, or the broker fenced this
   * member. Rejects when the commit failed for any other reason, after the client's retries.
   */
  commit(offsets: CommitOffset[], generation: number): Promise<boolean>;
  sendDeadLetters(letters: DeadLetter[]): Promise<void>;
  /** Stops fetching, staying in the group (heartbeats continue), until `resume`. */
  pause(): void;
  resume(): void;
  /** Leaves the group once batches already handed to `onBatch` return, and closes connections. */
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
  /** How the client opens its TCP connections; kafkajs's own when not given. */
  socketFactory?: ISocketFactory;
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

/** Rejoins allowed in REJOIN_WINDOW_MS before a crash stops the consumer for good. */
export const MAX_REJOINS = 3;
const REJOIN_WINDOW_MS = 60_000;
const REJOIN_DELAY_MS = 300;

export function createKafkaSource(options: KafkaSourceOptions): KafkaSource {
  holdJoinsWhereAsked();
  useInlineGzip();
  const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
  const heartbeatInterval = Math.min(3_000, Math.floor(sessionTimeout / 3));
  // Up to a heartbeat interval may pass before the member learns of the rebalance: half the
  // session keeps the whole wait inside it, so the broker does not drop the member meanwhile.
  const rejoinWaitMs = Math.floor(sessionTimeout / 2);
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(options.log),
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 10_000 },
    ...(options.socketFactory ? { socketFactory: options.socketFactory } : {}),
  });
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    // Large fetches keep per-request overhead small next to the insert they feed.
    maxBytesPerPartition: 8 * 1024 * 1024,
    maxBytes: 64 * 1024 * 1024,
    minBytes: 1,
    maxWaitTimeInMs: 100,
    sessionTimeout,
    heartbeatInterval,
    partitionAssigners: [roundRobinHoldingJoins(async (group) => {
      joining = group;
      await revoke();
    })],
  });
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: true,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  let producerConnected = false;
  let generation = 0;
  let callbacks: SourceCallbacks | undefined;
  /** The kafkajs consumer group that is joining, to read the generation it joined in. */
  let joining: KafkajsConsumerGroup | undefined;
  /** This rebalance's revocation, shared by every path that learns of it. */
  let revoking: Promise<void> | undefined;
  /**
   * Revokes this member's assignment once per rebalance, and waits for its writes under way at
   * most `rejoinWaitMs`: past that the broker would drop the member from the group anyway.
   */
  function revoke(): Promise<void> {
    const handlers = callbacks;
    if (!handlers) return Promise.resolve();
    revoking ??= (async () => {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const revoked = handlers.onRevoke().then(
        () => true,
        (err: unknown) => {
          options.log.warn({ event: 'kafka_revoke_failed', err }, 'the writes under way ended with an error; the worker reports it');
          return true;
        },
      );
      const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), rejoinWaitMs)));
      const finished = await Promise.race([revoked, timedOut]);
      clearTimeout(timer);
      const ms = Date.now() - started;
      if (!finished) {
        options.log.warn({ event: 'kafka_rejoin_with_writes_under_way', ms }, 'joining the group with writes still under way: their blocks are recorded, so the next owner writes the same blocks and storage keeps one copy');
      } else if (ms >= 10) {
        options.log.info({ event: 'kafka_rejoin_after_writes', ms }, 'the writes under way are done; joining the group');
      }
    })();
    return revoking;
  }
  let rejectCrash: (err: Error) => void = () => undefined;
  const crashed = new Promise<Error>((_, reject) => {
    rejectCrash = reject;
  });
  deliveredLater(crashed);

  let runConfig: Parameters<Consumer['run']>[0] | undefined;
  let disconnecting = false;
  const rejoins: number[] = [];
  /** Into the group and consuming; at start, and again after a crash kafkajs does not recover from. */
  const join = async (config: Parameters<Consumer['run']>[0]) => {
    await consumer.connect();
    await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
    await consumer.run(config);
  };
  consumer.on(consumer.events.CRASH, (event) => {
    const err = event.payload.error;
    if (event.payload.restart) return;
    const now = Date.now();
    while (rejoins.length > 0 && (rejoins[0] as number) < now - REJOIN_WINDOW_MS) rejoins.shift();
    if (!disconnecting && runConfig && isRejoinableCrash(err) && rejoins.length < MAX_REJOINS) {
      rejoins.push(now);
      options.log.warn({ event: 'kafka_consumer_rejoin', err, rejoins: rejoins.length }, 'the consumer left the group on a group protocol error; joining again');
      // kafkajs has already left the group: what this member buffered is no longer its own.
      void revoke();
      const config = runConfig;
      (async () => {
        // As kafkajs does before it restarts: a moment for the connections it closed to go.
        await sleep(REJOIN_DELAY_MS);
        if (disconnecting) return;
        await withRetry(() => join(config), {
          attempts: 5,
          baseMs: REJOIN_DELAY_MS,
          maxMs: 5_000,
          isRetriable: (rejoinErr) => !disconnecting && isRetriable(rejoinErr),
          onRetry: (rejoinErr, attempt) => options.log.warn({ event: 'kafka_consumer_rejoin_retry', err: rejoinErr, attempt }, 'joining again failed; retrying'),
        });
      })().catch((rejoinErr: unknown) => rejectCrash(rejoinErr instanceof Error ? rejoinErr : new Error(String(rejoinErr))));
      return;
    }
    rejectCrash(err instanceof Error ? err : new Error(String(err)));
  });
  // kafkajs emits this just before it rejoins: what is buffered is dropped at once, and the
  // rejoin itself waits in joinAndSync for the same revocation.
  consumer.on(consumer.events.REBALANCING, () => {
    void revoke();
  });
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    // The group's own generation where kafkajs has it, so block ranges recorded by different
    // members compare; never less than one more than the last, so commits stay fenced.
    generation = Math.max(generation + 1, joining?.generationId ?? 0);
    revoking = undefined;
    const assignment = event.payload.memberAssignment as Record<string, number[]>;
    const partitions = Object.entries(assignment).flatMap(([topic, ps]) => ps.map((partition) => ({ topic, partition })));
    options.log.info({ event: 'kafka_partitions_assigned', generation, partitions: partitions.map((p) => p.partition) }, 'partitions assigned');
    callbacks?.onAssign(partitions);
  });

  return {
    crashed,
    generation: () => generation,
    async start(handlers) {
      callbacks = handlers;
      runConfig = {
        // Offsets are committed by the worker only after the batch is stored.
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConcurrently ?? 4,
        eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
          if (batch.messages.length === 0) return;
          const records: KafkaRecord[] = batch.messages.map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key,
            value: m.value,
            timestamp: Number(m.timestamp),
          }));
          const last = records[records.length - 1] as KafkaRecord;
          const lag = Math.max(0, Number(batch.highWatermark) - Number(last.offset) - 1);
          await whileKeepingMembership(handlers.onBatch({ topic: batch.topic, partition: batch.partition, records, lag }), {
            heartbeat,
            heartbeatIntervalMs: heartbeatInterval,
            onRevoke: revoke,
            log: options.log,
          });
          // Moves only the fetch position; nothing is committed here (autoCommit is off).
          resolveOffset(last.offset);
        },
      };
      await join(runConfig);
    },
    async commit(offsets, taken) {
      if (offsets.length === 0) return true;
      // Another member may own these partitions now, and kafkajs would send the commit under the
      // new generation: it must not go out. Under the old one, the broker itself fences it.
      if (taken !== generation) return false;
      try {
        await consumer.commitOffsets(offsets);
        return true;
      } catch (err) {
        if (isOwnershipLost(err)) return false;
        throw err;
      }
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
    async disconnect() {
      disconnecting = true;
      await consumer.stop();
      await consumer.disconnect();
      if (producerConnected) await producer.disconnect();
    },
  };
}
