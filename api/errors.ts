import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorRequestHandler, Response } from 'express';
import { isRetriable, StageError } from '../core/errors.js';
import type { Logger } from '../core/log.js';

export type HttpStatus = 400 | 401 | 403 | 404 | 413 | 415 | 422 | 429 | 500 | 503;

/**
 * The api stage's error, meant for the client: its code and message are the answer, never a
 * stack trace. Retriable when the same request may pass later: storage that did not answer (503,
 * with Retry-After) or a rate limit (429). The cause, when there is one, is for the log.
 */
export class ApiError extends StageError {
  override readonly name: string = 'ApiError';

  constructor(
    readonly status: HttpStatus,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    options: { cause?: unknown } = {},
  ) {
    super(message, { retriable: status === 503 || status === 429, cause: options.cause });
  }
}

/** The answer for a request no route takes. */
export function noRoute(method: string, path: string): ApiError {
  return new ApiError(404, 'not_found', `no route for ${method} ${path}`);
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
export function storageUnavailable(cause?: unknown): ApiError {
  return new ApiError(503, 'storage_unavailable', 'storage did not confirm the write; retry later, events already stored count as duplicates', undefined, { cause });
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
    // Errors Express and its body parsers raise for a malformed request (a path that is not
    // valid percent-encoded UTF-8, a body that does not inflate) are the client's, not a fault.
    const status = (err as { status?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      if (err instanceof URIError) return sendError(res, new ApiError(400, 'invalid_path', 'the path is not valid percent-encoded UTF-8'));
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && /^Z_|^ERR__/.test(code)) {
        return sendError(res, new ApiError(400, 'invalid_body', 'the body could not be decompressed as its Content-Encoding says'));
      }
      const known = status === 413 || status === 415 ? status : 400;
      return sendError(res, new ApiError(known, 'invalid_request', (err as { expose?: boolean }).expose ? (err as Error).message : 'the request is malformed'));
    }
    // Past the client's own mistakes, what may pass if tried again is storage that did not
    // answer (a StorageError, or an IngestError over one): the client is told to retry.
    if (isRetriable(err)) {
      log.warn({ event: 'http_storage_unavailable', err, method: req.method, path: req.path }, 'storage unavailable');
      return sendError(res, storageUnavailable(err));
    }
    log.error({ event: 'http_unhandled_error', err, method: req.method, path: req.path }, 'request failed');
    sendError(res, new ApiError(500, 'internal_error', 'the server could not complete the request'));
  };
}

/** How many of a connection's latest packets a refusal looks through for the request line. */
const LATEST_PACKETS = 4;

/**
 * Requests Node's HTTP parser refuses before Express sees them (headers above the size limit,
 * a malformed request line) get the same error object as every other 4xx, instead of an empty
 * answer.
 */
export function answerClientErrors(server: Server): void {
  // The method of the request a refusal answers decides whether the answer has a body. It is
  // the last request line among the connection's latest packets: on a connection kept alive,
  // the packet holding a request line may begin with the end of the last request's body (when
  // that request was answered before its body was read), and the packet that overflows may be a
  // later one. Failing that, the method a packet of the connection last started with.
  const lastMethod = new WeakMap<Duplex, string>();
  const latest = new WeakMap<Duplex, Buffer[]>();
  const requestLine = (chunk: Buffer | undefined): string | undefined =>
    chunk === undefined ? undefined : /^(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS|TRACE|CONNECT) /.exec(chunk.subarray(0, 12).toString('latin1'))?.[1];
  const lastRequestLine = (packets: Buffer[]): string | undefined => {
    let method: string | undefined;
    for (const match of Buffer.concat(packets).toString('latin1').matchAll(/(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS|TRACE|CONNECT) [^\s]* HTTP\/1\.[01]\r?\n/g)) method = match[1];
    return method;
  };
  server.on('connection', (socket: Duplex) => {
    socket.prependListener('data', (chunk: Buffer) => {
      const method = requestLine(chunk);
      if (method !== undefined) lastMethod.set(socket, method);
      // References only: the last few packets, found again on the rare refusal.
      const packets = latest.get(socket);
      if (packets === undefined) latest.set(socket, [chunk]);
      else {
        if (packets.length === LATEST_PACKETS) packets.shift();
        packets.push(chunk);
      }
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'the request headers are larger than the server accepts']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'request_timeout', 'the request did not arrive in time']
          : [400, 'malformed_request', 'the request is not valid HTTP/1.1'];
    const body = JSON.stringify({ error: { code, message } });
    // An answer to HEAD has no body; neither has one whose method never arrived.
    const rawPacket = (err as { rawPacket?: Buffer }).rawPacket;
    const packets = [...(latest.get(socket) ?? [])];
    if (rawPacket !== undefined && packets.at(-1) !== rawPacket) packets.push(rawPacket);
    const method = lastRequestLine(packets) ?? requestLine(rawPacket) ?? lastMethod.get(socket);
    const withBody = method !== undefined && method !== 'HEAD';
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${withBody ? Buffer.byteLength(body) : 0}\r\nConnection: close\r\n\r\n${withBody ? body : ''}`,
    );
  });
}
