import { createHash } from 'node:crypto';
import type { Store } from '../core/clickhouse.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import { withRetry } from '../core/retry.js';
import { contentOf, decodeEvent, type EventRow, type RejectionCode, type ValidationContext } from './contract.js';
import { eventKey, lookupStoredKeys, storedContents } from './dedupe.js';
import { duringStep, type IngestStep } from './errors.js';

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

/**
 * What a step decided about one message, in the manner of a tagged result: carry on with a
 * value, drop it with a reason (it is a duplicate), or send it to the dead letters with the code
 * and message that the rejected-events table and the DLQ keep.
 */
export type StepResult<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'drop'; reason: 'duplicate_in_batch' | 'already_stored' }
  | { kind: 'dlq'; code: RejectionCode; message: string; accountId?: string; eventId?: string };

/** One row of `rejected_events_v1`: what was refused, why, and the raw payload. */
export interface RejectedRow {
  source: string;
  account_id: string;
  event_id: string;
  code: string;
  message: string;
  payload: string;
  kafka_topic: string;
  kafka_partition: number;
  kafka_offset: string;
}

/** An event that passed validation and the in-batch dedupe: it is stored unless already stored. */
interface Candidate {
  index: number;
  key: string;
  row: EventRow;
  line: string;
  /** Later copies of the same event in this batch. */
  followers: Array<{ index: number; row: EventRow }>;
}

/** decode + validate: the event contract, never throwing for bad input. */
function createDecodeStep(ctx: ValidationContext) {
  return function decode(message: IncomingMessage): StepResult<EventRow> {
    const result = decodeEvent(message.text, ctx);
    if (result.ok) return { kind: 'ok', value: result.row };
    return { kind: 'dlq', code: result.code, message: result.message, accountId: result.account_id, eventId: result.event_id };
  };
}

/**
 * Copies of one (account, event_id) within a batch are grouped: the first is the candidate to
 * store, the others follow it. Whether a copy is a duplicate or a conflict is known only once
 * the stored copy, if any, is known (`createStoreStep`).
 */
function createBatchDedupeStep() {
  const byKey = new Map<string, Candidate>();
  return function dedupeInBatch(index: number, row: EventRow): StepResult<Candidate> {
    const key = eventKey(row.account_id, row.event_id);
    const first = byKey.get(key);
    if (first) {
      first.followers.push({ index, row });
      return { kind: 'drop', reason: 'duplicate_in_batch' };
    }
    const candidate: Candidate = { index, key, row, line: JSON.stringify(row), followers: [] };
    byKey.set(key, candidate);
    return { kind: 'ok', value: candidate };
  };
}

function conflict(row: EventRow) {
  return {
    code: 'conflicting_duplicate' as const,
    message: `event_id "${row.event_id}" was stored before with a different payload; the first stored copy stands`,
    accountId: row.account_id,
    eventId: row.event_id,
  };
}

function rejectedRow(message: IncomingMessage, ctx: ValidationContext, rejection: Extract<StepResult<unknown>, { kind: 'dlq' }>): RejectedRow {
  return {
    source: ctx.source,
    account_id: rejection.accountId ?? ctx.accountScope ?? '',
    event_id: rejection.eventId ?? '',
    code: rejection.code,
    message: rejection.message,
    payload: message.text,
    kafka_topic: message.kafka?.topic ?? '',
    kafka_partition: message.kafka?.partition ?? -1,
    kafka_offset: message.kafka?.offset ?? '-1',
  };
}

/** Messages decoded between two turns of the event loop. */
const DECODE_SLICE = 1_000;

/** Blocks whose write failed for good, kept for the resend of the same batch (see below). */
const UNFINISHED_BLOCKS = 64;

const digest = (parts: Iterable<string>) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\n');
  return hash.digest('hex').slice(0, 32);
};

/** A block named by the events a batch brought, as validated and in their order: a resend names it again. */
function eventsToken(lines: Iterable<string>): string {
  return `e-${digest(lines)}`;
}

/** Rejections named by what they hold (payload, reason, Kafka coordinates): a redelivery names them again. */
function rejectionsToken(rows: RejectedRow[]): string {
  return `r-${digest(rows.map((r) => JSON.stringify([r.source, r.account_id, r.event_id, r.code, r.payload, r.kafka_topic, r.kafka_partition, r.kafka_offset])))}`;
}

/** `rejected_events_v1` rows as one block under their token, for every writer of rejections. */
export function rejectionsBlock(rows: RejectedRow[]): { body: string; deduplicationToken: string } {
  return { body: rows.map((r) => JSON.stringify(r)).join('\n') + '\n', deduplicationToken: rejectionsToken(rows) };
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
  const unfinished = new Map<string, { body: string; written: Set<string> }>();

  /**
   * dedupe + store. The keys are looked up once; the block that lookup makes is then written
   * under one deduplication token and retried as the identical block, same body, same token,
   * until it succeeds. Storage keeps a deduplication window on `events_v1` and on every table its
   * views write (migration 025), and deduplicates the views' blocks with it, so a retry after an
   * insert whose acknowledgement was lost, or that failed in one view after the others committed,
   * writes only what is missing, and a second process sending the same block writes nothing.
   */
  function createStoreStep(attempts: number, givenToken: string | undefined) {
    return async function storeEvents(candidates: Candidate[], outcomes: MessageOutcome[]): Promise<{ storedFor: Set<string>; conflicts: Array<{ index: number; row: EventRow }> }> {
      const accounts = [...new Set(candidates.map((c) => c.row.account_id))];
      const token = givenToken ?? eventsToken(candidates.map((c) => c.line));
      let block = unfinished.get(token);
      if (!block) {
        const stored = await retrying('store_events', attempts, () => lookupStoredKeys(store, candidates.map((c) => c.key), accounts));
        let body = '';
        const written = new Set<string>();
        for (const candidate of candidates) {
          if (stored.has(candidate.key)) continue;
          body += candidate.line + '\n';
          written.add(candidate.key);
        }
        block = { body, written };
      }
      const { body, written } = block;
      try {
        await retrying('store_events', attempts, () => store.insertJsonEachRow('events_v1', body, { deduplicationToken: token }));
        unfinished.delete(token);
      } catch (err) {
        unfinished.delete(token);
        unfinished.set(token, block);
        if (unfinished.size > UNFINISHED_BLOCKS) unfinished.delete(unfinished.keys().next().value as string);
        throw err;
      }
      const duplicates: Candidate[] = [];
      for (const candidate of candidates) {
        if (written.has(candidate.key)) outcomes[candidate.index] = { status: 'accepted', eventId: candidate.row.event_id };
        else duplicates.push(candidate);
      }
      // A copy is a redelivery when its content is that of the stored copy (or, for an event
      // stored now, of the batch's first copy), and a conflicting payload when it is not: the
      // first stored copy stands, the other is reported.
      const contents = duplicates.length > 0 ? await retrying('load_duplicates', attempts, () => storedContents(store, duplicates.map((c) => c.key), accounts)) : new Map<string, string>();
      const conflicts: Array<{ index: number; row: EventRow }> = [];
      const judge = (copy: { index: number; row: EventRow }, reference: string | undefined) => {
        if (reference !== undefined && reference !== contentOf(copy.row)) {
          const rejection = conflict(copy.row);
          outcomes[copy.index] = { status: 'rejected', code: rejection.code, message: rejection.message, eventId: copy.row.event_id };
          conflicts.push(copy);
        } else {
          outcomes[copy.index] = { status: 'duplicate', eventId: copy.row.event_id };
        }
      };
      for (const candidate of candidates) {
        const reference = written.has(candidate.key) ? contentOf(candidate.row) : contents.get(candidate.key);
        if (!written.has(candidate.key)) judge(candidate, reference);
        for (const follower of candidate.followers) judge(follower, reference);
      }
      return { storedFor: new Set(candidates.filter((c) => written.has(c.key)).map((c) => c.row.account_id)), conflicts };
    };
  }

  /** Rejections are an audit log named by their content: a retried or redelivered batch writes them once. */
  function createRejectStep(attempts: number) {
    return async function storeRejections(rows: RejectedRow[]): Promise<void> {
      if (rows.length === 0) return;
      const { body, deduplicationToken } = rejectionsBlock(rows);
      await retrying('store_rejections', attempts, () => store.insertJsonEachRow('rejected_events_v1', body, { deduplicationToken }));
    };
  }

  return {
    async ingest(messages, ctx, ingestOptions) {
      const attempts = ingestOptions?.storeAttempts ?? 5;
      const decode = createDecodeStep(ctx);
      const dedupeInBatch = createBatchDedupeStep();
      const outcomes: MessageOutcome[] = new Array(messages.length);
      const candidates: Candidate[] = [];
      const rejectedRows: RejectedRow[] = [];

      // The batch takes its place in the write queue now, so batches store in the order they
      // came, and decodes while the batch ahead of it stores.
      let decodedAll: () => void = () => undefined;
      const decoding = new Promise<void>((resolve) => (decodedAll = resolve));
      const storeEvents = createStoreStep(attempts, ingestOptions?.deduplicationToken);
      const storeRejections = createRejectStep(attempts);
      let decodeFailed = false;
      const stored = serialised(async () => {
        await decoding;
        // Nothing of a batch that could not be decoded whole is stored; its caller gets the error.
        if (decodeFailed) return;
        const started = performance.now();
        // Events first: if the rejections then fail, a retry of the batch finds the events
        // stored and reports them as duplicates, so nothing is counted twice.
        const { storedFor, conflicts } = candidates.length ? await storeEvents(candidates, outcomes) : { storedFor: new Set<string>(), conflicts: [] };
        for (const copy of conflicts) rejectedRows.push(rejectedRow(messages[copy.index] as IncomingMessage, ctx, { kind: 'dlq', ...conflict(copy.row) }));
        await storeRejections(rejectedRows);
        if (storedFor.size > 0) options.onStored?.([...storedFor], ctx.source);
        // Also after a batch of duplicates: a redelivery after a crash between the insert and
        // this step brings the derived state up to date.
        const afterStore = options.afterStore;
        if (afterStore && candidates.length > 0) await duringStep('after_store', () => afterStore([...new Set(candidates.map((c) => c.row.account_id))], ctx.source));
        metrics.batchSize.observe(messages.length);
        metrics.flushSeconds.observe((performance.now() - started) / 1000);
      });

      try {
        for (let i = 0; i < messages.length; i++) {
          // A large batch decodes in slices, letting the process answer requests in between.
          if (i > 0 && i % DECODE_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
          decodeOne(i);
        }
      } catch (err) {
        decodeFailed = true;
        throw err;
      } finally {
        decodedAll();
      }
      await stored;

      function decodeOne(i: number): void {
        const message = messages[i] as IncomingMessage;
        const decoded = decode(message);
        if (decoded.kind !== 'ok') {
          if (decoded.kind === 'dlq') {
            outcomes[i] = { status: 'rejected', code: decoded.code, message: decoded.message, eventId: decoded.eventId };
            rejectedRows.push(rejectedRow(message, ctx, decoded));
          }
          return;
        }
        const row = decoded.value;
        const deduped = dedupeInBatch(i, row);
        // A later copy's outcome is decided with its first copy's, once storage is asked.
        if (deduped.kind === 'ok') candidates.push(deduped.value);
      }

      let accepted = 0;
      let duplicates = 0;
      for (const outcome of outcomes) {
        if (outcome.status === 'accepted') accepted++;
        else if (outcome.status === 'duplicate') duplicates++;
      }
      const rejected = rejectedRows.length;
      metrics.events.inc({ outcome: 'accepted', source: ctx.source }, accepted);
      metrics.events.inc({ outcome: 'duplicate', source: ctx.source }, duplicates);
      metrics.events.inc({ outcome: 'rejected', source: ctx.source }, rejected);
      return { outcomes, accepted, duplicates, rejected };
    },
  };
}
