import type { Store } from '../core/clickhouse.js';
import { toScaled } from '../core/decimal.js';

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
}

export interface UsageRow {
  key: string;
  /** Integer scaled by 10^4. */
  amount: bigint;
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

interface Part {
  sql: string;
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
  const voided = `event_id NOT IN (SELECT event_id FROM ${store.table('voided_usage_v1')} WHERE account_id = {account:String})`;
  const typeFilter = query.walletType ? ` AND wallet_type = {walletType:String}` : '';
  const parts: Part[] = [];
  const raw = (table: string, ranges: Array<[number, number]>, extra = '') => {
    const conditions = ranges
      .filter(([a, b]) => a < b)
      .map(([a, b], i) => {
        params[`rawFrom${parts.length}_${i}`] = a;
        params[`rawTo${parts.length}_${i}`] = b;
        return `(occurred_at >= ${time(`rawFrom${parts.length}_${i}`)} AND occurred_at < ${time(`rawTo${parts.length}_${i}`)})`;
      });
    if (conditions.length === 0) return;
    parts.push({
      sql: `SELECT ${rawKey(query.groupBy)} AS key, assumeNotNull(amount) AS amount, toInt64(1) AS events FROM ${store.table(table)}
            WHERE account_id = {account:String}${typeFilter}${extra} AND (${conditions.join(' OR ')}) AND ${voided}`,
    });
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
      parts.push({
        sql: `SELECT ${key} AS key, amount, events FROM ${store.table('usage_hourly_v1')}
              WHERE account_id = {account:String}${typeFilter}${wallet}
                AND hour >= toDateTime({hStart:Int64} / 1000, 'UTC') AND hour < toDateTime({hEnd:Int64} / 1000, 'UTC')`,
      });
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
      parts.push({
        sql: `SELECT toString(toDate(bucket, {tz:String})) AS key, amount, events FROM ${store.table('usage_quarter_hours_v1')}
              WHERE account_id = {account:String}${typeFilter}
                AND bucket >= toDateTime({qStart:Int64} / 1000, 'UTC') AND bucket < toDateTime({qEnd:Int64} / 1000, 'UTC')`,
      });
      raw('usage_by_time_v1', [[query.from, qStart], [qEnd, query.to]]);
    } else {
      raw('usage_by_time_v1', [[query.from, query.to]]);
    }
  } else {
    // Across wallets, by service, user or product: whole months, then whole days, then raw edges.
    const dStart = ceilTo(query.from, DAY);
    const dEnd = floorTo(query.to, DAY);
    if (dStart < dEnd) {
      params.dim = query.groupBy;
      const mStart = monthStart(dStart) === dStart ? dStart : nextMonth(dStart);
      const mEnd = monthStart(dEnd);
      const dayRanges: Array<[number, number]> = mStart < mEnd ? [[dStart, mStart], [mEnd, dEnd]] : [[dStart, dEnd]];
      if (mStart < mEnd) {
        params.mStart = isoDay(mStart);
        params.mEnd = isoDay(mEnd);
        parts.push({
          sql: `SELECT value AS key, amount, events FROM ${store.table('usage_dims_monthly_v1')}
                WHERE account_id = {account:String} AND dim = {dim:String}${typeFilter}
                  AND month >= {mStart:Date} AND month < {mEnd:Date}`,
        });
      }
      dayRanges
        .filter(([a, b]) => a < b)
        .forEach(([a, b], i) => {
          params[`dFrom${i}`] = isoDay(a);
          params[`dTo${i}`] = isoDay(b);
          parts.push({
            sql: `SELECT value AS key, amount, events FROM ${store.table('usage_dims_daily_v1')}
                  WHERE account_id = {account:String} AND dim = {dim:String}${typeFilter}
                    AND day >= {dFrom${i}:Date} AND day < {dTo${i}:Date}`,
          });
        });
      raw('usage_by_time_v1', [[query.from, dStart], [dEnd, query.to]]);
    } else {
      raw('usage_by_time_v1', [[query.from, query.to]]);
    }
  }

  if (parts.length === 0) return [];
  const rows = await store.queryRows<{ key: string; total: string; n: string }>(
    `SELECT key, toString(sum(u.amount)) AS total, sum(u.events) AS n
     FROM (${parts.map((p) => p.sql).join('\nUNION ALL\n')}) AS u
     GROUP BY key
     HAVING n != 0 OR sum(u.amount) != 0`,
    params,
  );
  return rows.map((r) => ({ key: r.key, amount: toScaled(r.total), events: Number(r.n) }));
}

/** Largest amounts first, then the rest summed into one row so a chart stays readable. */
export function topWithOthers(rows: UsageRow[], limit: number | undefined): { top: UsageRow[]; others?: UsageRow } {
  const sorted = [...rows].sort((a, b) => (a.amount === b.amount ? (a.key < b.key ? -1 : 1) : a.amount > b.amount ? -1 : 1));
  if (limit === undefined || sorted.length <= limit) return { top: sorted };
  const rest = sorted.slice(limit);
  return {
    top: sorted.slice(0, limit),
    others: { key: 'others', amount: rest.reduce((s, r) => s + r.amount, 0n), events: rest.reduce((s, r) => s + r.events, 0) },
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
    used: byProduct.reduce((s, r) => s + r.amount, 0n),
  };
}
