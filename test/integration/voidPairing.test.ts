import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { BalanceAggregator } from '../../aggregator/process.js';
import { createStore, type Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { createIngestPipeline, type IngestPipeline } from '../../ingest/pipeline.js';
import { ndjson, purchase, usage, voidOf } from '../support/events.js';
import { waitFor } from '../support/kafkaTools.js';
import { runEntry, startEntry } from '../support/processes.js';
import { freshStore, silentLog } from '../support/store.js';
import { UsageIndex } from '../../readmodels/usageIndex.js';

/**
 * The standalone ingest stores what arrives and pairs no void; the aggregator pairs every void
 * it finds, whichever process stored it, within its poll and after a restart.
 */
const lines = (events: Array<Record<string, unknown>>) => events.map((e) => ({ text: JSON.stringify(e) }));

/** A pipeline composed as `ingest/main.ts` composes it: no pairing, no word to an aggregator. */
const standaloneIngest = (store: Store): IngestPipeline => createIngestPipeline({ store, metrics: createMetrics(), log: silentLog });

const pairedUsage = async (store: Store) =>
  (await store.queryTsv(`SELECT DISTINCT event_id FROM ${store.table('voided_usage_v2')} ORDER BY event_id`)).map(([id]) => id);

const platformUsed = async (store: Store) =>
  (await store.queryTsv(`SELECT toString(used) FROM ${store.table('wallet_balances_v1')} WHERE account_id = 'acme' AND wallet_id = 'platform'`))[0]?.[0];

// chDB opens one data directory per process: the entry points below write it first, then this
// process opens it, for the first test and for the others.
const scratch = mkdtempSync(join(tmpdir(), 'balances-void-pairing-'));
const dataDir = join(scratch, 'data');
const stores: Store[] = [];
afterAll(async () => {
  for (const store of stores) await store.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('a void stored by the standalone ingest', () => {
  it('is left unpaired by the ingest process and paired by the aggregator process at its first pass', { timeout: 180_000 }, async () => {
    const file = join(scratch, 'events.ndjson');
    writeFileSync(file, ndjson([purchase('p1', { amount: '100' }), usage('u1', { amount: '30' }), usage('u2', { amount: '5' }), voidOf('v1', 'u2')]));
    const env = { BALANCES_DATA_DIR: dataDir, CLICKHOUSE_DATABASE: 'voids' };

    const ingested = await runEntry('ingest/main.ts', ['--file', file], env);
    expect(ingested.code, ingested.stderr).toBe(0);
    expect(ingested.logs.find((l) => l.event === 'file_ingested')).toMatchObject({ accepted: 4 });
    const afterIngest = await runEntry('test/fixtures/ingestProbe.ts', ['count'], env);
    const counts = afterIngest.logs.find((l) => l.event === 'counts') ?? {};
    expect([counts.events, counts.voided].map(Number), afterIngest.stderr).toEqual([4, 0]);

    // The aggregator starts after the ingest stopped, as after a crash of the aggregator: its
    // first pass recomputes every account, pairing first.
    const heartbeat = join(scratch, 'aggregator.alive');
    const aggregator = startEntry('aggregator/run.ts', [], { ...env, AGGREGATOR_HEARTBEAT_FILE: heartbeat }, { timeoutMs: 120_000 });
    await waitFor(() => existsSync(heartbeat), 'the aggregator completes a pass', 90_000, 100);
    aggregator.kill('SIGTERM');
    const stopped = await aggregator.exited;
    expect(stopped.code, stopped.stderr).toBe(0);

    const store = createStore({ dataDir, database: env.CLICKHOUSE_DATABASE });
    stores.push(store);
    expect(await pairedUsage(store)).toEqual(['u2']);
    expect(await platformUsed(store)).toBe('30');
  });

  it('is paired by a running aggregator at its next poll, with no word from the ingest', async () => {
    const store = await freshStore(dataDir);
    stores.push(store);
    const ingest = standaloneIngest(store);
    await ingest.ingest(lines([purchase('p1', { amount: '100' }), usage('u1', { amount: '30' }), usage('u2', { amount: '5' })]), { source: 'kafka' });
    const aggregator = new BalanceAggregator({ store, log: silentLog });
    onTestFinished(() => aggregator.stop());
    aggregator.start();
    await aggregator.caughtUp();
    expect(await platformUsed(store)).toBe('35');

    await ingest.ingest(lines([voidOf('v1', 'u2')]), { source: 'kafka' });
    expect(await pairedUsage(store)).toEqual([]);
    // Only the aggregator's poll of account_changes_v1 can see the void: nothing notifies it.
    await waitFor(async () => (await platformUsed(store)) === '30', 'the aggregator writes the balance without the voided usage', 10_000, 50);
    expect(await pairedUsage(store)).toEqual(['u2']);
  });

  it('that lands while the aggregator recomputes the account is paired by the pass that follows, with no word from the ingest', async () => {
    const store = await freshStore(dataDir);
    stores.push(store);
    const ingest = standaloneIngest(store);
    await ingest.ingest(lines([purchase('p1', { amount: '100' }), usage('u1', { amount: '30' }), usage('u2', { amount: '5' })]), { source: 'kafka' });
    // The void arrives right after the aggregator read the account's voids with its lots and moves
    // (none, so it pairs nothing), after it read the account's count: the count it read does not
    // include the void, so the next pass sees the count change and recomputes.
    let landed = false;
    const racing: Store = {
      ...store,
      async queryTsv(query, params, options) {
        const rows = await store.queryTsv(query, params, options);
        if (!landed && query.includes('lots_v1')) {
          landed = true;
          await ingest.ingest(lines([voidOf('v1', 'u2')]), { source: 'kafka' });
        }
        return rows;
      },
    };
    // Polls only when asked or when an account is due: nothing tells it of the void but the
    // count it reads at its next pass.
    const aggregator = new BalanceAggregator({ store: racing, log: silentLog, pollMs: 600_000 });
    onTestFinished(() => aggregator.stop());
    aggregator.start();
    await aggregator.caughtUp();
    expect(landed).toBe(true);
    expect(await pairedUsage(store)).toEqual([]);
    await waitFor(async () => (await platformUsed(store)) === '30', 'a later pass writes the balance without the voided usage', 10_000, 50);
    expect(await pairedUsage(store)).toEqual(['u2']);
  });
});

describe('the aggregator with a usage index', () => {
  it('asks storage for pairs to write only while a void the account holds is not yet paired', async () => {
    const store = await freshStore(dataDir);
    stores.push(store);
    const ingest = standaloneIngest(store);
    await ingest.ingest(lines([purchase('p1', { amount: '100' }), usage('u1', { amount: '30' }), usage('u2', { amount: '5' }), voidOf('v1', 'u2')]), { source: 'kafka' });
    const asked: string[] = [];
    const watched: Store = { ...store, observer: (sample) => asked.push(sample.name) };
    const index = new UsageIndex(store);
    await index.ready('acme');
    await index.settled('acme');
    const aggregator = new BalanceAggregator({ store: watched, log: silentLog, usage: index });
    // The index read no pairing yet: the void is paired by this recomputation.
    await aggregator.recompute('acme');
    expect(asked.filter((name) => name === 'voids.unpaired')).toHaveLength(1);
    expect(await pairedUsage(store)).toEqual(['u2']);
    expect(await platformUsed(store)).toBe('30');
    // The index now holds the pairing: more usage needs no look for pairs.
    asked.length = 0;
    await ingest.ingest(lines([usage('u3', { amount: '1' })]), { source: 'kafka' });
    await aggregator.recompute('acme');
    expect(asked.filter((name) => name === 'voids.unpaired')).toEqual([]);
    expect(await platformUsed(store)).toBe('31');
    // A void of a purchase pairs nothing: not looked for.
    await ingest.ingest(lines([purchase('p2', { amount: '50' }), voidOf('v3', 'p2')]), { source: 'kafka' });
    await aggregator.recompute('acme');
    expect(asked.filter((name) => name === 'voids.unpaired')).toEqual([]);
    // A new void not yet paired is looked for, and paired.
    await ingest.ingest(lines([voidOf('v2', 'u3')]), { source: 'kafka' });
    await aggregator.recompute('acme');
    expect(asked.filter((name) => name === 'voids.unpaired')).toHaveLength(1);
    expect(await pairedUsage(store)).toEqual(['u2', 'u3']);
    expect(await platformUsed(store)).toBe('30');
    // A void of an event not stored yet is looked for at each recomputation until it pairs.
    asked.length = 0;
    await ingest.ingest(lines([voidOf('v4', 'u4')]), { source: 'kafka' });
    await aggregator.recompute('acme');
    expect(asked.filter((name) => name === 'voids.unpaired')).toHaveLength(1);
    await ingest.ingest(lines([usage('u4', { amount: '7' })]), { source: 'kafka' });
    await aggregator.recompute('acme');
    expect(asked.filter((name) => name === 'voids.unpaired')).toHaveLength(2);
    expect(await pairedUsage(store)).toEqual(['u2', 'u3', 'u4']);
    expect(await platformUsed(store)).toBe('30');
  });
});
