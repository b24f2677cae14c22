import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import type { IngestPipeline } from '../../ingest/pipeline.js';
import { BalanceService } from '../../readmodels/balances.js';
import { walletKey, type LedgerResult } from '../../ledger/ledger.js';
import { historyArb } from '../support/histories.js';
import { replay } from '../support/reference.js';
import { freshStore, pipelineFor } from '../support/store.js';

/**
 * A wallet's balance at a past instant, read from storage for the wallets moves connect to it
 * (their days, pairings and raw events, summed between breakpoints in memory), is the balance an
 * independent replay of the accepted events gives: across split days, voids, and usage at a
 * move's very instant.
 */
let store: Store;
let pipeline: IngestPipeline;
let next = 0;

beforeAll(async () => {
  store = await freshStore();
  pipeline = pipelineFor(store);
});
afterAll(async () => {
  await store.close();
});

const amounts = (ledger: LedgerResult, wallet: string) => {
  const b = ledger.wallets.get(walletKey('team', wallet));
  return { total: b?.total ?? 0n, used: b?.used ?? 0n, overage: b?.overage ?? 0n, expired: b?.expired ?? 0n };
};

describe('a balance at a past instant, read from storage', () => {
  it('is the balance a replay of the accepted events gives, with or without the account’s snapshot', async () => {
    await fc.assert(
      fc.asyncProperty(historyArb('acme', 30), async (history) => {
        const account = `past-${next++}`;
        const delivered = history.delivered.map((e) => ({ ...e, account_id: account }));
        const report = await pipeline.ingest(delivered.map((e) => ({ text: JSON.stringify(e) })), { source: 'test' });
        expect(report.outcomes.filter((o) => o.status !== 'accepted' && o.status !== 'duplicate')).toEqual([]);
        const cold = new BalanceService(store);
        const withSnapshot = new BalanceService(store);
        await withSnapshot.current(account);
        for (const at of history.instants) {
          const reference = replay(delivered, at);
          for (const wallet of ['a', 'b', 'c']) {
            const ref = reference.wallets.get(walletKey('team', wallet));
            const expected = { total: ref?.total ?? 0n, used: ref?.used ?? 0n, overage: ref?.overage ?? 0n, expired: ref?.expired ?? 0n };
            const label = `${wallet} at ${new Date(at).toISOString()}`;
            expect(amounts(await cold.at(account, walletKey('team', wallet), at), wallet), label).toEqual(expected);
            expect(amounts(await withSnapshot.at(account, walletKey('team', wallet), at), wallet), label).toEqual(expected);
          }
        }
      }),
      { numRuns: 40 },
    );
  }, 300_000);
});
