/**
 * The Kafka worker over a source in memory: when it flushes, what it commits, how it holds back
 * fetching, what a rebalance does to buffered records, and when it stops with an error.
 */
import { describe, expect, it } from 'vitest';
import type { StorageError } from '../../core/clickhouse.js';
import type { IngestError } from '../../ingest/errors.js';
import { createKafkaWorker } from '../../ingest/kafkaWorker.js';
import { acceptingPipeline, diskFull, memorySource, revokeDuringFlush, workerOptions as options } from '../support/memoryKafka.js';

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
