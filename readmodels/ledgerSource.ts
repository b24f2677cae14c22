import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { field, jsonQuery, param, read, schemaError, tsvQuery } from '../core/query.js';
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
import { storedUsageBasis, type StructureBasis, type UsageBasis } from '../storage/accountChanges.js';
import { INTERACTIVE } from './readSettings.js';

/**
 * Feeds the ledger from ClickHouse: lots, moves and voids from their rollups in one statement
 * (`loadLedgerStructure`), and usage as one sum per segment between breakpoints. Whole days come from the daily wallet rollup; only the
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

function walletScopeOf(query: Pick<LedgerQuery, 'accountId' | 'wallets'>): WalletScope {
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

/** Row kinds of `structureQuery`. */
const LOT = 1;
const MOVE = 2;
const VOID = 3;
const NAME = 4;
const VERSION = 5;
const NEXT_USAGE = 6;

/** What `structureQuery` reads besides the scope's lots, moves and the account's voids. */
const structureScope = walletScope.extend({
  /** The account's wallet names (`wallet_names_v1`); only for the whole account. */
  names: z.boolean(),
  /** The account's change count (`accountChangesQuery`). */
  version: z.boolean(),
  /** The first usage dated after this instant (`usage_by_time_v1`), or -1 for none asked. */
  nextUsageAfter: z.number().int(),
});
type StructureScope = z.infer<typeof structureScope>;

/**
 * Everything of an account's ledger but its usage, as one statement of plain key-range reads in
 * rows of `kind`: its lots (LOT), moves (MOVE; `amount` empty for a whole lot) and voided event
 * ids (VOID), and on request its wallet names (NAME), change count (VERSION, in `amount`) and
 * first usage dated after an instant (NEXT_USAGE, in `occurred`, -1 for none). Each statement
 * waits its turn on its connection and costs chDB its own analysis: one statement instead of
 * four to six took 9.5 ms instead of 13.4 (p50, demo account, quiet), and under a stream the
 * four waited one after another behind the balances' other reads.
 */
const structureQuery = tsvQuery({
  name: 'ledger.structure',
  params: structureScope,
  sql: (t, p) => {
    const parts = [
      `SELECT toInt8(${LOT}) AS kind, ${walletColumns}, '' AS to_id, lot_id, event_id, toString(amount) AS amount,
              ${ts('occurred_at')} AS occurred, ${ts('effective_at')} AS effective, ${ts('expires_at')} AS expires
       FROM ${t.table('lots_v1')}
       WHERE account_id = {account:String}${walletFilter(p)}`,
      `SELECT toInt8(${MOVE}), toString(wallet_type), from_wallet_id, to_wallet_id, lot_id, event_id, ifNull(toString(amount), ''),
              ${ts('occurred_at')}, toInt64(0), toInt64(0)
       FROM ${t.table('moves_v1')}
       WHERE account_id = {account:String}${walletFilter(p, 'wallet_type', 'from_wallet_id')}`,
      `SELECT toInt8(${VOID}), '', '', '', '', voids_event_id, '', toInt64(0), toInt64(0), toInt64(0)
       FROM ${t.table('events_v1')}
       WHERE account_id = {account:String} AND type = 'void'`,
    ];
    if (p.names) {
      parts.push(`SELECT toInt8(${NAME}), toString(wallet_type), wallet_id, '', '', '', argMaxMerge(name), toInt64(0), toInt64(0), toInt64(0)
       FROM ${t.table('wallet_names_v1')}
       WHERE account_id = {account:String}
       GROUP BY wallet_type, wallet_id`);
    }
    if (p.version) {
      parts.push(`SELECT toInt8(${VERSION}), '', '', '', '', '', toString(sum(changes)), toInt64(0), toInt64(0), toInt64(0)
       FROM ${t.table('account_changes_v1')}
       WHERE account_id = {account:String}`);
    }
    if (p.nextUsageAfter >= 0) {
      parts.push(`SELECT toInt8(${NEXT_USAGE}), '', '', '', '', '', '', if(count() = 0, toInt64(-1), toInt64(${ts('min(occurred_at)')})), toInt64(0), toInt64(0)
       FROM ${t.table('usage_by_time_v1')}
       WHERE account_id = {account:String} AND occurred_at > fromUnixTimestamp64Milli({nextUsageAfter:Int64}, 'UTC')`);
    }
    return `${parts.join('\n     UNION ALL\n     ')}\n     SETTINGS ${INTERACTIVE}`;
  },
  columns: {
    kind: 'Int8', wt: 'String', wi: 'String', to_id: 'String', lot_id: 'String', event_id: 'String', amount: 'String',
    occurred: 'Int64', effective: 'Int64', expires: 'Int64',
  },
});

/** An account's ledger input but its usage: what changes only with purchases, moves, voids and names. */
export interface LedgerStructure {
  lots: LotInput[];
  moves: MoveInput[];
  voided: Set<string>;
  /** How many void events named them (two voids of one event are two): storage's count as of the read (`structureBasisOf`). */
  voidEvents: number;
  /** The account's wallet names, when asked for. */
  names?: Map<WalletKey, string>;
  /** The account's change count as of the same statement, when asked for. */
  version?: number;
  /** The first usage dated after the instant asked for; `Number.MAX_SAFE_INTEGER` when none. */
  nextUsage?: number;
}

/**
 * How many lots, moves and voids a whole account's structure holds (`StructureBasis`), which are
 * storage's counts as of its read: the statement reads every row of the account in `lots_v1` and
 * `moves_v1` and every void event in `events_v1`, duplicates included, as storage counts them
 * (`accountChanges.ts`).
 */
export function structureBasisOf(structure: Pick<LedgerStructure, 'lots' | 'moves' | 'voidEvents'>): StructureBasis {
  return { lots: structure.lots.length, moves: structure.moves.length, voids: structure.voidEvents };
}

/**
 * The scope's lots and moves and the account's voids, in one statement, with what `want` asks
 * besides: wallet names and the first usage after an instant (whole account only), and the
 * account's change count, read in the same statement.
 */
export async function loadLedgerStructure(
  store: Store,
  query: Pick<LedgerQuery, 'accountId' | 'wallets'>,
  want: { names?: boolean; version?: boolean; nextUsageAfter?: number } = {},
): Promise<LedgerStructure> {
  const params: StructureScope = { ...walletScopeOf(query), names: want.names === true, version: want.version === true, nextUsageAfter: want.nextUsageAfter ?? -1 };
  const rows = await read(store, structureQuery, params);
  const structure: LedgerStructure = { lots: [], moves: [], voided: new Set(), voidEvents: 0 };
  if (want.names) structure.names = new Map();
  if (want.version) structure.version = 0;
  if (want.nextUsageAfter !== undefined) structure.nextUsage = Number.MAX_SAFE_INTEGER;
  for (const [kind = '', wt = '', wi = '', toId = '', lotId = '', eventId = '', amount = '', occurred = '0', effective = '0', expires = '0'] of rows) {
    switch (Number(kind)) {
      case LOT:
        structure.lots.push({
          lotId, eventId, wallet: walletKey(wt, wi), amount: toScaled(amount),
          occurredAt: Number(occurred), effectiveAt: Number(effective), expiresAt: Number(expires),
        });
        break;
      case MOVE:
        structure.moves.push({
          eventId, occurredAt: Number(occurred), from: walletKey(wt, wi), to: walletKey(wt, toId),
          ...(lotId ? { lotId } : {}),
          ...(amount !== '' ? { amount: toScaled(amount) } : {}),
        });
        break;
      case VOID:
        structure.voided.add(eventId);
        structure.voidEvents++;
        break;
      case NAME:
        structure.names?.set(walletKey(wt, wi), amount);
        break;
      case VERSION:
        structure.version = Number(amount);
        break;
      case NEXT_USAGE:
        if (Number(occurred) >= 0) structure.nextUsage = Number(occurred);
        break;
      default:
        throw schemaError(structureQuery.name, 'a row', `of kind ${kind}`);
    }
  }
  return structure;
}

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
 * voids are read from storage; memory cannot order a usage at a move's very instant, and then
 * usage is read from storage too. With `basis`, the input says what its usage was summed from
 * (`UsageBasis`), taken before the sums (storage/accountChanges.ts): the index's counts, or
 * storage's, read before the usage.
 */
export async function loadLedgerInput(store: Store, query: LedgerQuery, usage: AccountUsage | undefined, structure: LedgerStructure | undefined, options: { basis: true }): Promise<LoadedLedgerInput & { basis: UsageBasis }>;
export async function loadLedgerInput(store: Store, query: LedgerQuery, usage?: AccountUsage, structure?: LedgerStructure): Promise<LoadedLedgerInput>;
export async function loadLedgerInput(
  store: Store,
  query: LedgerQuery,
  usage?: AccountUsage,
  structure?: LedgerStructure,
  options: { basis?: boolean } = {},
): Promise<LoadedLedgerInput & { basis?: UsageBasis }> {
  const { lots, moves, voided } = structure ?? (await loadLedgerStructure(store, query));
  const breakpoints = breakpointsByWallet(lots, moves, query.at);
  const lotBoundary = nextLotBoundaryOf(lots, moves, query.at);

  if (usage && !query.wallets) {
    const basis = options.basis ? usage.basis() : undefined;
    const usageSegments = usage.segments(usage.wallets.keys(), query.at, breakpoints.points, breakpoints.moveInstants);
    if (usageSegments) {
      const changesAt = Math.min(lotBoundary, usage.nextUsageDayAfter(query.at), query.at + FRESHNESS_MS);
      return { at: query.at, lots, moves, voided, usageEvents: [], usageSegments, changesAt, nextLotBoundary: lotBoundary, ...(basis ? { basis } : {}) };
    }
  }

  const basis = options.basis ? await storedUsageBasis(store, query.accountId) : undefined;
  const fromStorage = await loadUsageInput(store, query, breakpoints);
  // Usage dated later today is not visible in the daily rollup's future days; rather than scan
  // for it, an answer for "now" is trusted for at most FRESHNESS_MS.
  const changesAt = Math.min(lotBoundary, fromStorage.nextUsageDay, query.at + FRESHNESS_MS);
  return { at: query.at, lots, moves, voided, usageEvents: fromStorage.usageEvents, usageSegments: fromStorage.usageSegments, changesAt, nextLotBoundary: lotBoundary, ...(basis ? { basis } : {}) };
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
