import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { rebuildRollups } from '../../aggregator/backfill.js';
import { move, purchase, usage, voidOf } from '../support/events.js';
import { freshStore, pipelineFor } from '../support/store.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  store = undefined;
});

const lines = (events: Array<Record<string, unknown>>) => events.map((e) => ({ text: JSON.stringify(e) }));

async function hourlyTotals(s: Store, level: 'hour' | 'event' = 'hour') {
  return s.queryRows<{ wallet_id: string; user_id: string; amount: string; events: string }>(
    `SELECT wallet_id, user_id, toString(sum(h.amount)) AS amount, toString(sum(h.events)) AS events
     FROM ${s.table('usage_wallet_levels_v1')} AS h WHERE level = {level:String} GROUP BY wallet_id, user_id
     HAVING sum(h.events) != 0 OR sum(h.amount) != 0 ORDER BY wallet_id, user_id`,
    { level },
  );
}

async function dailyTotals(s: Store) {
  return s.queryRows<{ wallet_id: string; amount: string; events: string }>(
    `SELECT wallet_id, toString(sum(d.amount)) AS amount, toString(sum(d.events)) AS events
     FROM ${s.table('usage_wallet_daily_v1')} AS d GROUP BY wallet_id
     HAVING sum(d.events) != 0 OR sum(d.amount) != 0 ORDER BY wallet_id`,
  );
}

describe('rollups', () => {
  it('never count a duplicate', async () => {
    store = await freshStore();
    const pipeline = pipelineFor(store);
    await pipeline.ingest(lines([usage('u1', { amount: '1.5' }), usage('u1', { amount: '1.5' }), usage('u2', { amount: '2' })]), { source: 'test' });
    await pipeline.ingest(lines([usage('u1', { amount: '1.5' }), usage('u2', { amount: '2' })]), { source: 'test' });
    expect(await hourlyTotals(store)).toEqual([{ wallet_id: 'platform', user_id: 'ada', amount: '3.5', events: '2' }]);
    expect(await hourlyTotals(store, 'event')).toEqual([{ wallet_id: 'platform', user_id: 'ada', amount: '3.5', events: '2' }]);
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
    expect(await hourlyTotals(store)).toEqual([{ wallet_id: 'platform', user_id: 'ada', amount: '1010', events: '2' }]);
    expect(await hourlyTotals(store, 'event')).toEqual([{ wallet_id: 'platform', user_id: 'ada', amount: '1010', events: '2' }]);
    expect(await dailyTotals(store)).toEqual([{ wallet_id: 'platform', amount: '1010', events: '2' }]);
  });

  it('hold lots, moves and voids for the ledger', async () => {
    store = await freshStore();
    await pipelineFor(store).ingest(
      lines([purchase('p1', { amount: '100', lot_id: 'L1' }), move('m1', { amount: '5' }), voidOf('v1', 'p1'), usage('u1')]),
      { source: 'test' },
    );
    const lots = await store.queryRows<Record<string, string>>(`SELECT lot_id, toString(amount) AS amount, toString(expires_at) AS expires_at FROM ${store.table('lots_v1')}`);
    expect(lots).toEqual([{ lot_id: 'L1', amount: '100', expires_at: '2027-01-01 00:00:00.000' }]);
    const moves = await store.queryRows<Record<string, string>>(`SELECT from_wallet_id, to_wallet_id, toString(amount) AS amount FROM ${store.table('moves_v1')}`);
    expect(moves).toEqual([{ from_wallet_id: 'platform', to_wallet_id: 'mobile', amount: '5' }]);
    const voids = await store.queryRows<Record<string, string>>(`SELECT voids_event_id FROM ${store.table('voids_v1')}`);
    expect(voids).toEqual([{ voids_event_id: 'p1' }]);
  });

  it('are rebuilt from raw events by the backfill, to the same totals', async () => {
    store = await freshStore();
    const pipeline = pipelineFor(store);
    await pipeline.ingest(lines([usage('u1', { amount: '1' }), usage('u2', { amount: '2', user_id: 'bo' }), voidOf('v1', 'u1'), purchase('p1'), move('m1')]), { source: 'test' });
    const before = { hourly: await hourlyTotals(store), daily: await dailyTotals(store) };
    const rollupTotals = async (s: Store) => {
      const totals: Record<string, unknown> = {};
      for (const table of ['usage_wallet_levels_v1', 'usage_wallet_daily_v1', 'usage_dims_daily_v1', 'usage_dims_monthly_v1', 'usage_quarter_hours_v1', 'usage_account_dims_v1', 'usage_by_time_v1']) {
        totals[table] = await s.queryRows(`SELECT toString(sum(t.amount)) AS amount, toString(sum(t.events)) AS events FROM ${s.table(table)} AS t`);
      }
      return totals;
    };
    const rollupsBefore = await rollupTotals(store);
    // Days, months, quarters and years of three dimensions: u2 (2) counted 12 times; voided u1 nets out.
    expect(rollupsBefore.usage_account_dims_v1).toEqual([{ amount: '24', events: '12' }]);
    // One row per event, and one negated row per voided event.
    expect(rollupsBefore.usage_by_time_v1).toEqual([{ amount: '2', events: '1' }]);
    const report = await rebuildRollups(store);
    expect(await rollupTotals(store)).toEqual(rollupsBefore);
    expect(report.views).toEqual(expect.arrayContaining(['usage_wallet_levels_mv_v1', 'lots_mv_v1', 'event_keys_mv_v1']));
    expect(report.rows).toMatchObject({ event_keys_v1: 5, lots_v1: 1, moves_v1: 1, voids_v1: 1, voided_usage_v1: 1 });
    expect({ hourly: await hourlyTotals(store), daily: await dailyTotals(store) }).toEqual(before);
    // Dedupe state is rebuilt too: what was stored is still a duplicate.
    expect(await pipeline.ingest(lines([usage('u2')]), { source: 'test' })).toMatchObject({ duplicates: 1 });
  });
});
