import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { keyDigest, type ApiKey, type Role } from '../core/config.js';
import { ApiError } from './errors.js';

export interface Principal {
  accountId: string;
  role: Role;
  /** Which configured key authenticated the request (its position), for per-key limits; never the key. */
  keyId: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/**
 * The presented key is hashed and compared with every configured key's digest in constant time,
 * without stopping at a match, so neither a response time nor its variation tells which key, or
 * how much of one, was right. Configured keys may be given as digests (`sha256:<hex>`).
 */
export function createAuthenticator(keys: ApiKey[]) {
  const known = keys.map((k, index) => ({ digest: keyDigest(k.key), principal: { accountId: k.accountId, role: k.role, keyId: `key-${index + 1}` } }));
  return function authenticate(req: Request, _res: Response, next: NextFunction) {
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) return next(new ApiError(401, 'unauthorized', 'send Authorization: Bearer <key>'));
    const presented = createHash('sha256').update(match[1] as string).digest();
    let found: Principal | undefined;
    for (const k of known) {
      const equal = timingSafeEqual(k.digest, presented);
      found = equal ? k.principal : found;
    }
    if (!found) return next(new ApiError(401, 'unauthorized', 'the API key is not valid'));
    req.principal = found;
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
