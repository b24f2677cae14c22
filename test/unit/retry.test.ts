import { describe, expect, it } from 'vitest';
import { sleep, withRetry } from '../../core/retry.js';

describe('sleep', () => {
  it('returns at once for a signal that was aborted before it was called', async () => {
    const aborted = new AbortController();
    aborted.abort();
    const started = Date.now();
    await sleep(60_000, aborted.signal);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('withRetry', () => {
  it('retries only what is retriable, up to the attempts given', async () => {
    let calls = 0;
    const retriable = Object.assign(new Error('busy'), { retriable: true });
    await expect(
      withRetry(async () => {
        calls++;
        throw retriable;
      }, { attempts: 3, baseMs: 1, maxMs: 2, isRetriable: (e) => (e as { retriable?: boolean }).retriable === true }),
    ).rejects.toBe(retriable);
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new Error('bad input');
      }, { attempts: 3, baseMs: 1, maxMs: 2, isRetriable: () => false }),
    ).rejects.toThrow('bad input');
    expect(calls).toBe(1);
  });
});
