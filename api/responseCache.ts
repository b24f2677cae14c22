import { LRUCache } from 'lru-cache';
import { cachePolicy } from '../core/cache.js';

/**
 * Answers to expensive reads, shared for a moment. Identical requests that arrive while one is
 * being computed wait for it instead of asking storage again, and its answer serves repeats for
 * `ttlMs`, the least recently read dropped first past `maxEntries` (`cachePolicy`). Keys carry
 * the account's write stamp (`BalanceService.writeStamp`), so a write by this process is read
 * back at once; another process's write shows once the entry expires.
 * Embedded chDB runs one statement at a time on the reads' connection (`core/lanes.ts`), so every
 * query a repeat does not make shortens the queue for all other reads.
 */
export interface CachedAnswer {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

/**
 * The key of a request's answer: same account, same second of the clock, same request and
 * variant, and no write by this process for the account since.
 */
export function answerKey(writeStamp: number, account: string, now: number, url: string, variant = ''): string {
  return JSON.stringify([account, writeStamp, Math.floor(now / 1000), url, variant]);
}

export class ResponseCache {
  /** The answer as it is computed, so repeats that arrive meanwhile wait for the same one. */
  private readonly answers: LRUCache<string, Promise<CachedAnswer>>;

  constructor(ttlMs: number = cachePolicy.answerTtlMs, maxEntries: number = cachePolicy.answers) {
    this.answers = new LRUCache({ max: maxEntries, ttl: ttlMs });
  }

  get(key: string, compute: () => Promise<CachedAnswer>): Promise<CachedAnswer> {
    const cached = this.answers.get(key);
    if (cached) return cached;
    const answer = compute();
    // A failure is not kept: the next request computes again.
    answer.then(undefined, () => {
      if (this.answers.peek(key) === answer) this.answers.delete(key);
    });
    this.answers.set(key, answer);
    return answer;
  }
}
