import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { field, jsonQuery, param, read, tsvQuery } from '../core/query.js';
import { toScaled } from '../core/decimal.js';
import {
  breakpointsByWallet,
  DAY_MS,
  type LedgerInput,
  type LotInput,
  type MoveInput,
  type UsageEvent,
  type UsageSegment,
  type WalletKey,
  walletKey,
  walletOf,
} from '../ledger/ledger.js';
import { DAY_ROW, PAIRED_ROW, RAW_ROW, segmentSums, segmentsOfWalletDays } from './walletDays.js';
import { voidedUsageRows } from './voidedUsage.js';
import type { AccountUsage } from './accountUsage.js';

/**
 * Feeds the ledger from ClickHouse: lots, moves and voids from their rollups, and usage as one
 * sum per segment between breakpoints. Whole days come from the daily wallet rollup; only the
 * days that a breakpoint splits, and the day holding `at`, are read from raw events. Raw usage
 * is never replayed as a whole.
 */

export interface LedgerQuery {
  accountId: string;
  at: number;
  /** Restrict to these wallets; they must be closed under moves (see `connectedWallets`). */
  wallets?: WalletKey[];
}

export interface LoadedLedgerInput extends LedgerInput {
  /**
   * The earliest instant after `at` at which the answer can change without a new event being
   * stored: the next lot activation or expiry, or the next future-dated event.
   */
  changesAt: number;
  /**
   * The next lot boundary after `at` (a purchase, activation or expiry, a lot entering the 90-day
   * expiry window) or move, with no cap: `changesAt` before usage and freshness are counted.
   */
  nextLotBoundary: number;
}

/** How long an answer for "now" stands without a re-check, absent other changes. */
export const FRESHNESS_MS = 30_000;

const ts = (column: string) => `toUnixTimestamp64Milli(${column})`;
/**
 * No JIT compilation for interactive reads: ClickHouse compiles an expression the fourth time it
 * sees it, which stalls that one query by tens of milliseconds, for reads this small.
 */
const INTERACTIVE = 'compile_expressions = 0, compile_aggregate_expressions = 0, compile_sort_description = 0';
/** A wallet's key columns, as text, for building its `WalletKey`. */
const walletColumns = `toString(wallet_type) AS wt, wallet_id AS wi`;

/** An account's wallets, all of them or a list (closed under moves), as query parameters. */
const walletScope = z.object({
  account: param.account,
  /** Whether `walletTypes`/`walletIds` restrict the read; an empty list then matches nothing. */
  filtered: z.boolean(),
  walletTypes: param.texts,
  walletIds: param.texts,
});
type WalletScope = z.infer<typeof walletScope>;

function walletScopeOf(query: LedgerQuery): WalletScope {
  const filtered = (query.wallets ?? []).map(walletOf);
  return {
    account: query.accountId,
    filtered: query.wallets !== undefined,
    walletTypes: filtered.map((w) => w.type),
    walletIds: filtered.map((w) => w.id),
  };
}

/**
 * Only the scope's wallets, by the key columns, so the primary key applies. The pairs are a
 * constant array, not a subquery: the same set, found 1–2 ms sooner per query.
 */
function walletFilter(scope: WalletScope, typeColumn = 'wallet_type', idColumn = 'wallet_id'): string {
  if (!scope.filtered) return '';
  return ` AND (${typeColumn}, ${idColumn}) IN arrayZip({walletTypes:Array(String)}, {walletIds:Array(String)})`;
}

const lotsQuery = jsonQuery({
  name: 'ledger.lots',
  params: walletScope,
  sql: (t, p) =>
    `SELECT ${walletColumns}, lot_id, event_id, toString(amount) AS amount, ${ts('occurred_at')} AS occurred,
            ${ts('effective_at')} AS effective, ${ts('expires_at')} AS expires
     FROM ${t.table('lots_v1')}
     WHERE account_id = {account:String}${walletFilter(p)}`,
  rows: z.object({
    wt: field.text, wi: field.text, lot_id: field.text, event_id: field.text, amount: field.decimal,
    occurred: field.int64, effective: field.int64, expires: field.int64,
  }),
});

const movesQuery = jsonQuery({
  name: 'ledger.moves',
  params: walletScope,
  sql: (t, p) =>
    `SELECT event_id, ${ts('occurred_at')} AS occurred, toString(wallet_type) AS wt, from_wallet_id AS from_id, to_wallet_id AS to_id,
            lot_id, if(amount IS NULL, NULL, toString(amount)) AS amount
     FROM ${t.table('moves_v1')}
     WHERE account_id = {account:String}${walletFilter(p, 'wallet_type', 'from_wallet_id')}`,
  rows: z.object({
    event_id: field.text, occurred: field.int64, wt: field.text, from_id: field.text, to_id: field.text,
    lot_id: field.text, amount: field.decimal.nullable(),
  }),
});

const voidsQuery = jsonQuery({
  name: 'ledger.voids',
  params: z.object({ account: param.account }),
  sql: (t) => `SELECT DISTINCT voids_event_id FROM ${t.table('events_v1')} WHERE account_id = {account:String} AND type = 'void'`,
  rows: z.object({ voids_event_id: field.text }),
});

/** The scope plus each wallet's breakpoints, and the days they split, for the usage reads. */
const usageScope = walletScope.extend({
  at: param.millis,
  atDay: param.millis,
  pointTypes: param.texts,
  pointIds: param.texts,
  pointLists: param.millisLists,
  moveLists: param.millisLists,
  splitTypes: param.texts,
  splitIds: param.texts,
  splitStarts: z.array(param.millis),
});
type UsageScope = z.infer<typeof usageScope>;

// Breakpoints travel as parallel arrays and are joined per wallet, once: a map parsed from
// JSON inside a row expression would be parsed again for every row.
const pointsTable = `(SELECT tupleElement(z, 1) AS pt, tupleElement(z, 2) AS pi, tupleElement(z, 3) AS pts, tupleElement(z, 4) AS mis
     FROM (SELECT arrayJoin(arrayZip({pointTypes:Array(String)}, {pointIds:Array(String)}, {pointLists:Array(Array(Int64))}, {moveLists:Array(Array(Int64))})) AS z))`;
const splitTable = `(SELECT splitTypes[i], splitIds[i], splitStarts[i]
     FROM (SELECT {splitTypes:Array(String)} AS splitTypes, {splitIds:Array(String)} AS splitIds,
                  {splitStarts:Array(Int64)} AS splitStarts, arrayJoin(arrayEnumerate(splitStarts)) AS i))`;

/** Segment numbers of rows that are not sums of a segment. */
const ALONE = -1;
const NEXT_FUTURE_DAY = -2;

/**
 * A wallet scope's usage up to `at`, as one query (each query costs chDB 4–5 ms of analysis
 * however little it reads, measured on a 10M-event account), in rows of `seg`:
 * - `seg >= 0`: a sum of usage in that segment between the wallet's breakpoints. Whole days
 *   before the day of `at` that no breakpoint splits come from the daily wallet rollup, less
 *   their voided usage; split days and the day of `at`, up to `at`, from raw events less those
 *   paired with a void (`voided_usage_v2`, as the daily part);
 * - `seg = -1` (ALONE): one raw event at a move instant, with its id and time: a move orders
 *   with usage at its very instant by event_id;
 * - `seg = -2` (NEXT_FUTURE_DAY), one row: in `t`, the first day after the day of `at` that
 *   holds usage, or -1; the answer changes when it comes into range.
 */
const usageSegmentsQuery = jsonQuery({
  name: 'ledger.usage_segments',
  params: usageScope,
  sql: (t, p) =>
    `SELECT wt, wi, toInt64(arrayCount(p -> p <= d0, pts)) AS seg, toString(sum(amt)) AS amount, '' AS event_id, toInt64(0) AS t
     FROM (
       SELECT wt, wi, d0, sum(amount) AS amt FROM (
         SELECT ${walletColumns}, toInt64(toUnixTimestamp(toDateTime(day, 'UTC'))) * 1000 AS d0, amount
         FROM ${t.table('usage_wallet_daily_v1')}
         WHERE account_id = {account:String} AND day < toDate(toDateTime64({atDay:Int64} / 1000, 3, 'UTC'))${walletFilter(p)}
         UNION ALL
         -- The daily rollup counts every stored usage; voided ones are taken out here.
         SELECT ${walletColumns}, toInt64(toUnixTimestamp(toStartOfDay(occurred_at))) * 1000 AS d0, -amount AS amount
         FROM ${voidedUsageRows(t, `account_id = {account:String} AND occurred_at < toDateTime64({atDay:Int64} / 1000, 3, 'UTC')${walletFilter(p)}`)})
       GROUP BY wt, wi, d0
     ) AS d
     LEFT JOIN ${pointsTable} AS b ON d.wt = b.pt AND d.wi = b.pi
     WHERE (wt, wi, d0) NOT IN ${splitTable}
     GROUP BY wt, wi, seg
     HAVING sum(amt) != 0
     UNION ALL
     SELECT wt, wi, seg, toString(sum(amount)) AS amount, eid AS event_id, at_ms AS t
     FROM (
       SELECT wt, wi, has(mis, ms) AS alone, if(alone, ${ALONE}, toInt64(arrayCount(p -> p <= ms, pts))) AS seg,
              if(alone, event_id, '') AS eid, if(alone, ms, 0) AS at_ms, amount
       FROM (
         SELECT ${walletColumns}, ${ts('occurred_at')} AS ms, event_id, assumeNotNull(amount) AS amount
         FROM ${t.table('events_v1')}
         WHERE account_id = {account:String} AND type = 'usage'
           AND occurred_at <= toDateTime64({at:Int64} / 1000, 3, 'UTC')
           AND (occurred_at >= toDateTime64({atDay:Int64} / 1000, 3, 'UTC')
                OR (toString(wallet_type), wallet_id, toInt64(toUnixTimestamp(toStartOfDay(occurred_at))) * 1000) IN ${splitTable})
           ${walletFilter(p)}
           AND event_id NOT IN (SELECT event_id FROM ${t.table('voided_usage_v2')} WHERE account_id = {account:String})
       ) AS r
       LEFT JOIN ${pointsTable} AS b ON r.wt = b.pt AND r.wi = b.pi)
     GROUP BY wt, wi, seg, eid, at_ms
     UNION ALL
     SELECT '', '', ${NEXT_FUTURE_DAY}, '0', '', ifNull(minOrNull(toInt64(toUnixTimestamp(toDateTime(day, 'UTC'))) * 1000), -1)
     FROM ${t.table('usage_wallet_daily_v1')}
     WHERE account_id = {account:String} AND day > toDate(toDateTime64({at:Int64} / 1000, 3, 'UTC'))${walletFilter(p)}
     SETTINGS join_use_nulls = 0`,
  rows: z.object({ wt: field.text, wi: field.text, seg: field.int64, amount: field.decimal, event_id: field.text, t: field.int64 }),
});

/**
 * A group of at most this many wallets (a past instant's balance, a balance history) reads its
 * usage as days, pairings and raw events, and sums them into segments here: a few thousand rows
 * cost less than storage joining each row to its wallet's breakpoints (2.6× faster for a pair of
 * wallets on a 10M-event account, measured alternately). A larger scope would read a row per
 * wallet and day, so storage sums its segments (`usageSegmentsQuery`).
 */
export const WALLET_DAYS_MAX_WALLETS = 50;

/**
 * A few wallets' usage up to `at`, unsummed, as one query of three plain reads, each in one key
 * range per wallet:
 * - DAY_ROW: a day's stored usage from the daily wallet rollup (every day, so the first day after
 *   `at`'s that holds usage is found too), at `t`, the day's start;
 * - PAIRED_ROW: a pairing of a voided usage event (`voided_usage_v2`, up to `at`), with its time,
 *   id, amount and whether the rollups already netted it;
 * - RAW_ROW: a stored usage event of a day a breakpoint splits or of the day holding `at`, up to
 *   `at`, paired or not.
 */
const walletDaysQuery = tsvQuery({
  name: 'ledger.wallet_days',
  params: usageScope.pick({ account: true, filtered: true, walletTypes: true, walletIds: true, at: true, atDay: true, splitTypes: true, splitIds: true, splitStarts: true }),
  sql: (t, p) =>
    `SELECT toInt8(${DAY_ROW}) AS kind, toString(wallet_type) AS wt, wallet_id AS wi, toInt64(toUnixTimestamp(toDateTime(day, 'UTC'))) * 1000 AS t,
            '' AS event_id, toString(sum(amount)) AS amount, toUInt8(0) AS netted
     FROM ${t.table('usage_wallet_daily_v1')}
     WHERE account_id = {account:String}${walletFilter(p)}
     GROUP BY wallet_type, wallet_id, day
     UNION ALL
     SELECT toInt8(${PAIRED_ROW}), toString(wallet_type), wallet_id, ${ts('occurred_at')}, event_id, toString(amount), netted
     FROM ${voidedUsageRows(t, `account_id = {account:String} AND occurred_at <= toDateTime64({at:Int64} / 1000, 3, 'UTC')${walletFilter(p)}`, 'raw')}
     UNION ALL
     SELECT toInt8(${RAW_ROW}), toString(wallet_type), wallet_id, ${ts('occurred_at')}, event_id, toString(assumeNotNull(amount)), toUInt8(0)
     FROM ${t.table('events_v1')}
     WHERE account_id = {account:String}${walletFilter(p)} AND type = 'usage'
       AND occurred_at <= toDateTime64({at:Int64} / 1000, 3, 'UTC')
       AND (occurred_at >= toDateTime64({atDay:Int64} / 1000, 3, 'UTC')
            OR (toString(wallet_type), wallet_id, toInt64(toUnixTimestamp(toStartOfDay(occurred_at))) * 1000)
               IN arrayZip({splitTypes:Array(String)}, {splitIds:Array(String)}, {splitStarts:Array(Int64)}))
     SETTINGS ${INTERACTIVE}`,
  columns: { kind: 'Int8', wt: 'String', wi: 'String', t: 'Int64', event_id: 'String', amount: 'String', netted: 'UInt8' },
});

/**
 * The ledger's input at `query.at`. With the account's usage in memory (`usage`, caught up after
 * the caller read the account's version), usage is summed from it and only lots, moves and
 * voids are read from storage.
 */
export async function loadLedgerInput(store: Store, query: LedgerQuery, usage?: AccountUsage): Promise<LoadedLedgerInput> {
  const params = walletScopeOf(query);
  const [lotRows, moveRows, voidRows] = await Promise.all([
    read(store, lotsQuery, params),
    read(store, movesQuery, params),
    read(store, voidsQuery, { account: query.accountId }),
  ]);

  const lots: LotInput[] = lotRows.map((r) => ({
    lotId: r.lot_id,
    eventId: r.event_id,
    wallet: walletKey(r.wt, r.wi),
    amount: toScaled(r.amount),
    occurredAt: r.occurred,
    effectiveAt: r.effective,
    expiresAt: r.expires,
  }));
  const moves: MoveInput[] = moveRows.map((r) => ({
    eventId: r.event_id,
    occurredAt: r.occurred,
    from: walletKey(r.wt, r.from_id),
    to: walletKey(r.wt, r.to_id),
    ...(r.lot_id ? { lotId: r.lot_id } : {}),
    ...(r.amount !== null ? { amount: toScaled(r.amount) } : {}),
  }));
  const voided = new Set(voidRows.map((r) => r.voids_event_id));

  const breakpoints = breakpointsByWallet(lots, moves, query.at);
  const lotBoundary = nextLotBoundaryOf(lots, moves, query.at);

  if (usage && !query.wallets) {
    const usageSegments = usage.segments(usage.wallets.keys(), query.at, breakpoints.points, breakpoints.moveInstants);
    if (usageSegments) {
      const changesAt = Math.min(lotBoundary, usage.nextUsageDayAfter(query.at), query.at + FRESHNESS_MS);
      return { at: query.at, lots, moves, voided, usageEvents: [], usageSegments, changesAt, nextLotBoundary: lotBoundary };
    }
  }

  const fromStorage = await loadUsageInput(store, query, breakpoints);
  // Usage dated later today is not visible in the daily rollup's future days; rather than scan
  // for it, an answer for "now" is trusted for at most FRESHNESS_MS.
  const changesAt = Math.min(lotBoundary, fromStorage.nextUsageDay, query.at + FRESHNESS_MS);
  return { at: query.at, lots, moves, voided, usageEvents: fromStorage.usageEvents, usageSegments: fromStorage.usageSegments, changesAt, nextLotBoundary: lotBoundary };
}

/** The ledger's usage input for a scope's wallets at `query.at`, given their breakpoints; and the next day dated after it that holds usage. */
export async function loadUsageInput(
  store: Store,
  query: LedgerQuery,
  breakpoints: ReturnType<typeof breakpointsByWallet>,
): Promise<{ usageSegments: UsageSegment[]; usageEvents: UsageEvent[]; nextUsageDay: number }> {
  // Days a breakpoint falls strictly inside, per wallet, and the day holding `at`: read raw.
  const dayOf = (t: number) => Math.floor(t / DAY_MS) * DAY_MS;
  const atDay = dayOf(query.at);
  const splitDays = new Map<string, { wallet: WalletKey; day: number }>();
  const split = (wallet: WalletKey, t: number) => splitDays.set(`${wallet}|${dayOf(t)}`, { wallet, day: dayOf(t) });
  for (const [wallet, list] of breakpoints.points) {
    for (const t of list) if (t !== dayOf(t) && t < atDay) split(wallet, t);
  }
  // A move orders with usage at its very instant by event_id, so even a move at midnight needs
  // that day's events one by one.
  for (const [wallet, instants] of breakpoints.moveInstants) {
    for (const t of instants) if (t < atDay) split(wallet, t);
  }
  const pointWallets = [...breakpoints.points.keys()];
  const splits = [...splitDays.values()].map(({ wallet, day }) => ({ ...walletOf(wallet), day }));
  const usageParams: UsageScope = {
    ...walletScopeOf(query),
    at: query.at,
    pointTypes: pointWallets.map((w) => walletOf(w).type),
    pointIds: pointWallets.map((w) => walletOf(w).id),
    pointLists: pointWallets.map((w) => breakpoints.points.get(w) ?? []),
    moveLists: pointWallets.map((w) => [...(breakpoints.moveInstants.get(w) ?? [])].sort((a, b) => a - b)),
    splitTypes: splits.map((d) => d.type),
    splitIds: splits.map((d) => d.id),
    splitStarts: splits.map((d) => d.day),
    atDay,
  };

  if (query.wallets !== undefined && query.wallets.length <= WALLET_DAYS_MAX_WALLETS) {
    const { account, filtered, walletTypes, walletIds, at, splitTypes, splitIds, splitStarts } = usageParams;
    const rows = await read(store, walletDaysQuery, { account, filtered, walletTypes, walletIds, at, atDay, splitTypes, splitIds, splitStarts });
    return segmentsOfWalletDays(rows, atDay, breakpoints, new Set(splitDays.keys()));
  }

  const usageRows = await read(store, usageSegmentsQuery, usageParams);
  const sums = segmentSums(breakpoints);
  const usageEvents: UsageEvent[] = [];
  let nextUsageDay = Number.MAX_SAFE_INTEGER;
  for (const row of usageRows) {
    if (row.seg === NEXT_FUTURE_DAY) {
      if (row.t >= 0) nextUsageDay = row.t;
      continue;
    }
    const wallet = walletKey(row.wt, row.wi);
    if (row.seg === ALONE) usageEvents.push({ wallet, at: row.t, eventId: row.event_id, amount: toScaled(row.amount) });
    else sums.add(wallet, row.seg, toScaled(row.amount));
  }
  return { usageSegments: sums.segments(), usageEvents, nextUsageDay };
}

/**
 * The next lot boundary after `at` (a purchase, activation or expiry, a lot entering the 90-day
 * expiry window) or move.
 */
function nextLotBoundaryOf(lots: LotInput[], moves: MoveInput[], at: number): number {
  let next = Number.MAX_SAFE_INTEGER;
  for (const lot of lots) {
    // The 90-day expiry horizon moves with the clock, so a lot entering it is a change too.
    for (const t of [lot.occurredAt, lot.effectiveAt, lot.expiresAt, lot.expiresAt - 90 * DAY_MS]) {
      if (t > at && t < next) next = t;
    }
  }
  for (const move of moves) if (move.occurredAt > at && move.occurredAt < next) next = move.occurredAt;
  return next;
}
