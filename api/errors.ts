import type { ErrorRequestHandler, Response } from 'express';
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

export function sendError(res: Response, err: ApiError): void {
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
    log.error({ event: 'http_unhandled_error', err, method: req.method, path: req.path }, 'request failed');
    sendError(res, new ApiError(500, 'internal_error', 'the server could not complete the request'));
  };
}
