import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { createIngestPipeline } from '../../ingest/pipeline.js';
import { purchase, usage } from '../support/events.js';
import { count, freshStore, silentLog } from '../support/store.js';

/**
 * A Kafka flush stores its partitions' blocks in one step (`ingestBlocks`): one lookup, the
 * blocks inserted side by side, each under its own token. Each event is stored once, whichever
 * blocks hold it, and a redelivery of the whole flush stores nothing.
 */
let store: Store | undefined;
afterEach(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  store = undefined;
});

const lines = (events: Array<Record<string, unknown>>) => events.map((e) => ({ text: JSON.stringify(e) }));

describe('several blocks in one step', () => {
  it('stores an event two blocks hold once, judges the second copy by the first, and a redelivery stores nothing', async () => {
    store = await freshStore();
    const s = store;
    const stored: string[][] = [];
    const pipeline = createIngestPipeline({ store: s, metrics: createMetrics(), log: silentLog, onStored: (accounts) => stored.push(accounts) });
    const shared = usage('shared', { amount: '2' });
    const blocks = [
      { messages: lines([purchase('p1', { amount: '100' }), shared, usage('a1')]), deduplicationToken: 'kafka-t-0-0-2-x' },
      // The same event again, and a copy of it with another amount: a conflicting duplicate.
      { messages: lines([usage('b1'), shared, { ...shared, amount: '3' }]), deduplicationToken: 'kafka-t-1-0-2-y' },
      { messages: lines([usage('c1'), { not: 'an event' }]), deduplicationToken: 'kafka-t-2-0-1-z' },
    ];
    const results = await pipeline.ingestBlocks(blocks, { source: 'kafka' });
    expect(results.map((r) => [r.accepted, r.duplicates, r.rejected])).toEqual([
      [3, 0, 0],
      [1, 1, 1],
      [1, 0, 1],
    ]);
    expect(results[1]?.outcomes[2]).toMatchObject({ status: 'rejected', code: 'conflicting_duplicate' });
    expect(await count(s, `SELECT count() AS n FROM ${s.table('events_v1')}`)).toBe(5);
    expect(await count(s, `SELECT count() AS n FROM ${s.table('events_v1')} WHERE event_id = 'shared'`)).toBe(1);
    expect(await count(s, `SELECT count() AS n FROM ${s.table('rejected_events_v1')}`)).toBe(2);
    // One notification for the step, naming the account once.
    expect(stored).toEqual([['acme']]);

    const again = await pipeline.ingestBlocks(blocks, { source: 'kafka' });
    expect(again.map((r) => r.accepted)).toEqual([0, 0, 0]);
    expect(await count(s, `SELECT count() AS n FROM ${s.table('events_v1')}`)).toBe(5);
    expect(await count(s, `SELECT count() AS n FROM ${s.table('rejected_events_v1')}`)).toBe(2);
  });
});
