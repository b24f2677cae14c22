import type { ErrorRequestHandler, Response } from 'express';
import { isRetriableStorageError } from '../core/clickhouse.js';
import type { Logger } from '../core/log.js';

export type HttpStatus = 400 | 401 | 403 | 404 | 413 | 415 | 422 | 429 | 500 | 503;

/** An error meant for the client: its code and message are the answer, never a stack trace. */
export class ApiError extends Error {
  constructor(
    readonly status: HttpStatus,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The one answer for a wallet the key's account never named, and for another account's. */
export function walletNotFound(type: string, id: string): ApiError {
  return new ApiError(404, 'wallet_not_found', `no ${type} wallet "${id}" in this account`);
}

/** Seconds a client waits before retrying a request that storage could not take. */
export const STORAGE_RETRY_AFTER_SECONDS = 5;

/**
 * Storage is down or did not confirm in time. Retrying is safe: events that did land answer as
 * duplicates, so nothing is counted twice.
 */
export function storageUnavailable(): ApiError {
  return new ApiError(503, 'storage_unavailable', 'storage did not confirm the write; retry later, events already stored count as duplicates');
}

export function sendError(res: Response, err: ApiError): void {
  if (err.status === 503) res.set('Retry-After', String(STORAGE_RETRY_AFTER_SECONDS));
  const body: { error: { code: string; message: string; details?: unknown } } = {
    error: { code: err.code, message: err.message },
  };
  if (err.details !== undefined) body.error.details = err.details;
  res.status(err.status).json(body);
}

/** Express's last handler: known errors answer as themselves; anything else is a logged 500. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof ApiError) return sendError(res, err);
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') {
      const limit = (err as { limit?: number }).limit;
      return sendError(res, new ApiError(413, 'payload_too_large', `request body exceeds ${limit} bytes`, { limit_bytes: limit }));
    }
    if (type === 'entity.parse.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported') {
      return sendError(res, new ApiError(400, 'invalid_body', (err as Error).message));
    }
    if (type === 'request.aborted') return;
    if (isRetriableStorageError(err)) {
      log.warn({ event: 'http_storage_unavailable', err, method: req.method, path: req.path }, 'storage unavailable');
      return sendError(res, storageUnavailable());
    }
    log.error({ event: 'http_unhandled_error', err, method: req.method, path: req.path }, 'request failed');
    sendError(res, new ApiError(500, 'internal_error', 'the server could not complete the request'));
  };
}
