import { afterEach, describe, expect, it } from 'vitest';
import { StorageError, type Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { sleep } from '../../core/retry.js';
import { createIngestPipeline, type IngestPipeline } from '../../ingest/pipeline.js';
import { purchase, usage } from '../support/events.js';
import { count, freshStore, silentLog } from '../support/store.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  store = undefined;
});

const lines = (events: Array<Record<string, unknown>>) => events.map((e) => ({ text: JSON.stringify(e) }));
const pipelineOn = (s: Store): IngestPipeline => createIngestPipeline({ store: s, metrics: createMetrics(), log: silentLog });

/** A batch that feeds every kind of rollup: lots, usage by wallet, by dimension and by time. */
const batch = () => lines([purchase('p1', { amount: '100' }), ...Array.from({ length: 40 }, (_, i) => usage(`u${i}`, { amount: '1.5', user_id: `user${i % 3}` }))]);

/** What each table holds of the batch: every one must hold each event exactly once. */
async function holdings(s: Store) {
  const n = (sql: string) => count(s, sql);
  return {
    events: await n(`SELECT count() AS n FROM ${s.table('events_v1')}`),
    keys: await n(`SELECT count() AS n FROM ${s.table('event_keys_v1')}`),
    lots: await n(`SELECT count() AS n FROM ${s.table('lots_v1')}`),
    usageByWallet: await n(`SELECT toUInt64(sum(amount) * 10) AS n FROM ${s.table('usage_wallet_daily_v1')}`),
    usageByUser: await n(`SELECT toUInt64(sum(amount) * 10) AS n FROM ${s.table('usage_dims_daily_v1')} WHERE dim = 'user'`),
    usageByTime: await n(`SELECT count() AS n FROM ${s.table('usage_by_time_v1')}`),
  };
}
const ONCE = { events: 41, keys: 41, lots: 1, usageByWallet: 600, usageByUser: 600, usageByTime: 40 };

/**
 * A rollup that fails on demand, after the table and the other views took the block: a view
 * whose query throws while a flag (a Join table, read by joinGet) is set.
 */
async function addFailingRollup(s: Store): Promise<{ clear(): Promise<void>; rows(): Promise<number> }> {
  const db = `\`${s.database}\``;
  await s.command(`CREATE TABLE ${db}.fail_flag (k UInt8, x UInt8) ENGINE = Join(ANY, LEFT, k)`);
  await s.command(`INSERT INTO ${db}.fail_flag VALUES (1, 1)`);
  await s.command(`CREATE TABLE ${db}.fail_probe (event_id String) ENGINE = MergeTree ORDER BY event_id SETTINGS non_replicated_deduplication_window = 10000`);
  await s.command(
    `CREATE MATERIALIZED VIEW ${db}.fail_probe_mv TO ${db}.fail_probe AS
     SELECT event_id FROM ${db}.events_v1 WHERE throwIf(joinGet('${s.database}.fail_flag', 'x', toUInt8(1)) = 1, 'the probe view fails') = 0`,
  );
  return {
    clear: () => s.command(`TRUNCATE TABLE ${db}.fail_flag`),
    rows: () => count(s, `SELECT count() AS n FROM ${db}.fail_probe`),
  };
}

describe('an insert into events_v1 and its views is retried as the identical block', () => {
  it('so a view that failed after the others committed gets the batch, and every table holds each event once', async () => {
    store = await freshStore();
    const real = store;
    const probe = await addFailingRollup(real);
    let failures = 0;
    // The view's failure comes back as a retriable one (a memory limit hit inside the view, say),
    // and the view works again by the time the write is retried.
    const failingView: Store = {
      ...real,
      async insertJsonEachRow(table, body, options) {
        try {
          await real.insertJsonEachRow(table, body, options);
        } catch (err) {
          failures++;
          await probe.clear();
          throw StorageError.of(`insert into ${table}`, Object.assign(new Error('Memory limit exceeded in a view', { cause: err }), { code: '241' }));
        }
      },
    };
    const result = await pipelineOn(failingView).ingest(batch(), { source: 'test' });
    expect(failures).toBe(1);
    expect(result).toMatchObject({ accepted: 41, duplicates: 0 });
    expect(await holdings(real)).toEqual(ONCE);
    expect(await probe.rows()).toBe(41);
  });

  it('and a resend of a batch whose every attempt failed writes that block, not a new one', async () => {
    store = await freshStore();
    const probe = await addFailingRollup(store);
    const pipeline = pipelineOn(store);
    // The view's failure is not retriable: the batch fails at once, after the table took it.
    await expect(pipeline.ingest(batch(), { source: 'test' })).rejects.toMatchObject({ name: 'IngestError', step: 'store_events' });
    expect(await probe.rows()).toBe(0);
    await probe.clear();
    const resent = await pipeline.ingest(batch(), { source: 'test' });
    expect(resent).toMatchObject({ accepted: 41 });
    expect(await holdings(store)).toEqual(ONCE);
    expect(await probe.rows()).toBe(41);
  });
});

describe('a retry after a lost acknowledgement', () => {
  it('that lands before the original insert does not store the events twice', async () => {
    store = await freshStore();
    const real = store;
    let original: Promise<void> | undefined;
    // The server finishes an INSERT whose body it received even after the client gave up on it:
    // here the first insert lands only after the retry has.
    const slowAck: Store = {
      ...real,
      async insertJsonEachRow(table, body, options) {
        if (table === 'events_v1' && original === undefined) {
          original = sleep(600).then(() => real.insertJsonEachRow(table, body, options));
          throw StorageError.of(`insert into ${table}`, Object.assign(new Error('Timeout exceeded while reading from socket'), { code: '209' }));
        }
        return real.insertJsonEachRow(table, body, options);
      },
    };
    const result = await pipelineOn(slowAck).ingest(batch(), { source: 'test' });
    expect(result.accepted).toBe(41);
    await original;
    expect(await holdings(real)).toEqual(ONCE);
  });
});

describe('two processes writing the same batch at the same moment', () => {
  it('store it once: both look it up before either writes, and storage keeps the second block out', async () => {
    store = await freshStore();
    const real = store;
    // Both lookups run before either insert: the window a check-then-insert leaves open.
    let waiting: Array<() => void> = [];
    const bothLookedUp: Store = {
      ...real,
      async insertJsonEachRow(table, body, options) {
        if (table === 'events_v1') {
          await new Promise<void>((resolve) => {
            waiting.push(resolve);
            if (waiting.length === 2) {
              for (const go of waiting) go();
              waiting = [];
            }
          });
        }
        return real.insertJsonEachRow(table, body, options);
      },
    };
    await Promise.all([pipelineOn(bothLookedUp).ingest(batch(), { source: 'test' }), pipelineOn(bothLookedUp).ingest(batch(), { source: 'test' })]);
    expect(await holdings(real)).toEqual(ONCE);
  });
});

describe('rejections', () => {
  it('of a redelivered batch are kept once', async () => {
    store = await freshStore();
    const pipeline = pipelineOn(store);
    const redelivered = [
      { text: '{oops', kafka: { topic: 'balances.events', partition: 1, offset: '17' } },
      { text: JSON.stringify(usage('neg', { amount: '-1' })), kafka: { topic: 'balances.events', partition: 1, offset: '18' } },
    ];
    await pipeline.ingest(redelivered, { source: 'kafka' });
    await pipeline.ingest(redelivered, { source: 'kafka' });
    expect(await count(store, `SELECT count() AS n FROM ${store.table('rejected_events_v1')}`)).toBe(2);
  });
});
