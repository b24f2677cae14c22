import { formatScaled } from '../../core/decimal.js';
import type { Store } from '../../core/clickhouse.js';
import { units, type RefEvent } from './reference.js';

/**
 * A realistic stream for fault tests: several accounts and wallets, lots bought (one expired
 * already), many usages by users and products, and a few voids, all deterministic from `seed`.
 */
export function workload(total: number, prefix: string, seed = 7): RefEvent[] {
  let state = seed >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const accounts = ['acme', 'globex', 'initech'];
  const wallets = [
    { type: 'team', id: 'platform' },
    { type: 'team', id: 'mobile' },
    { type: 'team', id: 'data' },
    { type: 'contract', id: 'c-2026' },
  ];
  const events: RefEvent[] = [];
  for (const account of accounts) {
    for (const wallet of wallets) {
      events.push(
        { event_id: `${prefix}-p-${account}-${wallet.id}-old`, type: 'purchase', account_id: account, occurred_at: '2026-01-02T00:00:00Z', wallet, amount: '5000', expires_at: '2026-06-01T00:00:00Z' },
        { event_id: `${prefix}-p-${account}-${wallet.id}-a`, type: 'purchase', account_id: account, occurred_at: '2026-01-03T00:00:00Z', wallet, amount: '250000.5', expires_at: '2027-06-01T00:00:00Z' },
        { event_id: `${prefix}-p-${account}-${wallet.id}-b`, type: 'purchase', account_id: account, occurred_at: '2026-04-01T00:00:00Z', wallet, amount: '100000', expires_at: '2027-12-01T00:00:00Z' },
      );
    }
  }
  const voids = Math.max(1, Math.floor(total / 2_000));
  const usages = total - events.length - voids;
  const start = Date.UTC(2026, 0, 5);
  const span = Date.UTC(2026, 9, 1) - start;
  for (let i = 0; i < usages; i++) {
    const account = accounts[Math.floor(random() * accounts.length)] as string;
    const wallet = wallets[Math.floor(random() * wallets.length)] as { type: string; id: string };
    events.push({
      event_id: `${prefix}-u-${i}`,
      type: 'usage',
      account_id: account,
      occurred_at: new Date(start + Math.floor(random() * span)).toISOString(),
      wallet,
      amount: formatScaled(BigInt(1 + Math.floor(random() * 500_000))),
      user_id: `user-${Math.floor(random() * 25)}`,
      product: ['compiler', 'runtime', 'search'][Math.floor(random() * 3)] as string,
    });
  }
  const usageEvents = events.filter((e) => e.type === 'usage');
  for (let i = 0; i < voids; i++) {
    const target = usageEvents[Math.floor(random() * usageEvents.length)] as RefEvent;
    events.push({ event_id: `${prefix}-v-${i}`, type: 'void', account_id: target.account_id, occurred_at: '2026-10-02T00:00:00Z', voids_event_id: target.event_id });
  }
  return events;
}

/** Usage per account, voided usage left out, as decimal text. */
export function usageTotals(events: RefEvent[]): Record<string, string> {
  const voided = new Set(events.filter((e) => e.type === 'void').map((e) => `${e.account_id}/${e.voids_event_id}`));
  const sums = new Map<string, bigint>();
  for (const e of events) {
    if (e.type !== 'usage' || voided.has(`${e.account_id}/${e.event_id}`)) continue;
    sums.set(e.account_id, (sums.get(e.account_id) ?? 0n) + units(e.amount as string));
  }
  return Object.fromEntries([...sums].sort().map(([account, sum]) => [account, formatScaled(sum)]));
}

/** The same totals as the store holds them, every stored usage not voided by a stored void. */
export async function storedUsageTotals(store: Store): Promise<Record<string, string>> {
  const rows = await store.queryRows<{ account_id: string; total: string }>(
    `SELECT account_id, toString(sum(amount)) AS total FROM ${store.table('events_v1')}
     WHERE type = 'usage' AND (account_id, event_id) NOT IN (SELECT account_id, voids_event_id FROM ${store.table('events_v1')} WHERE type = 'void')
     GROUP BY account_id ORDER BY account_id`,
  );
  return Object.fromEntries(rows.map((r) => [r.account_id, formatScaled(units(r.total))]));
}

