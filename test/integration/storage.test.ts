import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { loadMigrations, migrate } from '../../storage/migrate.js';
import { ndjson, purchase, usage, voidOf } from '../support/events.js';
import { runEntry } from '../support/processes.js';
import { count, freshStore, pipelineFor, silentLog, uniqueName } from '../support/store.js';
import { createStore, StorageError } from '../../core/clickhouse.js';
import { testDataDir } from '../support/store.js';
import { usageBy } from '../../readmodels/usage.js';
import { createMetrics } from '../../core/metrics.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { pairVoidedUsage } from '../../storage/voids.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  store = undefined;
});

const lines = (events: Array<Record<string, unknown>>) => events.map((e) => ({ text: JSON.stringify(e) }));

describe('migrations', () => {
  it('are recorded and applying them twice changes nothing', async () => {
    store = await freshStore();
    const tablesBefore = await store.queryRows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name`,
      { db: store.database },
    );
    const second = await migrate(store);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toBe((await loadMigrations()).length);
    const tablesAfter = await store.queryRows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name`,
      { db: store.database },
    );
    expect(tablesAfter).toEqual(tablesBefore);
    expect(tablesAfter.map((t) => t.name)).toEqual(
      expect.arrayContaining(['events_v1', 'event_keys_v1', 'rejected_events_v1', 'schema_migrations_v1']),
    );
    expect(await count(store, `SELECT count() AS n FROM ${store.table('schema_migrations_v1')} FINAL`)).toBe(
      (await loadMigrations()).length,
    );
  });
  it('fill a rollup they add from the events already stored', async () => {
    store = createStore({ dataDir: testDataDir, database: uniqueName('t') });
    const all = await loadMigrations();
    const adding = all.find((m) => m.fills.includes('usage_by_time_v1'));
    expect(adding).toBeDefined();
    await migrate(store, all.filter((m) => m.number < (adding?.number ?? 0)));
    // Stored as a process of that older version would: no void pairing of today's kind.
    await createIngestPipeline({ store, metrics: createMetrics(), log: silentLog }).ingest(
      lines([
        usage('u1', { amount: '1', occurred_at: '2026-02-01T10:15:00.250Z' }),
        usage('u2', { amount: '2', occurred_at: '2026-02-01T11:40:00Z', service: 'search' }),
        usage('u3', { amount: '4', occurred_at: '2026-02-01T11:50:00Z' }),
        voidOf('v1', 'u3'),
      ]),
      { source: 'test' },
    );
    expect((await migrate(store)).applied).toContain(adding?.name);
    // At start, as every process does: pairings missing from before the upgrade are made up.
    await pairVoidedUsage(store, 'all');
    const byUser = (from: string, to: string) =>
      usageBy(store as Store, { accountId: 'acme', from: Date.parse(from), to: Date.parse(to), groupBy: 'user', tz: 'UTC', now: Date.parse('2026-06-01T00:00:00Z') });
    // A whole day from a rollup, edges inside a day from the filled time-ordered events, the voided event left out.
    expect(await byUser('2026-02-01T00:00:00Z', '2026-02-02T00:00:00Z')).toEqual([{ key: 'ada', amount: '3', events: 2 }]);
    expect(await byUser('2026-02-01T10:15:00.250Z', '2026-02-01T11:45:00Z')).toEqual([{ key: 'ada', amount: '3', events: 2 }]);
    expect(await byUser('2026-02-01T10:15:00.251Z', '2026-02-01T11:40:00Z')).toEqual([]);
  });
});

describe('an event_id is stored once per account', () => {
  it('within one batch', async () => {
    store = await freshStore();
    const result = await pipelineFor(store).ingest(lines([usage('u1'), usage('u1'), usage('u2'), usage('u1', { amount: '9' })]), { source: 'test' });
    // The same copy again is a duplicate; another payload under the id is a conflict, reported.
    expect(result).toMatchObject({ accepted: 2, duplicates: 1, rejected: 1 });
    expect(result.outcomes[3]).toMatchObject({ status: 'rejected', code: 'conflicting_duplicate', eventId: 'u1' });
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(2);
  });

  it('across batches: the first stored copy stands, a conflicting payload is reported, a redelivery is a duplicate', async () => {
    store = await freshStore();
    const pipeline = pipelineFor(store);
    await pipeline.ingest(lines([purchase('p1'), usage('u1')]), { source: 'test' });
    const again = await pipeline.ingest(lines([usage('u1', { amount: '99' }), purchase('p1'), usage('u3')]), { source: 'kafka' });
    expect(again).toMatchObject({ accepted: 1, duplicates: 1, rejected: 1 });
    expect(again.outcomes.map((o) => o.status)).toEqual(['rejected', 'duplicate', 'accepted']);
    expect(await count(store, `SELECT count() AS n FROM ${store.table('rejected_events_v1')} WHERE code = 'conflicting_duplicate' AND event_id = 'u1'`)).toBe(1);
    const amounts = await store.queryRows<{ amount: string }>(
      `SELECT toString(amount) AS amount FROM ${store.table('events_v1')} WHERE event_id = 'u1'`,
    );
    expect(amounts).toEqual([{ amount: '2.5' }]);
  });

  it('but the same event_id in two accounts is two events', async () => {
    store = await freshStore();
    const result = await pipelineFor(store).ingest(lines([usage('u1'), usage('u1', { account_id: 'globex' })]), { source: 'test' });
    expect(result.accepted).toBe(2);
  });

  it('when concurrent batches race with the same new events', async () => {
    store = await freshStore();
    const pipeline = pipelineFor(store);
    const batch = lines(Array.from({ length: 200 }, (_, i) => usage(`race-${i}`)));
    const results = await Promise.all([1, 2, 3, 4].map(() => pipeline.ingest(batch, { source: 'test' })));
    expect(results.reduce((s, r) => s + r.accepted, 0)).toBe(200);
    expect(results.reduce((s, r) => s + r.duplicates, 0)).toBe(600);
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(200);
  });

  it('and a rejected event is kept with its reason and raw payload, and applies nothing', async () => {
    store = await freshStore();
    const bad = JSON.stringify(usage('u9', { amount: '-4' }));
    const result = await pipelineFor(store).ingest([{ text: bad }, { text: '{oops' }, { text: JSON.stringify(usage('u1')) }], { source: 'test' });
    expect(result).toMatchObject({ accepted: 1, rejected: 2 });
    const rejected = await store.queryRows<{ code: string; payload: string; event_id: string }>(
      `SELECT code, payload, event_id FROM ${store.table('rejected_events_v1')} ORDER BY code`,
    );
    expect(rejected).toEqual([
      { code: 'amount_not_positive', payload: bad, event_id: 'u9' },
      { code: 'invalid_json', payload: '{oops', event_id: '' },
    ]);
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')} WHERE event_id = 'u9'`)).toBe(0);
  });
});

describe('storage errors', () => {
  it('that are retriable are retried with backoff, and the batch is stored once', async () => {
    store = await freshStore();
    const real = store;
    let failures = 0;
    const flaky: Store = {
      ...real,
      async insertJsonEachRow(table, body) {
        if (table === 'events_v1' && failures < 2) {
          failures++;
          throw StorageError.of(`insert into ${table}`, Object.assign(new Error('Timeout exceeded while reading from socket'), { code: '209' }));
        }
        return real.insertJsonEachRow(table, body);
      },
    };
    const metrics = createMetrics();
    const pipeline = createIngestPipeline({ store: flaky, metrics, log: silentLog });
    const result = await pipeline.ingest(lines([usage('r1'), usage('r2')]), { source: 'test' });
    expect(result.accepted).toBe(2);
    expect(failures).toBe(2);
    expect(await count(real, `SELECT count() AS n FROM ${real.table('events_v1')}`)).toBe(2);
    expect(await metrics.registry.getSingleMetricAsString('balances_ingest_store_retries_total')).toMatch(/ 2$/m);
  });

  it('that hide an insert which landed are retried without storing it twice', async () => {
    store = await freshStore();
    const real = store;
    const lost: Record<string, string[]> = { events_v1: ['319', 'ECONNRESET'], rejected_events_v1: ['209'] };
    const landedThenFailed: Store = {
      ...real,
      // The insert lands, then its acknowledgement is lost.
      async insertJsonEachRow(table, body, options) {
        await real.insertJsonEachRow(table, body, options);
        const code = body.length > 0 ? lost[table]?.shift() : undefined;
        if (code) throw StorageError.of(`insert into ${table}`, Object.assign(new Error(`acknowledgement lost (${code})`), { code }));
      },
    };
    const pipeline = createIngestPipeline({ store: landedThenFailed, metrics: createMetrics(), log: silentLog, afterStore: (a) => pairVoidedUsage(real, a) });
    const result = await pipeline.ingest([...lines([usage('l1', { amount: '5' }), usage('l2', { amount: '7' }), usage('l1', { amount: '5' })]), { text: 'not json' }], { source: 'test' });
    // Its own events, found stored on the retry, are accepted, not reported as duplicates.
    expect(result).toMatchObject({ accepted: 2, duplicates: 1, rejected: 1 });
    expect(await count(real, `SELECT count() AS n FROM ${real.table('events_v1')}`)).toBe(2);
    expect(await count(real, `SELECT toUInt64(sum(amount)) AS n FROM ${real.table('usage_wallet_daily_v1')}`)).toBe(12);
    expect(await count(real, `SELECT toUInt64(sum(amount)) AS n FROM ${real.table('usage_dims_daily_v1')} WHERE dim = 'user'`)).toBe(12);
    // The rejection's retried insert, with its batch token, lands once too.
    expect(await count(real, `SELECT count() AS n FROM ${real.table('rejected_events_v1')}`)).toBe(1);
  });

  it('that are not retriable fail the batch at once, storing nothing', async () => {
    store = await freshStore();
    const real = store;
    let attempts = 0;
    const broken: Store = {
      ...real,
      async insertJsonEachRow() {
        attempts++;
        throw StorageError.of('insert into events_v1', Object.assign(new Error('Unknown table'), { code: '60' }));
      },
    };
    const pipeline = createIngestPipeline({ store: broken, metrics: createMetrics(), log: silentLog });
    await expect(pipeline.ingest(lines([usage('x1')]), { source: 'test' })).rejects.toMatchObject({
      name: 'IngestError',
      step: 'store_events',
      retriable: false,
      cause: { code: '60', cause: { message: 'Unknown table' } },
    });
    expect(attempts).toBe(1);
  });
});

describe('dedupe state lives in storage', () => {
  it('so a new process on the same data directory refuses what an earlier one stored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'balances-restart-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const first = join(dir, 'first.ndjson');
    const second = join(dir, 'second.ndjson');
    const old = Array.from({ length: 300 }, (_, i) => usage(`u${i}`, { amount: `${i + 1}.25` }));
    writeFileSync(first, ndjson([...old, old[0], 'not json']));
    writeFileSync(second, ndjson([...old.slice(0, 100), ...Array.from({ length: 50 }, (_, i) => usage(`new${i}`))]));
    const env = { BALANCES_DATA_DIR: join(dir, 'data'), CLICKHOUSE_DATABASE: 'restart', INGEST_BATCH_SIZE: '64' };

    const run = async (file: string) => {
      const result = await runEntry('ingest/main.ts', ['--file', file], env);
      expect(result.code, result.stderr).toBe(0);
      return result.logs.find((l) => l.event === 'file_ingested');
    };
    expect(await run(first)).toMatchObject({ lines: 302, accepted: 300, duplicates: 1, rejected: 1 });
    expect(await run(first)).toMatchObject({ lines: 302, accepted: 0, duplicates: 301, rejected: 1 });
    expect(await run(second)).toMatchObject({ lines: 150, accepted: 50, duplicates: 100, rejected: 0 });
  });
});
