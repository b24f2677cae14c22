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

const knownZones = new Set<string>(['UTC']);

/** Whether `tz` names a time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  if (knownZones.has(tz)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    return false;
  }
  // Bounded: names differing only in case are all valid.
  if (knownZones.size < 1000) knownZones.add(tz);
  return true;
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

/** Totals per key, largest amount first (by key for days), as exact decimal text. */
const totals = (source: string, groupBy: GroupBy) =>
  `SELECT key, toString(sum(amount)) AS total, sum(events) AS n
   FROM ${source}
   GROUP BY key
   HAVING n != 0 OR sum(amount) != 0
   ORDER BY ${groupBy === 'day' ? 'key' : 'sum(amount) DESC, key'}`;

export async function usageBy(store: Store, query: UsageQuery): Promise<UsageRow[]> {
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

  if (query.walletId !== undefined) {
    // One wallet, in one read of one key range: whole hours at the hour level, the partial
    // hours at its edges at the event level. Voided events cancel within the table.
    const wholeHourZone = query.groupBy !== 'day' || (offsetMinutes(query.tz, query.from) % 60 === 0 && offsetMinutes(query.tz, query.to) % 60 === 0);
    const hStart = ceilTo(query.from, HOUR);
    const hEnd = floorTo(query.to, HOUR);
    const levels =
      wholeHourZone && hStart < hEnd
        ? [
            `(level = 'hour' AND ${within('at', [[hStart, hEnd]])[0]})`,
            ...within('at', [[query.from, hStart], [hEnd, query.to]]).map((c) => `(level = 'event' AND ${c})`),
          ]
        : within('at', [[query.from, query.to]]).map((c) => `(level = 'event' AND ${c})`);
    const rows = await store.queryTsv(
      totals(
        `(SELECT ${rawKey(query.groupBy, 'at')} AS key, amount, events FROM ${store.table('usage_wallet_levels_v1')}
          WHERE account_id = {account:String} AND wallet_type = {walletType:String} AND wallet_id = {walletId:String}
            AND (${levels.join(' OR ')}))`,
        query.groupBy,
      ),
      params,
    );
    return rows.map(toRow);
  }

  if (query.voidedUsage) params.voidedUsage = query.voidedUsage;
  const voided = !query.voidedUsage
    ? ` AND event_id NOT IN (SELECT event_id FROM ${store.table('voided_usage_v1')} WHERE account_id = {account:String})`
    : query.voidedUsage.length > 0
      ? ` AND event_id NOT IN {voidedUsage:Array(String)}`
      : '';
  const parts: string[] = [];
  /** Raw events of the time-ordered copy over signed ranges, in one read. */
  const raw = (ranges: Array<{ from: number; to: number; sign: 1 | -1 }>) => {
    const signed = ranges.map((r) => ({ sign: r.sign, condition: within('occurred_at', [[r.from, r.to]])[0] })).filter((r) => r.condition);
    if (signed.length === 0) return;
    const sign = signed.every((r) => r.sign === 1) ? '1' : `multiIf(${signed.map((r) => `${r.condition}, ${r.sign}`).join(', ')}, 0)`;
    parts.push(
      `SELECT ${rawKey(query.groupBy)} AS key, assumeNotNull(amount) * s AS amount, toInt64(s) AS events
       FROM (SELECT *, ${sign} AS s FROM ${store.table('usage_by_time_v1')}
             WHERE account_id = {account:String}${typeFilter} AND (${signed.map((r) => r.condition).join(' OR ')})${voided})`,
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
    // Across wallets, by service, user or product: whole months and days from rollups, raw
    // events only for partial days. A month mostly covered is read whole, less what it exceeds.
    params.dim = query.groupBy;
    const pieces = mergeAdjacent(planMonthsAndDays(query.from, query.to));
    const levels: Array<{ condition: string; sign: 1 | -1 }> = [];
    pieces.forEach((piece, i) => {
      if (piece.kind === 'raw') return;
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
    raw(pieces.filter((piece) => piece.kind === 'raw'));
  }

  if (parts.length === 0) return [];
  // Thousands of rows (one per user) come back as tab-separated text, the cheapest to parse.
  const rows = await store.queryTsv(totals(`(${parts.join('\nUNION ALL\n')})`, query.groupBy), params);
  return rows.map(toRow);
}

const toRow = ([key = '', total = '0', n = '0']: string[]): UsageRow => ({ key, amount: total, events: Number(n) });

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
