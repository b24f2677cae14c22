import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { ApiKey, Role } from '../core/config.js';
import { ApiError } from './errors.js';

export interface Principal {
  accountId: string;
  role: Role;
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** Keys are compared by hash in constant time, so a response time leaks nothing about a key. */
function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

export function createAuthenticator(keys: ApiKey[]) {
  const known = keys.map((k) => ({ digest: digest(k.key), principal: { accountId: k.accountId, role: k.role } }));
  return function authenticate(req: Request, _res: Response, next: NextFunction) {
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) return next(new ApiError(401, 'unauthorized', 'send Authorization: Bearer <key>'));
    const presented = digest(match[1] as string);
    const found = known.find((k) => timingSafeEqual(k.digest, presented));
    if (!found) return next(new ApiError(401, 'unauthorized', 'the API key is not valid'));
    req.principal = found.principal;
    next();
  };
}

/** The account of the key that authenticated this request. */
export function accountOf(req: Request): string {
  return req.principal?.accountId as string;
}

/** Allows the request only for the given roles. */
export function requireRole(...roles: Role[]) {
  return function authorize(req: Request, _res: Response, next: NextFunction) {
    const role = req.principal?.role;
    if (!role || !roles.includes(role)) {
      return next(new ApiError(403, 'forbidden', `this route needs one of the roles: ${roles.join(', ')}`));
    }
    next();
  };
}
