import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { BalanceAggregator, BEHIND_RECOMPUTE_MS, BEHIND_SHARE, MIN_RECOMPUTE_MS } from '../../aggregator/process.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { purchase, usage } from '../support/events.js';
import { freshStore, silentLog } from '../support/store.js';
import { read } from '../../core/query.js';
import { changeCountsQuery, LISTED_ACCOUNTS } from '../../aggregator/queries.js';

let store: Store | undefined;
afterAll(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  await store?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the aggregator under a stream', () => {
  it('sleeps until a streamed account is due again, instead of asking storage back to back', async () => {
    store = await freshStore();
    const s = store;
    const ingest = createIngestPipeline({ store: s, metrics: createMetrics(), log: silentLog });
    await ingest.ingest([purchase('p1'), usage('u1')].map((e) => ({ text: JSON.stringify(e) })), { source: 'kafka' });
    let polls = 0;
    const watched: Store = { ...s, observer: (sample) => void (sample.name === 'aggregator.account_changes' && polls++) };
    // A long poll: only the stream and the account's own pause can wake the loop here.
    const aggregator = new BalanceAggregator({ store: watched, log: silentLog, pollMs: 60_000 });
    const recomputed: number[] = [];
    const recompute = aggregator.recompute.bind(aggregator);
    aggregator.recompute = (accountId) => {
      recomputed.push(Date.now());
      return recompute(accountId);
    };
    aggregator.start();
    try {
      await aggregator.caughtUp();
      expect(recomputed).toHaveLength(1);
      polls = 0;
      // This process stores a batch for the account every 20 ms, for less than the account's pause.
      const streamStart = Date.now();
      while (Date.now() - streamStart < MIN_RECOMPUTE_MS * 0.6) {
        aggregator.notify(['acme'], 'soon');
        await sleep(20);
      }
      expect(polls, 'polls of storage during the pause').toBeLessThanOrEqual(2);
      // Once the pause is over, the account is recomputed without another word.
      const deadline = Date.now() + 2_000;
      while (recomputed.length < 2 && Date.now() < deadline) await sleep(20);
      expect(recomputed).toHaveLength(2);
      expect((recomputed[1] as number) - (recomputed[0] as number)).toBeGreaterThanOrEqual(MIN_RECOMPUTE_MS);
    } finally {
      await aggregator.stop();
    }
  });

  it('waits longer between recomputations of a streamed account while ingest is behind', async () => {
    const s = store ?? (store = await freshStore());
    const ingest = createIngestPipeline({ store: s, metrics: createMetrics(), log: silentLog });
    await ingest.ingest([purchase('p9'), usage('u9')].map((e) => ({ text: JSON.stringify({ ...e, account_id: 'behind' }) })), { source: 'kafka' });
    const aggregator = new BalanceAggregator({ store: s, log: silentLog, pollMs: 60_000, ingestBehind: () => true });
    const recomputed: number[] = [];
    const recompute = aggregator.recompute.bind(aggregator);
    aggregator.recompute = (accountId) => {
      if (accountId === 'behind') recomputed.push(Date.now());
      return recompute(accountId);
    };
    aggregator.start();
    try {
      await aggregator.caughtUp();
      expect(recomputed).toHaveLength(1);
      await ingest.ingest([{ text: JSON.stringify({ ...usage('u10'), account_id: 'behind' }) }], { source: 'kafka' });
      aggregator.notify(['behind'], 'soon');
      const deadline = Date.now() + BEHIND_RECOMPUTE_MS + 2_000;
      while (recomputed.length < 2 && Date.now() < deadline) await sleep(20);
      expect(recomputed).toHaveLength(2);
      expect((recomputed[1] as number) - (recomputed[0] as number)).toBeGreaterThanOrEqual(BEHIND_RECOMPUTE_MS);
      // A write its client reads back at once does not wait.
      await ingest.ingest([{ text: JSON.stringify({ ...usage('u11'), account_id: 'behind' }) }], { source: 'http' });
      aggregator.notify(['behind'], 'now');
      await aggregator.caughtUp();
      expect(recomputed).toHaveLength(3);
    } finally {
      await aggregator.stop();
    }
  });
});

describe('the aggregator while ingest is behind', () => {
  it('gives a slow account no more than a fifth of the time: its next recomputation waits five times its length', async () => {
    const s = (store ??= await freshStore());
    const ingest = createIngestPipeline({ store: s, metrics: createMetrics(), log: silentLog });
    await ingest.ingest([purchase('slow-p'), usage('slow-u1')].map((e) => ({ text: JSON.stringify({ ...e, account_id: 'slow' }) })), { source: 'kafka' });
    // Each read of the account's lots takes 0.7 s more: a recomputation takes longer than BEHIND_RECOMPUTE_MS ÷ BEHIND_SHARE.
    const slowReadMs = 700;
    const slow: Store = {
      ...s,
      queryTsv: async (sql, params, options) => {
        if (sql.includes('lots_v1') && params?.account === 'slow') await sleep(slowReadMs);
        return s.queryTsv(sql, params, options);
      },
    };
    const aggregator = new BalanceAggregator({ store: slow, log: silentLog, pollMs: 60_000, ingestBehind: () => true });
    const recomputed: Array<{ began: number; ended: number }> = [];
    const recompute = aggregator.recompute.bind(aggregator);
    aggregator.recompute = async (accountId) => {
      const began = Date.now();
      try {
        return await recompute(accountId);
      } finally {
        if (accountId === 'slow') recomputed.push({ began, ended: Date.now() });
      }
    };
    aggregator.start();
    try {
      await aggregator.caughtUp();
      expect(recomputed).toHaveLength(1);
      const took = (recomputed[0] as { ended: number }).ended - (recomputed[0] as { began: number }).began;
      expect(took).toBeGreaterThanOrEqual(slowReadMs);
      await ingest.ingest([{ text: JSON.stringify({ ...usage('slow-u2'), account_id: 'slow' }) }], { source: 'kafka' });
      aggregator.notify(['slow'], 'soon');
      const deadline = Date.now() + BEHIND_SHARE * took + 3_000;
      while (recomputed.length < 2 && Date.now() < deadline) await sleep(20);
      expect(recomputed).toHaveLength(2);
      const gap = (recomputed[1] as { began: number }).began - (recomputed[0] as { began: number }).began;
      expect(gap).toBeGreaterThan(BEHIND_RECOMPUTE_MS);
      // Measured inside the recomputation, a few milliseconds shorter than around it.
      expect(gap).toBeGreaterThanOrEqual(BEHIND_SHARE * (took - 50));
    } finally {
      await aggregator.stop();
    }
  });
});

describe("the aggregator's poll of storage's usage counts", () => {
  it('counts every account instead of sending a list longer than a server takes in its URL, with the same counts', async () => {
    const s = (store ??= await freshStore());
    const pipeline = createIngestPipeline({ store: s, metrics: createMetrics(), log: silentLog });
    const accounts = ['count-a', 'count-b'];
    for (const account of accounts) {
      await pipeline.ingest([purchase(`${account}-p`, { account_id: account }), usage(`${account}-u1`, { account_id: account }), usage(`${account}-u2`, { account_id: account })].map((e) => ({ text: JSON.stringify(e) })), { source: 'http' });
    }
    const listed = await read(s, changeCountsQuery, { summed: accounts, rolled: accounts, everySummed: false, everyRolled: false });
    const every = await read(s, changeCountsQuery, { summed: [], rolled: [], everySummed: true, everyRolled: true });
    const of = (rows: string[][]) => rows.filter(([id]) => accounts.includes(id as string)).sort();
    expect(of(every)).toEqual(of(listed));
    expect(of(listed).map(([, , rows, , days]) => [rows, days])).toEqual([['2', '2'], ['2', '2']]);
    const sql = changeCountsQuery.sql(s, { summed: [], rolled: [], everySummed: true, everyRolled: true });
    expect(typeof sql === 'string' ? sql : sql.sql).not.toContain('IN {');
    expect(LISTED_ACCOUNTS).toBeLessThanOrEqual(1_000);
  });
});
