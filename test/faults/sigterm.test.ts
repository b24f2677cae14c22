import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { committedTotal, produce, topicSpans, waitFor } from '../support/kafkaTools.js';
import { startMockBroker, type MockBroker } from '../support/mockBroker.js';
import { runEntry, startEntry } from '../support/processes.js';
import { uniqueName } from '../support/store.js';
import { workload } from '../support/workload.js';

/** SIGTERM reaches the ingest while batches are being stored, committed and fetched. */
const EVENTS = 20_000;
let broker: MockBroker;
const scratch = mkdtempSync(join(tmpdir(), 'balances-sigterm-'));

beforeAll(async () => {
  broker = await startMockBroker();
});
afterAll(async () => {
  await broker?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('SIGTERM during a batch', () => {
  it('the batches under way complete and are committed, nothing is half-applied, and a restart finishes the topic exactly once', { timeout: 180_000 }, async () => {
    const topic = uniqueName('sigterm').replace('_', '.');
    const groupId = 'sigterm-group';
    const events = workload(EVENTS, 'st');
    await produce(broker.brokers, topic, events as unknown as Array<Record<string, unknown>>, { gzip: true });
    expect((await topicSpans(broker.brokers, topic)).reduce((n, s) => n + (s.low === 0 ? s.high : NaN), 0)).toBe(EVENTS);
    const env = {
      BALANCES_DATA_DIR: join(scratch, 'data'),
      CLICKHOUSE_DATABASE: 'sigterm',
      KAFKA_BROKERS: broker.brokers.join(','),
      KAFKA_TOPIC: topic,
      KAFKA_GROUP_ID: groupId,
      INGEST_BATCH_SIZE: '1500',
      INGEST_FLUSH_MS: '50',
      INGEST_MAX_IN_FLIGHT: '6000',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      LOG_LEVEL: 'debug',
    };

    // At the first commit, the next batch is being written and more are buffered or fetched.
    let signalled = false;
    const first = startEntry('ingest/main.ts', [], env, {
      onLog(line, kill) {
        if (line.event === 'kafka_batch_committed' && !signalled) {
          signalled = true;
          kill('SIGTERM');
        }
      },
    });
    const stopped = await first.exited;
    expect(stopped.code, stopped.stderr.slice(-2000) + stopped.stdout.slice(-2000)).toBe(0);
    expect(stopped.logs.some((l) => l.event === 'kafka_worker_stopped')).toBe(true);
    const committed = stopped.logs.filter((l) => l.event === 'kafka_batch_committed').reduce((n, l) => n + Number(l.events), 0);
    expect(committed).toBeLessThan(EVENTS);

    // Every stored event is committed and every committed one stored: the stop flushed what it
    // had buffered, committed it, and stored nothing it did not commit.
    const probe = await runEntry('test/fixtures/ingestProbe.ts', ['count'], env);
    const counts = probe.logs.find((l) => l.event === 'counts') ?? {};
    expect(Number(counts.events), probe.stderr).toBe(committed);
    expect(Number(counts.distinct_events)).toBe(committed);
    expect(await committedTotal(broker.brokers, groupId, topic)).toBe(committed);

    const second = startEntry('ingest/main.ts', [], env);
    await waitFor(async () => (await committedTotal(broker.brokers, groupId, topic)) === EVENTS, 'the restart commits the rest of the topic', 120_000, 500);
    second.kill('SIGTERM');
    const finished = await second.exited;
    expect(finished.code, finished.stderr.slice(-2000)).toBe(0);
    const duplicates = finished.logs.filter((l) => l.event === 'kafka_batch_committed').reduce((n, l) => n + Number(l.duplicates), 0);
    expect(duplicates).toBe(0);

    const final = await runEntry('test/fixtures/ingestProbe.ts', ['count'], env);
    const totals = final.logs.find((l) => l.event === 'counts') ?? {};
    expect([totals.events, totals.distinct_events, totals.keys].map(Number)).toEqual([EVENTS, EVENTS, EVENTS]);
  });
});
