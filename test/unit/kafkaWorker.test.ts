import { describe, expect, it } from 'vitest';
import { StorageError } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { IngestError } from '../../ingest/errors.js';
import { boundariesOf, memoryBlockLog, recordDigest, type KafkaBlockLog, type RecordedRange } from '../../ingest/kafkaBlocks.js';
import { createKafkaWorker } from '../../ingest/kafkaWorker.js';
import type { BatchResult, IngestPipeline } from '../../ingest/pipeline.js';
import { isOwnershipLost, whileKeepingMembership, type CommitOffset, type DeadLetter, type KafkaSource, type PartitionBatch, type SourceCallbacks } from '../../ingest/sources/kafka.js';
import { silentLog } from '../support/store.js';

/** What the pipeline throws when ClickHouse refuses an insert for good (NOT_ENOUGH_SPACE). */
const diskFull = () => new IngestError('store_events', StorageError.of('insert into events_v1', Object.assign(new Error('disk full'), { code: '243' })));

/**
 * A Kafka source in memory: the test hands it batches and watches commits, pauses and dead
 * letters. Like kafkajs, it leaves the group only once the batches it handed over have returned.
 */
function memorySource() {
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

function acceptingPipeline(onBatch: (size: number) => Promise<void> = async () => undefined): IngestPipeline & { sizes: number[]; tokens: Array<string | undefined> } {
  const sizes: number[] = [];
  const tokens: Array<string | undefined> = [];
  return {
    sizes,
    tokens,
    async ingest(messages, _ctx, ingestOptions): Promise<BatchResult> {
      sizes.push(messages.length);
      tokens.push(ingestOptions?.deduplicationToken);
      await onBatch(messages.length);
      return {
        outcomes: messages.map((m) =>
          m.text.startsWith('{') ? { status: 'accepted' as const, eventId: m.text } : { status: 'rejected' as const, code: 'invalid_json' as const, message: 'bad' },
        ),
        accepted: messages.filter((m) => m.text.startsWith('{')).length,
        duplicates: 0,
        rejected: messages.filter((m) => !m.text.startsWith('{')).length,
      };
    },
  };
}

const options = { metrics: createMetrics(), log: silentLog, flushMs: 20 };

/**
 * Delivers a batch that is flushed at once, revokes the partitions while its flush is held, and
 * checks that the revocation waits for the flush, until `release` lets it go on.
 */
async function revokeDuringFlush(kit: Pick<ReturnType<typeof memorySource>, 'deliver' | 'batch' | 'revoke'>, release: () => void): Promise<void> {
  await kit.deliver(kit.batch(0, 0, 4));
  await new Promise((r) => setTimeout(r, 20));
  let revoked = false;
  const revoking = kit.revoke().then(() => (revoked = true));
  await new Promise((r) => setTimeout(r, 30));
  expect(revoked).toBe(false);
  release();
  await revoking;
}

describe('the Kafka worker', () => {
  it('flushes on N events, and commits each partition past the last stored offset', async () => {
    const { source, state, deliver, batch } = memorySource();
    const pipeline = acceptingPipeline();
    const worker = createKafkaWorker({ ...options, source, pipeline, batchSize: 10, maxInFlight: 1000 });
    await worker.start();
    await deliver(batch(0, 0, 6));
    await deliver(batch(1, 100, 6));
    await deliver(batch(0, 6, 3, (o) => (o === 7 ? 'not json' : `{"n":${o}}`)));
    await worker.stop();
    expect(pipeline.sizes.reduce((a, b) => a + b, 0)).toBe(15);
    const last = new Map<number, string>();
    for (const commit of state.commits) for (const c of commit) last.set(c.partition, c.offset);
    expect(Object.fromEntries(last)).toEqual({ 0: '9', 1: '106' });
    expect(state.deadLetters.map((d) => d.record.offset)).toEqual(['7']);
    expect(state.disconnected).toBe(true);
  });

  it('flushes a small batch after T ms', async () => {
    const { source, state, deliver, batch } = memorySource();
    const worker = createKafkaWorker({ ...options, source, pipeline: acceptingPipeline(), batchSize: 1000, maxInFlight: 1000 });
    await worker.start();
    await deliver(batch(2, 40, 3));
    await new Promise((r) => setTimeout(r, 150));
    expect(state.commits.flat()).toEqual([{ topic: 't', partition: 2, offset: '43' }]);
    await worker.stop();
  });

  it('commits nothing past a batch that failed, even when a later batch was stored', async () => {
    const { source, state, deliver, batch } = memorySource();
    let call = 0;
    const pipeline = acceptingPipeline(async () => {
      call++;
      if (call === 1) {
        await new Promise((r) => setTimeout(r, 50));
        throw diskFull();
      }
    });
    const worker = createKafkaWorker({ ...options, source, pipeline, batchSize: 5, maxInFlight: 1000 });
    await worker.start();
    // Another partition's block: a partition's next block waits until its last one is written.
    await deliver(batch(0, 0, 5));
    await deliver(batch(1, 0, 5));
    await expect(worker.done).rejects.toMatchObject({ name: 'IngestError', step: 'store_events', retriable: false, cause: { code: '243' } });
    expect(call).toBe(2);
    expect(state.commits).toEqual([]);
  });

  it('pauses fetching above the in-flight bound and resumes once stored', async () => {
    const { source, state, deliver, batch } = memorySource();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const worker = createKafkaWorker({ ...options, source, pipeline: acceptingPipeline(() => gate), batchSize: 4, maxInFlight: 8 });
    await worker.start();
    await deliver(batch(0, 0, 4));
    const blocked = deliver(batch(1, 0, 4));
    let returned = false;
    void blocked.then(() => (returned = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(state.pauses).toBe(1);
    expect(returned).toBe(false);
    release();
    await blocked;
    expect(state.resumes).toBe(1);
    await worker.stop();
    expect(state.commits.flat().map((c) => `${c.partition}:${c.offset}`).sort()).toEqual(['0:4', '1:4']);
  });

  it('drops the buffered records of revoked partitions: nothing of them is stored or committed by this member', async () => {
    const { source, state, deliver, batch, rebalance } = memorySource();
    const pipeline = acceptingPipeline();
    // Neither size nor time flushes before the rebalance.
    const worker = createKafkaWorker({ ...options, source, pipeline, batchSize: 1000, flushMs: 60_000, maxInFlight: 10_000 });
    await worker.start();
    await deliver(batch(0, 0, 5));
    await deliver(batch(1, 0, 5));
    await rebalance([1]);
    // Fetching restarts from the last commit: partition 1 comes again, partition 0 went elsewhere.
    await deliver(batch(1, 0, 7));
    await worker.stop();
    expect(pipeline.sizes).toEqual([7]);
    expect(state.commits.flat()).toEqual([{ topic: 't', partition: 1, offset: '7' }]);
  });

  it('a flush under way when partitions are revoked finishes before the member rejoins, and commits only under its own assignment', async () => {
    const { source, state, deliver, batch, revoke } = memorySource();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const pipeline = acceptingPipeline(() => gate);
    const worker = createKafkaWorker({ ...options, source, pipeline, batchSize: 4, maxInFlight: 10_000 });
    await worker.start();
    await revokeDuringFlush({ deliver, batch, revoke }, release);
    expect(state.commits.flat()).toEqual([{ topic: 't', partition: 0, offset: '4' }]);

    await worker.stop();
  });

  it('a flush that ends after the group moved on does not commit: the new owner reads it again', async () => {
    const { source, state, deliver, batch } = memorySource();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const worker = createKafkaWorker({ ...options, source, pipeline: acceptingPipeline(() => gate), batchSize: 4, maxInFlight: 10_000 });
    await worker.start();
    await deliver(batch(2, 0, 4));
    await new Promise((r) => setTimeout(r, 20));
    state.generation++;
    release();
    await worker.stop();
    expect(state.commits).toEqual([]);
  });

  it('stops with the error when a commit fails for good, instead of storing on without committing', async () => {
    const { source, state, deliver, batch } = memorySource();
    state.commitError = Object.assign(new Error('Not authorized to access group'), { type: 'GROUP_AUTHORIZATION_FAILED', retriable: false });
    const pipeline = acceptingPipeline();
    const worker = createKafkaWorker({ ...options, source, pipeline, batchSize: 5, maxInFlight: 1000 });
    await worker.start();
    await deliver(batch(0, 0, 5));
    // kafkajs's own flag says whether the commit may pass later; the worker stops either way.
    await expect(worker.done).rejects.toMatchObject({ name: 'IngestError', step: 'kafka_commit', retriable: false, cause: { message: 'Not authorized to access group' } });
    await deliver(batch(0, 5, 5));
    await new Promise((r) => setTimeout(r, 50));
    expect(pipeline.sizes).toEqual([5]);
    expect(state.disconnected).toBe(true);
  });

  it('exits with the error when a flush fails while batches wait on the in-flight bound', async () => {
    const { source, state, deliver, batch } = memorySource();
    let call = 0;
    const pipeline = acceptingPipeline(async () => {
      if (++call === 1) {
        await new Promise((r) => setTimeout(r, 60));
        throw diskFull();
      }
    });
    const worker = createKafkaWorker({ ...options, source, pipeline, batchSize: 4, maxInFlight: 8 });
    await worker.start();
    // Both flushes under way, the second batch already waiting on the bound...
    await deliver(batch(0, 0, 4));
    await new Promise((r) => setTimeout(r, 10));
    const blocked = [deliver(batch(0, 4, 4))];
    await new Promise((r) => setTimeout(r, 10));
    // ...and two more partitions' batches buffered behind them, as many as the bound.
    blocked.push(deliver(batch(1, 0, 4)), deliver(batch(2, 0, 4)));
    const outcome = await Promise.race([
      worker.done.then(() => 'resolved', (err: IngestError) => (err.cause as StorageError).code),
      new Promise((r) => setTimeout(() => r('still waiting'), 5_000)),
    ]);
    expect(outcome).toBe('243');
    await Promise.all(blocked);
    expect(state.commits).toEqual([]);
    expect(state.disconnected).toBe(true);
  });

  it('stops on a failed batch without waiting for the next one, whose store is down', async () => {
    const { source, deliver, batch } = memorySource();
    let call = 0;
    const pipeline = acceptingPipeline(async () => {
      if (++call === 1) {
        await new Promise((r) => setTimeout(r, 30));
        throw new Error('schema mismatch');
      }
      await new Promise(() => undefined);
    });
    const worker = createKafkaWorker({ ...options, source, pipeline, batchSize: 2, maxInFlight: 1000, failureGraceMs: 100 });
    await worker.start();
    await deliver(batch(0, 0, 2));
    await deliver(batch(0, 2, 2));
    await expect(worker.done).rejects.toMatchObject({ name: 'IngestError', step: 'kafka_batch', cause: { message: 'schema mismatch' } });
  });
});

describe('Kafka blocks', () => {
  /** The digest of the record the test source sends at an offset. */
  const digestAt = (partition: number, offset: number) => recordDigest({ topic: 't', partition, offset: String(offset), key: null, value: Buffer.from(`{"n":${offset}}`) });
  /** The token of topic `t` (hex 74), a partition, an offset range and the digest of its last record. */
  const token = (partition: number, first: number, last: number) => `kafka-74-${partition}-${first}-${last}-${digestAt(partition, last)}`;
  /** A range as a member records it. */
  const rangeOf = (partition: number, first: number, last: number, generation: number): RecordedRange => ({ topic: 't', partition, first: String(first), last: String(last), lastRecord: digestAt(partition, last), generation });

  it('a flush writes one block per partition, under a token of its topic, partition and first and last offset, recorded before its insert', async () => {
    const { source, state, deliver, batch } = memorySource();
    const pipeline = acceptingPipeline();
    const blocks = memoryBlockLog();
    const worker = createKafkaWorker({ ...options, source, pipeline, blocks, batchSize: 5, maxInFlight: 1000 });
    await worker.start();
    await deliver(batch(1, 100, 2));
    await deliver(batch(0, 0, 3));
    await worker.stop();
    expect(pipeline.sizes).toEqual([3, 2]);
    expect(pipeline.tokens).toEqual([token(0, 0, 2), token(1, 100, 101)]);
    expect(blocks.ranges).toEqual([
      rangeOf(0, 0, 2, 1),
      rangeOf(1, 100, 101, 1),
    ]);
    expect(state.commits.flat()).toEqual([{ topic: 't', partition: 0, offset: '3' }, { topic: 't', partition: 1, offset: '102' }]);
  });

  it('a member reading a partition again cuts it at the ranges recorded before, and waits for a range\'s last record before writing it', async () => {
    const { source, state, deliver, batch } = memorySource();
    const pipeline = acceptingPipeline();
    const blocks = memoryBlockLog();
    // An earlier owner recorded 0–4 and 5–6, and may have written them.
    await blocks.record([
      rangeOf(0, 0, 4, 1),
      rangeOf(0, 5, 6, 1),
    ]);
    state.generation = 2;
    const worker = createKafkaWorker({ ...options, source, pipeline, blocks, batchSize: 3, maxInFlight: 1000 });
    await worker.start();
    // Three records are due by size, but the range 0–4 has not all arrived: nothing is written.
    await deliver({ ...batch(0, 0, 3), lag: 6 });
    await new Promise((r) => setTimeout(r, 60));
    expect(pipeline.sizes).toEqual([]);
    await deliver(batch(0, 3, 6));
    await worker.stop();
    expect(pipeline.tokens).toEqual([token(0, 0, 4), token(0, 5, 6), token(0, 7, 8)]);
    expect(pipeline.sizes).toEqual([5, 2, 2]);
    // Only the new block is recorded, in this member's generation.
    expect(blocks.ranges.slice(2)).toEqual([rangeOf(0, 7, 8, 2)]);
    expect(state.commits.flat().at(-1)).toEqual({ topic: 't', partition: 0, offset: '9' });
  });

  it('a topic created again under its name reuses offsets, but not the ranges of the earlier topic: its records get tokens of their own', async () => {
    const { source, state, deliver, batch } = memorySource();
    const pipeline = acceptingPipeline();
    const blocks = memoryBlockLog();
    // The earlier topic's blocks at offsets 0–4 and 5–6 may still be in the deduplication window.
    await blocks.record([rangeOf(0, 0, 4, 1), rangeOf(0, 5, 6, 1)]);
    state.generation = 2;
    const worker = createKafkaWorker({ ...options, source, pipeline, blocks, batchSize: 7, maxInFlight: 1000 });
    await worker.start();
    await deliver(batch(0, 0, 7, (o) => `{"new":${o}}`));
    await worker.stop();
    const newDigest = recordDigest({ topic: 't', partition: 0, offset: '6', key: null, value: Buffer.from('{"new":6}') });
    expect(pipeline.sizes).toEqual([7]);
    expect(pipeline.tokens).toEqual([`kafka-74-0-0-6-${newDigest}`]);
    expect(pipeline.tokens).not.toContain(token(0, 0, 4));
  });

  it('a flush whose partitions are revoked while its ranges are being recorded inserts and commits nothing, and the revocation waits for it', async () => {
    const { source, state, deliver, batch, revoke } = memorySource();
    const pipeline = acceptingPipeline();
    const log = memoryBlockLog();
    let recorded: () => void = () => undefined;
    const recording = new Promise<void>((r) => (recorded = r));
    const blocks: KafkaBlockLog = { recordedFrom: (...args) => log.recordedFrom(...args), record: async (ranges) => { await recording; await log.record(ranges); } };
    const worker = createKafkaWorker({ ...options, source, pipeline, blocks, batchSize: 4, maxInFlight: 1000 });
    await worker.start();
    await revokeDuringFlush({ deliver, batch, revoke }, recorded);
    await worker.stop();
    expect(pipeline.sizes).toEqual([]);
    expect(state.commits).toEqual([]);
    // The range stays recorded: the next owner cuts these records the same way.
    expect(log.ranges).toEqual([rangeOf(0, 0, 3, 1)]);
  });

  it('where two recorded ranges overlap, the later generation\'s stands', () => {
    const range = (first: number, last: number, generation: number): RecordedRange => rangeOf(0, first, last, generation);
    expect(boundariesOf([range(10, 19, 3), range(0, 9, 2), range(10, 14, 2), range(15, 30, 2)])).toEqual([range(0, 9, 2), range(10, 19, 3)]);
  });
});

describe('a batch waiting in the consumer', () => {
  const rebalancing = () => Object.assign(new Error('The group is rebalancing'), { type: 'REBALANCE_IN_PROGRESS' });

  it('keeps sending heartbeats while it waits on back-pressure', async () => {
    let beats = 0;
    const work = new Promise<void>((r) => setTimeout(r, 175));
    await whileKeepingMembership(work, { heartbeat: async () => void beats++, heartbeatIntervalMs: 40, onRevoke: async () => undefined, log: silentLog });
    // Every 40 ms while waiting, and once when the batch returns.
    expect(beats).toBeGreaterThanOrEqual(4);
  });

  it('revokes the buffered records when a heartbeat finds the group rebalancing, before the batch returns', async () => {
    const steps: string[] = [];
    let finish: () => void = () => undefined;
    const work = new Promise<void>((r) => (finish = r));
    const handled = whileKeepingMembership(work.then(() => void steps.push('batch returned')), {
      heartbeat: async () => {
        throw rebalancing();
      },
      heartbeatIntervalMs: 20,
      onRevoke: async () => {
        steps.push('revoked');
        finish();
      },
      log: silentLog,
    });
    await expect(handled).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });
    expect(steps).toEqual(['revoked', 'batch returned']);
  });

  it('ends with a heartbeat, so a rebalance found right after the batch revokes first', async () => {
    const steps: string[] = [];
    const handled = whileKeepingMembership(Promise.resolve(), {
      heartbeat: async () => {
        steps.push('heartbeat');
        throw rebalancing();
      },
      heartbeatIntervalMs: 1_000,
      onRevoke: async () => void steps.push('revoked'),
      log: silentLog,
    });
    await expect(handled).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });
    expect(steps).toEqual(['heartbeat', 'revoked']);
  });
});

describe('a failed commit', () => {
  it('means the partitions moved when the broker says the generation or member is gone, also behind the client\'s retry wrappers', () => {
    const protocol = (type: string) => Object.assign(new Error(type), { type, name: 'KafkaJSProtocolError' });
    const wrapped = (cause: Error) => Object.assign(new Error(`wrapped: ${cause.message}`), { name: 'KafkaJSNonRetriableError', cause });
    for (const type of ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']) {
      expect(isOwnershipLost(protocol(type))).toBe(true);
      expect(isOwnershipLost(wrapped(protocol(type)))).toBe(true);
    }
    // Anything else stops the worker: authorisation, a broker gone past the retries, a bug.
    expect(isOwnershipLost(wrapped(protocol('GROUP_AUTHORIZATION_FAILED')))).toBe(false);
    expect(isOwnershipLost(Object.assign(new Error('Connection error'), { name: 'KafkaJSNumberOfRetriesExceeded' }))).toBe(false);
    expect(isOwnershipLost(new Error('Consumer group was not initialized'))).toBe(false);
  });
});
