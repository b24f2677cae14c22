import type { Store } from '../core/clickhouse.js';
import { isRetriableStorageError } from '../core/clickhouse.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import { withRetry } from '../core/retry.js';
import { decodeEvent, type RejectionCode, type ValidationContext } from './contract.js';
import { eventKey, lookupKeys } from './dedupe.js';
import { pairVoidedUsage } from './voids.js';

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
   * is written; only then may the source acknowledge the batch.
   */
  ingest(messages: IncomingMessage[], ctx: ValidationContext, options?: IngestOptions): Promise<BatchResult>;
}

export interface IngestOptions {
  /**
   * Attempts for a retriable storage error before the batch fails. A request answers its
   * client after a few; a Kafka worker, which must not move past a batch, tries until stopped.
   */
  storeAttempts?: number;
}

export interface PipelineOptions {
  store: Store;
  metrics: Metrics;
  log: Logger;
  signal?: AbortSignal;
  /** Told which accounts a batch stored events for, and from which source, once they are stored. */
  onStored?: (accountIds: string[], source: string) => void;
}

interface RejectedRow {
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

export function createIngestPipeline(options: PipelineOptions): IngestPipeline {
  const { store, metrics, log } = options;
  // Dedupe-then-insert must not interleave between two batches of this process, or both could
  // pass the lookup with the same new event. Decoding stays outside, so it overlaps with writes.
  let writeQueue: Promise<unknown> = Promise.resolve();

  function serialised<T>(step: () => Promise<T>): Promise<T> {
    const run = writeQueue.then(step, step);
    writeQueue = run.catch(() => undefined);
    return run;
  }

  const retrying = <T>(label: string, attempts: number, operation: () => Promise<T>) =>
    withRetry(operation, {
      attempts,
      baseMs: 100,
      maxMs: 10_000,
      isRetriable: isRetriableStorageError,
      signal: options.signal,
      onRetry: (err, attempt, delayMs) => {
        metrics.storeRetries.inc();
        log.warn({ event: 'store_retry', step: label, attempt, delayMs, err }, 'retrying storage write');
      },
    });

  return {
    async ingest(messages, ctx, ingestOptions) {
      const attempts = ingestOptions?.storeAttempts ?? 5;
      const outcomes: MessageOutcome[] = new Array(messages.length);
      const candidates: Array<{ index: number; key: string; line: string }> = [];
      const accounts = new Set<string>();
      // Usage keys and void targets of this batch, stored or not: their void pairings are checked.
      const voidCheck = new Map<string, [string, string]>();
      let hasVoid = false;
      const rejectedRows: RejectedRow[] = [];
      const seenInBatch = new Set<string>();

      for (let i = 0; i < messages.length; i++) {
        const message = messages[i] as IncomingMessage;
        const result = decodeEvent(message.text, ctx);
        if (!result.ok) {
          outcomes[i] = { status: 'rejected', code: result.code, message: result.message, eventId: result.event_id };
          rejectedRows.push({
            source: ctx.source,
            account_id: result.account_id ?? ctx.accountScope ?? '',
            event_id: result.event_id ?? '',
            code: result.code,
            message: result.message,
            payload: message.text,
            kafka_topic: message.kafka?.topic ?? '',
            kafka_partition: message.kafka?.partition ?? -1,
            kafka_offset: message.kafka?.offset ?? '-1',
          });
          continue;
        }
        const key = eventKey(result.row.account_id, result.row.event_id);
        if (seenInBatch.has(key)) {
          outcomes[i] = { status: 'duplicate', eventId: result.row.event_id };
          continue;
        }
        seenInBatch.add(key);
        if (result.row.type === 'usage') voidCheck.set(key, [result.row.account_id, result.row.event_id]);
        else if (result.row.type === 'void') {
          hasVoid = true;
          const target: [string, string] = [result.row.account_id, result.row.voids_event_id ?? ''];
          voidCheck.set(eventKey(...target), target);
        }
        outcomes[i] = { status: 'accepted', eventId: result.row.event_id };
        accounts.add(result.row.account_id);
        candidates.push({ index: i, key, line: JSON.stringify(result.row) });
      }

      await serialised(async () => {
        const started = performance.now();
        const lookup = candidates.length
          ? await retrying('dedupe', attempts, () => lookupKeys(store, candidates.map((c) => c.key), [...accounts]))
          : { stored: new Set<string>(), voided: new Set<string>() };
        const stored = lookup.stored;
        let body = '';
        for (const candidate of candidates) {
          if (stored.has(candidate.key)) {
            const outcome = outcomes[candidate.index] as { eventId: string };
            outcomes[candidate.index] = { status: 'duplicate', eventId: outcome.eventId };
          } else {
            body += candidate.line + '\n';
          }
        }
        // Events first: if the rejections then fail, a retry finds the events stored and
        // reports them as duplicates, so nothing is counted twice.
        await retrying('insert_events', attempts, () => store.insertJsonEachRow('events_v1', body));
        if (hasVoid || lookup.voided.size > 0) {
          await retrying('pair_voids', attempts, () => pairVoidedUsage(store, [...voidCheck.values()]));
        }
        if (rejectedRows.length) {
          const rejectedBody = rejectedRows.map((r) => JSON.stringify(r)).join('\n') + '\n';
          await retrying('insert_rejected', attempts, () => store.insertJsonEachRow('rejected_events_v1', rejectedBody));
        }
        if (body.length > 0) options.onStored?.([...accounts], ctx.source);
        metrics.batchSize.observe(messages.length);
        metrics.flushSeconds.observe((performance.now() - started) / 1000);
      });

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
