import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { startApi, type TestApi } from '../support/api.js';
import { historyArb } from '../support/histories.js';
import { expiringLots, replay, type RefEvent } from '../support/reference.js';
import { freshStore } from '../support/store.js';
import { formatScaled, toScaled } from '../../core/decimal.js';

let store: Store;
let api: TestApi;
let clock = Date.UTC(2026, 0, 15);
const RUNS = Number(process.env.E2E_RUNS ?? 30);
/** fast-check may run a property more often than numRuns while it shrinks a failure. */
const ACCOUNTS = 400;
let nextAccount = 0;
beforeAll(async () => {
  store = await freshStore();
  const keys = Array.from({ length: ACCOUNTS }, (_, i) => ({ key: `history-${i}`, accountId: `history-${i}`, role: 'admin' as const }));
  api = await startApi(store, { clock: () => clock, keys });
});
afterAll(async () => {
  await api.close();
  await store.close();
});

const n = (units: bigint) => formatScaled(units);

/** Posts events in chunks over HTTP, as a client resending and reordering would. */
async function post(events: RefEvent[], key = 'acme-admin') {
  for (let i = 0; i < events.length; i += 7) {
    const res = await api.request('/v1/events', { method: 'POST', key, body: JSON.stringify(events.slice(i, i + 7)) });
    const body = await res.json();
    expect(res.status).toBe(200);
    expect(body.rejected).toEqual([]);
  }
}

describe('random histories posted over HTTP', () => {
  it('give the same balances, token events and expiring lots as an independent replay', async () => {
    await fc.assert(
      fc.asyncProperty(historyArb('acme'), async (history) => {
        // One account per history: a fresh ledger, and event ids that cannot collide.
        const account = `history-${nextAccount++ % ACCOUNTS}`;
        const key = account;
        const delivered = history.delivered.map((e): RefEvent => ({ ...e, account_id: account, event_id: `${nextAccount}-${e.event_id}`, ...(e.voids_event_id ? { voids_event_id: `${nextAccount}-${e.voids_event_id}` } : {}) }));
        await post(delivered, key);

        for (const at of history.instants) {
          clock = at;
          const reference = replay(delivered, at);
          const listed = (await (await api.request('/v1/wallets', { key })).json()) as {
            wallets: Array<{ wallet: { type: string; id: string }; total: string; used: string; available: string; status: string; overage: string; expiring_within_90d: string }>;
          };
          const byWallet = new Map(listed.wallets.map((w) => [`${w.wallet.type}/${w.wallet.id}`, w]));
          for (const [wallet, ref] of reference.wallets) {
            expect(byWallet.get(wallet), `${wallet} at ${new Date(at).toISOString()}`).toMatchObject({
              total: n(ref.total),
              used: n(ref.used),
              available: n(ref.available),
              status: ref.status,
              overage: n(ref.overage),
            });
          }
          const [wallet] = [...reference.wallets.keys()];
          if (wallet) {
            const laterAt = at + 36 * 3_600_000;
            const later = replay(delivered, laterAt).wallets.get(wallet);
            const body = await (await api.request(`/v1/wallets/${wallet}/balance?at=${new Date(laterAt).toISOString()}`, { key })).json();
            expect(body).toMatchObject({ total: n(later?.total ?? 0n), used: n(later?.used ?? 0n), overage: n(later?.overage ?? 0n), expired: n(later?.expired ?? 0n) });

            const events = (await (await api.request(`/v1/wallets/${wallet}/events?from=2025-01-01T00:00:00Z&to=2030-01-01T00:00:00Z&limit=1000`, { key })).json()) as {
              events: Array<{ type: string; amount: string }>;
            };
            const sums = (rows: Array<{ type: string; amount: string }>) => {
              const out: Record<string, bigint> = {};
              for (const r of rows) out[r.type] = (out[r.type] ?? 0n) + toScaled(r.amount);
              for (const k of Object.keys(out)) if (out[k] === 0n) delete out[k];
              return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, formatScaled(v)]));
            };
            const refEvents = reference.tokenEvents.filter((e) => e.wallet === wallet).map((e) => ({ type: e.type, amount: n(e.amount) }));
            expect(sums(events.events)).toEqual(sums(refEvents));
          }
          const expiring = (await (await api.request('/v1/expiring?within_days=90', { key })).json()) as {
            lots: Array<{ wallet: { type: string; id: string }; lot_id: string; remaining: string; expires_at: string }>;
          };
          const shape = (rows: Array<{ wallet: string; lotId: string; remaining: string; expiresAt: number }>) =>
            rows.map((r) => `${r.wallet}|${r.lotId}|${r.remaining}|${r.expiresAt}`).sort();
          expect(shape(expiring.lots.map((l) => ({ wallet: `${l.wallet.type}/${l.wallet.id}`, lotId: l.lot_id, remaining: l.remaining, expiresAt: Date.parse(l.expires_at) })))).toEqual(
            shape(expiringLots(reference, at, 90).map((l) => ({ ...l, remaining: n(l.remaining) }))),
          );
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
  }, 300_000);
});
