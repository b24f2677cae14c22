/**
 * Answers to expensive reads, shared for a moment. Identical requests that arrive while one is
 * being computed wait for it instead of asking storage again, and its answer serves repeats for
 * `ttlMs`. Keys carry the account's write stamp (`BalanceService.writeStamp`), so a write by
 * this process is read back at once; another process's write shows once the entry expires.
 * Embedded chDB runs one query at a time, so every query a repeat does not make shortens the
 * queue for all other reads and for ingest.
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
  private readonly entries = new Map<string, { expires: number; answer: Promise<CachedAnswer> }>();

  constructor(
    private readonly ttlMs = 1_000,
    private readonly maxEntries = 2_000,
  ) {}

  get(key: string, compute: () => Promise<CachedAnswer>): Promise<CachedAnswer> {
    const now = Date.now();
    const entry = this.entries.get(key);
    if (entry && entry.expires > now) return entry.answer;
    const answer = compute();
    // A failure is not kept: the next request computes again.
    answer.then(undefined, () => {
      if (this.entries.get(key)?.answer === answer) this.entries.delete(key);
    });
    this.entries.delete(key);
    this.entries.set(key, { expires: now + this.ttlMs, answer });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    return answer;
  }
}
