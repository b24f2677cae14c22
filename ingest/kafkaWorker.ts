import { isRetriable } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { BatchResult, IngestPipeline } from './pipeline.js';
import type { DeadLetter, KafkaRecord, KafkaSource, PartitionBatch } from './sources/kafka.js';
import { deliveredLater } from '../core/promises.js';
import { withRetry } from '../core/retry.js';
import { duringStep, IngestError, type IngestStep } from './errors.js';
import { disconnectWithin, fitting, nextOffsets, toMessages, type RejectedRecord } from './kafkaRecords.js';
import { memoryBlockLog, partitionBlocks, type Block, type KafkaBlockLog, type PartitionBlocks } from './kafkaBlocks.js';

export interface KafkaWorkerOptions {
  source: KafkaSource;
  pipeline: IngestPipeline;
  metrics: Metrics;
  log: Logger;
  /** Flush a partition's block when this many of its events are waiting... */
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
  /**
   * Where block ranges are recorded for every member of the group (`storedBlockLog`). Without
   * one, ranges are kept in this process: exact for a group of one member only.
   */
  blocks?: KafkaBlockLog;
}

export type { RejectedRecord } from './kafkaRecords.js';

export const MAX_MESSAGE_BYTES = 1024 * 1024;

export interface KafkaWorker {
  start(): Promise<void>;
  /** Flushes what was received, commits it and disconnects. */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped; rejects with an `IngestError` if it stopped on one. */
  readonly done: Promise<void>;
  /**
   * True while the stream is not kept up with: fetching is paused for back-pressure, a partition's
   * last batch was fetched `BEHIND_MS` or more after it was produced, or received records have
   * waited that long unwritten.
   */
  behind(): boolean;
}

const MAX_CONCURRENT_FLUSHES = 2;

/**
 * How long a received record may wait unwritten before the worker counts as behind, and reads
 * and the aggregator give way to it. A flush under way routinely keeps the next records waiting
 * a few hundred milliseconds; a record that waited a second misses the freshness the product
 * promises (an event in the API's balance within a second).
 */
export const BEHIND_MS = 1_000;

/**
 * Kafka → pipeline → commit. Flushes run in this loop, never in a timer: the timer only wakes
 * the loop, so a failed flush or a failed commit stops the worker instead of being swallowed.
 *
 * A flush holds one block per partition, each inserted under a token of its topic, partition and
 * offset range, at boundaries every member cuts alike (kafkaBlocks.ts says how): a range that two
 * members write, as happens around a rebalance, is stored once. Two flushes may be in flight:
 * the next batch decodes while the previous one is written. Commits still happen strictly in
 * flush order, and never past a batch that failed.
 *
 * On a rebalance the buffered records are dropped and no flush or insert starts for the
 * revoked assignment; the source lets the member rejoin only once the flushes under way are done
 * (or a bound below the session timeout passed). A flush's offsets are committed only under
 * the assignment it was read in.
 */
export function createKafkaWorker(options: KafkaWorkerOptions): KafkaWorker {
  const { source, pipeline, metrics, log } = options;
  const failureGraceMs = options.failureGraceMs ?? 5_000;
  const maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  const blockLog = options.blocks ?? memoryBlockLog();
  /** The partitions that delivered records under the current assignment, with what waits of them. */
  const partitions = new Map<string, PartitionBlocks>();
  /** Partitions with a block not yet written. */
  const writing = new Set<PartitionBlocks>();
  /** Flushes handed to the pipeline and not yet written: it writes them one after another. */
  let queuedFlushes = 0;
  let waiting = 0;
  let inFlight = 0;
  let paused = false;
  let stopping = false;
  let revoked = false;
  /** Counts assignments; a flush cut under an earlier one writes nothing more. */
  let assignment = 0;
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
    const waiters = drained;
    drained = [];
    for (const resolve of waiters) resolve();
  }

  /** Storage reads and writes of block ranges, retried while retriable, like the pipeline's writes. */
  const blockStep = <T>(what: string, operation: () => Promise<T>) =>
    duringStep('kafka_batch', () =>
      withRetry(operation, {
        attempts: Infinity,
        baseMs: 100,
        maxMs: 10_000,
        isRetriable: (err) => !stopping && !failure && isRetriable(err),
        onRetry: (err, attempt, delayMs) => log.warn({ event: 'kafka_blocks_retry', what, attempt, delayMs, err }, 'retrying a read or write of Kafka block ranges'),
      }),
    );

  /** The partition's records so far under this assignment, created with the ranges recorded from its first offset. */
  async function blocksOf(batch: PartitionBatch): Promise<PartitionBlocks | undefined> {
    const id = `${batch.topic}/${batch.partition}`;
    const known = partitions.get(id);
    if (known) return known;
    const readIn = assignment;
    const first = (batch.records[0] as KafkaRecord).offset;
    const recorded = await blockStep('read', () => blockLog.recordedFrom(batch.topic, batch.partition, first));
    if (revoked || stopping || failure || readIn !== assignment) return undefined;
    if (recorded.length > 0) {
      log.info({ event: 'kafka_blocks_recorded', topic: batch.topic, partition: batch.partition, from: first, ranges: recorded.length }, 'reading a partition again: its blocks are cut at the ranges recorded before');
    }
    const created = partitionBlocks(batch.topic, batch.partition, recorded);
    partitions.set(id, created);
    return created;
  }

  async function onBatch(batch: PartitionBatch): Promise<void> {
    metrics.consumerLag.set({ topic: batch.topic, partition: String(batch.partition) }, batch.lag);
    // Not buffered: after a rebalance, or once stopping or failed, these records are read again
    // from the last commit by whoever owns the partition then.
    if (revoked || stopping || failure || batch.records.length === 0) return;
    let blocks: PartitionBlocks | undefined;
    try {
      blocks = await blocksOf(batch);
    } catch (err) {
      fail('kafka_batch', err);
      return;
    }
    if (!blocks) return;
    blocks.add(batch.records, batch.lag);
    waiting += batch.records.length;
    inFlight += batch.records.length;
    if (blocks.waiting >= options.batchSize) signal();
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
  function dropWaiting(reason: string) {
    let dropped = 0;
    for (const blocks of partitions.values()) dropped += blocks.drop();
    partitions.clear();
    waiting = 0;
    if (dropped === 0) return;
    log.info({ event: 'kafka_buffer_dropped', reason, events: dropped }, 'buffered records dropped; they are read again from the last commit');
    release(dropped);
  }

  async function onRevoke(): Promise<void> {
    revoked = true;
    dropWaiting('rebalance');
    unblockAll();
    signal();
    // Writes under way finish (and commit, while this member still owns their partitions) first.
    await Promise.allSettled([...flushing]);
  }

  function onAssign() {
    // Fetching restarts from the committed offsets, so anything still buffered would come twice.
    dropWaiting('assignment');
    assignment++;
    revoked = false;
  }

  /** A flush's blocks through the pipeline in one step, each under its token. */
  async function storeBlocks(blocks: Block[], letters: DeadLetter[], refusals: RejectedRecord[]): Promise<BatchResult[]> {
    const fits = blocks.map((block) => fitting(block, maxMessageBytes, letters, refusals));
    const results = await pipeline.ingestBlocks(
      blocks.map((block, i) => ({ messages: toMessages(fits[i] as KafkaRecord[]), deduplicationToken: block.token })),
      { source: 'kafka' },
      { storeAttempts: Infinity },
    );
    results.forEach((result, b) =>
      result.outcomes.forEach((outcome, i) => {
        if (outcome.status === 'rejected') letters.push({ record: (fits[b] as KafkaRecord[])[i] as KafkaRecord, code: outcome.code, message: outcome.message });
      }),
    );
    return results;
  }

  /**
   * A partition is due when `batchSize` of its records wait, or its oldest has waited `flushMs`,
   * and its previous block is written. Each block is one insert into events_v1 and its views,
   * whose cost hardly depends on its size: a partition's records gather while its last block is
   * written, so a busy worker writes large blocks rather than many small ones.
   */
  const isDue = (partition: PartitionBlocks, now: number) =>
    partition.waiting > 0 &&
    !writing.has(partition) &&
    (stopping || partition.waiting >= options.batchSize || now - partition.waitingSince >= options.flushMs);

  /** Cuts what the due partitions can flush and starts writing it; false when all of it is held back. */
  function flush(): boolean {
    const now = Date.now();
    const blocks: Block[] = [];
    const cutFrom: PartitionBlocks[] = [];
    for (const partition of [...partitions.values()].sort((a, b) => a.partition - b.partition)) {
      if (!isDue(partition, now)) continue;
      const cut = partition.cut();
      if (cut.length === 0) continue;
      blocks.push(...cut);
      cutFrom.push(partition);
      writing.add(partition);
    }
    if (blocks.length === 0) return false;
    let events = 0;
    for (const block of blocks) events += block.records.length;
    waiting -= events;
    const generation = source.generation();
    const cutIn = assignment;
    const stored = (async () => {
      const fresh = blocks.filter((b) => !b.recorded).map((b) => ({ ...b.range, generation }));
      await blockStep('record', () => blockLog.record(fresh));
      // Recorded, but nothing is inserted for an assignment this member has lost: the next owner
      // reads these records again, at these boundaries.
      if (revoked || cutIn !== assignment) return undefined;
      const letters: DeadLetter[] = [];
      const refusals: RejectedRecord[] = [];
      // One step of the pipeline; the next flush is cut once this one has left it (see `loop`).
      queuedFlushes++;
      const results = await storeBlocks(blocks, letters, refusals).finally(() => {
        queuedFlushes--;
        signal();
      });
      const recordRejections = options.recordRejections;
      if (refusals.length && recordRejections) await duringStep('store_rejections', () => recordRejections(refusals));
      await duringStep('kafka_dead_letters', () => source.sendDeadLetters(letters));
      let accepted = 0;
      let duplicates = 0;
      let rejected = refusals.length;
      for (const r of results) {
        accepted += r.accepted;
        duplicates += r.duplicates;
        rejected += r.rejected;
      }
      return { accepted, duplicates, rejected };
    })();
    // Commits are chained so they go out in flush order, and stop at the first failure.
    const committed = (commitChain = commitChain.then(async () => {
      const result = await stored;
      if (failure) return;
      const offsets = nextOffsets(blocks);
      if (!result) {
        log.info({ event: 'kafka_flush_abandoned', events, offsets }, 'partitions revoked before the insert; the next owner writes these records');
        return;
      }
      // A commit that fails after the client's own retries stops the worker: going on would
      // keep storing while the group's offsets stand still, and hide a broken consumer.
      const done = await duringStep('kafka_commit', () => source.commit(offsets, generation));
      const counts = { events, blocks: blocks.length, ...result };
      if (done) {
        log.debug({ event: 'kafka_batch_committed', ...counts }, 'batch stored and committed');
      } else {
        // At-least-once: the partitions moved to another member, which reads these records
        // again from the last commit, cuts them into the same blocks, and storage keeps one copy.
        log.info({ event: 'kafka_commit_skipped', ...counts, offsets }, 'batch stored; its partitions were reassigned, so its offsets are not committed');
      }
    }));
    const tracked = committed
      .catch((err: unknown) => {
        fail('kafka_batch', err);
        log.error({ event: 'kafka_batch_failed', err: failure }, 'batch could not be stored or committed; nothing past it is committed');
      })
      .finally(() => {
        release(events);
        for (const partition of cutFrom) writing.delete(partition);
        flushing.delete(tracked);
        signal();
      });
    flushing.add(tracked);
    return true;
  }

  async function loop(): Promise<void> {
    /** Every waiting record is held back until a recorded range is complete. */
    let held = false;
    while (!failure) {
      const now = Date.now();
      let due = false;
      let nextDueIn = options.flushMs;
      for (const partition of partitions.values()) {
        // A partition whose block is being written is due again once it is: that flush signals.
        if (partition.waiting === 0 || writing.has(partition)) continue;
        if (isDue(partition, now)) due = true;
        else nextDueIn = Math.min(nextDueIn, options.flushMs - (now - partition.waitingSince));
      }
      // The next flush is cut when the pipeline reaches the last flush queued, not before: what
      // arrives meanwhile joins its blocks, and each block costs one insert whatever its size.
      if (due && !revoked && flushing.size < MAX_CONCURRENT_FLUSHES && queuedFlushes === 0) {
        held = !flush();
        if (!held) continue;
      }
      if (stopping && flushing.size === 0 && (waiting === 0 || held)) {
        // Records held back for a recorded range that did not complete: the next owner reads them.
        dropWaiting('stopping');
        return;
      }
      await waitForSignal(Math.max(1, nextDueIn));
      held = false;
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

  return {
    done,
    behind() {
      if (paused) return true;
      const now = Date.now();
      for (const partition of partitions.values()) {
        if (partition.fetchDelayMs >= BEHIND_MS) return true;
        if (partition.waiting > 0 && now - partition.waitingSince >= Math.max(options.flushMs, BEHIND_MS)) return true;
      }
      return false;
    },
    async start() {
      loopPromise = loop();
      loopPromise.then(
        () => resolveDone(),
        async (err: unknown) => {
          stopping = true;
          unblockAll();
          await disconnectWithin(source, log, failureGraceMs);
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
