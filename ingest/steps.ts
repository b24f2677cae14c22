import { createHash } from 'node:crypto';
import { decodeEvent, type EventRow, type RejectionCode, type ValidationContext } from './contract.js';
import { eventKey } from './dedupe.js';
import type { IncomingMessage, MessageOutcome } from './pipeline.js';

/**
 * The pipeline's steps for one message and one block, and the names of what it writes: decode
 * and validate, group copies of one event within a batch, the rows of a refusal, and the
 * deduplication tokens of events and rejections. None of them touches storage.
 */

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
export interface Candidate {
  index: number;
  key: string;
  row: EventRow;
  line: string;
  /** Later copies of the same event in this batch. */
  followers: Array<{ index: number; row: EventRow }>;
}

/** A block as its keys' lookup left it: its body, and the keys it writes. */
export interface CandidateBlock {
  body: string;
  written: Set<string>;
}

/** One block of a batch, decoded: what to store, what was refused, and each message's outcome so far. */
export interface DecodedBlock {
  messages: IncomingMessage[];
  token: string | undefined;
  outcomes: MessageOutcome[];
  candidates: Candidate[];
  rejectedRows: RejectedRow[];
}

/** decode + validate: the event contract, never throwing for bad input. */
export function createDecodeStep(ctx: ValidationContext) {
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
export function createBatchDedupeStep() {
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

export function conflict(row: EventRow) {
  return {
    code: 'conflicting_duplicate' as const,
    message: `event_id "${row.event_id}" was stored before with a different payload; the first stored copy stands`,
    accountId: row.account_id,
    eventId: row.event_id,
  };
}

export function rejectedRow(message: IncomingMessage, ctx: ValidationContext, rejection: Extract<StepResult<unknown>, { kind: 'dlq' }>): RejectedRow {
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

const digest = (parts: Iterable<string>) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\n');
  return hash.digest('hex').slice(0, 32);
};

/** A block named by the events a batch brought, as validated and in their order: a resend names it again. */
export function eventsToken(lines: Iterable<string>): string {
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

