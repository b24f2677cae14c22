/**
 * Kafka blocks as the worker writes them: one per partition, under a token of its offsets,
 * recorded before its insert, and cut again the same way by a member that reads it again.
 */
import { describe, expect, it } from 'vitest';
import { boundariesOf, memoryBlockLog, recordDigest, type KafkaBlockLog, type RecordedRange } from '../../ingest/kafkaBlocks.js';
import { createKafkaWorker } from '../../ingest/kafkaWorker.js';
import { acceptingPipeline, memorySource, revokeDuringFlush, workerOptions as options } from '../support/memoryKafka.js';

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
