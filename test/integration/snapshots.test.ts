import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { walletKey } from '../../ledger/ledger.js';
import { StorageError, type Store } from '../../core/clickhouse.js';
import { BalanceService, freshnessOf } from '../../readmodels/balances.js';
import { UsageIndex } from '../../readmodels/usageIndex.js';
import { cachePolicy } from '../../core/cache.js';
import { createMetrics } from '../../core/metrics.js';
import { reportBackgroundFailures } from '../../core/background.js';
import { pairVoidedUsage } from '../../storage/voids.js';
import { createIngestPipeline, type IngestPipeline } from '../../ingest/pipeline.js';
import { move, purchase, usage, voidOf } from '../support/events.js';
import { rebuildRollups } from '../../storage/backfill.js';
import { freshStore, nodeSeeingLate, silentLog } from '../support/store.js';
import { accountChangesQuery } from '../../storage/accountChanges.js';
import { read } from '../../core/query.js';

/** The account's version as storage keeps it (migration 027). */
const versionOf = async (store: Store, account: string) => (await read(store, accountChangesQuery, { account }))[0]?.v ?? 0;

let store: Store;
let balances: BalanceService;
let pipeline: IngestPipeline;
const clock = () => Date.UTC(2026, 5, 1);
const lines = (events: Array<Record<string, unknown>>) => events.map((e) => ({ text: JSON.stringify(e) }));
const used = async (wallet = walletKey('team', 'platform')) => Number((await balances.current('acme')).wallets.get(wallet)?.used ?? 0n) / 10_000;

beforeAll(async () => {
  store = await freshStore();
  balances = new BalanceService(store, clock);
  pipeline = createIngestPipeline({ store, metrics: createMetrics(), log: silentLog, onStored: (a, source) => balances.invalidate(a, freshnessOf(source)), afterStore: (a) => pairVoidedUsage(store, a) });
  await pipeline.ingest(lines([purchase('s-p1', { amount: '1000' })]), { source: 'http' });
});
afterAll(async () => {
  vi.restoreAllMocks();
  await store.close();
});

describe('the balance snapshot of "now"', () => {
  it('shows an API write on the very next read', async () => {
    expect(await used()).toBe(0);
    await pipeline.ingest(lines([usage('s-u1', { amount: '10' })]), { source: 'http' });
    expect(await used()).toBe(10);
  });

  it('answers at once during a stream of writes, and catches up behind the answer', async () => {
    await pipeline.ingest(lines([usage('s-u2', { amount: '5' })]), { source: 'kafka' });
    expect(await used()).toBe(10);
    await balances.settled('acme');
    expect(await used()).toBe(15);
  });

  it('waits for the refresh once the snapshot is older than the staleness bound', async () => {
    await pipeline.ingest(lines([usage('s-u3', { amount: '1' })]), { source: 'kafka' });
    // The first clock reading decides staleness; the refresh itself keeps real time.
    vi.spyOn(Date, 'now').mockReturnValueOnce(Date.now() + cachePolicy.staleMs + 1);
    expect(await used()).toBe(16);
  });

  it('sees a write by another process within the version check interval', async () => {
    const other = createIngestPipeline({ store, metrics: createMetrics(), log: silentLog });
    await other.ingest(lines([usage('s-u4', { amount: '4' })]), { source: 'kafka' });
    expect(await used()).toBe(16);
    await new Promise((r) => setTimeout(r, cachePolicy.confirmMs + 50));
    await used();
    await balances.settled('acme');
    expect(await used()).toBe(20);
  });
});

describe('the snapshots of many accounts', () => {
  it('are bounded: the least recently read account is computed again when read', async () => {
    let ledgerLoads = 0;
    const counting: Store = {
      ...store,
      queryRows(query, params) {
        if (query.includes('lots_v1')) ledgerLoads++;
        return store.queryRows(query, params);
      },
      queryTsv(query, params, options) {
        if (query.includes('lots_v1')) ledgerLoads++;
        return store.queryTsv(query, params, options);
      },
    };
    const bounded = new BalanceService(counting, clock, { maxAccounts: 2 });
    for (const account of ['a1', 'a2', 'a3']) await bounded.current(account);
    expect(ledgerLoads).toBe(3);
    await bounded.current('a3');
    await bounded.current('a2');
    expect(ledgerLoads).toBe(3);
    // a1 was dropped to keep two.
    await bounded.current('a1');
    expect(ledgerLoads).toBe(4);
  });

  it('report a refresh that fails behind a served answer: logged and counted in /metrics', async () => {
    let failing = false;
    const flaky: Store = {
      ...store,
      queryRows(query, params) {
        if (failing) return Promise.reject(StorageError.of('query', Object.assign(new Error('storage went away'), { code: 'ECONNREFUSED' })));
        return store.queryRows(query, params);
      },
    };
    const metrics = createMetrics();
    const logged: Array<Record<string, unknown>> = [];
    const log = { ...silentLog, error: (obj: Record<string, unknown>) => logged.push(obj) } as unknown as typeof silentLog;
    const service = new BalanceService(flaky, clock, { onBackgroundFailure: reportBackgroundFailures(log, metrics) });
    await service.current('acme');
    service.invalidate(['acme'], 'soon');
    failing = true;
    // Served from the snapshot; the refresh behind it fails.
    expect((await service.current('acme')).wallets.size).toBeGreaterThan(0);
    await service.settled('acme');
    await new Promise((r) => setImmediate(r));
    expect(logged).toMatchObject([{ event: 'background_task_failed', task: 'snapshot_refresh' }]);
    expect(await metrics.registry.getSingleMetricAsString('balances_background_failures_total')).toMatch(/task="snapshot_refresh"} 1$/m);
  });
});

describe('the version of an account', () => {
  it('only grows: a write after a backfill that brought the event count back down is read at once', async () => {
    const own = await freshStore();
    try {
      const service = new BalanceService(own, clock);
      const writer = createIngestPipeline({ store: own, metrics: createMetrics(), log: silentLog, onStored: (a, source) => service.invalidate(a, freshnessOf(source)), afterStore: (a) => pairVoidedUsage(own, a) });
      const usedNow = async () => Number((await service.current('acme')).wallets.get(walletKey('team', 'platform'))?.used ?? 0n) / 10_000;
      await writer.ingest(lines([purchase('b-p1'), usage('b-u1', { amount: '10' }), voidOf('b-v1', 'b-u1')]), { source: 'http' });
      // Two pairers at once wrote the pairing twice, as voids.ts allows: reads count it once.
      await own.command(`INSERT INTO ${own.table('voided_usage_v2')} SELECT * FROM ${own.table('voided_usage_v2')} WHERE account_id = 'acme'`);
      const versions = [await versionOf(own, 'acme')];
      expect(await usedNow()).toBe(0);
      // The backfill rebuilds the rollups from the raw events: the duplicate pairing is gone.
      await rebuildRollups(own);
      versions.push(await versionOf(own, 'acme'));
      await writer.ingest(lines([usage('b-u2', { amount: '4' })]), { source: 'http' });
      versions.push(await versionOf(own, 'acme'));
      expect(await usedNow()).toBe(4);
      expect(versions[1]).toBeGreaterThanOrEqual(versions[0] as number);
      expect(versions[2]).toBeGreaterThan(versions[1] as number);
    } finally {
      await own.command(`DROP DATABASE IF EXISTS \`${own.database}\``);
    }
  }, 60_000);
});

describe('a snapshot summed from the usage index', () => {
  /** This process's balances over `node`, summing usage from its index, for one account. */
  function indexedService(node: Store, account: string) {
    const service = new BalanceService(node, clock);
    const index = new UsageIndex(node);
    service.useUsageIndex(index);
    /** A figure of a wallet's balance, in tokens: its usage unless asked otherwise. */
    const here = async (figure: 'used' | 'available' = 'used', wallet = 'platform') => Number((await service.current(account)).wallets.get(walletKey('team', wallet))?.[figure] ?? 0n) / 10_000;
    return {
      /** Loaded into the index, then a snapshot summed from it. */
      async load(figure?: 'used' | 'available', wallet?: string) {
        await index.ready(account);
        await index.settled(account);
        await service.current(account);
        await service.settled(account);
        return here(figure, wallet);
      },
      /** Read once the snapshot is due to be confirmed, and again once the confirmation ended. */
      async afterConfirmation(figure?: 'used' | 'available', wallet?: string) {
        await new Promise((r) => setTimeout(r, cachePolicy.confirmMs + 50));
        await here(figure, wallet);
        await service.settled(account);
        return here(figure, wallet);
      },
    };
  }
  const other = () => createIngestPipeline({ store, metrics: createMetrics(), log: silentLog });

  it('is computed again once a usage the version counted before it was visible is, with no write by this process', async () => {
    const account = 'counted-early';
    const { node, show } = nodeSeeingLate(store, 'events_v1', 'ce-late');
    const here = indexedService(node, account);
    const writer = other();
    await writer.ingest(lines([purchase('ce-p1', { account_id: account }), usage('ce-u1', { account_id: account, amount: '10' })]), { source: 'http' });
    expect(await here.load()).toBe(10);

    // Another process stores a usage; the version counts it, the rows are not visible here yet.
    await writer.ingest(lines([usage('ce-late', { account_id: account, amount: '5' })]), { source: 'kafka' });
    expect(await here.afterConfirmation()).toBe(10);

    // Visible now; nothing more is stored. The next confirmation finds storage's usage grown.
    show();
    expect(await here.afterConfirmation()).toBe(15);
  });

  it('is computed again once a purchase whose lot the version counted before it was visible is', async () => {
    const account = 'lot-early';
    const { node, show } = nodeSeeingLate(store, 'lots_v1', 'le-late');
    const here = indexedService(node, account);
    const writer = other();
    await writer.ingest(lines([purchase('le-p1', { account_id: account, amount: '100' }), usage('le-u1', { account_id: account, amount: '10' })]), { source: 'http' });
    expect(await here.load('available')).toBe(90);

    // Another process stores a purchase; the version counts it, its lot is not visible here yet.
    await writer.ingest(lines([purchase('le-late', { account_id: account, amount: '50' })]), { source: 'kafka' });
    expect(await here.afterConfirmation('available')).toBe(90);
    expect(await here.afterConfirmation('available')).toBe(90);

    // Visible now; nothing more is stored. The next confirmation finds storage's lots grown.
    show();
    expect(await here.afterConfirmation('available')).toBe(140);
  });

  it('is computed again once a move the version counted before it was visible is', async () => {
    const account = 'move-early';
    const { node, show } = nodeSeeingLate(store, 'moves_v1', 'me-late');
    const here = indexedService(node, account);
    const writer = other();
    await writer.ingest(lines([purchase('me-p1', { account_id: account, amount: '100' })]), { source: 'http' });
    expect(await here.load('available', 'mobile')).toBe(0);

    await writer.ingest(lines([move('me-late', { account_id: account, amount: '30' })]), { source: 'kafka' });
    expect(await here.afterConfirmation('available', 'mobile')).toBe(0);

    show();
    expect(await here.afterConfirmation('available', 'mobile')).toBe(30);
    expect(await here.afterConfirmation('available')).toBe(70);
  });

  it('reads its usage from storage, and keeps storage\'s counts of it, while a usage falls on a move\'s very instant', async () => {
    const account = 'used-at-move';
    const { node, show } = nodeSeeingLate(store, 'usage_wallet_daily_v1', { where: `account_id = '${account}' AND day = '2026-02-20'` });
    const here = indexedService(node, account);
    const writer = other();
    // A usage at the move's instant orders with it by event id, which the index does not hold.
    await writer.ingest(
      lines([
        purchase('um-p1', { account_id: account }),
        usage('um-u1', { account_id: account, amount: '10' }),
        move('um-m1', { account_id: account, amount: '100' }),
        usage('um-u2', { account_id: account, amount: '1', occurred_at: '2026-03-01T00:00:00Z' }),
      ]),
      { source: 'http' },
    );
    expect(await here.load()).toBe(11);

    // A usage of a closed day: events_v1 and the index show it, the daily rollup's part not yet.
    await writer.ingest(lines([usage('um-late', { account_id: account, amount: '5', occurred_at: '2026-02-20T12:00:00Z' })]), { source: 'kafka' });
    expect(await here.afterConfirmation()).toBe(11);

    show();
    expect(await here.afterConfirmation()).toBe(16);
  });

  it('is computed again once a pairing the version counted before it was visible is', async () => {
    const account = 'paired-early';
    const { node, show } = nodeSeeingLate(store, 'voided_usage_v2', 'pe-u2');
    const here = indexedService(node, account);
    const writer = other();
    await writer.ingest(lines([purchase('pe-p1', { account_id: account }), usage('pe-u1', { account_id: account, amount: '10' }), usage('pe-u2', { account_id: account, amount: '5' })]), { source: 'http' });
    expect(await here.load()).toBe(15);

    // Another process voids a usage and pairs it; the version counts both, the pairing is not visible here yet.
    await writer.ingest(lines([voidOf('pe-v1', 'pe-u2', { account_id: account })]), { source: 'kafka' });
    await pairVoidedUsage(store, [account]);
    expect(await here.afterConfirmation()).toBe(15);

    show();
    expect(await here.afterConfirmation()).toBe(10);
  });
});

describe('a confirmed snapshot', () => {
  it('holds when one event is voided twice: the void events storage counts are those it read', async () => {
    const account = 'voided-twice';
    let structureReads = 0;
    const counting: Store = {
      ...store,
      queryTsv: (sql, params, options) => {
        if (sql.includes('lots_v1') && sql.includes('UNION ALL') && params?.account === account) structureReads++;
        return store.queryTsv(sql, params, options);
      },
    };
    const here = new BalanceService(counting, clock);
    const writer = createIngestPipeline({ store, metrics: createMetrics(), log: silentLog, afterStore: (a) => pairVoidedUsage(store, a) });
    await writer.ingest(lines([purchase('vt-p1', { account_id: account }), usage('vt-u1', { account_id: account, amount: '10' }), usage('vt-u2', { account_id: account, amount: '5' }), voidOf('vt-v1', 'vt-u2', { account_id: account }), voidOf('vt-v2', 'vt-u2', { account_id: account })]), { source: 'http' });
    const usedHere = async () => Number((await here.current(account)).wallets.get(walletKey('team', 'platform'))?.used ?? 0n) / 10_000;
    expect(await usedHere()).toBe(10);
    await here.settled(account);
    const computed = structureReads;
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, cachePolicy.confirmMs + 50));
      expect(await usedHere()).toBe(10);
      await here.settled(account);
    }
    expect(structureReads).toBe(computed);
  });
});

describe('a snapshot whose usage is read from storage', () => {
  it('is computed again once a usage the version counted before the daily rollup showed it is, with no write by this process', async () => {
    const account = 'rolled-early';
    // A day only the late usage has: the rollup's rows of it are what the node cannot see yet.
    const { node, show } = nodeSeeingLate(store, 'usage_wallet_daily_v1', { where: `account_id = '${account}' AND day = '2026-02-20'` });
    const here = new BalanceService(node, clock);
    const usedHere = async () => Number((await here.current(account)).wallets.get(walletKey('team', 'platform'))?.used ?? 0n) / 10_000;
    const afterConfirmation = async () => {
      await new Promise((r) => setTimeout(r, cachePolicy.confirmMs + 50));
      await usedHere();
      await here.settled(account);
      return usedHere();
    };
    const writer = createIngestPipeline({ store, metrics: createMetrics(), log: silentLog });
    await writer.ingest(lines([purchase('re-p1', { account_id: account }), usage('re-u1', { account_id: account, amount: '10' })]), { source: 'http' });
    await usedHere();
    await here.settled(account);
    expect(await usedHere()).toBe(10);

    // Another process stores a usage of a past day; the version counts it and events_v1 shows it,
    // the daily rollup's part is not visible here yet. The snapshot is computed again without it.
    await writer.ingest(lines([usage('re-late', { account_id: account, amount: '5', occurred_at: '2026-02-20T12:00:00Z' })]), { source: 'kafka' });
    expect(await afterConfirmation()).toBe(10);
    expect(await afterConfirmation()).toBe(10);

    // Visible now; nothing more is stored. The next confirmation finds the rollup's count grown.
    show();
    expect(await afterConfirmation()).toBe(15);
  });
});

