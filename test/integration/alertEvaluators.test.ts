import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { toClickHouseTime } from '../../core/time.js';
import { loadMigrations } from '../../storage/migrate.js';
import { renderForCluster, type ClusterRendering } from '../../storage/clusterSql.js';
import type { Store } from '../../core/clickhouse.js';
import { createMetrics } from '../../core/metrics.js';
import { BalanceService } from '../../readmodels/balances.js';
import { AlertEvaluator, type AlertEvaluatorOptions, type AlertNotification } from '../../alerts/evaluator.js';
import { capturedLog } from '../support/capturedLog.js';
import { purchase, usage } from '../support/events.js';
import { freshStore, pipelineFor, silentLog } from '../support/store.js';

interface Delivery {
  notification: AlertNotification;
  idempotencyKey: string | undefined;
}

/** A webhook receiver on a local port; `refuse` decides which requests answer 503. */
async function webhook(refuse: (request: number) => boolean = () => false) {
  const delivered: Delivery[] = [];
  const refused: Delivery[] = [];
  let requests = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const delivery = { notification: JSON.parse(body) as AlertNotification, idempotencyKey: keyOf(req.headers) };
      if (refuse(++requests)) {
        refused.push(delivery);
        res.writeHead(503).end();
        return;
      }
      delivered.push(delivery);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    delivered,
    refused,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const keyOf = (headers: IncomingHttpHeaders) => {
  const key = headers['idempotency-key'];
  return Array.isArray(key) ? key[0] : key;
};

/** How many times each (account, alert, status) arrived. */
const tally = (deliveries: Delivery[]) => {
  const counts = new Map<string, number>();
  for (const { notification: n } of deliveries) counts.set(`${n.account_id} ${n.status} ${n.alert_key}`, (counts.get(`${n.account_id} ${n.status} ${n.alert_key}`) ?? 0) + 1);
  return Object.fromEntries([...counts].sort(([a], [b]) => (a < b ? -1 : 1)));
};

const until = async (condition: () => boolean, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
};

let store: Store | undefined;
const closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
  await store?.command(`DROP DATABASE IF EXISTS \`${store.database}\``);
  await store?.close();
  store = undefined;
});

/**
 * A store holding `events`, with a low-balance wallet and a soon-expiring one for acme and for
 * zeta: three alerts each, as nothing is used from the soon-expiring lot (`expiring_unused`).
 */
async function storeWith(extra: Array<Record<string, unknown>> = []): Promise<Store> {
  store = await freshStore();
  const events = ['acme', 'zeta', ...extra.map((e) => e.account_id as string)].flatMap((account) => [
    purchase(`${account}-p-low`, { account_id: account, wallet: { type: 'team', id: 'low' }, amount: '100', expires_at: '2027-06-01T00:00:00Z' }),
    usage(`${account}-u-low`, { account_id: account, wallet: { type: 'team', id: 'low' }, amount: '85', occurred_at: '2026-05-01T00:00:00Z' }),
    purchase(`${account}-p-soon`, { account_id: account, wallet: { type: 'team', id: 'soon' }, amount: '50', expires_at: '2026-07-01T00:00:00Z' }),
  ]);
  const result = await pipelineFor(store).ingest(events.map((e) => ({ text: JSON.stringify(e) })), { source: 'http' });
  expect(result.rejected).toBe(0);
  return store;
}

describe('Two alert evaluators over one store', () => {
  it('deliver each change of an alert once, whether they evaluate together or in turn, and a resolution once', async () => {
    const s = await storeWith();
    const hook = await webhook();
    closing.push(hook.close);
    let clock = Date.UTC(2026, 5, 1);
    const evaluator = () => new AlertEvaluator({ store: s, balances: new BalanceService(s, () => clock), log: silentLog, webhookUrl: hook.url, intervalMs: 40, retryBaseMs: 5 });
    const [first, second] = [evaluator(), evaluator()];
    // Two API processes start together and each evaluates on its own interval.
    first.start();
    second.start();
    closing.push(() => first.stop(), () => second.stop());
    await until(() => hook.delivered.length >= 6);
    await new Promise((r) => setTimeout(r, 600));
    expect(tally(hook.delivered)).toEqual({
      'acme firing expiring/team/soon': 1,
      'acme firing expiring_unused/team/soon': 1,
      'acme firing low_balance/team/low': 1,
      'zeta firing expiring/team/soon': 1,
      'zeta firing expiring_unused/team/soon': 1,
      'zeta firing low_balance/team/low': 1,
    });

    // One process stops (it releases the lease if it held it); more tokens bring acme's low
    // wallet back to green, and the other process delivers the resolution, once.
    await first.stop();
    await pipelineFor(s).ingest([{ text: JSON.stringify(purchase('acme-p-more', { wallet: { type: 'team', id: 'low' }, amount: '100', expires_at: '2027-06-01T00:00:00Z', occurred_at: '2026-05-20T00:00:00Z' })) }], { source: 'http' });
    clock += 60_000;
    await until(() => hook.delivered.length >= 7);
    await new Promise((r) => setTimeout(r, 600));
    expect(tally(hook.delivered)['acme resolved low_balance/team/low']).toBe(1);
    expect(hook.delivered).toHaveLength(7);

    // Two more evaluating at the very same moment, as one-off passes: nothing is new, nothing is sent.
    await second.stop();
    clock += 60_000;
    expect([...(await Promise.all([evaluator().evaluateOnce(), evaluator().evaluateOnce()]))].flat()).toEqual([]);
    expect(hook.delivered).toHaveLength(7);
  });

  it('a resend of the same change, by another evaluator a minute later, carries the same Idempotency-Key', async () => {
    const s = await storeWith();
    // The receiver takes the request in, then answers 503: the evaluator cannot know it arrived.
    const hook = await webhook((request) => request <= 6);
    closing.push(hook.close);
    let clock = Date.UTC(2026, 5, 1);
    const evaluator = () => new AlertEvaluator({ store: s, balances: new BalanceService(s, () => clock), log: silentLog, webhookUrl: hook.url, intervalMs: 60_000, attempts: 1 });
    expect(await evaluator().evaluateOnce()).toEqual([]);
    expect(hook.refused).toHaveLength(6);
    clock += 60_000;
    expect(await evaluator().evaluateOnce()).toHaveLength(6);
    expect(hook.delivered).toHaveLength(6);

    const keyFor = (deliveries: Delivery[], alert: string) => deliveries.find((d) => `${d.notification.account_id} ${d.notification.alert_key}` === alert)?.idempotencyKey;
    const alerts = hook.delivered.map((d) => `${d.notification.account_id} ${d.notification.alert_key}`);
    for (const alert of alerts) {
      expect(keyFor(hook.delivered, alert), alert).toBeTruthy();
      expect(keyFor(hook.delivered, alert), alert).toBe(keyFor(hook.refused, alert));
    }
    // Each change has a key of its own: six alerts, six keys; acme's resolution a seventh.
    expect(new Set(hook.delivered.map((d) => d.idempotencyKey)).size).toBe(6);
    await pipelineFor(s).ingest([{ text: JSON.stringify(purchase('acme-p-more', { wallet: { type: 'team', id: 'low' }, amount: '100', expires_at: '2027-06-01T00:00:00Z', occurred_at: '2026-05-20T00:00:00Z' })) }], { source: 'http' });
    clock += 60_000;
    expect((await evaluator().evaluateOnce()).map((n) => `${n.status} ${n.alert_key}`)).toEqual(['resolved low_balance/team/low']);
    const resolution = hook.delivered.at(-1);
    expect(resolution?.notification.status).toBe('resolved');
    expect(new Set(hook.delivered.map((d) => d.idempotencyKey)).size).toBe(7);
  });

  it('an account whose evaluation throws is logged and counted, and every other account is still evaluated', async () => {
    const s = await storeWith([{ account_id: 'broken' }, { account_id: 'aardvark' }]);
    const hook = await webhook();
    closing.push(hook.close);
    const clock = Date.UTC(2026, 5, 1);
    const real = new BalanceService(s, () => clock);
    // 'aardvark' sorts first and 'broken' second: a loop that stops at the first failure misses
    // 'broken''s successors (acme, zeta) and, were it first, every account.
    const balances: AlertEvaluatorOptions['balances'] = {
      current: async (account) => {
        if (account === 'broken' || account === 'aardvark') throw new Error(`ledger of ${account} cannot be computed`);
        return real.current(account);
      },
    };
    const captured = capturedLog();
    const metrics = createMetrics();
    const evaluator = new AlertEvaluator({ store: s, balances, log: captured.log, webhookUrl: hook.url, intervalMs: 60_000, metrics });
    const delivered = await evaluator.evaluateOnce();
    expect(delivered.map((n) => `${n.account_id} ${n.alert_key}`).sort()).toEqual([
      'acme expiring/team/soon',
      'acme expiring_unused/team/soon',
      'acme low_balance/team/low',
      'zeta expiring/team/soon',
      'zeta expiring_unused/team/soon',
      'zeta low_balance/team/low',
    ]);
    expect(captured.lines.filter((l) => l.event === 'alert_account_failed').map((l) => l.account).sort()).toEqual(['aardvark', 'broken']);
    expect(await metrics.registry.getSingleMetricAsString('balances_background_failures_total')).toContain('balances_background_failures_total{task="alerts.account"} 2');
  });

  it('only the lease holder delivers; a holder that died is replaced once its lease runs out', async () => {
    const s = await storeWith();
    const hook = await webhook();
    closing.push(hook.close);
    const clock = Date.UTC(2026, 5, 1);
    // A process that took the lease and died: nobody renews it, and it runs out in 3 s.
    await s.insertJsonEachRow(
      'alert_leases_v1',
      JSON.stringify({ account_id: '', lease: 'evaluator', term: 1, owner: 'dead-host:1', expires_at: toClickHouseTime(Date.now() + 3_000) }) + '\n',
      { deduplicationToken: 'alert-lease-evaluator-1' },
    );
    const heir = new AlertEvaluator({ store: s, balances: new BalanceService(s, () => clock), log: silentLog, webhookUrl: hook.url, intervalMs: 50, retryBaseMs: 5 });
    heir.start();
    closing.push(() => heir.stop());
    await new Promise((r) => setTimeout(r, 1_000));
    expect(hook.delivered).toEqual([]);
    await until(() => hook.delivered.length >= 6);
    expect(Object.keys(tally(hook.delivered))).toHaveLength(6);
  });

  it('deliver runs_out and expiring_unused under keys of their type and wallet, once each, and resolve them once the forecast clears', async () => {
    const s = await storeWith();
    const burner = [
      // 60 used in the last 28 days from 100: 40 left at 2.1428 a day lasts 18.67 days, to the second.
      purchase('acme-p-burn', { wallet: { type: 'team', id: 'burner' }, amount: '100', expires_at: '2027-06-01T00:00:00Z' }),
      usage('acme-u-burn', { wallet: { type: 'team', id: 'burner' }, amount: '60', occurred_at: '2026-05-20T00:00:00Z' }),
    ];
    await pipelineFor(s).ingest(burner.map((e) => ({ text: JSON.stringify(e) })), { source: 'http' });
    const hook = await webhook();
    closing.push(hook.close);
    let clock = Date.UTC(2026, 5, 1);
    const evaluator = () => new AlertEvaluator({ store: s, balances: new BalanceService(s, () => clock), log: silentLog, webhookUrl: hook.url, intervalMs: 60_000, retryBaseMs: 5 });
    const fired = (await evaluator().evaluateOnce()).filter((n) => n.account_id === 'acme' && (n.type === 'runs_out' || n.type === 'expiring_unused'));
    expect(fired.map((n) => ({ key: n.alert_key, status: n.status, version: n.version, details: n.details }))).toEqual([
      { key: 'runs_out/team/burner', status: 'firing', version: 1, details: { runs_out_at: new Date(clock + Math.ceil((40 / 2.1428) * 86_400) * 1000).toISOString(), days_left: 19, burn_rate_per_day: '2.1428', available: '40' } },
      {
        key: 'expiring_unused/team/soon',
        status: 'firing',
        version: 1,
        details: { projected_unused: '50', expires_at: '2026-07-01T00:00:00.000Z', days_left: 30, lots: [{ lot_id: 'acme-p-soon', projected_unused: '50', expires_at: '2026-07-01T00:00:00.000Z', days_left: 30 }] },
      },
    ]);
    const keyOfAlert = (alert: string) => hook.delivered.find((d) => d.notification.account_id === 'acme' && d.notification.alert_key === alert)?.idempotencyKey;
    expect(keyOfAlert('runs_out/team/burner')).toBe('acme/runs_out/team/burner/1');
    // A day later the run-out is a day nearer, but the alert is the same one: nothing is sent.
    clock += 86_400_000;
    expect(await evaluator().evaluateOnce()).toEqual([]);
    // A purchase that lasts beyond the month resolves runs_out; the soon lot is not touched.
    await pipelineFor(s).ingest([{ text: JSON.stringify(purchase('acme-p-burn-2', { wallet: { type: 'team', id: 'burner' }, amount: '1000', expires_at: '2027-06-01T00:00:00Z', occurred_at: '2026-06-01T12:00:00Z' })) }], { source: 'http' });
    clock += 60_000;
    expect((await evaluator().evaluateOnce()).map((n) => `${n.account_id} ${n.status} ${n.alert_key} ${n.version}`)).toEqual(['acme resolved runs_out/team/burner 2']);
    expect(await evaluator().evaluateOnce()).toEqual([]);
  });
});

describe('The alert lease on a ClickHouse cluster', () => {
  it('keeps each lease on one shard, where its replicas deduplicate the claims of a term together', async () => {
    const rendering: ClusterRendering = { cluster: 'balances', tables: new Set() };
    const statements = (await loadMigrations()).flatMap((m) => m.statements.flatMap((sql) => renderForCluster(sql, rendering)));
    const table = statements.find((sql) => sql.startsWith('CREATE TABLE IF NOT EXISTS ${db}.alert_leases_v1 '));
    expect(table).toContain(`ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/alert_leases_v1', '{replica}', expires_at)`);
    expect(table).toMatch(/replicated_deduplication_window = 10000/);
    // Read and written through the twin, which sends every row of one lease (one account_id) to one shard.
    const twin = statements.find((sql) => sql.startsWith('CREATE TABLE IF NOT EXISTS ${db}.alert_leases_v1_dist '));
    expect(twin).toMatch(/ENGINE = Distributed\(`balances`, currentDatabase\(\), alert_leases_v1, cityHash64\(account_id\)\)/);
  });
});

describe('An alert evaluator with no webhook', () => {
  it("records an account's changes in one insert, and a later evaluation, or a second evaluator, records none of them again", async () => {
    const s = await storeWith();
    const clock = Date.UTC(2026, 5, 1);
    const inserts: string[] = [];
    const counted: Store = {
      ...s,
      insertJsonEachRow: (table, body, options) => {
        if (table === 'alert_states_v1') inserts.push(body);
        return s.insertJsonEachRow(table, body, options);
      },
    };
    const evaluator = () => new AlertEvaluator({ store: counted, balances: new BalanceService(s, () => clock), log: silentLog, intervalMs: 60_000 });
    const first = await evaluator().evaluateOnce();
    const firing = ['expiring/team/soon', 'expiring_unused/team/soon', 'low_balance/team/low'];
    expect(first.map((n) => `${n.account_id} ${n.status} ${n.alert_key}`).sort()).toEqual([...firing.map((k) => `acme firing ${k}`), ...firing.map((k) => `zeta firing ${k}`)]);
    // One insert per account, each of its three rows.
    expect(inserts.map((body) => body.trim().split('\n').length)).toEqual([3, 3]);
    expect(await evaluator().evaluateOnce()).toEqual([]);
    expect(inserts).toHaveLength(2);
    const stored = await s.queryRows<{ n: string }>(`SELECT count() AS n FROM ${s.table('alert_states_v1')} FINAL WHERE state = 'firing'`);
    expect(Number(stored[0]?.n)).toBe(6);
  });
});
