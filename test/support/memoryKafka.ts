/**
 * The Kafka worker's surroundings in memory, for unit tests: a source the test hands batches to
 * while it watches commits, pauses and dead letters, and a pipeline that accepts JSON and rejects
 * anything else. Like kafkajs, the source leaves the group only once the batches it handed over
 * have returned.
 */
import { expect } from 'vitest';
import { StorageError } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { IngestError } from '../../ingest/errors.js';
import type { BatchResult, IncomingMessage, IngestPipeline } from '../../ingest/pipeline.js';
import type { CommitOffset, DeadLetter, KafkaSource, PartitionBatch, SourceCallbacks } from '../../ingest/sources/kafka.js';
import { silentLog } from './store.js';

/** What the pipeline throws when ClickHouse refuses an insert for good (NOT_ENOUGH_SPACE). */
export const diskFull = () => new IngestError('store_events', StorageError.of('insert into events_v1', Object.assign(new Error('disk full'), { code: '243' })));

/** A Kafka source in memory, and the test's hands on it. */
export function memorySource() {
  let callbacks: SourceCallbacks | undefined;
  const open = new Set<Promise<void>>();
  const state = {
    commits: [] as CommitOffset[][],
    deadLetters: [] as DeadLetter[],
    pauses: 0,
    resumes: 0,
    disconnected: false,
    generation: 1,
    /** Makes the next commit fail as the broker or client would. */
    commitError: undefined as Error | undefined,
  };
  const source: KafkaSource = {
    crashed: new Promise<Error>(() => undefined),
    generation: () => state.generation,
    async start(handlers) {
      callbacks = handlers;
    },
    async commit(offsets, generation) {
      if (state.commitError) throw state.commitError;
      if (generation !== state.generation) return false;
      state.commits.push(offsets);
      return true;
    },
    async sendDeadLetters(letters) {
      state.deadLetters.push(...letters);
    },
    pause: () => void state.pauses++,
    resume: () => void state.resumes++,
    async disconnect() {
      await Promise.allSettled([...open]);
      state.disconnected = true;
    },
  };
  const batch = (partition: number, from: number, count: number, value = (o: number) => `{"n":${o}}`): PartitionBatch => ({
    topic: 't',
    partition,
    lag: 0,
    records: Array.from({ length: count }, (_, i) => ({ topic: 't', partition, offset: String(from + i), key: null, value: Buffer.from(value(from + i)) })),
  });
  const deliver = (b: PartitionBatch) => {
    const handed = (callbacks as SourceCallbacks).onBatch(b);
    open.add(handed);
    // Forgotten once settled; a failure reaches whoever awaits `handed`.
    const forget = () => void open.delete(handed);
    handed.then(forget, forget);
    return handed;
  };
  /** A rebalance as the source reports it: revoke everything, then the new assignment. */
  const rebalance = async (assigned: number[]) => {
    await (callbacks as SourceCallbacks).onRevoke();
    state.generation++;
    (callbacks as SourceCallbacks).onAssign(assigned.map((partition) => ({ topic: 't', partition })));
  };
  return { source, state, deliver, batch, rebalance, revoke: () => (callbacks as SourceCallbacks).onRevoke() };
}

/** A pipeline that stores every JSON message and rejects the rest, after `onBatch` returns. */
export function acceptingPipeline(onBatch: (size: number) => Promise<void> = async () => undefined): IngestPipeline & { sizes: number[]; tokens: Array<string | undefined> } {
  const sizes: number[] = [];
  const tokens: Array<string | undefined> = [];
  const ingest = async (messages: IncomingMessage[], deduplicationToken: string | undefined): Promise<BatchResult> => {
    sizes.push(messages.length);
    tokens.push(deduplicationToken);
    await onBatch(messages.length);
    return {
      outcomes: messages.map((m) =>
        m.text.startsWith('{') ? { status: 'accepted' as const, eventId: m.text } : { status: 'rejected' as const, code: 'invalid_json' as const, message: 'bad' },
      ),
      accepted: messages.filter((m) => m.text.startsWith('{')).length,
      duplicates: 0,
      rejected: messages.filter((m) => !m.text.startsWith('{')).length,
    };
  };
  return {
    sizes,
    tokens,
    ingest: (messages, _ctx, ingestOptions) => ingest(messages, ingestOptions?.deduplicationToken),
    ingestBlocks: (blocks) => Promise.all(blocks.map((b) => ingest(b.messages, b.deduplicationToken))),
  };
}

/** Worker options every test shares: a flush after 20 ms at the latest. */
export const workerOptions = { metrics: createMetrics(), log: silentLog, flushMs: 20 };

/**
 * Delivers a batch that is flushed at once, revokes the partitions while its flush is held, and
 * checks that the revocation waits for the flush, until `release` lets it go on.
 */
export async function revokeDuringFlush(kit: Pick<ReturnType<typeof memorySource>, 'deliver' | 'batch' | 'revoke'>, release: () => void): Promise<void> {
  await kit.deliver(kit.batch(0, 0, 4));
  await new Promise((r) => setTimeout(r, 20));
  let revoked = false;
  const revoking = kit.revoke().then(() => (revoked = true));
  await new Promise((r) => setTimeout(r, 30));
  expect(revoked).toBe(false);
  release();
  await revoking;
}
