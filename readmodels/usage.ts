import type { Store } from '../core/clickhouse.js';
import { formatScaled, toScaled } from '../core/decimal.js';
import { voidedUsageRows } from './voidedUsage.js';

/**
 * Usage analytics over any range, from rollups. A range `[from, to)` is cut into the largest
 * aligned buckets a rollup holds (months, days, quarter hours, hours) and the unaligned edges,
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

const DAY = 86_400_000;
const QUARTER = 900_000;
const ceilTo = (t: number, step: number) => Math.ceil(t / step) * step;
const floorTo = (t: number, step: number) => Math.floor(t / step) * step;
const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10);
const monthStart = (t: number) => {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
};
const yearStart = (t: number) => Date.UTC(new Date(t).getUTCFullYear(), 0, 1);
const nextYear = (t: number) => Date.UTC(new Date(t).getUTCFullYear() + 1, 0, 1);
const nextMonth = (t: number) => {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
};

/** Whether `tz` names a time zone this runtime knows. A check costs well under a millisecond. */
export function isTimeZone(tz: string): boolean {
  if (tz === 'UTC') return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

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
 * Totals per key, largest amount first (by key for days), in columns named `<group_by>`,
 * `amount` (exact decimal) and `events`. `source` is a table with its filter, or a subquery of
 * `key, amount, events` rows.
 */
const totals = (key: string, source: string, groupBy: GroupBy) =>
  `SELECT ${key} AS ${groupBy}, sum(amount) AS amount, sum(events) AS events
   FROM ${source}
   GROUP BY ${groupBy}
   HAVING events != 0 OR amount != 0
   ORDER BY ${groupBy === 'day' ? 'day' : `amount DESC, ${groupBy}`}`;

/**
 * Settings for interactive reads: no JIT compilation. ClickHouse compiles an expression the
 * fourth time it sees it, which stalls that one query by tens of milliseconds, and compiled
 * code gains nothing on reads this small.
 */
const INTERACTIVE = 'compile_expressions = 0, compile_aggregate_expressions = 0, compile_sort_description = 0';

/** Usage rows, the way the API answers them. */
export async function usageBy(store: Store, query: UsageQuery): Promise<UsageRow[]> {
  const planned = usageSql(store, query);
  if (!planned) return [];
  // Thousands of rows (one per user) come back as tab-separated text, the cheapest to parse.
  const rows = await store.queryTsv(`${planned.sql}\n   SETTINGS ${INTERACTIVE}`, planned.params);
  return rows.map(([key = '', amount = '0', events = '0']) => ({ key, amount, events: Number(events) }));
}

/**
 * The same rows as JSON objects `{"<group_by>": key, "amount": "d", "events": n}`, comma-separated
 * and written by ClickHouse, for answers passed through without a row object per key. Amounts
 * are exact decimal strings.
 */
export async function usageJsonRows(store: Store, query: UsageQuery): Promise<string> {
  const planned = usageSql(store, query);
  if (!planned) return '';
  const lines = await store.queryJsonLines(`${planned.sql}\n   SETTINGS output_format_json_quote_64bit_integers = 0, output_format_json_quote_decimals = 1, ${INTERACTIVE}`, planned.params);
  // One object per line; JSON text never holds a raw newline, so the lines join with commas.
  return lines.trimEnd().replaceAll('\n', ',');
}

function usageSql(store: Store, query: UsageQuery): { sql: string; params: Record<string, unknown> } | undefined {
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
  const voidedPart = (scope: string) =>
    `SELECT ${rawKey(query.groupBy)} AS key, -amount AS amount, toInt64(-1) AS events
     FROM ${voidedUsageRows(store, `account_id = {account:String} AND ${scope} AND ${within('occurred_at', [[query.from, query.to]])[0] ?? '0'}`)}`;

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
        ${voidedPart(`wallet_type = {walletType:String} AND wallet_id = {walletId:String}`)})`,
      query.groupBy,
    );
    return { sql, params };
  }

  const parts: string[] = [voidedPart(query.walletType ? 'wallet_type = {walletType:String}' : '1')];
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
    // Across wallets, by day in a time zone: quarter hours tile every zone's days.
    const qStart = ceilTo(query.from, QUARTER);
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
    // Across wallets, by service, user or product: whole years, quarters, months and days from
    // rollups, raw events only for partial days.
    params.dim = query.groupBy;
    const now = query.now ?? Date.now();
    const pieces = query.walletType ? mergeAdjacent(planMonthsAndDays(query.from, query.to, now)) : planWithYears(query.from, query.to, now);
    const levels: Array<{ condition: string; sign: 1 | -1 }> = [];
    pieces.forEach((piece, i) => {
      if (piece.kind === 'raw') return;
      params[`pFrom${i}`] = isoDay(piece.from);
      params[`pTo${i}`] = isoDay(piece.to);
      if (query.walletType) {
        // Per wallet type: months and days, from the tables that keep the wallet type.
        const column = piece.kind === 'month' ? 'month' : 'day';
        const signed = piece.sign === 1 ? 'amount, events' : '-amount AS amount, -events AS events';
        parts.push(
          `SELECT value AS key, ${signed} FROM ${store.table(`usage_dims_${piece.kind === 'month' ? 'monthly' : 'daily'}_v1`)}
           WHERE account_id = {account:String} AND dim = {dim:String}${typeFilter}
             AND ${column} >= {pFrom${i}:Date} AND ${column} < {pTo${i}:Date}`,
        );
      } else {
        levels.push({ condition: `level = '${piece.kind}' AND bucket >= {pFrom${i}:Date} AND bucket < {pTo${i}:Date}`, sign: piece.sign });
      }
    });
    if (levels.length > 0) {
      // Account-wide: every piece in one pass over the multi-level table.
      const where = `account_id = {account:String} AND dim = {dim:String} AND (${levels.map((l) => `(${l.condition})`).join(' OR ')})`;
      const table = store.table('usage_account_dims_v1');
      parts.push(
        levels.every((l) => l.sign === 1)
          ? `SELECT value AS key, amount, events FROM ${table} WHERE ${where}`
          : `SELECT value AS key, amount * s AS amount, events * s AS events
             FROM (SELECT value, amount, events, multiIf(${levels.map((l) => `${l.condition}, ${l.sign}`).join(', ')}, 0) AS s FROM ${table} WHERE ${where})`,
      );
    }
    raw(pieces.filter((piece) => piece.kind === 'raw'));
  }

  if (parts.length === 0) return undefined;
  return { sql: totals('key', `(${parts.join('\nUNION ALL\n')})`, query.groupBy), params };
}

/** Ranges of one sign that touch, joined: each range read costs more than the rows in it. */
function touchingJoined(ranges: Array<{ from: number; to: number; sign: 1 | -1 }>): Array<{ from: number; to: number; sign: 1 | -1 }> {
  const joined: typeof ranges = [];
  for (const r of [...ranges].sort((a, b) => a.from - b.from)) {
    const last = joined[joined.length - 1];
    if (last && last.sign === r.sign && last.to === r.from) last.to = r.to;
    else joined.push({ from: r.from, to: r.to, sign: r.sign });
  }
  return joined;
}

interface Piece {
  kind: 'year' | 'quarter' | 'month' | 'day' | 'raw';
  from: number;
  to: number;
  sign: 1 | -1;
}

/**
 * Relative costs of what a plan reads. Raw events of a day cost several times a day's rollup
 * rows; raw events after `now` cost nothing but their piece, since only future-dated usage
 * lies there.
 */
const PIECE_COST = 0.1;
const RAW_DAY_COST = 4;
const flip = (p: Piece): Piece => ({ ...p, sign: p.sign === 1 ? -1 : 1 });

/**
 * Cuts `[from, to)` into whole months, whole days and raw events, each added or subtracted,
 * choosing the cheapest reads:
 * - a month mostly covered is read whole, less what lies outside the range, so a range ending
 *   now reads this month's row and subtracts the (usually empty) future;
 * - a partial day is read as raw events, or as the whole day less the raw events outside it,
 *   whichever spans less past time.
 */
export function planMonthsAndDays(from: number, to: number, now = Number.POSITIVE_INFINITY): Piece[] {
  const piece = (kind: Piece['kind'], a: number, b: number): Piece[] => (a >= b ? [] : [{ kind, from: a, to: b, sign: 1 }]);
  const cheaper = (x: Piece[], y: Piece[]) => (planCost(y, now) < planCost(x, now) ? y : x);
  const less = (...parts: Piece[][]) => parts.flat().map(flip);
  /** `[a, b)` within one day. */
  const partOfDay = (a: number, b: number): Piece[] => {
    if (a >= b) return [];
    const d = floorTo(a, DAY);
    if (a === d && b === d + DAY) return piece('day', a, b);
    return cheaper(piece('raw', a, b), [...piece('day', d, d + DAY), ...less(piece('raw', d, a), piece('raw', b, d + DAY))]);
  };
  /** `[a, b)` within one month, from days and raw events, or all raw (as the future is). */
  const exact = (a: number, b: number): Piece[] => {
    if (a >= b) return [];
    const da = ceilTo(a, DAY);
    const db = floorTo(b, DAY);
    if (da > db) return partOfDay(a, b);
    return cheaper([...partOfDay(a, da), ...piece('day', da, db), ...partOfDay(db, b)], piece('raw', a, b));
  };
  const pieces: Piece[] = [];
  for (let ms = monthStart(from); ms < to; ms = nextMonth(ms)) {
    const me = nextMonth(ms);
    const a = Math.max(from, ms);
    const b = Math.min(to, me);
    const month = piece('month', ms, me);
    pieces.push(...(a === ms && b === me ? cheaper(month, piece('raw', ms, me)) : cheaper(exact(a, b), [...month, ...less(exact(ms, a), exact(b, me))])));
  }
  return pieces;
}

/**
 * The plan for a table with whole years and quarters as well: per year touched, the cheaper of
 * its months (read as quarters where they align), or the whole year less what lies outside the
 * range. A year ending now is one row less the (usually empty) future.
 */
export function planWithYears(from: number, to: number, now = Number.POSITIVE_INFINITY): Piece[] {
  const months = (a: number, b: number) => (a < b ? coarsen(planMonthsAndDays(a, b, now)) : []);
  const pieces: Piece[] = [];
  for (let ys = yearStart(from); ys < to; ys = nextYear(ys)) {
    const ye = nextYear(ys);
    const a = Math.max(from, ys);
    const b = Math.min(to, ye);
    const inside = months(a, b);
    const outside: Piece[] = [{ kind: 'year', from: ys, to: ye, sign: 1 }, ...[...months(ys, a), ...months(b, ye)].map(flip)];
    pieces.push(...(planCost(outside, now) < planCost(inside, now) ? outside : inside));
  }
  return mergeAdjacent(pieces);
}

/** What a plan reads, in the units of the costs above. */
function planCost(pieces: Piece[], now: number): number {
  const monthsIn = (p: Piece) => {
    const [a, b] = [new Date(p.from), new Date(p.to)];
    return (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + b.getUTCMonth() - a.getUTCMonth();
  };
  const units = (p: Piece) => {
    switch (p.kind) {
      case 'raw':
        return (RAW_DAY_COST * Math.max(0, Math.min(p.to, now) - p.from)) / DAY;
      case 'day':
        return (p.to - p.from) / DAY;
      case 'month':
        return monthsIn(p);
      case 'quarter':
        return monthsIn(p) / 3;
      case 'year':
        return monthsIn(p) / 12;
    }
  };
  return pieces.reduce((sum, p) => sum + PIECE_COST + units(p), 0);
}

/** Runs of whole months, read as whole years and quarters where they align. */
function coarsen(pieces: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const p of mergeAdjacent(pieces)) {
    if (p.kind !== 'month' || p.sign !== 1) {
      out.push(p);
      continue;
    }
    for (let t = p.from; t < p.to; ) {
      const d = new Date(t);
      const [y, m] = [d.getUTCFullYear(), d.getUTCMonth()];
      const year = Date.UTC(y + 1, 0, 1);
      const quarter = Date.UTC(y, m + 3, 1);
      const [kind, next]: [Piece['kind'], number] =
        m === 0 && year <= p.to ? ['year', year] : m % 3 === 0 && quarter <= p.to ? ['quarter', quarter] : ['month', nextMonth(t)];
      out.push({ kind, from: t, to: next, sign: 1 });
      t = next;
    }
  }
  return mergeAdjacent(out);
}

/** Rollup pieces of one kind and sign that touch are read as one range; raw pieces stay apart. */
function mergeAdjacent(pieces: Piece[]): Piece[] {
  const sorted = [...pieces].sort((a, b) => (a.kind === b.kind ? (a.sign === b.sign ? a.from - b.from : a.sign - b.sign) : a.kind < b.kind ? -1 : 1));
  const merged: Piece[] = [];
  for (const piece of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.kind === piece.kind && last.sign === piece.sign && last.to === piece.from && piece.kind !== 'raw') last.to = piece.to;
    else merged.push({ ...piece });
  }
  return merged;
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
  return {
    products: byProduct.filter((r) => r.events > 0).length,
    users: byUser.filter((r) => r.events > 0).length,
    used: byProduct.reduce((s, r) => s + toScaled(r.amount), 0n),
  };
}
