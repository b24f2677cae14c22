import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../storage/migrate.js';
import { BalanceAggregator } from '../../aggregator/process.js';
import { createStore, type Store } from '../../core/clickhouse.js';
import { startApi } from '../support/api.js';
import { committedTotal, produce, topicSpans, waitFor } from '../support/kafkaTools.js';
import { startMockBroker, type MockBroker } from '../support/mockBroker.js';
import { startEntry } from '../support/processes.js';
import { count, pipelineFor, silentLog, uniqueName } from '../support/store.js';
import { storedUsageTotals, usageTotals, workload } from '../support/workload.js';

/**
 * The ingest process dies by SIGKILL in the middle of a large topic, and starts again on the
 * same data directory. This test process opens no chDB directory of its own until the end,
 * when it reads the ingest's directory once the ingest has stopped.
 */
const EVENTS = 40_000;
let broker: MockBroker;
const scratch = mkdtempSync(join(tmpdir(), 'balances-kill9-'));

beforeAll(async () => {
  broker = await startMockBroker();
});
afterAll(async () => {
  await broker?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('kill -9 of the ingest in the middle of a large topic', () => {
  it('a restart on the same data directory counts every event exactly once; usage totals and balances equal the produced events', { timeout: 300_000 }, async () => {
    const topic = uniqueName('kill9').replace('_', '.');
    const groupId = 'kill9-group';
    const events = workload(EVENTS, 'k9');
    // gzip: the test broker keeps ~5 MB of batches per partition and drops older ones silently.
    await produce(broker.brokers, topic, events as unknown as Array<Record<string, unknown>>, { gzip: true });
    const spans = await topicSpans(broker.brokers, topic);
    expect(spans.every((s) => s.low === 0)).toBe(true);
    expect(spans.reduce((sum, s) => sum + s.high, 0)).toBe(EVENTS);

    const dataDir = join(scratch, 'data');
    const env = {
      BALANCES_DATA_DIR: dataDir,
      CLICKHOUSE_DATABASE: 'kill9',
      KAFKA_BROKERS: broker.brokers.join(','),
      KAFKA_TOPIC: topic,
      KAFKA_GROUP_ID: groupId,
      INGEST_BATCH_SIZE: '2000',
      INGEST_FLUSH_MS: '50',
      INGEST_MAX_IN_FLIGHT: '8000',
      // The killed member never leaves the group; the next one waits out its session.
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      LOG_LEVEL: 'debug',
    };

    // Killed once a third is committed: batches are then being stored, committed and fetched.
    let committedByFirst = 0;
    const first = startEntry('ingest/main.ts', [], env, {
      timeoutMs: 120_000,
      onLog(line, kill) {
        if (line.event !== 'kafka_batch_committed') return;
        committedByFirst += Number(line.events);
        if (committedByFirst >= EVENTS / 3) kill('SIGKILL');
      },
    });
    const killed = await first.exited;
    expect(killed.signal, killed.stderr.slice(-2000)).toBe('SIGKILL');
    const committedAtDeath = await committedTotal(broker.brokers, groupId, topic);
    expect(committedAtDeath).toBeGreaterThan(0);
    expect(committedAtDeath).toBeLessThan(EVENTS);

    const second = startEntry('ingest/main.ts', [], env, { timeoutMs: 180_000 });
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === EVENTS, 'the restarted ingest commits the whole topic', 150_000, 500);
    second.kill('SIGTERM');
    const stopped = await second.exited;
    expect(stopped.code, stopped.stderr.slice(-2000)).toBe(0);
    // Taken over: the killed process's lock named a pid that no longer runs.
    expect(stopped.logs.some((l) => l.event === 'kafka_worker_started')).toBe(true);

    const store: Store = createStore({ dataDir, database: 'kill9' });
    try {
      expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(EVENTS);
      expect(await count(store, `SELECT uniqExact(account_id, event_id) AS n FROM ${store.table('events_v1')}`)).toBe(EVENTS);
      expect(await storedUsageTotals(store)).toEqual(usageTotals(events));

      // The ingest stored the voids and paired none; the aggregator, started after the crash as
      // it runs beside the ingest, pairs every one at its first pass.
      const pairings = () => count(store, `SELECT uniqExact(account_id, event_id) AS n FROM ${store.table('voided_usage_v2')}`);
      expect(await pairings()).toBe(0);
      const aggregator = new BalanceAggregator({ store, log: silentLog });
      aggregator.start();
      await aggregator.caughtUp();
      await aggregator.stop();
      const voided = new Set(events.filter((e) => e.type === 'void').map((e) => `${e.account_id}/${e.voids_event_id}`));
      expect(voided.size).toBeGreaterThan(0);
      expect(await pairings()).toBe(voided.size);

      // Balances: the same events ingested once, with no fault, into a database of their own.
      const control = createStore({ dataDir, database: 'kill9_control' });
      await migrate(control);
      const pipeline = pipelineFor(control);
      for (let i = 0; i < events.length; i += 5_000) {
        await pipeline.ingest(events.slice(i, i + 5_000).map((e) => ({ text: JSON.stringify(e) })), { source: 'kafka' });
      }
      const accounts = ['acme', 'globex', 'initech'];
      const keys = accounts.map((a) => ({ key: `${a}-kill9`, accountId: a, role: 'admin' as const }));
      const crashed = await startApi(store, { keys });
      const clean = await startApi(control, { keys });
      try {
        for (const account of accounts) {
          const wallets = async (api: typeof crashed) => ((await (await api.request('/v1/wallets', { key: `${account}-kill9` })).json()) as { wallets: unknown[] }).wallets;
          const expected = await wallets(clean);
          expect(expected.length).toBe(4);
          expect(await wallets(crashed), account).toEqual(expected);
        }
      } finally {
        await crashed.close();
        await clean.close();
        await control.close();
      }
    } finally {
      await store.close();
    }
  });
});
