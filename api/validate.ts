import type { NextFunction, Request, Response } from 'express';
import type { z } from 'zod';
import { ApiError } from './errors.js';

/** Validates the query string against the route's schema: unknown or malformed parameters are a 400 naming them. */
export function validateQuery(schema: z.ZodObject) {
  return function validateQueryParameters(req: Request, _res: Response, next: NextFunction) {
    const query = req.query as Record<string, unknown>;
    for (const [name, value] of Object.entries(query)) {
      if (typeof value !== 'string') {
        return next(new ApiError(400, 'invalid_parameter', `${name} must be given once, as a plain value`, { parameter: name }));
      }
    }
    const result = schema.safeParse(query);
    if (result.success) return next();
    const issue = result.error.issues[0];
    const unknownKey = issue?.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys[0] : undefined;
    const parameter = unknownKey ?? String(issue?.path[0] ?? '');
    const message = unknownKey ? `unknown parameter ${unknownKey}` : `${parameter}: ${issue?.message ?? 'invalid'}`;
    next(new ApiError(400, 'invalid_parameter', message, { parameter }));
  };
}

/** The media types an events body may be sent as; fetch's default text/plain is JSON sniffed from its text. */
const EVENT_MEDIA_TYPES = new Set([
  'application/json',
  'application/x-ndjson',
  'application/ndjson',
  'application/jsonl',
  'application/x-jsonl',
  'application/jsonlines',
  'application/x-jsonlines',
  'text/plain',
]);

/**
 * Refuses an events body declared as anything but JSON, NDJSON or plain text, or in a charset
 * other than UTF-8, with 415: XML, forms and multipart bodies are not read line by line as events.
 */
export function requireEventsMediaType(req: Request, _res: Response, next: NextFunction) {
  const header = req.headers['content-type'];
  if (header === undefined || header.trim() === '') return next();
  const [type = '', ...parameters] = header.split(';').map((part) => part.trim().toLowerCase());
  const charset = parameters.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (!EVENT_MEDIA_TYPES.has(type) || (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')) {
    return next(new ApiError(415, 'unsupported_media_type', 'send events as application/json or application/x-ndjson, in UTF-8', { content_type: header.slice(0, 100) }));
  }
  next();
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A request body as text, refusing bytes that are not UTF-8: decoding them leniently would store
 * U+FFFD in place of what the client sent, silently changing ids and names.
 */
export function utf8Body(body: Buffer): string {
  try {
    return strictUtf8.decode(body);
  } catch {
    throw new ApiError(400, 'invalid_body', 'the body is not valid UTF-8');
  }
}
