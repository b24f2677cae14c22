import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { read, tsvQuery, type Tables } from '../core/query.js';
import { walletKey, type WalletKey } from '../ledger/ledger.js';
import { formatScaled, toScaled } from '../core/decimal.js';
import { voidedUsageRows } from './voidedUsage.js';
import type { Pairing } from './accountPairings.js';
import { ceilTo, floorTo, mergeAdjacent, planMonthsAndDays, QUARTER, touchingJoined } from './usagePlan.js';
import { INTERACTIVE, WALLET_RANGE } from './readSettings.js';

/**
 * Usage analytics over any range, from rollups. A range `[from, to)` is cut into the largest
 * aligned buckets a rollup holds (months, days, quarter hours) and the unaligned edges,
 * which come from raw events; every non-voided usage event counts in full, covered or overage.
 */
export type GroupBy = 'service' | 'user' | 'product' | 'day';
export const GROUPINGS: readonly GroupBy[] = ['service', 'user', 'product', 'day'];

export interface UsageQuery {
  accountId: string;
  walletType?: 'team' | 'contract';
  walletId?: string;
  from: number;
  to: number;
  groupBy: GroupBy;
  /** IANA time zone for day buckets. */
  tz: string;
  /** The current instant, for planning: time after it holds only future-dated usage. */
  now?: number;
}

export interface UsageRow {
  key: string;
  /** Exact decimal text, as ClickHouse summed it. */
  amount: string;
  events: number;
}

const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10);

/** The canonical zone names of this runtime, read once: looking one up costs no formatter. */
const CANONICAL_ZONES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('timeZone'));

/** Whether `tz` names a time zone this runtime knows, an alias (`Asia/Calcutta`) included. */
export function isTimeZone(tz: string): boolean {
  if (tz === 'UTC' || CANONICAL_ZONES.has(tz)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * From this instant on, every zone's offset is a whole number of quarter hours, so quarter-hour
 * buckets tile local days. Before it, some were not: Monrovia kept −0:44:30 until 1972-01-07 and
 * Kiritimati −10:40 until 1979-10-01 (found by scanning every zone of the runtime's time zone data
 * twice a day from 1970 to 2040).
 */
const QUARTER_HOUR_OFFSETS_FROM = Date.UTC(1979, 9, 2);

const time = (param: string) => `fromUnixTimestamp64Milli({${param}:Int64}, 'UTC')`;

function rawKey(groupBy: GroupBy, at = 'occurred_at'): string {
  switch (groupBy) {
    case 'service':
      return 'toString(service)';
    case 'user':
      return 'user_id';
    case 'product':
      return 'toString(product)';
    case 'day':
      return `toString(toDate(${at}, {tz:String}))`;
  }
}

/**
 * Totals per key, largest amount first (by key for days), in columns `key`, `amount` (exact
 * decimal) and `events`. `source` is a table with its filter, or a subquery of `key, amount,
 * events` rows.
 */
const totals = (key: string, source: string, groupBy: GroupBy) =>
  `SELECT ${key} AS key, sum(amount) AS amount, sum(events) AS events
   FROM ${source}
   GROUP BY key
   HAVING events != 0 OR amount != 0
   ORDER BY ${groupBy === 'day' ? 'key' : 'amount DESC, key'}`;

/** A usage question, as the API and the usage summary ask it. */
const usageQuerySchema = z.object({
  accountId: z.string().min(1),
  walletType: z.enum(['team', 'contract']).optional(),
  walletId: z.string().optional(),
  from: z.number().int(),
  to: z.number().int(),
  groupBy: z.enum(GROUPINGS),
  tz: z.string().refine(isTimeZone, 'not a known time zone'),
  now: z.number().int().optional(),
});

/**
 * Totals per key, ranked, planned from the rollups that cover the range (`usageSql`).
 * Thousands of rows (one per user) come back as tab-separated text, the cheapest to parse.
 */
const usageTotalsQuery = tsvQuery({
  name: 'usage.totals',
  params: usageQuerySchema,
  sql: (t, query) => usageSql(t, query),
  columns: { key: 'String', amount: 'Decimal(38, 4)', events: 'Int64' },
});

/** Usage rows, the way the API answers them. */
export async function usageBy(store: Store, query: UsageQuery): Promise<UsageRow[]> {
  const rows = await read(store, usageTotalsQuery, query);
  return rows.map(([key = '', amount = '0', events = '0']) => ({ key, amount, events: Number(events) }));
}

/**
 * One wallet's stored usage over a range by service, user or product, before voids: one read of
 * one key range of the raw table, which is ordered by wallet and time. Its voids come from the
 * account's pairings held in memory (`AccountPairings`), so the read is as cheap as asking the
 * raw table alone; a second read of the pairings cost about 5 ms more whatever it read.
 */
const walletTotalsQuery = tsvQuery({
  name: 'usage.wallet_totals',
  params: usageQuerySchema,
  sql: (t, query) => ({
    // Key columns as stored: the same text, with no conversion per row.
    sql: `SELECT ${query.groupBy === 'user' ? 'user_id' : query.groupBy} AS key, sum(assumeNotNull(amount)) AS amount, count() AS events FROM ${t.table('events_v1')}
     WHERE account_id = {account:String} AND wallet_type = {walletType:String} AND wallet_id = {walletId:String}
       AND occurred_at >= ${time('from')} AND occurred_at < ${time('to')} AND type = 'usage'
     GROUP BY key
     SETTINGS ${WALLET_RANGE}`,
    values: { account: query.accountId, walletType: query.walletType ?? '', walletId: query.walletId ?? '', from: query.from, to: query.to },
  }),
  columns: { key: 'String', amount: 'Decimal(38, 4)', events: 'UInt64' },
});

/** Byte order of UTF-8 text, as ClickHouse orders strings. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * One wallet's usage by service, user or product, exactly as `usageBy` answers it: its stored
 * usage in the range from one read, less its pairings in the range, ranked by amount then key.
 */
export async function walletUsageBy(store: Store, query: UsageQuery & { walletType: 'team' | 'contract'; walletId: string; groupBy: 'service' | 'user' | 'product' }, pairings: Map<WalletKey, Pairing[]>): Promise<UsageRow[]> {
  const rows = await read(store, walletTotalsQuery, query);
  const totals = new Map<string, { amount: bigint; events: number }>();
  for (const [key = '', amount = '0', events = '0'] of rows) totals.set(key, { amount: toScaled(amount), events: Number(events) });
  for (const p of pairings.get(walletKey(query.walletType, query.walletId)) ?? []) {
    if (p.at < query.from || p.at >= query.to) continue;
    const key = query.groupBy === 'user' ? p.user : query.groupBy === 'service' ? p.service : p.product;
    const total = totals.get(key) ?? { amount: 0n, events: 0 };
    total.amount -= p.amount;
    total.events -= 1;
    totals.set(key, total);
  }
  return [...totals]
    .filter(([, t]) => t.events !== 0 || t.amount !== 0n)
    .sort(([ka, a], [kb, b]) => (a.amount > b.amount ? -1 : a.amount < b.amount ? 1 : byteOrder(ka, kb)))
    .map(([key, t]) => ({ key, amount: formatScaled(t.amount), events: t.events }));
}

function usageSql(store: Tables, query: UsageQuery): { sql: string; values: Record<string, unknown> } {
  const params: Record<string, unknown> = {
    account: query.accountId,
    walletType: query.walletType ?? '',
    walletId: query.walletId ?? '',
    from: query.from,
    to: query.to,
    tz: query.tz,
  };
  let range = 0;
  /** `[from, to)` ranges of `column`, each as a condition with its own parameters. */
  const within = (column: string, ranges: Array<[number, number]>) =>
    ranges
      .filter(([a, b]) => a < b)
      .map(([a, b]) => {
        const n = range++;
        params[`from${n}`] = a;
        params[`to${n}`] = b;
        return `(${column} >= ${time(`from${n}`)} AND ${column} < ${time(`to${n}`)})`;
      });
  const typeFilter = query.walletType ? ` AND wallet_type = {walletType:String}` : '';
  /** Voided usage of the scope in `[from, to)`, subtracted: the rollups count every stored event. */
  const voidedPart = (scope: string, against: 'rollups' | 'raw') =>
    `SELECT ${rawKey(query.groupBy)} AS key, -amount AS amount, toInt64(-1) AS events
     FROM ${voidedUsageRows(store, `account_id = {account:String} AND ${scope} AND ${within('occurred_at', [[query.from, query.to]])[0] ?? '0'}`, against)}`;

  if (query.walletId !== undefined) {
    // One wallet: its events in one key range of the raw table, which is ordered by wallet and
    // time. No rollup beat this read by 2× (a wallet holds few events in any range), so none
    // exists for it and ingest writes none.
    const sql = totals(
      'key',
      `(SELECT ${rawKey(query.groupBy)} AS key, assumeNotNull(amount) AS amount, toInt64(1) AS events FROM ${store.table('events_v1')}
        WHERE account_id = {account:String} AND wallet_type = {walletType:String} AND wallet_id = {walletId:String}
          AND ${within('occurred_at', [[query.from, query.to]])[0] ?? '0'} AND type = 'usage'
        UNION ALL
        ${voidedPart(`wallet_type = {walletType:String} AND wallet_id = {walletId:String}`, 'raw')})`,
      query.groupBy,
    );
    return { sql: `${sql}\n   SETTINGS ${WALLET_RANGE}`, values: params };
  }

  const parts: string[] = [voidedPart(query.walletType ? 'wallet_type = {walletType:String}' : '1', 'rollups')];
  /** Raw events of the time-ordered copy over signed ranges, in one read; voided ones net out. */
  const raw = (ranges: Array<{ from: number; to: number; sign: 1 | -1 }>) => {
    const signed = touchingJoined(ranges)
      .map((r) => ({ sign: r.sign, condition: within('occurred_at', [[r.from, r.to]])[0] }))
      .filter((r) => r.condition);
    if (signed.length === 0) return;
    const sign = signed.every((r) => r.sign === signed[0]?.sign) ? String(signed[0]?.sign) : `multiIf(${signed.map((r) => `${r.condition}, ${r.sign}`).join(', ')}, 0)`;
    parts.push(
      `SELECT ${rawKey(query.groupBy)} AS key, amount * s AS amount, toInt64(events) * s AS events
       FROM (SELECT *, ${sign} AS s FROM ${store.table('usage_by_time_v1')}
             WHERE account_id = {account:String}${typeFilter} AND (${signed.map((r) => r.condition).join(' OR ')}))`,
    );
  };

  if (query.groupBy === 'day') {
    // Across wallets, by day in a time zone: quarter hours tile every zone's days since
    // QUARTER_HOUR_OFFSETS_FROM; before it, raw events.
    const qStart = Math.max(ceilTo(query.from, QUARTER), query.tz === 'UTC' ? Number.MIN_SAFE_INTEGER : QUARTER_HOUR_OFFSETS_FROM);
    const qEnd = floorTo(query.to, QUARTER);
    if (qStart < qEnd) {
      parts.push(
        `SELECT toString(toDate(bucket, {tz:String})) AS key, amount, events FROM ${store.table('usage_quarter_hours_v1')}
         WHERE account_id = {account:String}${typeFilter} AND ${within('bucket', [[qStart, qEnd]])[0]}`,
      );
      raw([
        { from: query.from, to: qStart, sign: 1 },
        { from: qEnd, to: query.to, sign: 1 },
      ]);
    } else {
      raw([{ from: query.from, to: query.to, sign: 1 }]);
    }
  } else {
    // Across wallets, by service, user or product: whole months and days from the rollups kept
    // per wallet type (both types summed when none is asked), raw events only for partial days.
    params.dim = query.groupBy;
    const pieces = mergeAdjacent(planMonthsAndDays(query.from, query.to, query.now ?? Date.now()));
    pieces.forEach((piece, i) => {
      if (piece.kind === 'raw') return;
      params[`pFrom${i}`] = isoDay(piece.from);
      params[`pTo${i}`] = isoDay(piece.to);
      const column = piece.kind === 'month' ? 'month' : 'day';
      const signed = piece.sign === 1 ? 'amount, events' : '-amount AS amount, -events AS events';
      parts.push(
        `SELECT value AS key, ${signed} FROM ${store.table(`usage_dims_${piece.kind === 'month' ? 'monthly' : 'daily'}_v1`)}
         WHERE account_id = {account:String} AND dim = {dim:String}${typeFilter}
           AND ${column} >= {pFrom${i}:Date} AND ${column} < {pTo${i}:Date}`,
      );
    });
    raw(pieces.filter((piece) => piece.kind === 'raw'));
  }

  return { sql: `${totals('key', `(${parts.join('\nUNION ALL\n')})`, query.groupBy)}\n   SETTINGS ${INTERACTIVE}`, values: params };
}

/** The first `limit` rows of a ranked answer, and the rest summed into one row so a chart stays readable. */
export function topWithOthers(ranked: UsageRow[], limit: number | undefined): { top: UsageRow[]; others?: UsageRow } {
  if (limit === undefined || ranked.length <= limit) return { top: ranked };
  const rest = ranked.slice(limit);
  return {
    top: ranked.slice(0, limit),
    others: { key: 'others', amount: formatScaled(rest.reduce((s, r) => s + toScaled(r.amount), 0n)), events: rest.reduce((s, r) => s + r.events, 0) },
  };
}

export interface UsageSummary {
  products: number;
  users: number;
  used: bigint;
}

/** Distinct products, distinct users and the amount used by one wallet over a range. */
export async function usageSummary(store: Store, query: Omit<UsageQuery, 'groupBy' | 'tz'>): Promise<UsageSummary> {
  const [byProduct, byUser] = await Promise.all([
    usageBy(store, { ...query, groupBy: 'product', tz: 'UTC' }),
    usageBy(store, { ...query, groupBy: 'user', tz: 'UTC' }),
  ]);
  return summaryOf(byProduct, byUser);
}

/** The summary of a wallet's usage rows by product and by user. */
export function summaryOf(byProduct: UsageRow[], byUser: UsageRow[]): UsageSummary {
  return {
    products: byProduct.filter((r) => r.events > 0).length,
    users: byUser.filter((r) => r.events > 0).length,
    used: byProduct.reduce((s, r) => s + toScaled(r.amount), 0n),
  };
}
