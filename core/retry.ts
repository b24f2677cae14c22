import { isRetriable } from './errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included. `Infinity` retries until `signal` aborts. */
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** Which failures are tried again; by default those whose error says `retriable` (errors.ts). */
  isRetriable?: (err: unknown) => boolean;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

/**
 * Capped exponential backoff with equal jitter (a delay between half the cap and the cap); only
 * errors flagged retriable are tried again.
 */
export async function withRetry<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T> {
  const retriable = options.isRetriable ?? isRetriable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (err) {
      if (attempt >= options.attempts || !retriable(err) || options.signal?.aborted) throw err;
      const cap = Math.min(options.maxMs, options.baseMs * 2 ** (attempt - 1));
      const delayMs = Math.round(cap / 2 + Math.random() * (cap / 2));
      options.onRetry?.(err, attempt, delayMs);
      await sleep(delayMs, options.signal);
    }
  }
}

/** Waits `ms`, or less if `signal` aborts; an already aborted signal returns at once. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
