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

describe('the provisioned alert rules, run on chDB over the balance tables', () => {
  it('fire for nothing while every wallet is green and nothing left expires within 90 days', async () => {
    await store_([
      purchase('p-steady', { wallet: { type: 'team', id: 'steady' }, occurred_at: iso(now - 10 * DAY), expires_at: iso(now + 200 * DAY) }),
      purchase('p-busy', { wallet: { type: 'team', id: 'busy' }, occurred_at: iso(now - 10 * DAY), expires_at: iso(now + 200 * DAY) }),
      usage('u-busy-1', { wallet: { type: 'team', id: 'busy' }, occurred_at: iso(now - 5 * DAY), amount: '100' }),
    ]);
    expect(await firing('Low balance')).toEqual([]);
    expect(await firing('Expiring within 90 days')).toEqual([]);
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
});
