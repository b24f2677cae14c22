import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { formatScaled, toScaled } from '../../core/decimal.js';
import { createMetrics } from '../../core/metrics.js';
import { balanceRowsOf, type BalanceRows } from '../../aggregator/balanceRows.js';
import { computeLedger } from '../../ledger/ledger.js';
import { BalanceAggregator, MIN_RECOMPUTE_MS } from '../../aggregator/process.js';
import { UsageIndex } from '../../readmodels/usageIndex.js';
import { createIngestPipeline, type IngestPipeline } from '../../ingest/pipeline.js';
import { BASE, HOUR, historyArb, ledgerInputOf } from '../support/histories.js';
import type { RefEvent } from '../support/reference.js';
import { freshStore, nodeSeeingLate, pipelineFor, silentLog } from '../support/store.js';

let store: Store;
/** Stores events as another process would: no in-process notification reaches an aggregator. */
let otherProcess: IngestPipeline;

beforeAll(async () => {
  store = await freshStore();
  otherProcess = pipelineFor(store);
});

afterAll(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  await store?.close();
});

async function deliver(events: RefEvent[], pipeline = otherProcess) {
  if (events.length === 0) return;
  const result = await pipeline.ingest(events.map((e) => ({ text: JSON.stringify(e) })), { source: 'kafka' });
  expect(result.rejected, JSON.stringify(result.outcomes.find((o) => o.status === 'rejected'))).toBe(0);
}

const amount = (text: unknown) => (text === null ? null : formatScaled(toScaled(String(text))));
const time = (text: unknown) => (text === null ? null : String(text));

/** What the views show for an account, normalised; `part` only tells rows apart, so it is left out. */
async function tables(accountId: string): Promise<BalanceRows> {
  const q = (sql: string) => store.queryRows<Record<string, unknown>>(sql, { account: accountId });
  const wallets = await q(
    `SELECT toString(wallet_type) AS wallet_type, wallet_id, name, toString(total) AS total, toString(used) AS used, toString(available) AS available,
            toString(status) AS status, toString(overage) AS overage, toString(expired) AS expired, toString(expiring_within_90d) AS expiring_within_90d,
            if(next_expiry IS NULL, NULL, toString(next_expiry)) AS next_expiry
     FROM ${store.table('wallet_balances_v1')} WHERE account_id = {account:String}`,
  );
  const lots = await q(
    `SELECT toString(wallet_type) AS wallet_type, wallet_id, lot_id, purchase_event_id, move_event_id, toString(amount) AS amount, toString(consumed) AS consumed,
            toString(moved_out) AS moved_out, toString(expired) AS expired, toString(remaining) AS remaining, toString(effective_at) AS effective_at, toString(expires_at) AS expires_at
     FROM ${store.table('lot_balances_v1')} WHERE account_id = {account:String}`,
  );
  const tokenEvents = await q(
    `SELECT toString(wallet_type) AS wallet_type, wallet_id, toString(occurred_at) AS occurred_at, toString(type) AS type, event_id, toString(amount) AS amount, lot_ids,
            toString(counterparty_type) AS counterparty_type, counterparty_id, if(requested IS NULL, NULL, toString(requested)) AS requested,
            if(shortfall IS NULL, NULL, toString(shortfall)) AS shortfall
     FROM ${store.table('token_events_v1')} WHERE account_id = {account:String}`,
  );
  const norm = (row: Record<string, unknown>) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) {
      if (['total', 'used', 'available', 'overage', 'expired', 'expiring_within_90d', 'amount', 'consumed', 'moved_out', 'remaining', 'requested', 'shortfall'].includes(k)) out[k] = amount(v);
      else if (['next_expiry', 'effective_at', 'expires_at', 'occurred_at'].includes(k)) out[k] = time(v);
      else out[k] = v;
    }
    return out;
  };
  return { wallets: wallets.map(norm), lots: lots.map(norm), tokenEvents: tokenEvents.map(norm) } as unknown as BalanceRows;
}

/** The ledger's own rows for the same events, computed without ClickHouse. */
function ledgerRows(accountId: string, delivered: RefEvent[], at: number): BalanceRows {
  return balanceRowsOf(accountId, computeLedger(ledgerInputOf(delivered, at, 'events')), new Map());
}

function sortedRows(rows: BalanceRows) {
  const strip = (list: object[]) =>
    list
      .map((row) => {
        const { account_id: _a, part: _p, ...rest } = row as Record<string, unknown>;
        return JSON.stringify(Object.fromEntries(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1))));
      })
      .sort();
  return { wallets: strip(rows.wallets), lots: strip(rows.lots), tokenEvents: strip(rows.tokenEvents) };
}

async function expectTablesMatchLedger(accountId: string, delivered: RefEvent[], at: number) {
  expect(sortedRows(await tables(accountId))).toEqual(sortedRows(ledgerRows(accountId, delivered, at)));
}

const withAccount = (events: RefEvent[], accountId: string) => events.map((e) => ({ ...e, account_id: accountId }));
let runs = 0;

/** A random history for its own account, cut into two deliveries, each computed at its own instant. */
function twoDeliveries(history: { delivered: RefEvent[]; instants: number[] }, cut: number, accountId: string) {
  const delivered = withAccount(history.delivered, accountId);
  const half = cut % delivered.length;
  const at1 = history.instants[0] as number;
  const at2 = Math.max(at1 + 1, history.instants[history.instants.length - 1] as number);
  return { delivered, first: delivered.slice(0, half), second: delivered.slice(half), at1, at2 };
}

describe('the balance tables', () => {
  it('equal the ledger over random histories, after every recomputation, rows of voided or changed events gone at once', async () => {
    await fc.assert(
      fc.asyncProperty(historyArb('placeholder', 24), fc.integer({ min: 1, max: 1000 }), async (history, cut) => {
        const accountId = `h${runs++}`;
        const { delivered, first, second, at1, at2 } = twoDeliveries(history, cut, accountId);
        await deliver(first);
        await new BalanceAggregator({ store, log: silentLog, clock: () => at1 }).recompute(accountId);
        await expectTablesMatchLedger(accountId, first, at1);
        await deliver(second);
        await new BalanceAggregator({ store, log: silentLog, clock: () => at2 }).recompute(accountId);
        await expectTablesMatchLedger(accountId, delivered, at2);
      }),
      { numRuns: 25, endOnFailure: true },
    );
  }, 240_000);

  it('equal the ledger when the aggregator sums usage from the process usage index, caught up after events another process stored', async () => {
    let fromMemory = 0;
    await fc.assert(
      fc.asyncProperty(historyArb('placeholder', 24), fc.integer({ min: 1, max: 1000 }), async (history, cut) => {
        const accountId = `u${runs++}`;
        const { delivered, first, second, at1, at2 } = twoDeliveries(history, cut, accountId);
        await deliver(first);
        const index = new UsageIndex(store);
        await index.ready(accountId);
        await index.settled(accountId);
        // Which reads the aggregator made: usage must come from memory, not from the raw events.
        const asked: string[] = [];
        const watched: Store = { ...store, observer: (sample) => asked.push(sample.name) };
        await new BalanceAggregator({ store: watched, log: silentLog, clock: () => at1, usage: index }).recompute(accountId);
        await expectTablesMatchLedger(accountId, first, at1);
        await deliver(second);
        await new BalanceAggregator({ store: watched, log: silentLog, clock: () => at2, usage: index }).recompute(accountId);
        await expectTablesMatchLedger(accountId, delivered, at2);
        expect(asked).toContain('ledger.structure');
        // A usage at a move's very instant orders with it by event id, which the index does not
        // hold: only then is the account's usage read from storage.
        const moveInstants = new Set(delivered.filter((e) => e.type === 'move').map((e) => Date.parse(e.occurred_at)));
        const atAMove = delivered.some((e) => e.type === 'usage' && moveInstants.has(Date.parse(e.occurred_at)));
        if (!atAMove) {
          fromMemory++;
          expect(asked.filter((name) => name === 'ledger.usage_segments')).toEqual([]);
        }
      }),
      { numRuns: 20, endOnFailure: true },
    );
    expect(fromMemory).toBeGreaterThanOrEqual(10);
  }, 240_000);

  it('two aggregators, a late writer, a restart and a replay leave exactly the latest snapshot', async () => {
    const [history] = fc.sample(historyArb('placeholder', 30), { numRuns: 1, seed: 42 });
    const accountId = 'two-writers';
    const delivered = withAccount((history as { delivered: RefEvent[] }).delivered, accountId);
    await deliver(delivered);
    const early = BASE + 24 * 12 * HOUR;
    const late = BASE + 24 * 25 * HOUR;
    const a = new BalanceAggregator({ store, log: silentLog, clock: () => early });
    const b = new BalanceAggregator({ store, log: silentLog, clock: () => late });
    await Promise.all([a.recompute(accountId), b.recompute(accountId), a.recompute(accountId), b.recompute(accountId)]);
    await expectTablesMatchLedger(accountId, delivered, late);
    // A slow writer that computed an earlier instant finishes last: its snapshot is older, so unseen.
    await a.recompute(accountId);
    await expectTablesMatchLedger(accountId, delivered, late);
    // A restarted aggregator and a replay of every event (all duplicates) change nothing.
    await deliver(delivered);
    await new BalanceAggregator({ store, log: silentLog, clock: () => late + 1 }).recompute(accountId);
    await expectTablesMatchLedger(accountId, delivered, late + 1);
    await store.command(`OPTIMIZE TABLE ${store.table('wallet_balance_versions_v1')} FINAL`);
    await store.command(`OPTIMIZE TABLE ${store.table('lot_balance_versions_v1')} FINAL`);
    await expectTablesMatchLedger(accountId, delivered, late + 1);
  });

  it('empty for an account whose only purchase was voided: no wallet, lot or token event is left over', async () => {
    const accountId = 'voided';
    const at = BASE + 48 * HOUR;
    const bought = { event_id: 'p1', type: 'purchase', account_id: accountId, occurred_at: new Date(BASE).toISOString(), wallet: { type: 'team', id: 'ops' }, amount: '100', expires_at: new Date(BASE + 24 * HOUR).toISOString() } as RefEvent;
    await deliver([bought]);
    const aggregator = new BalanceAggregator({ store, log: silentLog, clock: () => at });
    await aggregator.recompute(accountId);
    const before = await tables(accountId);
    expect([before.wallets.length, before.lots.length, before.tokenEvents.length]).toEqual([1, 1, 2]);
    await deliver([{ event_id: 'v1', type: 'void', account_id: accountId, occurred_at: new Date(BASE + HOUR).toISOString(), voids_event_id: 'p1' } as RefEvent]);
    await aggregator.recompute(accountId);
    const after = await tables(accountId);
    expect([after.wallets.length, after.lots.length, after.tokenEvents.length]).toEqual([0, 0, 0]);
  });

  it("name each wallet by the latest wallet_name of its events, or by its id when it was never named", async () => {
    const accountId = 'named';
    const at = BASE + 48 * HOUR;
    const event = (id: string, wallet: string, hour: number, name?: string) =>
      ({ event_id: id, type: 'purchase', account_id: accountId, occurred_at: new Date(BASE + hour * HOUR).toISOString(), wallet: { type: 'team', id: wallet }, amount: '10', expires_at: new Date(BASE + 400 * HOUR).toISOString(), ...(name ? { wallet_name: name } : {}) }) as RefEvent;
    await deliver([event('n2', 'ops', 2, 'Operations'), event('n1', 'ops', 1, 'Ops team'), event('n3', 'web', 1)]);
    await new BalanceAggregator({ store, log: silentLog, clock: () => at }).recompute(accountId);
    const names = await store.queryRows<{ wallet_id: string; name: string }>(`SELECT wallet_id, name FROM ${store.table('wallet_balances_v1')} WHERE account_id = 'named' ORDER BY wallet_id`);
    expect(names).toEqual([{ wallet_id: 'ops', name: 'Operations' }, { wallet_id: 'web', name: 'web' }]);
  });

  /** An account's lot and usage, and a later usage of 25 dated `lateAt`. */
  function lotAndUsage(accountId: string, lateAt = BASE + 2 * HOUR) {
    const bought = { event_id: 'p1', type: 'purchase', account_id: accountId, occurred_at: new Date(BASE).toISOString(), wallet: { type: 'team', id: 'ops' }, amount: '100', expires_at: new Date(BASE + 400 * 24 * HOUR).toISOString() } as RefEvent;
    const used = { event_id: 'u1', type: 'usage', account_id: accountId, occurred_at: new Date(BASE + HOUR).toISOString(), wallet: { type: 'team', id: 'ops' }, amount: '10', user_id: 'ada', product: 'compiler' } as RefEvent;
    return { delivered: [bought, used], late: { ...used, event_id: 'u-late', amount: '25', occurred_at: new Date(lateAt).toISOString() } as RefEvent };
  }

  /** An account with one lot and one usage, its balances written by an aggregator that sums usage from a loaded index. */
  async function withIndexedAccount(accountId: string, at: number, indexStore: Store = store) {
    const { delivered, late } = lotAndUsage(accountId);
    await deliver(delivered);
    const index = new UsageIndex(indexStore);
    await index.ready(accountId);
    await index.settled(accountId);
    return { index, delivered, late };
  }

  /**
   * Another process stores `late`, which the aggregator's `node` does not show yet though the
   * account version counts it; nobody reads the account. The tables lack it, with no
   * recomputation past the one for the new count, until `show()` makes it visible: then the
   * aggregator's own poll finds storage's usage grown and writes them again.
   */
  async function expectLateUsageWrittenOnceVisible(
    accountId: string,
    at: number,
    late: RefEvent,
    seen: { node: Store; show(): void; delivered: RefEvent[]; usage?: UsageIndex },
    /** Whether the tables show `late`, by the wallets' rows. */
    shown: (wallet: { used: string; total: string }) => boolean = (w) => w.used === '35',
  ) {
    // A clock that moves, from an instant at which no lot starts or ends for days.
    const started = Date.now();
    const aggregator = new BalanceAggregator({ store: seen.node, log: silentLog, clock: () => at + Date.now() - started, pollMs: 50, ...(seen.usage ? { usage: seen.usage } : {}) });
    let recomputed = 0;
    const recompute = aggregator.recompute.bind(aggregator);
    aggregator.recompute = (id) => {
      if (id === accountId) recomputed++;
      return recompute(id);
    };
    const until = async (done: () => boolean | Promise<boolean>) => {
      const deadline = Date.now() + MIN_RECOMPUTE_MS + 4_000;
      while (!(await done()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    };
    aggregator.start();
    try {
      await aggregator.caughtUp();
      await expectTablesMatchLedger(accountId, seen.delivered, at);
      await deliver([late]);
      await until(() => recomputed >= 2);
      // Computed again for the new count, without the usage; no poll since asked for more
      // (storage's usage was what the snapshot summed).
      await new Promise((r) => setTimeout(r, MIN_RECOMPUTE_MS + 200));
      expect(recomputed).toBe(2);
      await expectTablesMatchLedger(accountId, seen.delivered, at);
      seen.show();
      await until(async () => (await tables(accountId)).wallets.some((w) => shown(w as unknown as { used: string; total: string })));
      await expectTablesMatchLedger(accountId, [...seen.delivered, late], at);
    } finally {
      await aggregator.stop();
    }
  }

  for (const [late, label] of [[30_000, 'seconds'], [5 * 60_000, 'minutes']] as const) {
    it(`include a usage that became visible ${label} after its stamp, once the aggregator and the usage index had caught up`, async () => {
      const accountId = `late-${label}`;
      const at = BASE + 48 * HOUR;
      const { index, delivered, late: lateUsage } = await withIndexedAccount(accountId, at);
      const aggregator = new BalanceAggregator({ store, log: silentLog, clock: () => at, usage: index });
      await aggregator.recompute(accountId);
      await expectTablesMatchLedger(accountId, delivered, at);
      const readAt = (await index.ready(accountId))?.readAt as number;
      // Stamped when its block was formed, visible only now: as a stalled insert or a slow shard stores it.
      await store.command(
        `INSERT INTO ${store.table('events_v1')} (account_id, event_id, type, occurred_at, wallet_type, wallet_id, amount, user_id, product, service, source, ingested_at)
         VALUES ('${accountId}', 'u-late', 'usage', '${lateUsage.occurred_at.replace('T', ' ').replace('Z', '')}', 'team', 'ops', 25, 'ada', 'compiler', 'compiler', 'kafka', fromUnixTimestamp64Milli(${readAt - late}, 'UTC'))`,
      );
      await aggregator.recompute(accountId);
      await expectTablesMatchLedger(accountId, [...delivered, lateUsage], at);
    });
  }

  it('are written again once a usage the last snapshot lacked is visible, though the account version had already counted it, with no reader', async () => {
    const accountId = 'counted-early';
    const at = BASE + 48 * HOUR;
    // The aggregator and its index read events_v1 as a node would on which the late row is not
    // visible yet, while the account version (another table) already counts it.
    const { node, show } = nodeSeeingLate(store, 'events_v1', 'u-late');
    const { index, delivered, late } = await withIndexedAccount(accountId, at, node);
    await expectLateUsageWrittenOnceVisible(accountId, at, late, { node, show, delivered, usage: index });
  });

  it('are written again once the lots table shows a purchase the account version had already counted, with no reader', async () => {
    const accountId = 'lot-early';
    const at = BASE + 48 * HOUR;
    const { delivered } = lotAndUsage(accountId);
    const late = { ...delivered[0], event_id: 'p-late', amount: '50' } as RefEvent;
    const { node, show } = nodeSeeingLate(store, 'lots_v1', 'p-late');
    await deliver(delivered);
    const index = new UsageIndex(node);
    await index.ready(accountId);
    await index.settled(accountId);
    await expectLateUsageWrittenOnceVisible(accountId, at, late, { node, show, delivered, usage: index }, (w) => w.total === '150');
  });

  it('are written again once the daily rollup shows a usage the account version had already counted, with no usage index and no reader', async () => {
    const accountId = 'rolled-early';
    const at = BASE + 48 * HOUR;
    // Dated on a closed day of its own: its usage is read from the daily rollup, whose rows of
    // that day are what the aggregator's node cannot see yet, while the version counts it.
    const { delivered, late } = lotAndUsage(accountId, BASE + 26 * HOUR);
    const { node, show } = nodeSeeingLate(store, 'usage_wallet_daily_v1', { where: `account_id = '${accountId}' AND day = '2026-01-02'` });
    await deliver(delivered);
    await expectLateUsageWrittenOnceVisible(accountId, at, late, { node, show, delivered });
  });

  it('show an event stored by another process within 2 s, and one stored in this process at once', async () => {
    const aggregator = new BalanceAggregator({ store, log: silentLog });
    aggregator.start();
    try {
      await aggregator.caughtUp();
      const accountId = 'visible';
      const now = Date.now();
      const purchase = { event_id: 'p1', type: 'purchase', account_id: accountId, occurred_at: new Date(now - 3_600_000).toISOString(), wallet: { type: 'team', id: 'ops' }, amount: '100', expires_at: new Date(now + 400 * 86_400_000).toISOString() } as RefEvent;
      const stored = Date.now();
      await deliver([purchase]);
      let seen: number | undefined;
      while (Date.now() - stored < 5_000) {
        const rows = await store.queryRows<{ available: number }>(`SELECT available FROM ${store.table('wallet_balances_v1')} WHERE account_id = 'visible'`);
        if (rows[0]?.available === 100) {
          seen = Date.now() - stored;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen, 'never shown').toBeDefined();
      expect(seen).toBeLessThan(2_000);

      const notifying = createIngestPipeline({ store, metrics: createMetrics(), log: silentLog, onStored: (accounts) => aggregator.notify(accounts) });
      await deliver([{ ...purchase, event_id: 'u1', type: 'usage', amount: '90', user_id: 'ada', product: 'compiler', occurred_at: new Date(now - 60_000).toISOString() } as RefEvent], notifying);
      await aggregator.caughtUp();
      const [row] = await store.queryRows<{ status: string }>(`SELECT toString(status) AS status FROM ${store.table('wallet_balances_v1')} WHERE account_id = 'visible'`);
      expect(row?.status).toBe('red');
    } finally {
      await aggregator.stop();
    }
  });

  it('are recomputed when a lot boundary passes, with no new event', async () => {
    let clock = BASE;
    const accountId = 'boundary';
    const aggregator = new BalanceAggregator({ store, log: silentLog, clock: () => clock });
    await deliver([
      { event_id: 'p1', type: 'purchase', account_id: accountId, occurred_at: new Date(BASE - HOUR).toISOString(), wallet: { type: 'team', id: 'ops' }, amount: '100', expires_at: new Date(BASE + 2 * HOUR).toISOString() } as RefEvent,
      { event_id: 'p2', type: 'purchase', account_id: accountId, occurred_at: new Date(BASE - HOUR).toISOString(), effective_at: new Date(BASE + HOUR).toISOString(), wallet: { type: 'team', id: 'ops' }, amount: '40', expires_at: new Date(BASE + 100 * 24 * HOUR).toISOString() } as RefEvent,
    ]);
    aggregator.start();
    try {
      await aggregator.caughtUp();
      const wallet = async () => (await store.queryRows<{ total: number; expired: number }>(`SELECT total, expired FROM ${store.table('wallet_balances_v1')} WHERE account_id = 'boundary'`))[0];
      expect(await wallet()).toEqual({ total: 100, expired: 0 });
      clock = BASE + HOUR; // p2 becomes active
      await aggregator.caughtUp();
      expect(await wallet()).toEqual({ total: 140, expired: 0 });
      clock = BASE + 2 * HOUR; // p1 expires
      await aggregator.caughtUp();
      expect(await wallet()).toEqual({ total: 40, expired: 100 });
      const events = await store.queryRows<{ type: string }>(`SELECT toString(type) AS type FROM ${store.table('token_events_v1')} WHERE account_id = 'boundary' ORDER BY occurred_at, type`);
      expect(events.map((e) => e.type)).toEqual(['purchased', 'purchased', 'expired']);
    } finally {
      await aggregator.stop();
    }
  });
});
