import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../core/metrics.js';
import { createKafkaWorker } from '../../ingest/kafkaWorker.js';
import type { BatchResult, IngestPipeline } from '../../ingest/pipeline.js';
import type { CommitOffset, DeadLetter, KafkaSource, PartitionBatch } from '../../ingest/sources/kafka.js';
import { silentLog } from '../support/store.js';

/** A Kafka source in memory: the test hands it batches and watches commits, pauses and dead letters. */
function memorySource() {
  let deliver: (batch: PartitionBatch) => Promise<void> = async () => undefined;
  const state = {
    commits: [] as CommitOffset[][],
    deadLetters: [] as DeadLetter[],
    pauses: 0,
    resumes: 0,
    stopped: false,
  };
  const source: KafkaSource = {
    crashed: new Promise<Error>(() => undefined),
    async start(onBatch) {
      deliver = onBatch;
    },
    async commit(offsets) {
      state.commits.push(offsets);
    },
    async sendDeadLetters(letters) {
      state.deadLetters.push(...letters);
    },
    pause: () => void state.pauses++,
    resume: () => void state.resumes++,
    async stopFetching() {
      state.stopped = true;
    },
    async disconnect() {},
  };
  const batch = (partition: number, from: number, count: number, value = (o: number) => `{"n":${o}}`): PartitionBatch => ({
    topic: 't',
    partition,
    lag: 0,
    records: Array.from({ length: count }, (_, i) => ({ topic: 't', partition, offset: String(from + i), key: null, value: Buffer.from(value(from + i)) })),
  });
  return { source, state, deliver: (b: PartitionBatch) => deliver(b), batch };
}

function acceptingPipeline(onBatch: (size: number) => Promise<void> = async () => undefined): IngestPipeline & { sizes: number[] } {
  const sizes: number[] = [];
  return {
    sizes,
    async ingest(messages): Promise<BatchResult> {
      sizes.push(messages.length);
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
    expect(state.stopped).toBe(true);
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
        throw Object.assign(new Error('disk full'), { code: '243' });
      }
    });
    const worker = createKafkaWorker({ ...options, source, pipeline, batchSize: 5, maxInFlight: 1000 });
    await worker.start();
    await deliver(batch(0, 0, 5));
    await deliver(batch(0, 5, 5));
    await expect(worker.done).rejects.toThrow('disk full');
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
});
