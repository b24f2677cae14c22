import { describe, expect, it } from 'vitest';
import { StorageError } from '../../core/clickhouse.js';
import { sleep, withRetry } from '../../core/retry.js';
import { AggregatorError } from '../../aggregator/errors.js';
import { IngestError } from '../../ingest/errors.js';

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

describe('a stage error', () => {
  it('from storage is retriable by its error code, also under the client\'s wrappers, and never by its message', () => {
    const clickhouse = (code: string, message: string) => Object.assign(new Error(message), { code });
    expect(StorageError.of('insert into events_v1', clickhouse('319', 'Unknown status of insert'))).toMatchObject({ retriable: true, code: '319' });
    expect(StorageError.of('query', new Error('socket hang up', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) }))).toMatchObject({ retriable: true, code: 'ECONNRESET' });
    expect(StorageError.of('query', clickhouse('60', 'Table does not exist. Timeout exceeded: retry'))).toMatchObject({ retriable: false, code: '60' });
    expect(StorageError.of('query', new Error('Timeout exceeded'))).toMatchObject({ retriable: false, code: undefined });
  });

  it('of a later stage keeps the storage failure under it as its cause, and is retriable as it is', () => {
    const outage = StorageError.of('insert into events_v1', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const ingest = new IngestError('store_events', outage);
    expect(ingest).toMatchObject({ name: 'IngestError', retriable: true, cause: outage });
    expect(IngestError.of('kafka_batch', ingest)).toBe(ingest);
    expect(new AggregatorError('could not write the balances of an account', new Error('a bug'), 'acme')).toMatchObject({ retriable: false, account: 'acme' });
  });

  it('is what withRetry reads by default: a retriable one is tried again, another is not', async () => {
    let calls = 0;
    const outage = StorageError.of('query', Object.assign(new Error('Too many simultaneous queries'), { code: '202' }));
    await expect(withRetry(async () => {
      calls++;
      throw outage;
    }, { attempts: 3, baseMs: 1, maxMs: 2 })).rejects.toBe(outage);
    expect(calls).toBe(3);
    calls = 0;
    await expect(withRetry(async () => {
      calls++;
      throw StorageError.of('query', Object.assign(new Error('Syntax error'), { code: '62' }));
    }, { attempts: 3, baseMs: 1, maxMs: 2 })).rejects.toMatchObject({ code: '62' });
    expect(calls).toBe(1);
  });
});
