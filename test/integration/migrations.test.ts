import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { loadMigrations, migrate, type Migration } from '../../storage/migrate.js';
import { acquireMigrationLock, MigrationLockTimeout } from '../../storage/migrationLock.js';
import { usage } from '../support/events.js';
import { count, freshStore, pipelineFor } from '../support/store.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  store = undefined;
});

const lines = (events: Array<Record<string, unknown>>) => events.map((e) => ({ text: JSON.stringify(e) }));

/** A migration adding a rollup over the events already stored, written as fill migrations are. */
const probeMigration: Migration = {
  number: 900,
  name: '900_create_fill_probe',
  fills: ['fill_probe_v1'],
  statements: [
    `CREATE TABLE IF NOT EXISTS \${db}.fill_probe_v1 (account_id LowCardinality(String), amount Decimal(38, 4), events Int64)
     ENGINE = SummingMergeTree((amount, events)) ORDER BY account_id`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS \${db}.fill_probe_mv_v1 TO \${db}.fill_probe_v1 AS
     SELECT account_id, sum(assumeNotNull(amount)) AS amount, toInt64(count()) AS events
     FROM \${db}.events_v1 WHERE type = 'usage' AND \${after_cutover} GROUP BY account_id`,
  ],
};

describe('migrations', () => {
  it('applied by two processes at once, fill a new rollup exactly once while events keep arriving', async () => {
    store = await freshStore();
    const s = store;
    const pipeline = pipelineFor(s);
    await pipeline.ingest(lines(Array.from({ length: 300 }, (_, i) => usage(`before-${i}`, { amount: '1.5' }))), { source: 'test' });

    // Ingest keeps storing while the migration runs, as another process would.
    let stop = false;
    let batch = 0;
    const ingesting = (async () => {
      while (!stop) {
        const n = batch++;
        await pipeline.ingest(lines(Array.from({ length: 20 }, (_, i) => usage(`during-${n}-${i}`, { amount: '0.25' }))), { source: 'test' });
      }
    })();
    // And an event lands between every two statements of the migration, wherever the gap is.
    let between = 0;
    const racing: Store = {
      ...s,
      async command(query, params) {
        await pipeline.ingest(lines([usage(`between-${between++}`, { amount: '0.0001' })]), { source: 'test' });
        return s.command(query, params);
      },
    };
    const all = [...(await loadMigrations()), probeMigration];
    const reports = await Promise.all([
      migrate(racing, all, { fillMarginMs: 1_500 }),
      migrate(racing, all, { fillMarginMs: 1_500 }),
    ]);
    // A few more batches after the fill, through the view alone.
    const after = batch + 3;
    while (batch < after) await new Promise((resolve) => setTimeout(resolve, 20));
    stop = true;
    await ingesting;

    expect(reports.map((r) => r.applied)).toEqual(expect.arrayContaining([['900_create_fill_probe'], []]));
    expect(batch).toBeGreaterThan(5);
    const raw = await s.queryTsv(`SELECT toString(sum(amount)), count() FROM ${s.table('events_v1')} WHERE type = 'usage'`);
    const rollup = await s.queryTsv(`SELECT toString(sum(amount)), toString(sum(events)) FROM ${s.table('fill_probe_v1')}`);
    expect(rollup).toEqual(raw);
    expect(await count(s, `SELECT count() AS n FROM ${s.table('schema_migrations_v1')} WHERE version = 900`)).toBe(1);
  }, 180_000);

  it('that stopped half-way are done again from the start, never doubling a fill', async () => {
    store = await freshStore();
    const s = store;
    await pipelineFor(s).ingest(lines(Array.from({ length: 50 }, (_, i) => usage(`u-${i}`, { amount: '2' }))), { source: 'test' });
    // A process died after creating the rollup and filling part of it.
    await s.command(`CREATE TABLE ${s.table('fill_probe_v1')} (account_id LowCardinality(String), amount Decimal(38, 4), events Int64) ENGINE = SummingMergeTree((amount, events)) ORDER BY account_id`);
    await s.command(`INSERT INTO ${s.table('fill_probe_v1')} VALUES ('acme', 40, 20)`);
    await migrate(s, [...(await loadMigrations()), probeMigration], { fillMarginMs: 100 });
    expect(await s.queryTsv(`SELECT toString(sum(amount)), toString(sum(events)) FROM ${s.table('fill_probe_v1')}`)).toEqual([['100', '50']]);
  });

  it('wait for a live lock holder, and take over from one whose lease ran out', async () => {
    store = await freshStore();
    const s = store;
    const first = await acquireMigrationLock(s, { leaseMs: 2_000 });
    await expect(acquireMigrationLock(s, { waitMs: 300 })).rejects.toBeInstanceOf(MigrationLockTimeout);
    await first.release();
    const second = await acquireMigrationLock(s, { waitMs: 1_000 });
    await second.release();

    // A holder that died: its lease is in the past and nobody renews it.
    await s.command(`CREATE TABLE ${s.table('migration_lock_v1')} (owner String, expires_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY tuple()`);
    await s.command(`INSERT INTO ${s.table('migration_lock_v1')} VALUES ('dead-host:1', now64(3) - INTERVAL 1 MINUTE)`);
    const heir = await acquireMigrationLock(s, { waitMs: 2_000 });
    expect(heir.owner).not.toBe('dead-host:1');
    await heir.release();
    expect(await count(s, `SELECT count() AS n FROM system.tables WHERE database = '${s.database}' AND name = 'migration_lock_v1'`)).toBe(0);
  });
});
