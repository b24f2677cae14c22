import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { BalanceAggregator, shardOf } from '../../aggregator/process.js';
import { purchase, usage, voidOf } from '../support/events.js';
import { freshStore, silentLog } from '../support/store.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { createMetrics } from '../../core/metrics.js';

let store: Store | undefined;
afterAll(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
});

const lines = (events: Array<Record<string, unknown>>) => events.map((e) => ({ text: JSON.stringify(e) }));

describe('several aggregators', () => {
  it('divide the accounts by a stable hash: each account is written by exactly one of them', async () => {
    store = await freshStore();
    const s = store;
    const accounts = Array.from({ length: 16 }, (_, i) => `shard-acct-${i}`);
    // Stored as a standalone ingest process would: it pairs no voids.
    const ingest = createIngestPipeline({ store: s, metrics: createMetrics(), log: silentLog });
    await ingest.ingest(
      lines(accounts.flatMap((account) => [
        { ...purchase(`${account}-p`, { amount: '100' }), account_id: account },
        { ...usage(`${account}-u1`, { amount: '30' }), account_id: account },
        { ...usage(`${account}-u2`, { amount: '5' }), account_id: account },
        { ...voidOf(`${account}-v`, `${account}-u2`), account_id: account },
      ])),
      { source: 'kafka' },
    );
    const owners = accounts.map((a) => shardOf(a, 2));
    expect(new Set(owners)).toEqual(new Set([0, 1]));
    // Stable: the same answer every time, whatever the process.
    expect(accounts.map((a) => shardOf(a, 2))).toEqual(owners);

    const written = new Map<string, number[]>();
    const aggregators = [0, 1].map((index) => {
      const aggregator = new BalanceAggregator({ store: s, log: silentLog, shard: { index, count: 2 }, pollMs: 50 });
      const recompute = aggregator.recompute.bind(aggregator);
      aggregator.recompute = async (accountId) => {
        written.set(accountId, [...(written.get(accountId) ?? []), index]);
        return recompute(accountId);
      };
      return aggregator;
    });
    for (const a of aggregators) a.start();
    await Promise.all(aggregators.map((a) => a.caughtUp()));
    await Promise.all(aggregators.map((a) => a.stop()));

    // Only the owner writes an account. It may write it twice: the pairing of its void grows the
    // account's count past the one its first recomputation read.
    for (const [i, account] of accounts.entries()) {
      expect(new Set(written.get(account)), account).toEqual(new Set([owners[i]]));
    }
    // The aggregator paired the voids the ingest process left: u2 does not count.
    const used = await s.queryTsv(
      `SELECT account_id, toString(used) FROM ${s.table('wallet_balances_v1')} WHERE wallet_id = 'platform' ORDER BY account_id`,
    );
    expect(used).toEqual([...accounts].sort().map((a) => [a, '30']));
  });
});
