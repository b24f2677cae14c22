import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { BalanceService } from '../../readmodels/balances.js';
import { DEMO_ACCOUNT, demoEvents, loadDemo } from '../../ingest/demo.js';
import { count, freshStore, pipelineFor } from '../support/store.js';

let store: Store | undefined;
afterAll(async () => {
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
});

describe('the demo account', () => {
  const now = Date.UTC(2026, 10, 28, 12);

  it('is realistic: 20 teams and 4 contracts, 13 months of usage by about 200 users, moves and voids', () => {
    const events = demoEvents(now);
    const wallets = new Set(events.filter((e) => e.wallet).map((e) => JSON.stringify(e.wallet)));
    const users = new Set(events.filter((e) => e.type === 'usage').map((e) => e.user_id));
    const products = new Set(events.filter((e) => e.type === 'usage').map((e) => e.product));
    const times = events.filter((e) => e.type === 'usage').map((e) => Date.parse(String(e.occurred_at)));
    expect(wallets.size).toBe(24);
    expect(users.size).toBeGreaterThanOrEqual(190);
    expect(products.size).toBe(12);
    expect((Math.max(...times) - Math.min(...times)) / 86_400_000).toBeGreaterThan(390);
    expect(events.filter((e) => e.type === 'move').length).toBeGreaterThanOrEqual(5);
    expect(events.filter((e) => e.type === 'void').length).toBeGreaterThanOrEqual(5);
  });

  it('loads through the pipeline once: a second load stores nothing', async () => {
    store = await freshStore();
    const pipeline = pipelineFor(store);
    const first = await loadDemo(pipeline, now);
    expect(first.accepted).toBe(first.events);
    const second = await loadDemo(pipeline, now + 86_400_000);
    expect(second).toMatchObject({ accepted: 0, duplicates: first.events });
    expect(await count(store, `SELECT count() AS n FROM ${store.table('events_v1')}`)).toBe(first.events);
  });

  it('shows expired lots, lots expiring within 90 days, and a few teams in overage', async () => {
    const ledger = await new BalanceService(store as Store, () => now).current(DEMO_ACCOUNT);
    expect(ledger.lots.some((l) => l.hasExpired && l.expired > 0n)).toBe(true);
    const flagged = [...ledger.wallets.values()].filter((w) => w.expiringWithin90d > 0n);
    expect(flagged.length).toBeGreaterThan(3);
    const inOverage = [...ledger.wallets.values()].filter((w) => w.overage > 0n);
    expect(inOverage.length).toBeGreaterThan(0);
    expect(inOverage.length).toBeLessThan(ledger.wallets.size);
    expect([...ledger.wallets.values()].some((w) => w.status === 'red')).toBe(true);
    expect([...ledger.wallets.values()].some((w) => w.status === 'green')).toBe(true);
  });
});
