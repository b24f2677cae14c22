import express from 'express';
import { Routes } from '../readPath.js';
import type { IncomingMessage, IngestPipeline } from '../../ingest/pipeline.js';
import { requireRole } from '../auth.js';
import { requireEventsMediaType, utf8Body } from '../validate.js';
import { ApiError, storageUnavailable } from '../errors.js';
import { deliveredLater } from '../../core/promises.js';
import { arrayElementTexts } from '../../core/jsonText.js';

/**
 * The raw texts of the events in a request body: a JSON array, a single object, or NDJSON. Each
 * event is decoded later from its own text, exactly as a Kafka message or an NDJSON line is.
 */
export function eventTexts(body: string, contentType: string | undefined): string[] {
  const trimmed = body.trim();
  if (trimmed === '') throw new ApiError(400, 'invalid_body', 'the request body is empty');
  const isNdjson = /ndjson|jsonlines|x-jsonl/i.test(contentType ?? '');
  if (!isNdjson && (trimmed.startsWith('[') || /application\/json/i.test(contentType ?? ''))) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (err) {
      throw new ApiError(400, 'invalid_body', `the body is not valid JSON: ${(err as Error).message}`);
    }
    if (Array.isArray(parsed)) return arrayElementTexts(trimmed);
    if (typeof parsed === 'object' && parsed !== null) return [trimmed];
    throw new ApiError(400, 'invalid_body', 'the body must be a JSON array of events or NDJSON');
  }
  return trimmed.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}

/**
 * A store that stalls must not hold the client: past the deadline the request answers 503 with
 * Retry-After. The write may still land; the client's retry then finds those events stored.
 */
function beforeDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(storageUnavailable()), ms);
  });
  deliveredLater(work);
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

export function eventsRouter(pipeline: IngestPipeline, bodyLimitBytes: number, storeDeadlineMs = 10_000): Routes {
  const router = new Routes();
  router.post(
    '/v1/events',
    requireRole('admin', 'ingest'),
    requireEventsMediaType,
    express.raw({ type: () => true, limit: bodyLimitBytes }),
    async (req, res) => {
      // Bytes that are not UTF-8 are refused, never stored as U+FFFD in place of what was sent.
      const body = Buffer.isBuffer(req.body) ? utf8Body(req.body) : '';
      const messages: IncomingMessage[] = eventTexts(body, req.headers['content-type']).map((text) => ({ text }));
      const result = await beforeDeadline(pipeline.ingest(messages, { source: 'http', accountScope: req.principal?.accountId }), storeDeadlineMs);
      const rejected = [];
      for (let index = 0; index < result.outcomes.length; index++) {
        const outcome = result.outcomes[index];
        if (outcome?.status === 'rejected') {
          rejected.push({ index, ...(outcome.eventId ? { event_id: outcome.eventId } : {}), code: outcome.code, message: outcome.message });
        }
      }
      res.json({ accepted: result.accepted, duplicates: result.duplicates, rejected });
    },
  );
  return router;
}
