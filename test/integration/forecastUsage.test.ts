import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { usageInWindow } from '../../readmodels/forecasts.js';
import { UsageIndex } from '../../readmodels/usageIndex.js';
import { purchase, usage, voidOf } from '../support/events.js';
import { freshStore, pipelineFor } from '../support/store.js';

/** Usage at awkward instants around day boundaries, some of it voided, in two wallets. */
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 4, 1);
const instants = [T0 - 1, T0, T0 + 1, T0 + DAY / 2, T0 + DAY - 1, T0 + DAY, T0 + 3 * DAY + 7, T0 + 10 * DAY - 1, T0 + 10 * DAY];
const events = [
  purchase('fu-p', { expires_at: '2027-01-01T00:00:00Z' }),
  ...instants.flatMap((t, i) => [
    usage(`fu-a-${i}`, { occurred_at: new Date(t).toISOString(), amount: `${i + 1}.0001` }),
    usage(`fu-b-${i}`, { wallet: { type: 'contract', id: 'apac' }, occurred_at: new Date(t).toISOString(), amount: '0.5' }),
  ]),
  voidOf('fu-v1', 'fu-a-3'),
  voidOf('fu-v2', 'fu-b-0'),
];

let store: Store;
beforeAll(async () => {
  store = await freshStore();
  await pipelineFor(store).ingest(events.map((e) => ({ text: JSON.stringify(e) })), { source: 'http' });
});
afterAll(async () => {
  await store.close();
});

/** Each wallet's non-voided usage in [from, to), event by event. */
function expected(from: number, to: number): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  instants.forEach((t, i) => {
    if (t < from || t >= to) return;
    if (i !== 3) sums.set('team/platform', (sums.get('team/platform') ?? 0n) + BigInt(i + 1) * 10_000n + 1n);
    if (i !== 0) sums.set('contract/apac', (sums.get('contract/apac') ?? 0n) + 5_000n);
  });
  for (const [k, v] of sums) if (v === 0n) sums.delete(k);
  return sums;
}

describe('usage in a forecast window', () => {
  it('is each wallet non-voided usage in [from, to), the same from storage (whole days and partial ones) and from memory', async () => {
    const index = new UsageIndex(store);
    await index.ready('acme');
    await index.settled('acme');
    const memory = await index.ready('acme');
    expect(memory).toBeDefined();
    const windows: Array<[number, number]> = [
      [T0, T0 + 10 * DAY],
      [T0 - 1, T0 + 10 * DAY + 1],
      [T0 + 1, T0 + DAY - 1],
      [T0 + 1, T0 + 3 * DAY + 8],
      [T0 - DAY, T0],
      [T0 + DAY / 2, T0 + DAY / 2 + 28 * DAY],
    ];
    for (const [from, to] of windows) {
      const want = Object.fromEntries(expected(from, to));
      const fromStorage = await usageInWindow(store, 'acme', from, to);
      const fromMemory = await usageInWindow(store, 'acme', from, to, memory);
      expect(Object.fromEntries(fromStorage), `storage ${new Date(from).toISOString()}`).toEqual(want);
      expect(Object.fromEntries(fromMemory), `memory ${new Date(from).toISOString()}`).toEqual(want);
    }
  });
});
