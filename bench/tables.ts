/**
 * Every derived table earns its place: for each one, the questions users (or the product on
 * their behalf) ask of it, timed against the next-best plan that answers the same question
 * without it, alternately in the same run, with both answers checked equal. A table that buys
 * less than 2× on every question it serves has no place in storage.
 *
 * Run by the balance benchmark on its 10M-event account, after merges.
 */
import type { Store } from '../core/clickhouse.js';
import { computeLedger } from '../ledger/ledger.js';
import { loadLedgerInput } from '../readmodels/ledgerSource.js';
import { voidedUsageRows } from '../readmodels/voidedUsage.js';
import { fmt, percentile, samplePair } from './harness.js';

const DAY = 86_400_000;
const QUARTER_HOUR = 900_000;
/** Buys less than this on every question it serves, and a table goes. */
export const EARNS_PLACE = 2;

interface Plan {
  /** What the plan reads. */
  plan: string;
  run: () => Promise<unknown>;
}

interface Use {
  table: string;
  /** The question, and who asks it. */
  serves: string;
  ours: Plan;
  next: Plan;
}

export interface TableUse {
  table: string;
  serves: string;
  next_best: string;
  p50_ms: number;
  next_best_p50_ms: number;
  /** next-best p50 ÷ this table's p50 */
  ratio: number;
}

export interface TablesReport {
  uses: TableUse[];
  /** Each table's best ratio over the questions it serves: below EARNS_PLACE, it has no place. */
  best: Record<string, number>;
  /** Bytes on disk per table, after merges. */
  bytes: Record<string, number>;
}

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Rows as canonical text, in order: two plans answer the same question when these are equal. */
const canonical = (rows: unknown) =>
  (Array.isArray(rows) ? rows : [rows])
    .map((row) => JSON.stringify(Object.values(row as Record<string, unknown>).map((v) => (typeof v === 'number' ? String(v) : v))))
    .sort()
    .join('\n');

export async function measureTables(store: Store, account: string, runs = 30): Promise<TablesReport> {
  const now = Date.now();
  const today = Math.floor(now / DAY) * DAY;
  const t = (name: string) => store.table(name);
  const sql = (plan: string, query: string, params: Record<string, unknown> = {}): Plan => ({
    plan,
    run: () => store.queryRows(query, { account, ...params }),
  });
  const time = (param: string) => `fromUnixTimestamp64Milli({${param}:Int64}, 'UTC')`;

  // A batch of 1,000 incoming ids, half of them stored already.
  const ids = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? `use-${(i * 7_919) % 1_000_000}` : `new-${i}`));
  const [oneWallet] = await store.queryRows<{ wallet_type: string; wallet_id: string }>(
    `SELECT toString(wallet_type) AS wallet_type, wallet_id FROM ${t('wallet_names_v1')} WHERE account_id = {account:String} ORDER BY wallet_id LIMIT 1`,
    { account },
  );
  const wallet = { type: oneWallet?.wallet_type ?? 'team', id: oneWallet?.wallet_id ?? '' };
  const monthStart = (ms: number) => Date.UTC(new Date(ms).getUTCFullYear(), new Date(ms).getUTCMonth(), 1);
  // The last 12 whole months.
  const monthsTo = monthStart(now);
  const monthsFrom = Date.UTC(new Date(monthsTo).getUTCFullYear() - 1, new Date(monthsTo).getUTCMonth(), 1);
  /** Usage by one dimension from a per-type rollup over `[from, to)` of its date column, of team wallets or of both types. */
  const dims = (table: string, column: 'day' | 'month', dim: string, teamOnly: boolean) =>
    `SELECT value AS key, sum(amount) AS amount, sum(events) AS events FROM ${t(table)}
     WHERE account_id = {account:String} AND dim = '${dim}'${teamOnly ? " AND wallet_type = 'team'" : ''} AND ${column} >= {from:Date} AND ${column} < {to:Date} GROUP BY key`;
  const quarterHours = { from: Math.floor((now - 90 * DAY) / QUARTER_HOUR) * QUARTER_HOUR, to: Math.floor(now / QUARTER_HOUR) * QUARTER_HOUR };
  const ledgerCold = { plan: 'the ledger computed from the rollups, as the API does with no cached answer', run: async () => computeLedger(await loadLedgerInput(store, { accountId: account, at: Date.now() })) };

  const uses: Use[] = [
    {
      table: 'event_keys_v1',
      serves: 'ingest, every batch: which of 1,000 incoming event ids are stored already',
      ours: sql('ids by key', `SELECT event_id FROM ${t('event_keys_v1')} WHERE account_id = {account:String} AND event_id IN {ids:Array(String)}`, { ids }),
      next: sql('events_v1, every id of the account', `SELECT event_id FROM ${t('events_v1')} WHERE account_id = {account:String} AND event_id IN {ids:Array(String)}`, { ids }),
    },
    {
      table: 'lots_v1',
      serves: 'every balance computation: the account’s lots',
      ours: sql('the account’s lots', `SELECT event_id, amount, expires_at FROM ${t('lots_v1')} WHERE account_id = {account:String}`),
      next: sql('events_v1, purchases among all events', `SELECT event_id, amount, expires_at FROM ${t('events_v1')} WHERE account_id = {account:String} AND type = 'purchase'`),
    },
    {
      table: 'moves_v1',
      serves: 'every balance computation: the account’s moves',
      ours: sql('the account’s moves', `SELECT event_id, amount FROM ${t('moves_v1')} WHERE account_id = {account:String}`),
      next: sql('events_v1, moves among all events', `SELECT event_id, amount FROM ${t('events_v1')} WHERE account_id = {account:String} AND type = 'move'`),
    },
    {
      table: 'voided_usage_v2',
      serves: 'every usage read and balance: the voided usage of a range, subtracted',
      ours: sql(
        'paired voided usage in the range',
        `SELECT count() AS n, sum(amount) AS amount FROM ${voidedUsageRows(store, `account_id = {account:String} AND occurred_at >= ${time('from')}`)}`,
        { from: now - 90 * DAY },
      ),
      next: sql(
        'events_v1 usage in the range whose id a void names',
        `SELECT count() AS n, sum(amount) AS amount FROM ${t('events_v1')}
         WHERE account_id = {account:String} AND type = 'usage' AND occurred_at >= ${time('from')}
           AND event_id IN (SELECT voids_event_id FROM ${t('events_v1')} WHERE account_id = {account:String} AND type = 'void')`,
        { from: now - 90 * DAY },
      ),
    },
    {
      table: 'usage_wallet_daily_v1',
      serves: 'every cold ledger (aggregator, API): each wallet’s usage before today',
      ours: sql(
        'wallet days',
        `SELECT toString(wallet_type) AS wt, wallet_id, sum(amount) AS amount FROM ${t('usage_wallet_daily_v1')}
         WHERE account_id = {account:String} AND day < toDate(${time('today')}) GROUP BY wallet_type, wallet_id`,
        { today },
      ),
      next: sql(
        'events_v1, every usage event',
        `SELECT toString(wallet_type) AS wt, wallet_id, sum(amount) AS amount FROM ${t('events_v1')}
         WHERE account_id = {account:String} AND type = 'usage' AND occurred_at < ${time('today')} GROUP BY wallet_type, wallet_id`,
        { today },
      ),
    },
    {
      table: 'usage_wallet_daily_v1',
      serves: 'one wallet’s balance at a past instant: its usage by day before that day',
      ours: sql(
        'the wallet’s days',
        `SELECT day, sum(amount) AS amount FROM ${t('usage_wallet_daily_v1')}
         WHERE account_id = {account:String} AND wallet_type = {wt:String} AND wallet_id = {wi:String} AND day < toDate(${time('at')}) GROUP BY day`,
        { wt: wallet.type, wi: wallet.id, at: today - 30 * DAY },
      ),
      next: sql(
        'events_v1, the wallet’s events',
        `SELECT toDate(occurred_at) AS day, sum(amount) AS amount FROM ${t('events_v1')}
         WHERE account_id = {account:String} AND wallet_type = {wt:String} AND wallet_id = {wi:String} AND type = 'usage'
           AND occurred_at < ${time('at')} GROUP BY day`,
        { wt: wallet.type, wi: wallet.id, at: today - 30 * DAY },
      ),
    },
    {
      table: 'usage_by_time_v1',
      serves: 'account-wide usage reads: the partial day at the start of a range (from=now-90d, by service)',
      ours: sql(
        'the account’s events in time order',
        `SELECT toString(service) AS key, sum(amount) AS amount, count() AS events FROM ${t('usage_by_time_v1')}
         WHERE account_id = {account:String} AND occurred_at >= ${time('from')} AND occurred_at < ${time('to')} GROUP BY key`,
        { from: now - 90 * DAY, to: today - 89 * DAY },
      ),
      next: sql(
        'events_v1, ordered by wallet then time',
        `SELECT toString(service) AS key, sum(amount) AS amount, count() AS events FROM ${t('events_v1')}
         WHERE account_id = {account:String} AND type = 'usage' AND occurred_at >= ${time('from')} AND occurred_at < ${time('to')} GROUP BY key`,
        { from: now - 90 * DAY, to: today - 89 * DAY },
      ),
    },
    {
      table: 'usage_by_time_v1',
      serves: 'the aggregator, every recomputation: the first usage dated after now',
      ours: sql(
        'the account’s events in time order',
        `SELECT min(occurred_at) AS next FROM ${t('usage_by_time_v1')} WHERE account_id = {account:String} AND occurred_at > ${time('at')}`,
        { at: now },
      ),
      next: sql(
        'events_v1, ordered by wallet then time',
        `SELECT min(occurred_at) AS next FROM ${t('events_v1')} WHERE account_id = {account:String} AND type = 'usage' AND occurred_at > ${time('at')}`,
        { at: now },
      ),
    },
    {
      table: 'usage_quarter_hours_v1',
      serves: 'account usage by day in a time zone (Europe/Berlin), 90 days',
      ours: sql(
        'quarter hours',
        `SELECT toString(toDate(bucket, 'Europe/Berlin')) AS key, sum(amount) AS amount, sum(events) AS events FROM ${t('usage_quarter_hours_v1')}
         WHERE account_id = {account:String} AND bucket >= ${time('from')} AND bucket < ${time('to')} GROUP BY key`,
        quarterHours,
      ),
      next: sql(
        'usage_by_time_v1, the events of the range',
        `SELECT toString(toDate(occurred_at, 'Europe/Berlin')) AS key, sum(amount) AS amount, count() AS events FROM ${t('usage_by_time_v1')}
         WHERE account_id = {account:String} AND occurred_at >= ${time('from')} AND occurred_at < ${time('to')} GROUP BY key`,
        quarterHours,
      ),
    },
    {
      table: 'usage_dims_daily_v1',
      serves: 'team wallets’ usage by service, the last 30 whole days',
      ours: sql(
        'days by wallet type',
        dims('usage_dims_daily_v1', 'day', 'service', true),
        { from: iso(today - 30 * DAY), to: iso(today) },
      ),
      next: sql(
        'usage_by_time_v1, the events of the range',
        `SELECT toString(service) AS key, sum(amount) AS amount, count() AS events FROM ${t('usage_by_time_v1')}
         WHERE account_id = {account:String} AND wallet_type = 'team' AND occurred_at >= ${time('fromMs')} AND occurred_at < ${time('toMs')} GROUP BY key`,
        { fromMs: today - 30 * DAY, toMs: today },
      ),
    },
    {
      table: 'usage_dims_monthly_v1',
      serves: 'team wallets’ usage by user, the last 12 whole months',
      ours: sql(
        'months by wallet type',
        dims('usage_dims_monthly_v1', 'month', 'user', true),
        { from: iso(monthsFrom), to: iso(monthsTo) },
      ),
      next: sql(
        'usage_dims_daily_v1, the days of those months',
        dims('usage_dims_daily_v1', 'day', 'user', true),
        { from: iso(monthsFrom), to: iso(monthsTo) },
      ),
    },
    {
      table: 'usage_dims_monthly_v1',
      serves: 'account usage by user, the last 12 whole months (both wallet types)',
      ours: sql(
        'months of both wallet types',
        dims('usage_dims_monthly_v1', 'month', 'user', false),
        { from: iso(monthsFrom), to: iso(monthsTo) },
      ),
      next: sql(
        'usage_dims_daily_v1, the days of those months',
        dims('usage_dims_daily_v1', 'day', 'user', false),
        { from: iso(monthsFrom), to: iso(monthsTo) },
      ),
    },
    {
      table: 'account_changes_v1',
      serves: 'every cached balance read and aggregator pass: has the account changed',
      ours: sql('the account’s count', `SELECT sum(changes) AS n FROM ${t('account_changes_v1')} WHERE account_id = {account:String}`),
      next: sql(
        'events_v1 and voided_usage_v2, counted',
        `SELECT (SELECT count() FROM ${t('events_v1')} WHERE account_id = {account:String})
              + (SELECT count() FROM ${t('voided_usage_v2')} WHERE account_id = {account:String}) AS n`,
      ),
    },
    {
      table: 'account_changes_v1',
      serves: 'the aggregator, four times a second: which accounts changed',
      ours: sql('every account’s count', `SELECT account_id, sum(changes) AS n FROM ${t('account_changes_v1')} GROUP BY account_id`),
      next: sql(
        'events_v1 and voided_usage_v2, counted by account',
        `SELECT account_id, sum(n) AS n FROM (
           SELECT account_id, count() AS n FROM ${t('events_v1')} GROUP BY account_id
           UNION ALL SELECT account_id, count() AS n FROM ${t('voided_usage_v2')} GROUP BY account_id)
         GROUP BY account_id`,
      ),
    },
    {
      table: 'wallet_names_v1',
      serves: 'the wallets list and balance tables: each wallet’s latest name',
      ours: sql(
        'names by wallet',
        `SELECT toString(wallet_type) AS wt, wallet_id, argMaxMerge(name) AS name FROM ${t('wallet_names_v1')} WHERE account_id = {account:String} GROUP BY wallet_type, wallet_id`,
      ),
      next: sql(
        'events_v1, every named event',
        `SELECT toString(wallet_type) AS wt, wallet_id, argMax(wallet_name, (occurred_at, event_id)) AS name FROM ${t('events_v1')}
         WHERE account_id = {account:String} AND wallet_name != '' AND type IN ('purchase', 'usage') GROUP BY wallet_type, wallet_id`,
      ),
    },
    {
      table: 'wallet_balance_versions_v1',
      serves: 'Grafana’s balance panels and alert rules: every wallet’s balance',
      ours: sql('the latest version’s rows', `SELECT * FROM ${t('wallet_balances_v1')} WHERE account_id = {account:String}`),
      next: ledgerCold,
    },
    {
      table: 'lot_balance_versions_v1',
      serves: 'Grafana’s expiry panel and rule: lots expiring within 90 days',
      ours: sql(
        'the latest version’s rows',
        `SELECT * FROM ${t('lot_balances_v1')} WHERE account_id = {account:String} AND remaining > 0 AND expires_at < now64(3) + INTERVAL 90 DAY`,
      ),
      next: ledgerCold,
    },
    {
      table: 'token_event_versions_v1',
      serves: 'Grafana’s token statement of a wallet',
      ours: sql(
        'the latest version’s rows',
        `SELECT * FROM ${t('token_events_v1')} WHERE account_id = {account:String} AND wallet_type = {wt:String} AND wallet_id = {wi:String}`,
        { wt: wallet.type, wi: wallet.id },
      ),
      next: ledgerCold,
    },
  ];

  const results: TableUse[] = [];
  for (const use of uses) {
    if (use.next !== ledgerCold) {
      const [a, b] = [canonical(await use.ours.run()), canonical(await use.next.run())];
      if (a !== b) throw new Error(`${use.table} (${use.serves}): its plan and the next-best answer differently:\n${a.slice(0, 400)}\n---\n${b.slice(0, 400)}`);
    }
    const [ours, next] = await samplePair(use.ours.run, use.next.run, use.next === ledgerCold ? Math.min(runs, 10) : runs, 2);
    const p50 = percentile(ours, 50);
    const nextP50 = percentile(next, 50);
    results.push({ table: use.table, serves: use.serves, next_best: use.next.plan, p50_ms: fmt(p50, 2), next_best_p50_ms: fmt(nextP50, 2), ratio: fmt(nextP50 / p50, 1) });
  }

  const sizes = await store.queryRows<{ table: string; bytes: string }>(
    `SELECT table, sum(bytes_on_disk) AS bytes FROM system.parts WHERE database = {db:String} AND active GROUP BY table`,
    { db: store.database },
  );
  const bytes = Object.fromEntries(sizes.map((s) => [s.table, Number(s.bytes)]));
  const best: Record<string, number> = {};
  for (const u of results) best[u.table] = Math.max(best[u.table] ?? 0, u.ratio);
  return { uses: results, best, bytes };
}

/** The report's table: each table's questions, its ratio on each, and whether it earns its place. */
export function tablesRows(report: TablesReport): Array<Record<string, string | number>> {
  const raw = report.bytes.events_v1 ?? 1;
  return report.uses.map((u) => ({
    table: u.table,
    serves: u.serves,
    'next-best plan': u.next_best,
    'p50 ms': u.p50_ms,
    'next-best p50 ms': u.next_best_p50_ms,
    ratio: u.ratio,
    'bytes ÷ events_v1': fmt((report.bytes[u.table] ?? 0) / raw, 3),
    verdict: (report.best[u.table] ?? 0) >= EARNS_PLACE ? 'earns its place' : `buys < ${EARNS_PLACE}×: remove`,
  }));
}
