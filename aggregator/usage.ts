import type { Store } from '../core/clickhouse.js';
import { formatScaled, toScaled } from '../core/decimal.js';

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
  /**
   * The account's voided usage event ids, when the caller already holds them; otherwise raw
   * reads look them up in the pairings table.
   */
  voidedUsage?: string[];
}

export interface UsageRow {
  key: string;
  /** Exact decimal text, as ClickHouse summed it. */
  amount: string;
  events: number;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;
const QUARTER = 900_000;
const ceilTo = (t: number, step: number) => Math.ceil(t / step) * step;
const floorTo = (t: number, step: number) => Math.floor(t / step) * step;
const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10);
const monthStart = (t: number) => {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
};
const nextMonth = (t: number) => {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
};

/** Whether `tz` names a time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The zone's UTC offset in minutes at `t`. */
function offsetMinutes(tz: string, t: number): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'longOffset' })
    .formatToParts(new Date(t))
    .find((p) => p.type === 'timeZoneName')?.value;
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name ?? '');
  if (!match) return 0;
  return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]));
}

const time = (param: string) => `toDateTime64({${param}:Int64} / 1000, 3, 'UTC')`;

function rawKey(groupBy: GroupBy): string {
  switch (groupBy) {
    case 'service':
      return 'toString(service)';
    case 'user':
      return 'user_id';
    case 'product':
      return 'toString(product)';
    case 'day':
      return 'toString(toDate(occurred_at, {tz:String}))';
  }
}

export async function usageBy(store: Store, query: UsageQuery): Promise<UsageRow[]> {
  const params: Record<string, unknown> = {
    account: query.accountId,
    walletType: query.walletType ?? '',
    walletId: query.walletId ?? '',
    from: query.from,
    to: query.to,
    tz: query.tz,
  };
  if (query.voidedUsage) params.voidedUsage = query.voidedUsage;
  const voided = !query.voidedUsage
    ? ` AND event_id NOT IN (SELECT event_id FROM ${store.table('voided_usage_v1')} WHERE account_id = {account:String})`
    : query.voidedUsage.length > 0
      ? ` AND event_id NOT IN {voidedUsage:Array(String)}`
      : '';
  const typeFilter = query.walletType ? ` AND wallet_type = {walletType:String}` : '';
  const parts: string[] = [];
  const raw = (table: string, ranges: Array<[number, number]>, extra = '', sign: 1 | -1 = 1) => {
    const conditions = ranges
      .filter(([a, b]) => a < b)
      .map(([a, b], i) => {
        params[`rawFrom${parts.length}_${i}`] = a;
        params[`rawTo${parts.length}_${i}`] = b;
        return `(occurred_at >= ${time(`rawFrom${parts.length}_${i}`)} AND occurred_at < ${time(`rawTo${parts.length}_${i}`)})`;
      });
    if (conditions.length === 0) return;
    parts.push(
      `SELECT ${rawKey(query.groupBy)} AS key, ${sign === 1 ? '' : '-'}assumeNotNull(amount) AS amount, toInt64(${sign}) AS events FROM ${store.table(table)}
            WHERE account_id = {account:String}${typeFilter}${extra} AND (${conditions.join(' OR ')})${voided}`,
    );
  };

  if (query.walletId !== undefined) {
    // One wallet: whole hours from the hourly rollup, edges from the raw table (ordered by wallet).
    const wallet = ` AND wallet_id = {walletId:String}`;
    const wholeHourZone = query.groupBy !== 'day' || (offsetMinutes(query.tz, query.from) % 60 === 0 && offsetMinutes(query.tz, query.to) % 60 === 0);
    const hStart = ceilTo(query.from, HOUR);
    const hEnd = floorTo(query.to, HOUR);
    if (wholeHourZone && hStart < hEnd) {
      params.hStart = hStart;
      params.hEnd = hEnd;
      const key = query.groupBy === 'day' ? 'toString(toDate(hour, {tz:String}))' : rawKey(query.groupBy);
      parts.push(
        `SELECT ${key} AS key, amount, events FROM ${store.table('usage_hourly_v1')}
              WHERE account_id = {account:String}${typeFilter}${wallet}
                AND hour >= toDateTime({hStart:Int64} / 1000, 'UTC') AND hour < toDateTime({hEnd:Int64} / 1000, 'UTC')`,
      );
      raw('events_v1', [[query.from, hStart], [hEnd, query.to]], `${wallet} AND type = 'usage'`);
    } else {
      raw('events_v1', [[query.from, query.to]], `${wallet} AND type = 'usage'`);
    }
  } else if (query.groupBy === 'day') {
    // Across wallets, by day in a time zone: quarter hours tile every zone's days.
    const qStart = ceilTo(query.from, QUARTER);
    const qEnd = floorTo(query.to, QUARTER);
    if (qStart < qEnd) {
      params.qStart = qStart;
      params.qEnd = qEnd;
      parts.push(
        `SELECT toString(toDate(bucket, {tz:String})) AS key, amount, events FROM ${store.table('usage_quarter_hours_v1')}
              WHERE account_id = {account:String}${typeFilter}
                AND bucket >= toDateTime({qStart:Int64} / 1000, 'UTC') AND bucket < toDateTime({qEnd:Int64} / 1000, 'UTC')`,
      );
      raw('usage_by_time_v1', [[query.from, qStart], [qEnd, query.to]]);
    } else {
      raw('usage_by_time_v1', [[query.from, query.to]]);
    }
  } else {
    // Across wallets, by service, user or product: whole months and days from rollups, raw
    // events only for partial days. A month mostly covered is read whole, less what it exceeds.
    params.dim = query.groupBy;
    const pieces = mergeAdjacent(planMonthsAndDays(query.from, query.to));
    const rawBySign = new Map<1 | -1, Array<[number, number]>>();
    const levels: Array<{ condition: string; sign: 1 | -1 }> = [];
    pieces.forEach((piece, i) => {
      if (piece.kind === 'raw') {
        rawBySign.set(piece.sign, [...(rawBySign.get(piece.sign) ?? []), [piece.from, piece.to]]);
        return;
      }
      params[`pFrom${i}`] = isoDay(piece.from);
      params[`pTo${i}`] = isoDay(piece.to);
      const column = piece.kind === 'month' ? 'month' : 'day';
      if (query.walletType) {
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
      // Account-wide: every month and day piece in one pass over the two-level table.
      const sign = `multiIf(${levels.map((l) => `${l.condition}, ${l.sign}`).join(', ')}, 0)`;
      parts.push(
        `SELECT value AS key, amount * s AS amount, events * s AS events
              FROM (SELECT value, amount, events, ${sign} AS s FROM ${store.table('usage_account_dims_v1')}
                    WHERE account_id = {account:String} AND dim = {dim:String}
                      AND (${levels.map((l) => `(${l.condition})`).join(' OR ')}))`,
      );
    }
    for (const [sign, ranges] of rawBySign) raw('usage_by_time_v1', ranges, '', sign);
  }

  if (parts.length === 0) return [];
  // Thousands of rows (one per user) come back as tab-separated text, the cheapest to parse.
  const rows = await store.queryTsv(
    `SELECT key, toString(sum(u.amount)) AS total, sum(u.events) AS n
     FROM (${parts.join('\nUNION ALL\n')}) AS u
     GROUP BY key
     HAVING n != 0 OR sum(u.amount) != 0`,
    params,
  );
  return rows.map(([key = '', total = '0', n = '0']) => ({ key, amount: total, events: Number(n) }));
}

interface Piece {
  kind: 'month' | 'day' | 'raw';
  from: number;
  to: number;
  sign: 1 | -1;
}

/**
 * Cuts `[from, to)` into whole months, whole days and raw partial days, each added or
 * subtracted. Per month touched, it picks the cheaper of adding the covered days, or adding the
 * whole month and subtracting the days outside the range: a range ending today reads this
 * month's row and the few days left in it, not every day so far.
 */
export function planMonthsAndDays(from: number, to: number): Piece[] {
  const pieces: Piece[] = [];
  const exact = (a: number, b: number, sign: 1 | -1) => {
    if (a >= b) return;
    const da = ceilTo(a, DAY);
    const db = floorTo(b, DAY);
    if (da >= db) {
      pieces.push({ kind: 'raw', from: a, to: b, sign });
      return;
    }
    if (a < da) pieces.push({ kind: 'raw', from: a, to: da, sign });
    pieces.push({ kind: 'day', from: da, to: db, sign });
    if (db < b) pieces.push({ kind: 'raw', from: db, to: b, sign });
  };
  // Rows read, in days: a month's rows count about as much as one day's.
  const cost = (a: number, b: number) => (a >= b ? 0 : 1 + Math.max(0, floorTo(b, DAY) - ceilTo(a, DAY)) / DAY);
  for (let ms = monthStart(from); ms < to; ms = nextMonth(ms)) {
    const me = nextMonth(ms);
    const a = Math.max(from, ms);
    const b = Math.min(to, me);
    if (a === ms && b === me) {
      pieces.push({ kind: 'month', from: ms, to: me, sign: 1 });
    } else if (1 + cost(ms, a) + cost(b, me) < cost(a, b)) {
      pieces.push({ kind: 'month', from: ms, to: me, sign: 1 });
      exact(ms, a, -1);
      exact(b, me, -1);
    } else {
      exact(a, b, 1);
    }
  }
  return pieces;
}

function mergeAdjacent(pieces: Piece[]): Piece[] {
  const merged: Piece[] = [];
  for (const piece of pieces) {
    const last = merged[merged.length - 1];
    if (last && last.kind === piece.kind && last.sign === piece.sign && last.to === piece.from && piece.kind !== 'raw') last.to = piece.to;
    else merged.push({ ...piece });
  }
  return merged;
}

/** Largest amounts first, then the rest summed into one row so a chart stays readable. */
export function topWithOthers(rows: UsageRow[], limit: number | undefined): { top: UsageRow[]; others?: UsageRow } {
  // Ordering by the nearest double is exact enough to rank; sums below stay exact.
  const byAmount = rows.map((row) => ({ row, value: Number(row.amount) }));
  byAmount.sort((a, b) => (a.value === b.value ? (a.row.key < b.row.key ? -1 : 1) : b.value - a.value));
  const sorted = byAmount.map((entry) => entry.row);
  if (limit === undefined || sorted.length <= limit) return { top: sorted };
  const rest = sorted.slice(limit);
  return {
    top: sorted.slice(0, limit),
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
