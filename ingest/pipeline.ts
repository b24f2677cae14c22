import type { Store } from '../core/clickhouse.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import { withRetry } from '../core/retry.js';
import { contentOf, type EventRow, type RejectionCode, type ValidationContext } from './contract.js';
import { lookupStoredKeys, storedContents } from './dedupe.js';
import { conflict, createBatchDedupeStep, createDecodeStep, eventsToken, rejectedRow, rejectionsBlock, type CandidateBlock, type DecodedBlock, type RejectedRow } from './steps.js';
import { duringStep, type IngestStep } from './errors.js';

export { rejectionsBlock, type RejectedRow, type StepResult } from './steps.js';

/** Messages decoded between two turns of the event loop. */
const DECODE_SLICE = 1_000;

/** Blocks whose write failed for good, kept for the resend of the same batch (see below). */
const UNFINISHED_BLOCKS = 64;

/** One raw event as a source received it. */
export interface IncomingMessage {
  text: string;
  kafka?: { topic: string; partition: number; offset: string };
}

export type MessageOutcome =
  | { status: 'accepted'; eventId: string }
  | { status: 'duplicate'; eventId: string }
  | { status: 'rejected'; code: RejectionCode; message: string; eventId?: string };

export interface BatchResult {
  outcomes: MessageOutcome[];
  accepted: number;
  duplicates: number;
  rejected: number;
}

export interface IngestPipeline {
  /**
   * decode → validate → dedupe → store. Resolves once every accepted event and every rejection
   * is written; only then may the source acknowledge the batch. Rejects with an `IngestError`
   * naming the step that failed, retriable when its storage failure is.
   */
  ingest(messages: IncomingMessage[], ctx: ValidationContext, options?: IngestOptions): Promise<BatchResult>;
  /**
   * Several blocks, each under its own token (a Kafka flush: one block per partition), stored in
   * one step: their keys are looked up together, and the blocks are inserted side by side. An
   * event in two of them is written by the first. Resolves with each block's result once all are
   * written; rejects as `ingest` does if any could not be.
   */
  ingestBlocks(blocks: Array<{ messages: IncomingMessage[]; deduplicationToken: string }>, ctx: ValidationContext, options?: Omit<IngestOptions, 'deduplicationToken'>): Promise<BatchResult[]>;
}

export interface IngestOptions {
  /**
   * Attempts for a retriable storage error before the batch fails. A request answers its
   * client after a few; a Kafka worker, which must not move past a batch, tries until stopped.
   */
  storeAttempts?: number;
  /**
   * The identity of this batch's block, given by a source that can name what it holds (Kafka:
   * topic, partition and offset range). Without one, the block is named by its events' keys.
   * Characters outside [A-Za-z0-9_-] are dropped.
   */
  deduplicationToken?: string;
}

export interface PipelineOptions {
  store: Store;
  metrics: Metrics;
  log: Logger;
  signal?: AbortSignal;
  /** Told which accounts a batch stored events for, and from which source, once they are stored. */
  onStored?: (accountIds: string[], source: string) => void;
  /**
   * Awaited after a batch stored events, before the batch resolves: derived state that must be
   * read back with the write (void pairings) is brought up to date here by its owner. Ingest
   * itself writes only what arrives.
   */
  afterStore?: (accountIds: string[], source: string) => Promise<void>;
}

export function createIngestPipeline(options: PipelineOptions): IngestPipeline {
  const { store, metrics, log } = options;
  // Dedupe-then-insert must not interleave between two batches of this process, or both could
  // pass the lookup with the same new event. Decoding stays outside, so it overlaps with writes.
  let writeQueue: Promise<unknown> = Promise.resolve();

  function serialised<T>(step: () => Promise<T>): Promise<T> {
    // The queue only orders batches: the next one runs after this one whether it failed or not,
    // and this batch's own caller receives its failure.
    const run = writeQueue.then(step, step);
    writeQueue = run;
    return run;
  }

  /** A storage step, tried again while its failure is retriable (StorageError says). */
  const retrying = <T>(step: IngestStep, attempts: number, operation: () => Promise<T>) =>
    duringStep(step, () =>
      withRetry(operation, {
        attempts,
        baseMs: 100,
        maxMs: 10_000,
        signal: options.signal,
        onRetry: (err, attempt, delayMs) => {
          metrics.storeRetries.inc();
          log.warn({ event: 'store_retry', step, attempt, delayMs, err }, 'retrying storage write');
        },
      }),
    );

  /**
   * Blocks (token → body) whose every attempt failed. A resend of the same batch to this process
   * writes the identical block again instead of asking storage anew: after a write that landed in
   * some tables and not others, a new lookup would find the keys stored and leave the failed
   * rollup without them for good.
   */
  const unfinished = new Map<string, CandidateBlock>();

  /**
   * dedupe + store. The keys are looked up once; the block that lookup makes is then written
   * under one deduplication token and retried as the identical block, same body, same token,
   * until it succeeds. Storage keeps a deduplication window on `events_v1` and on every table its
   * views write (migration 025), and deduplicates the views' blocks with it, so a retry after an
   * insert whose acknowledgement was lost, or that failed in one view after the others committed,
   * writes only what is missing, and a second process sending the same block writes nothing.
   *
   * Several blocks go through one step: one lookup for all their keys, then their inserts side
   * by side, each block under its own token. An event that two of them hold is written by the
   * first and judged a copy of it in the other, as within one block.
   */
  async function storeEvents(blocks: DecodedBlock[], attempts: number): Promise<{ storedFor: Set<string>; conflicts: Array<Array<{ index: number; row: EventRow }>> }> {
    const tokens = blocks.map((b) => b.token ?? eventsToken(b.candidates.map((c) => c.line)));
    const toLookUp = blocks.filter((_, i) => !unfinished.has(tokens[i] as string));
    const lookUpKeys = toLookUp.flatMap((b) => b.candidates.map((c) => c.key));
    const lookUpAccounts = [...new Set(toLookUp.flatMap((b) => b.candidates.map((c) => c.row.account_id)))];
    const stored = lookUpKeys.length > 0 ? await retrying('store_events', attempts, () => lookupStoredKeys(store, lookUpKeys, lookUpAccounts)) : new Set<string>();
    /** Keys an earlier block of this step writes, with the row it writes. */
    const claimed = new Map<string, EventRow>();
    const written = blocks.map((block, i) => {
      let kept = unfinished.get(tokens[i] as string);
      if (!kept) {
        let body = '';
        const keys = new Set<string>();
        for (const candidate of block.candidates) {
          if (stored.has(candidate.key) || claimed.has(candidate.key)) continue;
          body += candidate.line + '\n';
          keys.add(candidate.key);
        }
        kept = { body, written: keys };
      }
      for (const candidate of block.candidates) if (kept.written.has(candidate.key) && !claimed.has(candidate.key)) claimed.set(candidate.key, candidate.row);
      return kept;
    });
    const inserts = await Promise.allSettled(
      written.map(async (kept, i) => {
        const token = tokens[i] as string;
        try {
          await retrying('store_events', attempts, () => store.insertJsonEachRow('events_v1', kept.body, { deduplicationToken: token }));
          unfinished.delete(token);
        } catch (err) {
          unfinished.delete(token);
          unfinished.set(token, kept);
          if (unfinished.size > UNFINISHED_BLOCKS) unfinished.delete(unfinished.keys().next().value as string);
          throw err;
        }
      }),
    );
    const failed = inserts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;

    const duplicateKeys: string[] = [];
    const duplicateAccounts = new Set<string>();
    blocks.forEach((block, i) => {
      for (const candidate of block.candidates) {
        if ((written[i] as CandidateBlock).written.has(candidate.key)) {
          block.outcomes[candidate.index] = { status: 'accepted', eventId: candidate.row.event_id };
        } else if (!claimed.has(candidate.key)) {
          duplicateKeys.push(candidate.key);
          duplicateAccounts.add(candidate.row.account_id);
        }
      }
    });
    // A copy is a redelivery when its content is that of the stored copy (or, for an event
    // stored now, of the copy written), and a conflicting payload when it is not: the first
    // stored copy stands, the other is reported.
    const contents = duplicateKeys.length > 0 ? await retrying('load_duplicates', attempts, () => storedContents(store, duplicateKeys, [...duplicateAccounts])) : new Map<string, string>();
    const storedFor = new Set<string>();
    const conflicts = blocks.map((block, i) => {
      const found: Array<{ index: number; row: EventRow }> = [];
      const judge = (copy: { index: number; row: EventRow }, reference: string | undefined) => {
        if (reference !== undefined && reference !== contentOf(copy.row)) {
          const rejection = conflict(copy.row);
          block.outcomes[copy.index] = { status: 'rejected', code: rejection.code, message: rejection.message, eventId: copy.row.event_id };
          found.push(copy);
        } else {
          block.outcomes[copy.index] = { status: 'duplicate', eventId: copy.row.event_id };
        }
      };
      const mine = (written[i] as CandidateBlock).written;
      for (const candidate of block.candidates) {
        if (mine.has(candidate.key)) storedFor.add(candidate.row.account_id);
        // Only copies are judged, so a reference is made only for an event that has one.
        if (mine.has(candidate.key) && candidate.followers.length === 0) continue;
        const first = claimed.get(candidate.key);
        const reference = first ? contentOf(first) : contents.get(candidate.key);
        if (!mine.has(candidate.key)) judge(candidate, reference);
        for (const follower of candidate.followers) judge(follower, reference);
      }
      return found;
    });
    return { storedFor, conflicts };
  }

  /** Rejections are an audit log named by their content: a retried or redelivered batch writes them once. */
  async function storeRejections(rows: RejectedRow[], attempts: number): Promise<void> {
    if (rows.length === 0) return;
    const { body, deduplicationToken } = rejectionsBlock(rows);
    await retrying('store_rejections', attempts, () => store.insertJsonEachRow('rejected_events_v1', body, { deduplicationToken }));
  }

  /** decode + validate + in-batch dedupe of one block, never throwing for bad input. */
  async function decodeBlock(messages: IncomingMessage[], ctx: ValidationContext, token: string | undefined): Promise<DecodedBlock> {
    const decode = createDecodeStep(ctx);
    const dedupeInBatch = createBatchDedupeStep();
    const block: DecodedBlock = { messages, token, outcomes: new Array(messages.length), candidates: [], rejectedRows: [] };
    for (let i = 0; i < messages.length; i++) {
      // A large batch decodes in slices, letting the process answer requests in between.
      if (i > 0 && i % DECODE_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      const message = messages[i] as IncomingMessage;
      const decoded = decode(message);
      if (decoded.kind !== 'ok') {
        if (decoded.kind === 'dlq') {
          block.outcomes[i] = { status: 'rejected', code: decoded.code, message: decoded.message, eventId: decoded.eventId };
          block.rejectedRows.push(rejectedRow(message, ctx, decoded));
        }
        continue;
      }
      const deduped = dedupeInBatch(i, decoded.value);
      // A later copy's outcome is decided with its first copy's, once storage is asked.
      if (deduped.kind === 'ok') block.candidates.push(deduped.value);
    }
    return block;
  }

  async function ingestBlocks(given: Array<{ messages: IncomingMessage[]; deduplicationToken?: string }>, ctx: ValidationContext, ingestOptions?: Omit<IngestOptions, 'deduplicationToken'>): Promise<BatchResult[]> {
    const attempts = ingestOptions?.storeAttempts ?? 5;
    // The blocks take their place in the write queue now, so batches store in the order they
    // came, and decode while the batch ahead of them stores.
    const decoding = (async () => {
      const decoded: DecodedBlock[] = [];
      for (const b of given) decoded.push(await decodeBlock(b.messages, ctx, b.deduplicationToken));
      return decoded;
    })();
    // Awaited by the write step, which may start later: a failure is its caller's, not unhandled.
    decoding.catch(() => undefined);
    const stored = serialised(async () => {
      // Nothing of a batch that could not be decoded whole is stored; its caller gets the error.
      const blocks = await decoding;
      const started = performance.now();
      const withEvents = blocks.filter((b) => b.candidates.length > 0);
      // Events first: if the rejections then fail, a retry of the batch finds the events
      // stored and reports them as duplicates, so nothing is counted twice.
      const { storedFor, conflicts } = withEvents.length ? await storeEvents(withEvents, attempts) : { storedFor: new Set<string>(), conflicts: [] };
      withEvents.forEach((block, i) => {
        for (const copy of conflicts[i] ?? []) block.rejectedRows.push(rejectedRow(block.messages[copy.index] as IncomingMessage, ctx, { kind: 'dlq', ...conflict(copy.row) }));
      });
      // Each block's rejections under their own token: a redelivery names them again.
      await Promise.all(blocks.map((b) => storeRejections(b.rejectedRows, attempts)));
      if (storedFor.size > 0) options.onStored?.([...storedFor], ctx.source);
      // Also after a batch of duplicates: a redelivery after a crash between the insert and
      // this step brings the derived state up to date.
      const afterStore = options.afterStore;
      const touched = [...new Set(withEvents.flatMap((b) => b.candidates.map((c) => c.row.account_id)))];
      if (afterStore && touched.length > 0) await duringStep('after_store', () => afterStore(touched, ctx.source));
      for (const b of blocks) metrics.batchSize.observe(b.messages.length);
      metrics.flushSeconds.observe((performance.now() - started) / 1000);
      return blocks;
    });
    const blocks = await stored;
    return blocks.map((block) => {
      let accepted = 0;
      let duplicates = 0;
      for (const outcome of block.outcomes) {
        if (outcome.status === 'accepted') accepted++;
        else if (outcome.status === 'duplicate') duplicates++;
      }
      const rejected = block.rejectedRows.length;
      metrics.events.inc({ outcome: 'accepted', source: ctx.source }, accepted);
      metrics.events.inc({ outcome: 'duplicate', source: ctx.source }, duplicates);
      metrics.events.inc({ outcome: 'rejected', source: ctx.source }, rejected);
      return { outcomes: block.outcomes, accepted, duplicates, rejected };
    });
  }

  return {
    async ingest(messages, ctx, ingestOptions) {
      const [result] = await ingestBlocks([{ messages, deduplicationToken: ingestOptions?.deduplicationToken }], ctx, ingestOptions);
      return result as BatchResult;
    },
    ingestBlocks,
  };
}
