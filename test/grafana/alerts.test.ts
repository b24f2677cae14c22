import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { BalanceAggregator } from '../../aggregator/process.js';
import { createIngestPipeline, type IngestPipeline } from '../../ingest/pipeline.js';
import { purchase, usage } from '../support/events.js';
import { freshStore, silentLog } from '../support/store.js';
import { firingSeries, runAsGrafana } from './support/chdb.js';
import { expandAlertQuery } from './support/macros.js';
import { alertRulesFile } from './support/provisioning.js';

const DAY = 86_400_000;
const now = Date.now();
const iso = (ms: number) => new Date(ms).toISOString();
let store: Store;
let pipeline: IngestPipeline;
let aggregator: BalanceAggregator;

const rules = alertRulesFile().groups.flatMap((g) => g.rules);
const ruleSql = (title: string) => rules.find((r) => r.title === title)?.data[0]?.model.rawSql as string;

/** Which wallets of acme a rule fires for, evaluated as Grafana does: query, last value, above 0. */
async function firing(title: string): Promise<string[]> {
  const result = await runAsGrafana(store, expandAlertQuery(ruleSql(title), { from: now - 600_000, to: now }));
  return firingSeries(result)
    .filter((labels) => labels.account === 'acme')
    .map((labels) => labels.wallet as string)
    .sort();
}

async function store_(events: Array<Record<string, unknown>>) {
  const result = await pipeline.ingest(events.map((e) => ({ text: JSON.stringify(e) })), { source: 'http' });
  expect(result.rejected).toBe(0);
  await aggregator.caughtUp();
}

beforeAll(async () => {
  store = await freshStore();
  aggregator = new BalanceAggregator({ store, log: silentLog });
  pipeline = createIngestPipeline({ store, metrics: createMetrics(), log: silentLog, onStored: (accounts) => aggregator.notify(accounts) });
  aggregator.start();
});

afterAll(async () => {
  await aggregator?.stop();
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  await store?.close();
});

describe('the provisioned alert rules, run on chDB over the balance and forecast tables', () => {
  it('fire for nothing while every wallet is green and nothing left expires within 90 days', async () => {
    await store_([
      purchase('p-steady', { wallet: { type: 'team', id: 'steady' }, occurred_at: iso(now - 10 * DAY), expires_at: iso(now + 200 * DAY) }),
      purchase('p-busy', { wallet: { type: 'team', id: 'busy' }, occurred_at: iso(now - 10 * DAY), expires_at: iso(now + 200 * DAY) }),
      usage('u-busy-1', { wallet: { type: 'team', id: 'busy' }, occurred_at: iso(now - 5 * DAY), amount: '100' }),
    ]);
    expect(await firing('Low balance')).toEqual([]);
    expect(await firing('Expiring within 90 days')).toEqual([]);
    // team/busy lasts 252 days at 100 over 28 days; nothing expires within 90 days.
    expect(await firing('Runs out within 30 days')).toEqual([]);
    expect(await firing('Expiring unused within 90 days')).toEqual([]);
  });

  it('low balance fires for a wallet made red: available exactly 20 % of total is red', async () => {
    await store_([usage('u-busy-2', { wallet: { type: 'team', id: 'busy' }, occurred_at: iso(now - 4 * DAY), amount: '700' })]);
    expect(await firing('Low balance')).toEqual(['team/busy']);
    expect(await firing('Expiring within 90 days')).toEqual([]);
  });

  it('expiring fires for a wallet with a lot made to expire within 90 days, and not for one whose soon-expiring lot is used up', async () => {
    await store_([
      purchase('p-steady-soon', { wallet: { type: 'team', id: 'steady' }, occurred_at: iso(now - 2 * DAY), expires_at: iso(now + 30 * DAY), amount: '50' }),
      purchase('p-busy-soon', { wallet: { type: 'team', id: 'busy' }, occurred_at: iso(now - 2 * DAY), expires_at: iso(now + 20 * DAY), amount: '100' }),
      // Burn-down takes the earliest expiry first: this uses the soon lot up.
      usage('u-busy-3', { wallet: { type: 'team', id: 'busy' }, occurred_at: iso(now - DAY), amount: '100' }),
    ]);
    expect(await firing('Expiring within 90 days')).toEqual(['team/steady']);
    expect(await firing('Low balance')).toEqual(['team/busy']);
  });

  it('a lot expiring in more than 90 days does not fire, and buying enough turns low balance off', async () => {
    await store_([
      purchase('p-steady-later', { wallet: { type: 'team', id: 'steady' }, occurred_at: iso(now - DAY), expires_at: iso(now + 91 * DAY), amount: '10' }),
      purchase('p-busy-more', { wallet: { type: 'team', id: 'busy' }, occurred_at: iso(now - DAY), expires_at: iso(now + 300 * DAY), amount: '5000' }),
    ]);
    expect(await firing('Low balance')).toEqual([]);
    expect(await firing('Expiring within 90 days')).toEqual(['team/steady']);
    const expiring = await runAsGrafana(store, expandAlertQuery(ruleSql('Expiring within 90 days'), { from: now - 600_000, to: now }));
    expect(expiring.data.find((r) => r.wallet === 'team/steady')?.expiring).toBe(50);
  });

  it('runs out within 30 days fires for wallets whose burn rate over the last 28 days empties them within 30 days, not for one that lasts longer', async () => {
    await store_([
      // 10 a day, 20 left: two days.
      purchase('p-hungry', { wallet: { type: 'team', id: 'hungry' }, occurred_at: iso(now - 20 * DAY), expires_at: iso(now + 200 * DAY), amount: '300' }),
      usage('u-hungry', { wallet: { type: 'team', id: 'hungry' }, occurred_at: iso(now - 10 * DAY), amount: '280' }),
      // 10 a day, 220 left: 22 days, before its lot expires.
      purchase('p-careful', { wallet: { type: 'team', id: 'careful' }, occurred_at: iso(now - 20 * DAY), expires_at: iso(now + 60 * DAY), amount: '500' }),
      usage('u-careful', { wallet: { type: 'team', id: 'careful' }, occurred_at: iso(now - 5 * DAY), amount: '280' }),
      // 1 a day, 72 left in a lot expiring in 60 days: it lasts until the lot expires, with 12 unused.
      purchase('p-thrifty', { wallet: { type: 'team', id: 'thrifty' }, occurred_at: iso(now - 20 * DAY), expires_at: iso(now + 60 * DAY), amount: '100' }),
      usage('u-thrifty', { wallet: { type: 'team', id: 'thrifty' }, occurred_at: iso(now - 5 * DAY), amount: '28' }),
    ]);
    expect(await firing('Runs out within 30 days')).toEqual(['team/careful', 'team/hungry']);
  });

  it('expiring unused fires for lots the burn rate leaves something in when they expire within 90 days, not for a soon-expiring lot it will use up', async () => {
    // team/careful has 220 expiring within 90 days, but uses it all before then.
    expect(await firing('Expiring within 90 days')).toEqual(['team/careful', 'team/steady', 'team/thrifty']);
    expect(await firing('Expiring unused within 90 days')).toEqual(['team/steady', 'team/thrifty']);
    const result = await runAsGrafana(store, expandAlertQuery(ruleSql('Expiring unused within 90 days'), { from: now - 600_000, to: now }));
    const unused = (wallet: string) => Number(result.data.find((r) => r.account === 'acme' && r.wallet === wallet)?.expiring_unused);
    // steady never uses anything: its 50 expiring in 30 days all go unused; its 10 expire after 90 days.
    expect(unused('team/steady')).toBe(50);
    expect(unused('team/thrifty')).toBeCloseTo(12, 2);
  });
});

