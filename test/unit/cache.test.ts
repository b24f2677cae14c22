import { describe, expect, it } from 'vitest';
import { SingleFlight } from '../../core/cache.js';
import { ResponseCache, type CachedAnswer } from '../../api/responseCache.js';
import { HeldAccounts } from '../../readmodels/heldAccounts.js';
import { BalanceService } from '../../readmodels/balances.js';
import type { Store } from '../../core/clickhouse.js';

/** A computation that ends when the test says so. */
function gate<T>() {
  let open: (value: T) => void = () => undefined;
  let fail: (err: unknown) => void = () => undefined;
  const done = new Promise<T>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { done, open, fail };
}

const answer = (body: string): CachedAnswer => ({ status: 200, contentType: 'application/json', body });

describe('one computation per key', () => {
  it('is shared by reads that miss together', async () => {
    const flights = new SingleFlight<string>();
    let computed = 0;
    const first = gate<string>();
    const compute = () => {
      computed++;
      return first.done;
    };
    const reads = [flights.join('acme', compute), flights.join('acme', compute), flights.join('acme', compute)];
    first.open('snapshot');
    expect(await Promise.all(reads)).toEqual(['snapshot', 'snapshot', 'snapshot']);
    expect(computed).toBe(1);
  });

  it('begins again for a read that must see a write, beside the older one, which still answers its own reads', async () => {
    const flights = new SingleFlight<string>();
    const older = gate<string>();
    const newer = gate<string>();
    const beforeWrite = flights.join('acme', () => older.done);
    const afterWrite = flights.begin('acme', () => newer.done);
    const joinedAfter = flights.join('acme', () => Promise.resolve('a third'));
    newer.open('with the write');
    older.open('without it');
    expect(await Promise.all([beforeWrite, afterWrite, joinedAfter])).toEqual(['without it', 'with the write', 'with the write']);
  });

  it('begins the next read only once the running one ended, and shares it with every read that asked meanwhile', async () => {
    const flights = new SingleFlight<number>();
    const running = gate<number>();
    let overlapping = 0;
    let computed = 0;
    flights.join('acme', () => running.done);
    const next = () => {
      overlapping += flights.has('acme') ? 1 : 0;
      computed++;
      return Promise.resolve(computed);
    };
    const asked = [flights.next('acme', next), flights.next('acme', next)];
    expect(computed).toBe(0);
    running.fail(new Error('storage went away'));
    expect(await Promise.all(asked)).toEqual([1, 1]);
    expect(overlapping).toBe(0);
    await flights.settled('acme');
    expect(flights.has('acme')).toBe(false);
  });
});

describe('shared API answers', () => {
  it('are computed once for repeats, and again once expired', async () => {
    const answers = new ResponseCache(20);
    let computed = 0;
    const compute = async () => answer(String(++computed));
    expect((await answers.get('k', compute)).body).toBe('1');
    expect((await answers.get('k', compute)).body).toBe('1');
    await new Promise((r) => setTimeout(r, 40));
    expect((await answers.get('k', compute)).body).toBe('2');
  });

  it('keep the most recently read within their budget', async () => {
    const answers = new ResponseCache(60_000, 2);
    let computed = 0;
    const compute = async () => answer(String(++computed));
    await answers.get('a', compute);
    await answers.get('b', compute);
    await answers.get('a', compute);
    await answers.get('c', compute);
    // b was read least recently: dropped; a is still shared.
    expect((await answers.get('a', compute)).body).toBe('1');
    expect((await answers.get('b', compute)).body).toBe('4');
  });

  it('do not keep a failure: the next request computes again', async () => {
    const answers = new ResponseCache();
    await expect(answers.get('k', () => Promise.reject(new Error('storage went away')))).rejects.toThrow('storage went away');
    expect((await answers.get('k', async () => answer('ok'))).body).toBe('ok');
  });
});

describe('the accounts whose usage is held', () => {
  it('count an account at its size when held again after growing in place, dropping the least recently read', () => {
    const held = new HeldAccounts<{ size: number }>(10);
    const acme = { size: 4 };
    expect(held.hold('acme', acme)).toEqual([]);
    expect(held.hold('globex', { size: 4 })).toEqual([]);
    held.read('acme');
    acme.size = 7;
    expect(held.hold('acme', acme)).toEqual(['globex']);
    expect(held.entries).toBe(7);
  });

  it('drop an account that alone exceeds the budget, and do not load it again for a while', () => {
    const held = new HeldAccounts<{ size: number }>(10);
    held.hold('initech', { size: 3 });
    expect(held.hold('acme', { size: 11 })).toEqual(['acme']);
    expect(held.get('acme')).toBeUndefined();
    expect(held.recentlyTooBig('acme')).toBe(true);
    expect(held.get('initech')).toEqual({ size: 3 });
  });
});

describe('the write stamp of cached answers', () => {
  it('changes with a write that must be read back at once, not with a streamed one', () => {
    // Stamps are bookkeeping in memory: no storage is asked.
    const balances = new BalanceService({} as Store);
    expect(balances.writeStamp('acme')).toBe(0);
    balances.invalidate(['acme'], 'soon');
    expect(balances.writeStamp('acme')).toBe(0);
    balances.invalidate(['acme'], 'now');
    balances.invalidate(['acme', 'globex'], 'now');
    expect([balances.writeStamp('acme'), balances.writeStamp('globex')]).toEqual([2, 1]);
  });
});
