import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import type { IngestPipeline } from '../../ingest/pipeline.js';
import { AccountPairings, PAIRINGS_FRESH_MS } from '../../readmodels/accountPairings.js';
import { usageBy, walletUsageBy, type UsageQuery } from '../../readmodels/usage.js';
import { freshStore, pipelineFor } from '../support/store.js';

/**
 * One wallet's usage read from storage with its voids taken from the account's pairings in
 * memory answers exactly as the read that subtracts them in storage, and sees a new pairing once
 * this process writes or the pairings' bound passes.
 */
let store: Store;
let pipeline: IngestPipeline;
const DAY = 86_400_000;
const NOW = Date.now();
const START = NOW - 120 * DAY;
const WALLETS = [
  { type: 'team' as const, id: 'alpha' },
  { type: 'contract' as const, id: 'apac' },
];
const USERS = ['u-1', 'tab\tuser', 'ünïcödé 🚀', 'Zed', 'alice'];

const rand = (() => {
  let seed = 7;
  return () => (seed = (seed * 16807) % 2147483647) / 2147483647;
})();

async function post(events: object[]): Promise<void> {
  const report = await pipeline.ingest(events.map((e) => ({ text: JSON.stringify(e) })), { source: 'test' });
  expect(report.outcomes.filter((o) => o.status !== 'accepted' && o.status !== 'duplicate')).toEqual([]);
}

beforeAll(async () => {
  store = await freshStore();
  pipeline = pipelineFor(store);
  await post(
    Array.from({ length: 600 }, (_, i) => ({
      event_id: `use-${i}`, type: 'usage', account_id: 'acme', occurred_at: new Date(START + Math.floor(rand() * 121 * DAY)).toISOString(),
      wallet: WALLETS[i % 2], amount: i % 41 === 0 ? '999999999999.0003' : `${Math.floor(rand() * 100)}.${String(Math.floor(rand() * 10000)).padStart(4, '0')}`.replace(/^0\.0000$/, '1'),
      user_id: USERS[Math.floor(rand() * USERS.length)], product: ['compiler', 'debugger'][i % 2], service: `svc-${i % 3}`,
    })),
  );
  // One usage event in fifteen voided.
  const voided = Array.from({ length: 40 }, (_, i) => `use-${i * 15}`);
  await post(voided.map((target, i) => ({ event_id: `void-${i}`, type: 'void', account_id: 'acme', occurred_at: new Date(NOW - 1000).toISOString(), voids_event_id: target })));
}, 120_000);
afterAll(async () => {
  await store.close();
});

describe('one wallet’s usage from storage', () => {
  it('answers every grouping and range with its voids taken from memory exactly as storage subtracts them', async () => {
    const pairings = await new AccountPairings(store).of('acme', 0);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -5 * DAY, max: 125 * DAY }),
        fc.integer({ min: 1, max: 130 * DAY }),
        fc.constantFrom('service' as const, 'user' as const, 'product' as const),
        fc.constantFrom(...WALLETS),
        async (offset, length, groupBy, wallet) => {
          const query = { accountId: 'acme', walletType: wallet.type, walletId: wallet.id, from: START + offset, to: START + offset + length, groupBy, tz: 'UTC', now: NOW } satisfies UsageQuery;
          expect(await walletUsageBy(store, query, pairings), JSON.stringify(query)).toEqual(await usageBy(store, query));
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);

  it('takes out a usage voided after its pairings were held once this process writes, or within their bound', async () => {
    let clock = NOW;
    const pairings = new AccountPairings(store, () => clock);
    const query = { accountId: 'acme', walletType: 'team' as const, walletId: 'alpha', from: START, to: NOW + DAY, groupBy: 'service' as const, tz: 'UTC', now: NOW };
    const before = await walletUsageBy(store, query, await pairings.of('acme', 1));
    await post([{ event_id: 'void-late', type: 'void', account_id: 'acme', occurred_at: new Date(NOW).toISOString(), voids_event_id: 'use-2' }]);
    const stored = await usageBy(store, query);
    expect(stored).not.toEqual(before);
    // Within the bound and with no write of this process, the held pairings answer.
    expect(await walletUsageBy(store, query, await pairings.of('acme', 1))).toEqual(before);
    // A write of this process: read again at once.
    expect(await walletUsageBy(store, query, await pairings.of('acme', 2))).toEqual(stored);
    await post([{ event_id: 'void-later', type: 'void', account_id: 'acme', occurred_at: new Date(NOW).toISOString(), voids_event_id: 'use-4' }]);
    clock += PAIRINGS_FRESH_MS;
    expect(await walletUsageBy(store, query, await pairings.of('acme', 2))).toEqual(await usageBy(store, query));
  }, 60_000);
});
