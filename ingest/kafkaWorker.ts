import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { IncomingMessage, IngestPipeline } from './pipeline.js';
import type { CommitOffset, DeadLetter, KafkaRecord, KafkaSource, PartitionBatch } from './sources/kafka.js';

export interface KafkaWorkerOptions {
  source: KafkaSource;
  pipeline: IngestPipeline;
  metrics: Metrics;
  log: Logger;
  /** Flush when this many events are waiting... */
  batchSize: number;
  /** ...or when the oldest has waited this long, whichever comes first. */
  flushMs: number;
  /** Received but not yet committed events above which fetching pauses. */
  maxInFlight: number;
}

export interface KafkaWorker {
  start(): Promise<void>;
  /** Flushes what was received, commits it and disconnects. */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped; rejects if it stopped on an error. */
  readonly done: Promise<void>;
}

/**
 * Kafka → pipeline → commit. Flushes run in this loop, never in a timer: the timer only wakes
 * the loop, so a failed flush stops the worker instead of being swallowed.
 *
 * Two flushes may be in flight: the next batch decodes while the previous one is written.
 * Commits still happen strictly in flush order, and never past a batch that failed.
 */
export function createKafkaWorker(options: KafkaWorkerOptions): KafkaWorker {
  const { source, pipeline, metrics, log } = options;
  let pending: KafkaRecord[] = [];
  let oldestAt = 0;
  let inFlight = 0;
  let paused = false;
  let stopping = false;
  let failure: Error | undefined;
  let wake: () => void = () => undefined;
  let drained: Array<() => void> = [];
  let commitChain: Promise<void> = Promise.resolve();
  const flushing = new Set<Promise<void>>();
  const MAX_CONCURRENT_FLUSHES = 2;

  const signal = () => wake();
  const waitForSignal = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  async function onBatch(batch: PartitionBatch): Promise<void> {
    metrics.consumerLag.set({ topic: batch.topic, partition: String(batch.partition) }, batch.lag);
    if (pending.length === 0) oldestAt = Date.now();
    for (const record of batch.records) pending.push(record);
    inFlight += batch.records.length;
    if (pending.length >= options.batchSize) signal();
    if (inFlight >= options.maxInFlight && !stopping) {
      // Backpressure: stop fetching until committed work brings us back under the bound.
      const started = performance.now();
      if (!paused) {
        paused = true;
        source.pause();
      }
      await new Promise<void>((resolve) => drained.push(resolve));
      metrics.backpressureSeconds.observe((performance.now() - started) / 1000);
    }
  }

  function release(count: number) {
    inFlight -= count;
    if (inFlight < options.maxInFlight) {
      const waiting = drained;
      drained = [];
      for (const resolve of waiting) resolve();
      if (paused && !stopping) {
        paused = false;
        source.resume();
      }
    }
  }

  function toMessages(records: KafkaRecord[]): IncomingMessage[] {
    const messages: IncomingMessage[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as KafkaRecord;
      messages[i] = {
        text: r.value === null ? '' : r.value.toString('utf8'),
        kafka: { topic: r.topic, partition: r.partition, offset: r.offset },
      };
    }
    return messages;
  }

  /** The highest offset per partition, +1: offsets within a partition arrive in order. */
  function nextOffsets(records: KafkaRecord[]): CommitOffset[] {
    const byPartition = new Map<string, CommitOffset>();
    for (const r of records) {
      const next = (BigInt(r.offset) + 1n).toString();
      const id = `${r.topic}/${r.partition}`;
      const current = byPartition.get(id);
      if (!current || BigInt(next) > BigInt(current.offset)) {
        byPartition.set(id, { topic: r.topic, partition: r.partition, offset: next });
      }
    }
    return [...byPartition.values()].sort((a, b) => a.partition - b.partition);
  }

  function flush(): Promise<void> {
    const records = pending;
    pending = [];
    const stored = (async () => {
      const result = await pipeline.ingest(toMessages(records), { source: 'kafka' }, { storeAttempts: Infinity });
      const letters: DeadLetter[] = [];
      result.outcomes.forEach((outcome, i) => {
        if (outcome.status === 'rejected') {
          letters.push({ record: records[i] as KafkaRecord, code: outcome.code, message: outcome.message });
        }
      });
      await source.sendDeadLetters(letters);
      return result;
    })();
    // Commits are chained so they go out in flush order, and stop at the first failure.
    const committed = (commitChain = commitChain.then(async () => {
      const result = await stored;
      if (failure) return;
      const offsets = nextOffsets(records);
      try {
        await source.commit(offsets);
      } catch (err) {
        // At-least-once: these offsets are not committed, so the messages come again after a
        // restart or rebalance, and dedupe makes that harmless. A later commit covers them.
        log.warn({ event: 'kafka_commit_failed', err, offsets }, 'offset commit failed');
      }
      log.debug(
        { event: 'kafka_batch_committed', events: records.length, accepted: result.accepted, duplicates: result.duplicates, rejected: result.rejected },
        'batch stored and committed',
      );
    }));
    const tracked = committed
      .catch((err: unknown) => {
        failure ??= err instanceof Error ? err : new Error(String(err));
        log.error({ event: 'kafka_batch_failed', err: failure }, 'batch could not be stored; nothing past it is committed');
        signal();
      })
      .finally(() => {
        release(records.length);
        flushing.delete(tracked);
        signal();
      });
    flushing.add(tracked);
    return tracked;
  }

  async function loop(): Promise<void> {
    while (!failure) {
      const due =
        pending.length > 0 &&
        (stopping || pending.length >= options.batchSize || Date.now() - oldestAt >= options.flushMs);
      if (due && flushing.size < MAX_CONCURRENT_FLUSHES) {
        void flush();
        continue;
      }
      if (stopping && pending.length === 0 && flushing.size === 0) return;
      const wait = pending.length > 0 ? Math.max(1, options.flushMs - (Date.now() - oldestAt)) : options.flushMs;
      await waitForSignal(wait);
    }
    await Promise.allSettled([...flushing]);
    throw failure;
  }

  let resolveDone: () => void = () => undefined;
  let rejectDone: (err: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined);
  let loopPromise: Promise<void> | undefined;

  return {
    done,
    async start() {
      loopPromise = loop();
      loopPromise.then(
        () => resolveDone(),
        async (err: Error) => {
          // Unblock any batch waiting on backpressure, then leave without committing further.
          stopping = true;
          release(0);
          await source.stopFetching().catch(() => undefined);
          await source.disconnect().catch(() => undefined);
          rejectDone(err);
        },
      );
      source.crashed.catch((err: Error) => {
        failure ??= err;
        signal();
      });
      await source.start(onBatch);
      log.info({ event: 'kafka_worker_started' }, 'consuming');
    },
    async stop() {
      if (stopping) return done;
      stopping = true;
      // Batches waiting on backpressure must finish so the consumer can stop.
      const waiting = drained;
      drained = [];
      for (const resolve of waiting) resolve();
      await source.stopFetching();
      signal();
      await loopPromise;
      await commitChain;
      await source.disconnect();
      log.info({ event: 'kafka_worker_stopped' }, 'flushed, committed and disconnected');
      return done;
    },
  };
}
