import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './errors.js';

const ALLOWED_METHODS = 'GET, HEAD, POST';
const ALLOWED_HEADERS = 'Authorization, Content-Type, If-None-Match';
const EXPOSED_HEADERS = 'ETag, Retry-After';
/** Browsers cache an allowed preflight this long (seconds), so polling pages do not repeat it. */
const PREFLIGHT_MAX_AGE = 600;

/**
 * Cross-origin access for the listed origins only (`BALANCES_CORS_ORIGINS`). With none listed,
 * no response carries a CORS header, so browsers keep other sites' pages from reading answers.
 * A preflight from a listed origin answers 204 with what it may send; from any other, 403.
 * Keys travel in the Authorization header, never in cookies, so credentials are not allowed.
 */
export function createCors(origins: readonly string[]) {
  const allowed = new Set(origins);
  return function cors(req: Request, res: Response, next: NextFunction) {
    if (allowed.size === 0) return next();
    res.vary('Origin');
    const origin = req.headers.origin;
    const isAllowed = origin !== undefined && allowed.has(origin);
    const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    if (preflight) {
      res.vary('Access-Control-Request-Method').vary('Access-Control-Request-Headers');
      if (!isAllowed) return next(new ApiError(403, 'origin_not_allowed', 'this origin may not call the API from a browser'));
      res
        .set('Access-Control-Allow-Origin', origin)
        .set('Access-Control-Allow-Methods', ALLOWED_METHODS)
        .set('Access-Control-Allow-Headers', ALLOWED_HEADERS)
        .set('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE))
        .status(204)
        .end();
      return;
    }
    if (isAllowed) res.set('Access-Control-Allow-Origin', origin).set('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    next();
  };
}
