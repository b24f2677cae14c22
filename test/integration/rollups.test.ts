import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { rebuildRollups } from '../../storage/backfill.js';
import { move, purchase, usage, voidOf } from '../support/events.js';
import { count, freshStore, pipelineFor, silentLog } from '../support/store.js';
import { pairVoidedUsage } from '../../storage/voids.js';
import { usageBy } from '../../readmodels/usage.js';
import { BalanceService } from '../../readmodels/balances.js';
import { walletKey } from '../../ledger/ledger.js';
import { formatScaled, toScaled } from '../../core/decimal.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { createMetrics } from '../../core/metrics.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  store = undefined;
});

const lines = (events: Array<Record<string, unknown>>) => events.map((e) => ({ text: JSON.stringify(e) }));

async function hourlyTotals(s: Store, dim: 'user' | 'service' = 'user') {
  return s.queryRows<{ value: string; amount: string; events: string }>(
    `SELECT value, toString(sum(h.amount)) AS amount, toString(sum(h.events)) AS events
     FROM ${s.table('usage_dims_daily_v1')} AS h WHERE dim = {dim:String} GROUP BY value
     HAVING sum(h.events) != 0 OR sum(h.amount) != 0 ORDER BY value`,
    { dim },
  );
}

async function dailyTotals(s: Store) {
  return s.queryRows<{ wallet_id: string; amount: string; events: string }>(
    `SELECT wallet_id, toString(sum(d.amount)) AS amount, toString(sum(d.events)) AS events
     FROM ${s.table('usage_wallet_daily_v1')} AS d GROUP BY wallet_id
     HAVING sum(d.events) != 0 OR sum(d.amount) != 0 ORDER BY wallet_id`,
  );
}

const RANGE = { accountId: 'acme', from: Date.parse('2025-01-01T00:00:00Z'), to: Date.parse('2027-01-01T00:00:00Z'), tz: 'UTC', now: Date.parse('2026-06-01T00:00:00Z') };

/** Usage as every read path counts it: one wallet, the wallet type, the account, by day, and the ledger. */
async function counted(s: Store) {
  const total = (rows: Array<{ amount: string; events: number }>) => ({
    amount: formatScaled(rows.reduce((t, r) => t + toScaled(r.amount), 0n)),
    events: rows.reduce((t, r) => t + r.events, 0),
  });
  const ledger = await new BalanceService(s, () => RANGE.now).current('acme');
  const wallet = ledger.wallets.get(walletKey('team', 'platform'));
  return {
    wallet: total(await usageBy(s, { ...RANGE, walletType: 'team', walletId: 'platform', groupBy: 'user' })),
    walletByDay: total(await usageBy(s, { ...RANGE, walletType: 'team', walletId: 'platform', groupBy: 'day', tz: 'Asia/Kolkata' })),
    walletType: total(await usageBy(s, { ...RANGE, walletType: 'team', groupBy: 'product' })),
    account: total(await usageBy(s, { ...RANGE, groupBy: 'user' })),
    days: total(await usageBy(s, { ...RANGE, groupBy: 'day' })),
    ledgerUsage: formatScaled((wallet?.used ?? 0n) + (wallet?.overage ?? 0n)),
  };
}

const everyWay = (amount: string, events: number) => ({
  wallet: { amount, events },
  walletByDay: { amount, events },
  walletType: { amount, events },
  account: { amount, events },
  days: { amount, events },
  ledgerUsage: amount,
});

async function pairings(s: Store): Promise<string[]> {
  const rows = await s.queryTsv(`SELECT event_id FROM ${s.table('voided_usage_v2')} FINAL ORDER BY event_id`);
  return rows.map(([id = '']) => id);
}

describe('rollups', () => {
  it('never count a duplicate', async () => {
    store = await freshStore();
    const pipeline = pipelineFor(store);
    await pipeline.ingest(lines([usage('u1', { amount: '1.5' }), usage('u1', { amount: '1.5' }), usage('u2', { amount: '2' })]), { source: 'test' });
    await pipeline.ingest(lines([usage('u1', { amount: '1.5' }), usage('u2', { amount: '2' })]), { source: 'test' });
    expect(await hourlyTotals(store)).toEqual([{ value: 'ada', amount: '3.5', events: '2' }]);
    expect(await hourlyTotals(store, 'service')).toEqual([{ value: 'compiler', amount: '3.5', events: '2' }]);
    expect(await dailyTotals(store)).toEqual([{ wallet_id: 'platform', amount: '3.5', events: '2' }]);
  });

  it('never count a voided usage, whether the void comes after or before its target', async () => {
    store = await freshStore();
    const pipeline = pipelineFor(store);
    await pipeline.ingest(lines([usage('u1', { amount: '1' }), usage('u2', { amount: '10' })]), { source: 'test' });
    await pipeline.ingest(lines([voidOf('v1', 'u1'), voidOf('v-early', 'u3')]), { source: 'test' });
    await pipeline.ingest(lines([usage('u3', { amount: '100' }), usage('u4', { amount: '1000' })]), { source: 'test' });
    // A second void of the same usage, and a void resent, change nothing.
    await pipeline.ingest(lines([voidOf('v2', 'u1'), voidOf('v1', 'u1')]), { source: 'test' });
    // Target and void in one batch.
    await pipeline.ingest(lines([voidOf('v5', 'u5'), usage('u5', { amount: '0.5' })]), { source: 'test' });
    expect(await counted(store)).toEqual(everyWay('1010', 2));
    expect(await pairings(store)).toEqual(['u1', 'u3', 'u5']);
  });

  it('a usage and its void stored by two processes at once are subtracted once, in every interleaving', async () => {
    store = await freshStore();
    const s = store;
    // Two pipelines with no queue in common, as two processes have; each pairs after it stores.
    const kafka = pipelineFor(s);
    const http = pipelineFor(s);
    for (let i = 0; i < 12; i++) {
      const u = usage(`race-u${i}`, { amount: '7' });
      const v = voidOf(`race-v${i}`, `race-u${i}`);
      const [first, second] = i % 2 === 0 ? [kafka, http] : [http, kafka];
      await Promise.all([first.ingest(lines([u]), { source: 'kafka' }), second.ingest(lines([v]), { source: 'http' })]);
    }
    // Pairing run again and again, and every pairing written a second time, as two processes
    // racing on a server both write it: still one subtraction each.
    await pairVoidedUsage(s, ['acme']);
    await Promise.all([pairVoidedUsage(s, 'all'), pairVoidedUsage(s, ['acme'])]);
    await s.command(`INSERT INTO ${s.table('voided_usage_v2')} SELECT * FROM ${s.table('voided_usage_v2')}`);
    expect(await count(s, `SELECT count() AS n FROM ${s.table('voided_usage_v2')}`)).toBeGreaterThanOrEqual(24);
    expect(await counted(s)).toEqual(everyWay('0', 0));
    expect(await pairings(s)).toHaveLength(12);
  });

  it('a crash between storing a void and pairing it is repaired by the next batch or the sweep', async () => {
    store = await freshStore();
    const s = store;
    await pipelineFor(s).ingest(lines([usage('c-u1', { amount: '3' }), usage('c-u2', { amount: '4' })]), { source: 'test' });
    const crashing = createIngestPipeline({ store: s, metrics: createMetrics(), log: silentLog, afterStore: () => Promise.reject(new Error('process killed')) });
    await expect(crashing.ingest(lines([voidOf('c-v1', 'c-u1')]), { source: 'test' })).rejects.toMatchObject({ step: 'after_store', cause: { message: 'process killed' } });
    // The void is stored, its pairing is not: the usage still counts.
    expect(await counted(s)).toEqual(everyWay('7', 2));
    // Redelivered after the restart: a duplicate, and the pairing is made up.
    expect(await pipelineFor(s).ingest(lines([voidOf('c-v1', 'c-u1')]), { source: 'test' })).toMatchObject({ duplicates: 1 });
    expect(await counted(s)).toEqual(everyWay('4', 1));
    await expect(crashing.ingest(lines([voidOf('c-v2', 'c-u2')]), { source: 'test' })).rejects.toMatchObject({ step: 'after_store', cause: { message: 'process killed' } });
    await pairVoidedUsage(s, 'all');
    expect(await counted(s)).toEqual(everyWay('0', 0));
  });

  it('hold lots and moves for the ledger', async () => {
    store = await freshStore();
    await pipelineFor(store).ingest(
      lines([purchase('p1', { amount: '100', lot_id: 'L1' }), move('m1', { amount: '5' }), voidOf('v1', 'p1'), usage('u1')]),
      { source: 'test' },
    );
    const lots = await store.queryRows<Record<string, string>>(`SELECT lot_id, toString(amount) AS amount, toString(expires_at) AS expires_at FROM ${store.table('lots_v1')}`);
    expect(lots).toEqual([{ lot_id: 'L1', amount: '100', expires_at: '2027-01-01 00:00:00.000' }]);
    const moves = await store.queryRows<Record<string, string>>(`SELECT from_wallet_id, to_wallet_id, toString(amount) AS amount FROM ${store.table('moves_v1')}`);
    expect(moves).toEqual([{ from_wallet_id: 'platform', to_wallet_id: 'mobile', amount: '5' }]);
  });

  it('are rebuilt from raw events by the backfill, to the same totals', async () => {
    store = await freshStore();
    const pipeline = pipelineFor(store);
    await pipeline.ingest(lines([usage('u1', { amount: '1' }), usage('u2', { amount: '2', user_id: 'bo' }), voidOf('v1', 'u1'), purchase('p1'), move('m1')]), { source: 'test' });
    const before = { hourly: await hourlyTotals(store), daily: await dailyTotals(store) };
    const rollupTotals = async (s: Store) => {
      const totals: Record<string, unknown> = {};
      for (const table of ['usage_wallet_daily_v1', 'usage_dims_daily_v1', 'usage_dims_monthly_v1', 'usage_quarter_hours_v1', 'usage_by_time_v1']) {
        totals[table] = await s.queryRows(`SELECT toString(sum(t.amount)) AS amount, toString(sum(t.events)) AS events FROM ${s.table(table)} AS t`);
      }
      return totals;
    };
    const rollupsBefore = await rollupTotals(store);
    // Days of three dimensions: u1 (1) and u2 (2) counted 3 times each; the voided u1 is subtracted when read.
    expect(rollupsBefore.usage_dims_daily_v1).toEqual([{ amount: '9', events: '6' }]);
    expect(rollupsBefore.usage_by_time_v1).toEqual([{ amount: '3', events: '2' }]);
    const countedBefore = await counted(store);
    expect(countedBefore.account).toEqual({ amount: '2', events: 1 });
    const report = await rebuildRollups(store);
    expect(await rollupTotals(store)).toEqual(rollupsBefore);
    expect(report.views).toEqual(expect.arrayContaining(['usage_dims_daily_mv_v1', 'lots_mv_v1', 'event_keys_mv_v1']));
    expect(report.rows).toMatchObject({ event_keys_v1: 5, lots_v1: 1, moves_v1: 1, voided_usage_v2: 1 });
    expect({ hourly: await hourlyTotals(store), daily: await dailyTotals(store) }).toEqual(before);
    expect(await counted(store)).toEqual(countedBefore);
    // Dedupe state is rebuilt too: what was stored is still a duplicate.
    expect(await pipeline.ingest(lines([usage('u2', { amount: '2', user_id: 'bo' })]), { source: 'test' })).toMatchObject({ duplicates: 1 });
  });
});
