import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../core/clickhouse.js';
import { BalanceService } from '../../readmodels/balances.js';
import { AlertEvaluator, type AlertNotification } from '../../alerts/evaluator.js';
import { startApi, type TestApi } from '../support/api.js';
import { purchase, usage } from '../support/events.js';
import { freshStore, silentLog } from '../support/store.js';

/** A webhook receiver on a local port that fails its first `failFirst` requests with 503. */
async function receiver(failFirst: number) {
  const received: AlertNotification[] = [];
  let requests = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests++;
      if (requests <= failFirst) {
        res.writeHead(503).end();
        return;
      }
      received.push(JSON.parse(body) as AlertNotification);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    requests: () => requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let store: Store;
let api: TestApi;
let clock = Date.UTC(2026, 5, 1);
beforeAll(async () => {
  store = await freshStore();
  api = await startApi(store, { clock: () => clock });
});
afterAll(async () => {
  await api.close();
  await store.close();
});

const post = async (events: unknown[]) => {
  const res = await api.request('/v1/events', { method: 'POST', key: 'acme-admin', body: JSON.stringify(events) });
  expect((await res.json()).rejected).toEqual([]);
};

describe('alerts', () => {
  it('GET /v1/alerts lists low balances and lots expiring within 90 days, with days left', async () => {
    await post([
      purchase('al-p1', { wallet: { type: 'team', id: 'low' }, amount: '100', expires_at: '2027-06-01T00:00:00Z' }),
      usage('al-u1', { wallet: { type: 'team', id: 'low' }, amount: '85', occurred_at: '2026-05-01T00:00:00Z' }),
      purchase('al-p2', { wallet: { type: 'team', id: 'soon' }, amount: '50', expires_at: '2026-07-01T00:00:00Z' }),
      purchase('al-p3', { wallet: { type: 'team', id: 'fine' }, amount: '50', expires_at: '2027-07-01T00:00:00Z' }),
    ]);
    const body = await (await api.request('/v1/alerts', { key: 'acme-analyst' })).json();
    expect(body.alerts).toEqual([
      { type: 'low_balance', wallet: { type: 'team', id: 'low' }, total: '100', available: '15', overage: '0' },
      {
        type: 'expiring',
        wallet: { type: 'team', id: 'soon' },
        amount: '50',
        expires_at: '2026-07-01T00:00:00.000Z',
        days_left: 30,
        lots: [{ lot_id: 'al-p2', remaining: '50', expires_at: '2026-07-01T00:00:00.000Z', days_left: 30 }],
      },
      // Nothing used in the last 28 days: the projection lets the whole lot expire.
      {
        type: 'expiring_unused',
        wallet: { type: 'team', id: 'soon' },
        projected_unused: '50',
        expires_at: '2026-07-01T00:00:00.000Z',
        days_left: 30,
        lots: [{ lot_id: 'al-p2', projected_unused: '50', expires_at: '2026-07-01T00:00:00.000Z', days_left: 30 }],
      },
    ]);
  });

  it('the evaluator delivers each change once, retrying a receiver that fails twice, and a restart does not fire again', async () => {
    const hook = await receiver(2);
    const evaluator = () =>
      new AlertEvaluator({ store, balances: new BalanceService(store, () => clock), log: silentLog, webhookUrl: hook.url, intervalMs: 60_000, retryBaseMs: 10 });
    const first = await evaluator().evaluateOnce();
    expect(first.map((n) => `${n.status} ${n.alert_key}`).sort()).toEqual(['firing expiring/team/soon', 'firing expiring_unused/team/soon', 'firing low_balance/team/low']);
    expect(hook.requests()).toBe(5);
    expect(hook.received.map((n) => n.alert_key).sort()).toEqual(['expiring/team/soon', 'expiring_unused/team/soon', 'low_balance/team/low']);
    expect(hook.received[0]).toMatchObject({ status: 'firing', account_id: 'acme' });

    expect(await evaluator().evaluateOnce()).toEqual([]);
    expect(hook.received).toHaveLength(3);

    // More tokens bring the low wallet back to green: one "resolved", once.
    await post([purchase('al-p4', { wallet: { type: 'team', id: 'low' }, amount: '100', expires_at: '2027-06-01T00:00:00Z', occurred_at: '2026-05-20T00:00:00Z' })]);
    const resolved = await evaluator().evaluateOnce();
    expect(resolved.map((n) => `${n.status} ${n.alert_key}`)).toEqual(['resolved low_balance/team/low']);
    expect(await evaluator().evaluateOnce()).toEqual([]);

    // Time passes: the soon-expiring lot expires with nothing used, and that alert resolves.
    clock = Date.UTC(2026, 6, 2);
    const later = await evaluator().evaluateOnce();
    expect(later.map((n) => `${n.status} ${n.alert_key}`)).toContain('resolved expiring/team/soon');
    expect(later.map((n) => `${n.status} ${n.alert_key}`)).toContain('resolved expiring_unused/team/soon');
    expect(later.map((n) => `${n.status} ${n.alert_key}`)).toContain('firing low_balance/team/soon');
    await hook.close();
  });

  it('a change that cannot be delivered is tried again at the next evaluation', async () => {
    const hook = await receiver(1000);
    const balances = new BalanceService(store, () => clock);
    await post([usage('al-u9', { wallet: { type: 'team', id: 'fine' }, amount: '49', occurred_at: '2026-06-05T00:00:00Z' })]);
    const failing = new AlertEvaluator({ store, balances, log: silentLog, webhookUrl: hook.url, intervalMs: 60_000, attempts: 2, retryBaseMs: 5 });
    expect(await failing.evaluateOnce()).toEqual([]);
    await hook.close();
    const ok = await receiver(0);
    const working = new AlertEvaluator({ store, balances, log: silentLog, webhookUrl: ok.url, intervalMs: 60_000, retryBaseMs: 5 });
    // 49 used in the last 28 days leaves 1: it also runs out within the day.
    expect((await working.evaluateOnce()).map((n) => `${n.status} ${n.alert_key}`)).toEqual(['firing low_balance/team/fine', 'firing runs_out/team/fine']);
    await ok.close();
  });

  it('runs on its interval until stopped, and stops at once', async () => {
    const hook = await receiver(0);
    await post([purchase('al-p9', { wallet: { type: 'team', id: 'loop' }, amount: '10', expires_at: '2026-08-01T00:00:00Z', occurred_at: '2026-06-20T00:00:00Z' })]);
    const evaluator = new AlertEvaluator({ store, balances: new BalanceService(store, () => clock), log: silentLog, webhookUrl: hook.url, intervalMs: 60_000, retryBaseMs: 5 });
    evaluator.start();
    const deadline = Date.now() + 10_000;
    while (!hook.received.some((n) => n.alert_key === 'expiring/team/loop') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(hook.received.filter((n) => n.alert_key === 'expiring/team/loop')).toHaveLength(1);
    const stopping = Date.now();
    await evaluator.stop();
    expect(Date.now() - stopping).toBeLessThan(2_000);
    await hook.close();
  });
});
