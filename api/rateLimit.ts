import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './errors.js';

export interface RateLimit {
  /** Sustained requests per minute per key; 0 turns limiting off. */
  perMinute: number;
  /** Requests a key may send at once before the sustained rate applies. */
  burst: number;
}

/** For embedding the app where nothing should be limited (tests, benchmarks). */
export const NO_RATE_LIMIT: RateLimit = { perMinute: 0, burst: 1 };

/** Idle keys are forgotten after this long at the latest, so memory follows the active keys. */
const SWEEP_EVERY_MS = 60_000;

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per API key: each request takes one token, tokens come back at the sustained
 * rate up to the burst. A key with an empty bucket gets 429 with `Retry-After`, in seconds.
 * Mounted after authentication, so it limits keys, not addresses.
 */
export function createRateLimiter(limit: RateLimit, clock: () => number = Date.now) {
  const buckets = new Map<string, Bucket>();
  const perMs = limit.perMinute / 60_000;
  const burst = Math.max(1, limit.burst);
  let sweptAt = clock();

  /** A bucket full again holds nothing a new one would not: drop it. */
  function sweep(now: number): void {
    for (const [key, bucket] of buckets) {
      if (bucket.tokens + (now - bucket.updatedAt) * perMs >= burst) buckets.delete(key);
    }
    sweptAt = now;
  }

  function rateLimit(req: Request, res: Response, next: NextFunction) {
    if (limit.perMinute <= 0) return next();
    const key = req.principal?.keyId;
    if (key === undefined) return next();
    const now = clock();
    if (now - sweptAt >= SWEEP_EVERY_MS) sweep(now);
    const bucket = buckets.get(key) ?? { tokens: burst, updatedAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + Math.max(0, now - bucket.updatedAt) * perMs);
    bucket.updatedAt = now;
    buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return next();
    }
    const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
    res.set('Retry-After', String(retryAfter));
    next(
      new ApiError(429, 'rate_limited', `this key sent more than ${limit.perMinute} requests a minute; retry in ${retryAfter} s`, {
        retry_after_seconds: retryAfter,
      }),
    );
  }
  /** How many keys the limiter remembers now. */
  return Object.assign(rateLimit, { trackedKeys: () => buckets.size });
}
