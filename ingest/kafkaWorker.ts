import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { IncomingMessage, IngestPipeline, RejectedRow } from './pipeline.js';
import type { CommitOffset, DeadLetter, KafkaRecord, KafkaSource, PartitionBatch } from './sources/kafka.js';
import { deliveredLater } from '../core/promises.js';
import { duringStep, IngestError, type IngestStep } from './errors.js';

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
  /**
   * After a failed batch, how long the worker waits for the other batch in flight before it
   * reports the failure. Nothing past the failed batch is committed either way.
   */
  failureGraceMs?: number;
  /** Messages larger than this are refused unread, as `message_too_large`. 1 MiB by default. */
  maxMessageBytes?: number;
  /** Writes refusals made here, before the pipeline, to the rejected-events table. */
  recordRejections?: (rows: RejectedRecord[]) => Promise<void>;
}

/** A record refused by the worker itself, as one row of `rejected_events_v1`. */
export type RejectedRecord = RejectedRow & { source: 'kafka' };

export const MAX_MESSAGE_BYTES = 1024 * 1024;

export interface KafkaWorker {
  start(): Promise<void>;
  /** Flushes what was received, commits it and disconnects. */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped; rejects with an `IngestError` if it stopped on one. */
  readonly done: Promise<void>;
}

const MAX_CONCURRENT_FLUSHES = 2;

/**
 * Kafka → pipeline → commit. Flushes run in this loop, never in a timer: the timer only wakes
 * the loop, so a failed flush or a failed commit stops the worker instead of being swallowed.
 *
 * Two flushes may be in flight: the next batch decodes while the previous one is written.
 * Commits still happen strictly in flush order, and never past a batch that failed.
 *
 * On a rebalance the buffered records are dropped and the flushes under way finish before the
 * member rejoins: the next owner of a partition reads it again from the last commit, and never
 * while this member is still writing it. A flush's offsets are committed only under the
 * assignment it was read in.
 */
export function createKafkaWorker(options: KafkaWorkerOptions): KafkaWorker {
  const { source, pipeline, metrics, log } = options;
  const failureGraceMs = options.failureGraceMs ?? 5_000;
  const maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  let pending: KafkaRecord[] = [];
  let oldestAt = 0;
  let inFlight = 0;
  let paused = false;
  let stopping = false;
  let revoked = false;
  let failure: IngestError | undefined;
  let wake: () => void = () => undefined;
  let drained: Array<() => void> = [];
  let commitChain: Promise<void> = Promise.resolve();
  const flushing = new Set<Promise<void>>();

  const signal = () => wake();
  const waitForSignal = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  function fail(step: IngestStep, err: unknown) {
    failure ??= IngestError.of(step, err);
    // Batches waiting on back-pressure must return, or the consumer could never be stopped.
    unblockAll();
    signal();
  }

  function unblockAll() {
    const waiting = drained;
    drained = [];
    for (const resolve of waiting) resolve();
  }

  async function onBatch(batch: PartitionBatch): Promise<void> {
    metrics.consumerLag.set({ topic: batch.topic, partition: String(batch.partition) }, batch.lag);
    // Not buffered: after a rebalance, or once stopping or failed, these records are read again
    // from the last commit by whoever owns the partition then.
    if (revoked || stopping || failure) return;
    if (pending.length === 0) oldestAt = Date.now();
    for (const record of batch.records) pending.push(record);
    inFlight += batch.records.length;
    if (pending.length >= options.batchSize) signal();
    if (inFlight >= options.maxInFlight) {
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
      unblockAll();
      if (paused && !stopping) {
        paused = false;
        source.resume();
      }
    }
  }

  /** Drops what is buffered: it is fetched again from the last commit by the partition's owner. */
  function dropPending(reason: string) {
    if (pending.length === 0) return;
    const dropped = pending.length;
    pending = [];
    log.info({ event: 'kafka_buffer_dropped', reason, events: dropped }, 'buffered records dropped; they are read again from the last commit');
    release(dropped);
  }

  async function onRevoke(): Promise<void> {
    revoked = true;
    dropPending('rebalance');
    unblockAll();
    signal();
    // Writes under way finish (and commit, while this member still owns their partitions) first.
    await Promise.allSettled([...flushing]);
  }

  function onAssign() {
    // Fetching restarts from the committed offsets, so anything still buffered would come twice.
    dropPending('assignment');
    revoked = false;
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
    const generation = source.generation();
    const stored = (async () => {
      // An oversized message is refused unread: decoding megabytes of JSON per record would let
      // one producer stall the partition, and no event of the contract comes near the limit.
      const fits: KafkaRecord[] = [];
      const letters: DeadLetter[] = [];
      const refusals: RejectedRecord[] = [];
      for (const r of records) {
        const size = r.value?.length ?? 0;
        if (size <= maxMessageBytes) {
          fits.push(r);
          continue;
        }
        const message = `the message is ${size} bytes, over the limit of ${maxMessageBytes}`;
        letters.push({ record: r, code: 'message_too_large', message });
        refusals.push({
          source: 'kafka', account_id: '', event_id: '', code: 'message_too_large', message,
          payload: (r.value as Buffer).toString('utf8'), kafka_topic: r.topic, kafka_partition: r.partition, kafka_offset: r.offset,
        });
      }
      const result = await pipeline.ingest(toMessages(fits), { source: 'kafka' }, { storeAttempts: Infinity });
      result.outcomes.forEach((outcome, i) => {
        if (outcome.status === 'rejected') {
          letters.push({ record: fits[i] as KafkaRecord, code: outcome.code, message: outcome.message });
        }
      });
      const recordRejections = options.recordRejections;
      if (refusals.length && recordRejections) await duringStep('store_rejections', () => recordRejections(refusals));
      await duringStep('kafka_dead_letters', () => source.sendDeadLetters(letters));
      return { ...result, rejected: result.rejected + refusals.length };
    })();
    // Commits are chained so they go out in flush order, and stop at the first failure.
    const committed = (commitChain = commitChain.then(async () => {
      const result = await stored;
      if (failure) return;
      const offsets = nextOffsets(records);
      // A commit that fails after the client's own retries stops the worker: going on would
      // keep storing while the group's offsets stand still, and hide a broken consumer.
      const done = await duringStep('kafka_commit', () => source.commit(offsets, generation));
      const counts = { events: records.length, accepted: result.accepted, duplicates: result.duplicates, rejected: result.rejected };
      if (done) {
        log.debug({ event: 'kafka_batch_committed', ...counts }, 'batch stored and committed');
      } else {
        // At-least-once: the partitions moved to another member, which reads these records
        // again from the last commit and finds them stored.
        log.info({ event: 'kafka_commit_skipped', ...counts, offsets }, 'batch stored; its partitions were reassigned, so its offsets are not committed');
      }
    }));
    const tracked = committed
      .catch((err: unknown) => {
        fail('kafka_batch', err);
        log.error({ event: 'kafka_batch_failed', err: failure }, 'batch could not be stored or committed; nothing past it is committed');
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
        !revoked &&
        (stopping || pending.length >= options.batchSize || Date.now() - oldestAt >= options.flushMs);
      if (due && flushing.size < MAX_CONCURRENT_FLUSHES) {
        void flush();
        continue;
      }
      if (stopping && pending.length === 0 && flushing.size === 0) return;
      const wait = pending.length > 0 ? Math.max(1, options.flushMs - (Date.now() - oldestAt)) : options.flushMs;
      await waitForSignal(wait);
    }
    // The other flush may be retrying a store that is down; it cannot commit past the failed
    // batch, so the worker reports the failure without waiting for it for ever.
    await Promise.race([Promise.allSettled([...flushing]), new Promise((r) => setTimeout(r, failureGraceMs).unref())]);
    throw failure;
  }

  let resolveDone: () => void = () => undefined;
  let rejectDone: (err: IngestError) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  deliveredLater(done);
  let loopPromise: Promise<void> | undefined;

  async function disconnectWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        log.warn({ event: 'kafka_disconnect_timeout', ms }, 'the consumer did not leave the group in time');
        resolve();
      }, ms);
    });
    const disconnected = source.disconnect().catch((err: unknown) => {
      log.warn({ event: 'kafka_disconnect_failed', err }, 'the consumer could not leave the group cleanly; the broker ends its membership after the session timeout');
    });
    await Promise.race([disconnected, timeout]);
    clearTimeout(timer);
  }

  return {
    done,
    async start() {
      loopPromise = loop();
      loopPromise.then(
        () => resolveDone(),
        async (err: unknown) => {
          stopping = true;
          unblockAll();
          await disconnectWithin(failureGraceMs);
          rejectDone(IngestError.of('kafka_batch', err));
        },
      );
      source.crashed.catch((err: unknown) => fail('kafka_consumer', err));
      await source.start({ onBatch, onRevoke, onAssign });
      log.info({ event: 'kafka_worker_started' }, 'consuming');
    },
    async stop() {
      if (stopping) return done;
      stopping = true;
      // Fetching stops but the member stays in the group, so the last commits are accepted.
      if (!paused) source.pause();
      paused = true;
      unblockAll();
      signal();
      await loopPromise;
      await commitChain;
      await source.disconnect();
      log.info({ event: 'kafka_worker_stopped' }, 'flushed, committed and disconnected');
      return done;
    },
  };
}
