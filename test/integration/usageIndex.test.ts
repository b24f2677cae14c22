import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import type { IngestPipeline } from '../../ingest/pipeline.js';
import { usageBy, type GroupBy, type UsageQuery } from '../../readmodels/usage.js';
import { UsageIndex } from '../../readmodels/usageIndex.js';
import { MAX_OVERLAP_MS, MIN_OVERLAP_MS, type AccountUsage } from '../../readmodels/accountUsage.js';
import { dayBuckets } from '../../readmodels/dayBuckets.js';
import { BalanceService } from '../../readmodels/balances.js';
import { walletKey } from '../../ledger/ledger.js';
import { count, freshStore, pipelineFor } from '../support/store.js';

/**
 * The in-memory usage index answers exactly as the storage reads do: every grouping, scope,
 * range and zone, voids included, and after events and voids arrive later. It notices rows it
 * missed and reads the account again, and keeps within its budget.
 */
let store: Store;
let pipeline: IngestPipeline;
const DAY = 86_400_000;
const NOW = Date.now();
const START = NOW - 400 * DAY;
const WALLETS = [
  { type: 'team', id: 'alpha' },
  { type: 'team', id: 'beta' },
  { type: 'contract', id: 'apac' },
];
const USERS = ['u-1', 'u-2', 'u-3', 'tab\tuser', 'ünïcödé 🚀', 'back\\slash', 'Zed', 'alice'];
const PRODUCTS = ['compiler', 'debugger', 'profiler'];

function usageEvent(i: number, rand: () => number, at = START + Math.floor(rand() * 401 * DAY)) {
  const product = PRODUCTS[Math.floor(rand() * PRODUCTS.length)] as string;
  return {
    event_id: `use-${i}`,
    type: 'usage',
    account_id: 'acme',
    occurred_at: new Date(at).toISOString(),
    wallet: WALLETS[Math.floor(rand() * WALLETS.length)],
    // Amounts near 10^12 too, where doubles are not exact.
    amount: i % 97 === 0 ? '999999999999.0003' : `${Math.floor(rand() * 1000)}.${String(Math.floor(rand() * 10000)).padStart(4, '0')}`.replace(/^0\.0000$/, '1'),
    user_id: USERS[Math.floor(rand() * USERS.length)],
    product,
    service: `${product}-${Math.floor(rand() * 2)}`,
  };
}

async function post(events: object[]): Promise<void> {
  const report = await pipeline.ingest(
    events.map((e) => ({ text: JSON.stringify(e) })),
    { source: 'test' },
  );
  expect(report.outcomes.filter((o) => o.status !== 'accepted' && o.status !== 'duplicate')).toEqual([]);
}

async function loaded(index: UsageIndex, account = 'acme'): Promise<AccountUsage> {
  expect(await index.ready(account)).toBeUndefined();
  await index.settled(account);
  const usage = await index.ready(account);
  if (!usage) throw new Error('the index did not load');
  return usage;
}

const rand = (() => {
  let seed = 11;
  return () => (seed = (seed * 16807) % 2147483647) / 2147483647;
})();

beforeAll(async () => {
  store = await freshStore();
  pipeline = pipelineFor(store);
  await post(Array.from({ length: 2500 }, (_, i) => usageEvent(i, rand)));
  // Voids, some arriving before their target.
  await post(Array.from({ length: 30 }, (_, i) => ({ event_id: `void-${i}`, type: 'void', account_id: 'acme', occurred_at: new Date(NOW - 1000).toISOString(), voids_event_id: `use-${i * 53}` })));
  await post([{ event_id: 'void-early', type: 'void', account_id: 'acme', occurred_at: new Date(NOW - 1000).toISOString(), voids_event_id: 'use-late-1' }]);
}, 120_000);
afterAll(async () => {
  await store.close();
});

const ZONES = ['UTC', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/Santiago', 'America/New_York', 'Asia/Kathmandu', 'Pacific/Chatham'];
const SCOPES: Array<Pick<UsageQuery, 'walletType' | 'walletId'>> = [{}, { walletType: 'team' }, { walletType: 'contract' }, { walletType: 'team', walletId: 'alpha' }, { walletType: 'team', walletId: 'nobody' }];

const queryArb = fc.record({
  offset: fc.integer({ min: -5 * DAY, max: 405 * DAY }),
  length: fc.integer({ min: 1, max: 420 * DAY }),
  groupBy: fc.constantFrom<GroupBy>('service', 'user', 'product', 'day'),
  scope: fc.constantFrom(...SCOPES),
  tz: fc.constantFrom(...ZONES),
});

async function sameAsStorage(usage: AccountUsage, q: { offset: number; length: number; groupBy: GroupBy; scope: Pick<UsageQuery, 'walletType' | 'walletId'>; tz: string }) {
  const query: UsageQuery = { accountId: 'acme', ...q.scope, from: START + q.offset, to: START + q.offset + q.length, groupBy: q.groupBy, tz: q.tz, now: NOW };
  expect(usage.rows(query), JSON.stringify(q)).toEqual(await usageBy(store, query));
}

describe('the usage index', () => {
  it('answers every grouping, scope, range and zone exactly as storage does', async () => {
    const index = new UsageIndex(store);
    const usage = await loaded(index);
    await fc.assert(fc.asyncProperty(queryArb, (q) => sameAsStorage(usage, q)), { numRuns: 150 });
    expect(index.answered.memory).toBeGreaterThan(0);
  }, 120_000);

  it('cuts days where the zone does, across changes of offset at midnight and half hours', () => {
    const format = (tz: string) => new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' });
    for (const tz of ZONES) {
      const from = Date.UTC(2025, 0, 1, 7, 13);
      const to = Date.UTC(2026, 11, 31, 3);
      const buckets = dayBuckets(tz, from, to);
      const local = format(tz);
      for (let t = from; t < to; t += 37 * 60_000 + 11_111) {
        expect(buckets.labels[buckets.of(t)], `${tz} ${new Date(t).toISOString()}`).toBe(local.format(t));
      }
    }
  });

  it('cuts days where a zone did before 1972, when offsets were not whole quarter hours', async () => {
    // Monrovia kept −0:44:30 until 1972: its days began at 00:44:30 UTC.
    const tz = 'Africa/Monrovia';
    const local = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' });
    const from = Date.UTC(1970, 0, 1);
    const to = Date.UTC(1972, 2, 1);
    const buckets = dayBuckets(tz, from, to);
    for (let t = from + 44 * 60_000 + 20_000; t < to; t += DAY) {
      for (const at of [t, t + 20_000]) expect(buckets.labels[buckets.of(at)], new Date(at).toISOString()).toBe(local.format(at));
    }
    const wallet = { type: 'team', id: 'alpha' };
    await post(['1971-03-01T00:44:20Z', '1971-03-01T00:44:40Z'].map((at, i) => ({ ...usageEvent(50_000 + i, rand), account_id: 'monrovia', event_id: `mon-${i}`, occurred_at: at, wallet, amount: '1' })));
    const usage = await loaded(new UsageIndex(store), 'monrovia');
    const expected = [{ key: '1971-02-28', amount: '1', events: 1 }, { key: '1971-03-01', amount: '1', events: 1 }];
    // One wallet (raw events) and the whole account (quarter-hour rollups, which do not tile these days).
    for (const scope of [{ walletType: 'team' as const, walletId: 'alpha' }, {}]) {
      const query: UsageQuery = { accountId: 'monrovia', ...scope, from: Date.UTC(1971, 1, 27), to: Date.UTC(1971, 2, 3), groupBy: 'day', tz, now: NOW };
      expect(await usageBy(store, query), JSON.stringify(scope)).toEqual(expected);
      expect(usage.rows(query), JSON.stringify(scope)).toEqual(expected);
    }
  });

  it('catches up with events and voids stored after it loaded, once each', async () => {
    const index = new UsageIndex(store);
    const usage = await loaded(index);
    const size = usage.size;
    const late = Array.from({ length: 40 }, (_, i) => ({ ...usageEvent(10_000 + i, rand, NOW - i * 3_600_000), event_id: `use-late-${i}` }));
    await post(late);
    // A redelivery stores nothing; the rows it names were read already.
    await post(late.slice(0, 10));
    await post([{ event_id: 'void-late', type: 'void', account_id: 'acme', occurred_at: new Date(NOW).toISOString(), voids_event_id: 'use-late-2' }]);
    index.invalidate(['acme'], 'now');
    const fresh = await index.ready('acme');
    expect(fresh).toBe(usage);
    // 40 new usage entries, and the voided copies of use-late-1 (voided before it came) and use-late-2.
    expect(usage.size).toBe(size + 42);
    for (const groupBy of ['user', 'day', 'service'] as const) {
      const query: UsageQuery = { accountId: 'acme', from: NOW - 3 * DAY, to: NOW + DAY, groupBy, tz: 'Asia/Kolkata', now: NOW };
      expect(usage.rows(query)).toEqual(await usageBy(store, query));
    }
  }, 60_000);

  it('never counts a row twice when reads that must see writes come at once', async () => {
    const index = new UsageIndex(store);
    const usage = await loaded(index);
    const size = usage.size;
    // Past the overlap: the rows read at load are no longer skipped by id after the next read,
    // so two reads applying the same rows would count them twice.
    await new Promise((r) => setTimeout(r, 6_000));
    await Promise.all([index.fresh('acme'), index.fresh('acme'), index.fresh('acme')]);
    expect(usage.size).toBe(size);
    const query: UsageQuery = { accountId: 'acme', from: START, to: NOW + DAY, groupBy: 'product', tz: 'UTC', now: NOW };
    expect(usage.rows(query)).toEqual(await usageBy(store, query));
  }, 60_000);

  /** A usage row stored as an insert whose rows became visible long after their stamp would be. */
  const storeStamped = (eventId: string, stamp: number, account = 'acme', user = 'u-1') =>
    store.command(
      `INSERT INTO ${store.table('events_v1')} (account_id, event_id, type, occurred_at, wallet_type, wallet_id, amount, user_id, product, service, source, ingested_at)
       VALUES ('${account}', '${eventId}', 'usage', fromUnixTimestamp64Milli(${NOW - DAY}, 'UTC'), 'team', 'alpha', 5, '${user}', 'compiler', 'compiler-0', 'test', fromUnixTimestamp64Milli(${stamp}, 'UTC'))`,
    );

  for (const [late, label] of [[30_000, 'seconds'], [5 * 60_000, 'minutes']] as const) {
    it(`includes at the very next read a row stamped ${label} before its last read that became visible only after it`, async () => {
      const index = new UsageIndex(store);
      const usage = await loaded(index);
      const user = `late-${label}`;
      await storeStamped(`use-stalled-${label}`, usage.readAt - late, 'acme', user);
      index.invalidate(['acme'], 'now');
      const fresh = await index.ready('acme');
      expect(fresh, 'the index answers, caught up').toBeDefined();
      const query: UsageQuery = { accountId: 'acme', walletType: 'team', walletId: 'alpha', from: NOW - 2 * DAY, to: NOW, groupBy: 'user', tz: 'UTC', now: NOW };
      const rows = (fresh as AccountUsage).rows(query);
      expect(rows).toEqual(await usageBy(store, query));
      expect(rows.find((r) => r.key === user)).toMatchObject({ amount: '5', events: 1 });
      expect(index.usageCount('acme')).toBe(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')} WHERE account_id = 'acme' AND type = 'usage'`));
    }, 60_000);
  }

  it('looks back before its last read only as far as rows have been late, and further after one later than that', async () => {
    const index = new UsageIndex(store);
    const usage = await loaded(index);
    const stored = () => count(store, `SELECT count() AS n FROM ${store.table('events_v1')} WHERE account_id = 'acme' AND type = 'usage'`);
    expect(usage.overlapMs()).toBe(MIN_OVERLAP_MS);
    // Visible 300 ms after a read its stamp preceded: within the look-back, found by the next read.
    await storeStamped('use-late-300', usage.readAt - 300, 'acme', 'late-300');
    index.invalidate(['acme'], 'now');
    await index.ready('acme');
    expect(index.usageCount('acme')).toBe(await stored());
    expect(usage.overlapMs()).toBe(600);
    // Visible 1.5 s after: past the look-back, so storage counts one more than the index; the
    // read looks back further at once, and the reads after it look back further too.
    await storeStamped('use-late-1500', usage.readAt - 1_500, 'acme', 'late-1500');
    index.invalidate(['acme'], 'now');
    await index.ready('acme');
    expect(index.usageCount('acme')).toBe(await stored());
    expect(usage.overlapMs()).toBeGreaterThan(600);
    expect(usage.overlapMs()).toBeLessThanOrEqual(MAX_OVERLAP_MS);
    // Rows the next reads return again are not counted twice, whatever the look-back.
    for (let i = 0; i < 3; i++) {
      await storeStamped(`use-late-again-${i}`, usage.readAt - 100, 'acme', 'late-again');
      index.invalidate(['acme'], 'now');
      await index.ready('acme');
      expect(index.usageCount('acme')).toBe(await stored());
    }
    const query: UsageQuery = { accountId: 'acme', walletType: 'team', walletId: 'alpha', from: NOW - 2 * DAY, to: NOW, groupBy: 'user', tz: 'UTC', now: NOW };
    expect(usage.rows(query)).toEqual(await usageBy(store, query));
  }, 60_000);

  it('holds a write stored while the account was loading at the next read', async () => {
    await post([usageEvent(30_000, rand, NOW - DAY)].map((e) => ({ ...e, account_id: 'loading', event_id: 'load-1' })));
    // The load's read has been answered by storage, but the index has not applied it yet.
    let answered: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (answered = resolve));
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const slow: Store = {
      ...store,
      queryTsv: async (sql, params, options) => {
        const rows = await store.queryTsv(sql, params, options);
        if (sql.includes("'u'") && params?.account === 'loading') {
          answered();
          await released;
        }
        return rows;
      },
    };
    const index = new UsageIndex(slow);
    expect(await index.ready('loading')).toBeUndefined();
    await gate;
    await post([usageEvent(30_001, rand, NOW - DAY)].map((e) => ({ ...e, account_id: 'loading', event_id: 'load-2' })));
    index.invalidate(['loading'], 'now');
    release();
    await index.settled('loading');
    const usage = await index.ready('loading');
    expect(usage).toBeDefined();
    const query: UsageQuery = { accountId: 'loading', from: NOW - 3 * DAY, to: NOW, groupBy: 'user', tz: 'UTC', now: NOW };
    expect((usage as AccountUsage).rows(query)).toEqual(await usageBy(store, query));
    expect((usage as AccountUsage).rows(query).reduce((n, r) => n + r.events, 0)).toBe(2);
  }, 60_000);

  it('gives one answer for one wallet on a store whose pairings were netted inside the rollups before migration 017', async () => {
    await post([
      { ...usageEvent(40_000, rand, NOW - DAY), account_id: 'upgraded', event_id: 'up-1', wallet: { type: 'team', id: 'alpha' }, amount: '7', user_id: 'u-1' },
      { ...usageEvent(40_001, rand, NOW - DAY), account_id: 'upgraded', event_id: 'up-2', wallet: { type: 'team', id: 'alpha' }, amount: '3', user_id: 'u-1' },
    ]);
    // Migration 017 copied the old pairings with netted = 1: their usage was voided before the upgrade.
    await store.command(
      `INSERT INTO ${store.table('voided_usage_v2')} (account_id, event_id, void_event_id, occurred_at, wallet_type, wallet_id, amount, user_id, product, service, netted)
       SELECT account_id, event_id, 'old-void', occurred_at, toString(wallet_type), wallet_id, assumeNotNull(amount), user_id, product, service, 1
       FROM ${store.table('events_v1')} WHERE account_id = 'upgraded' AND event_id = 'up-1'`,
    );
    const index = new UsageIndex(store);
    const usage = await loaded(index, 'upgraded');
    const query: UsageQuery = { accountId: 'upgraded', walletType: 'team', walletId: 'alpha', from: NOW - 3 * DAY, to: NOW, groupBy: 'user', tz: 'UTC', now: NOW };
    const expected = [{ key: 'u-1', amount: '3', events: 1 }];
    expect(await usageBy(store, query)).toEqual(expected);
    expect(usage.rows(query)).toEqual(expected);
  }, 60_000);

  it('gives the balance at a past instant from memory exactly as from storage, across lots, expiries and moves', async () => {
    // Lots of several terms in each wallet, moves between them (none at a usage's instant).
    const purchases = WALLETS.flatMap((wallet, w) =>
      Array.from({ length: 6 }, (_, i) => ({
        event_id: `buy-${w}-${i}`, type: 'purchase', account_id: 'acme', wallet, amount: `${50_000 + i * 7_777}.5`,
        occurred_at: new Date(START + i * 60 * DAY + w * 3_600_000).toISOString(),
        expires_at: new Date(START + i * 60 * DAY + (90 + 30 * i) * DAY).toISOString(),
      })),
    );
    const moves = [0, 1, 2, 3].map((i) => ({
      event_id: `move-${i}`, type: 'move', account_id: 'acme', occurred_at: new Date(START + (40 + 80 * i) * DAY + 1).toISOString(),
      from: WALLETS[i % 2], to: WALLETS[(i + 1) % 2], amount: `${1_000 + i}`,
    }));
    await post([...purchases, ...moves]);
    const balances = new BalanceService(store);
    const index = new UsageIndex(store);
    const usage = await loaded(index);
    // With no snapshot, the storage path looks the connected wallets up in storage; with the
    // account's snapshot, lots, moves and voids come from it and only the usage is read.
    const fromStorage = new BalanceService(store);
    const lookups = vi.spyOn(fromStorage, 'connectedWallets');
    const withSnapshot = new BalanceService(store);
    await withSnapshot.current('acme');
    const snapshotLookups = vi.spyOn(withSnapshot, 'connectedWallets');
    const read = (ledger: Awaited<ReturnType<BalanceService['at']>>, key: ReturnType<typeof walletKey>) => {
      const b = ledger.wallets.get(key);
      return b && { total: b.total, used: b.used, available: b.available, expired: b.expired, overage: b.overage, status: b.status };
    };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 410 * DAY }), fc.constantFrom(...WALLETS), async (offset, wallet) => {
        const at = START + offset;
        const key = walletKey(wallet.type, wallet.id);
        const memory = await balances.at('acme', key, at, usage);
        const storage = await fromStorage.at('acme', key, at);
        const snapshot = await withSnapshot.at('acme', key, at);
        expect(read(memory, key), new Date(at).toISOString()).toEqual(read(storage, key));
        expect(read(snapshot, key), new Date(at).toISOString()).toEqual(read(storage, key));
      }),
      { numRuns: 60 },
    );
    expect(lookups).toHaveBeenCalledTimes(60);
    expect(snapshotLookups).not.toHaveBeenCalled();

    // The whole account now, from memory and from storage, at several instants of the clock.
    for (const offset of [0, -30 * DAY, -200 * DAY + 12_345, 40 * DAY]) {
      const clock = () => NOW + offset;
      const fromMemory = new BalanceService(store, clock);
      const memoryIndex = new UsageIndex(store);
      await loaded(memoryIndex);
      fromMemory.useUsageIndex(memoryIndex);
      const sums = vi.spyOn(store, 'queryRows');
      const memory = await fromMemory.current('acme');
      // No read of the usage rollups or of raw usage: only lots, moves, voids, names, version.
      const reads = sums.mock.calls.map(([sql]) => String(sql));
      expect(reads.filter((sql) => /usage_wallet_daily_v1|usage_by_time_v1|type = 'usage'/.test(sql))).toEqual([]);
      expect(reads.filter((sql) => /events_v1/.test(sql)).every((sql) => /type = 'void'/.test(sql))).toBe(true);
      sums.mockRestore();
      const storage = await new BalanceService(store, clock).current('acme');
      expect([...memory.wallets.keys()].sort()).toEqual([...storage.wallets.keys()].sort());
      for (const [key, balance] of storage.wallets) expect(memory.wallets.get(key), `${key} ${offset}`).toEqual(balance);
      expect(memory.lots).toEqual(storage.lots);
      expect(memory.tokenEvents).toEqual(storage.tokenEvents);
    }
  }, 120_000);

  it('leaves an account larger than its budget to storage', async () => {
    const index = new UsageIndex(store, { maxEntries: 1000 });
    expect(await index.ready('acme')).toBeUndefined();
    await index.settled('acme');
    expect(await index.ready('acme')).toBeUndefined();
    expect(index.entries).toBe(0);
  });

  it('drops the least recently read account to keep within its budget', async () => {
    await post(Array.from({ length: 300 }, (_, i) => ({ ...usageEvent(20_000 + i, rand), event_id: `g-${i}`, account_id: 'globex' })));
    const acme = (await loaded(new UsageIndex(store), 'acme')).size;
    const index = new UsageIndex(store, { maxEntries: acme + 150 });
    await loaded(index, 'acme');
    await loaded(index, 'globex');
    expect(index.entries).toBeLessThanOrEqual(acme + 150);
    expect(await index.ready('globex')).toBeDefined();
    // acme was read least recently and did not fit beside globex.
    expect(await index.ready('acme')).toBeUndefined();
    await index.settled('acme');
  }, 60_000);
});
