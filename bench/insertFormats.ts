/**
 * The insert format into chDB, against ours: our JSONEachRow text through `client.exec`, the same
 * bytes through chDB's raw insert, and RowBinary and Native bodies built in JavaScript from the
 * same event rows; at our block sizes, body building included, into `events_v1` and every view
 * over it. Every format must store the same rows.
 */
import { createRequire } from 'node:module';
import { Session } from 'chdb';
import { insertStatement, type Store } from '../core/clickhouse.js';
import { decodeEvent, type EventRow } from '../ingest/contract.js';
import { fmt, mergesSettled, percentile, report } from './harness.js';

const median = (samples: number[]) => fmt(percentile(samples, 50), 0);
const spread = (samples: number[]) => `${fmt(Math.min(...samples), 0)}–${fmt(Math.max(...samples), 0)}`;

/**
 * A binary body cannot go through `client.exec` on chDB: its connection reads a body as UTF-8 text
 * and appends it to the SQL. chDB's raw insert hands a Buffer to the engine as is, but its JS
 * wrapper takes text formats only, so raw bodies here go to the native entry under it (chdb 3.4.0).
 */
interface RawInsert {
  InsertRawAsyncConnection(connection: unknown, prefix: string, body: Buffer, countLines: boolean): Promise<{ rowsWritten: number }>;
}
const nativeChdb = (createRequire(import.meta.url)(createRequire(import.meta.url).resolve('chdb').replace(/index\.js$/, 'dist/loader.js')) as { loadNative(): RawInsert }).loadNative();

/** Every column an event row may fill, in one order for every format; the rest take their defaults. */
const COLUMNS = ['account_id', 'event_id', 'type', 'occurred_at', 'wallet_type', 'wallet_id', 'amount', 'effective_at', 'expires_at', 'lot_id', 'sku', 'order_id', 'user_id', 'product', 'service', 'to_wallet_type', 'to_wallet_id', 'voids_event_id', 'source', 'wallet_name'] as const;
type Column = (typeof COLUMNS)[number];
const EVENT_TYPE = "Enum8('purchase' = 1, 'usage' = 2, 'move' = 3, 'void' = 4)";
const WALLET_TYPE = "Enum8('' = 0, 'team' = 1, 'contract' = 2)";
const TIME = "DateTime64(3, 'UTC')";
/** Native declares LowCardinality columns as String: the engine converts them on insert. */
const NATIVE_TYPES: Record<Column, string> = Object.fromEntries(
  COLUMNS.map((c) => [c, c === 'type' ? EVENT_TYPE : c === 'wallet_type' || c === 'to_wallet_type' ? WALLET_TYPE : c === 'occurred_at' ? TIME : c === 'effective_at' || c === 'expires_at' ? `Nullable(${TIME})` : c === 'amount' ? 'Nullable(Decimal(18, 4))' : 'String']),
) as Record<Column, string>;
const ENUMS: Record<string, number> = { '': 0, team: 1, contract: 2, purchase: 1, usage: 2, move: 3, void: 4 };
const kind = (c: Column) => (NATIVE_TYPES[c] === 'String' ? 'string' : NATIVE_TYPES[c].startsWith('Enum8') ? 'enum' : NATIVE_TYPES[c].startsWith('Nullable') ? 'nullable' : 'time');

/** `YYYY-MM-DD hh:mm:ss.sss` (ClickHouse text, UTC) as epoch milliseconds. */
function millis(t: string): number {
  const n = (a: number, b: number) => Number(t.slice(a, b));
  return Date.UTC(n(0, 4), n(5, 7) - 1, n(8, 10), n(11, 13), n(14, 16), n(17, 19), n(20, 23));
}

/** A decimal's text scaled by 10⁴, as Decimal(18, 4) stores it. */
function scaled(amount: string): number | bigint {
  const dot = amount.indexOf('.');
  const whole = dot < 0 ? amount : amount.slice(0, dot);
  const frac = dot < 0 ? '' : amount.slice(dot + 1);
  const units = Number(whole) * 10_000 + Number(frac.padEnd(4, '0'));
  return Number.isSafeInteger(units) ? units : BigInt(whole) * 10_000n + BigInt(frac.padEnd(4, '0'));
}

/** Little-endian bytes of a growing body. */
class BodyWriter {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  i64(v: number | bigint): void {
    this.ensure(8);
    if (typeof v === 'bigint') this.buf.writeBigInt64LE(v, this.pos);
    else {
      this.buf.writeUInt32LE(v % 0x1_0000_0000, this.pos);
      this.buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), this.pos + 4);
    }
    this.pos += 8;
  }
  varint(v: number): void {
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }
  /** Length-prefixed UTF-8; text of at most 42 UTF-16 units fits in 126 bytes, so its one-byte length is written after it. */
  string(s: string): void {
    if (s.length <= 42) {
      this.ensure(127);
      const n = this.buf.write(s, this.pos + 1);
      this.buf[this.pos] = n;
      this.pos += n + 1;
      return;
    }
    const n = Buffer.byteLength(s);
    this.varint(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos);
  }
  value(c: Column, v: string | undefined, nullMap?: BodyWriter): void {
    switch (kind(c)) {
      case 'string':
        return this.string(v ?? '');
      case 'enum':
        return this.u8(ENUMS[v ?? ''] ?? 0);
      case 'time':
        return this.i64(millis(v ?? ''));
      case 'nullable': {
        const absent = v === undefined;
        (nullMap ?? this).u8(absent ? 1 : 0);
        if (absent && !nullMap) return;
        return this.i64(absent ? 0 : c === 'amount' ? scaled(v) : millis(v));
      }
    }
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function rowBinary(rows: EventRow[]): Buffer {
  const w = new BodyWriter(rows.length * 160);
  for (const row of rows) for (const c of COLUMNS) w.value(c, row[c]);
  return w.bytes();
}

/** One Native block: its size, then each column whole (a Nullable's null map before its values). */
function native(rows: EventRow[]): Buffer {
  const head = new BodyWriter(1024);
  head.varint(COLUMNS.length);
  head.varint(rows.length);
  const parts: Buffer[] = [];
  for (const c of COLUMNS) {
    head.string(c);
    head.string(NATIVE_TYPES[c]);
    const values = new BodyWriter(rows.length * (kind(c) === 'string' ? 16 : 8));
    const nulls = kind(c) === 'nullable' ? new BodyWriter(rows.length) : undefined;
    for (const row of rows) values.value(c, row[c], nulls);
    parts.push(head.bytes(), ...(nulls ? [nulls.bytes()] : []), values.bytes());
    head.buf = Buffer.allocUnsafe(256);
    head.pos = 0;
  }
  return Buffer.concat(parts);
}

const jsonEachRow = (rows: EventRow[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

interface InsertFormat {
  name: string;
  database: string;
  insert(store: Store, rows: EventRow[], token: string): Promise<void>;
}

function insertFormats(session: Session): InsertFormat[] {
  const raw = (format: string, build: (rows: EventRow[]) => Buffer) => async (store: Store, rows: EventRow[], token: string) => {
    const statement = insertStatement(`${store.table('events_v1')} (${COLUMNS.join(', ')})`, { token }).replace(/FORMAT JSONEachRow$/, `FORMAT ${format}`);
    await nativeChdb.InsertRawAsyncConnection(session.connection, statement, build(rows), false);
  };
  return [
    { name: 'JSONEachRow text via client.exec (ours)', database: 'bench_format_json', insert: (store, rows, token) => store.insertJsonEachRow('events_v1', jsonEachRow(rows), { deduplicationToken: token }) },
    { name: 'JSONEachRow bytes via chDB raw insert', database: 'bench_format_json_raw', insert: raw('JSONEachRow', (rows) => Buffer.from(jsonEachRow(rows))) },
    { name: 'RowBinary via chDB raw insert', database: 'bench_format_rowbinary', insert: raw('RowBinary', rowBinary) },
    { name: 'Native via chDB raw insert', database: 'bench_format_native', insert: raw('Native', native) },
  ];
}

/** What each format stored, as one number: equal when every column of every row is. */
async function contentChecksum(store: Store): Promise<string> {
  const [row] = await store.queryTsv(`SELECT count(), sum(cityHash64(${COLUMNS.join(', ')})) FROM ${store.table('events_v1')}`);
  return (row ?? []).join(' ');
}

export interface InsertFormatFigures {
  block_sizes: number[];
  events_per_run: number;
  runs: number;
  /**
   * Per block size, per format: median events/s, body built and inserted, and its spread; the
   * median of its ratios to ours within each run, and their spread; JS ms to build 1k events' body.
   */
  by_block: Record<string, Record<string, { events_per_s: number; spread: string; vs_ours: number; vs_ours_spread: string; build_ms_per_1k: number }>>;
  /** Per block size, the format with the best median ratio to ours. */
  fastest: Record<string, string>;
}

/** Each format's JS cost of building bodies of `block` events, ms per 1k events: the least of a few rounds, the machine's noise mostly left out. */
function buildCost(rows: EventRow[], block: number): number[] {
  const builders = [jsonEachRow, (r: EventRow[]) => Buffer.from(jsonEachRow(r)), rowBinary, native];
  return builders.map((build) => {
    let least = Infinity;
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      for (let at = 0; at < rows.length; at += block) build(rows.slice(at, at + block));
      least = Math.min(least, performance.now() - started);
    }
    return fmt((least / rows.length) * 1000, 2);
  });
}

/**
 * Every format inserts the same events in blocks of each size, body built inside the timing, into
 * its own migrated database; within a run the formats take turns in a rotating order, and each is
 * compared with ours in the same run, so a machine whose speed drifts between runs moves both.
 * The formats must store identical rows.
 */
export async function measureInsertFormats(options: { dataDir: string; lines: string[]; storeFor(database: string): Promise<Store>; runs: number; eventsPerRun: number; blockSizes: number[] }): Promise<InsertFormatFigures> {
  const rows = options.lines.map((l) => {
    const result = decodeEvent(l, { source: 'peer' });
    if (!result.ok) throw new Error(result.message);
    return result.row;
  });
  const session = new Session(options.dataDir);
  const formats = insertFormats(session);
  const stores = await Promise.all(formats.map((f) => options.storeFor(f.database)));
  const figures: InsertFormatFigures = { block_sizes: options.blockSizes, events_per_run: options.eventsPerRun, runs: options.runs, by_block: {}, fastest: {} };
  let cursor = 0;
  let sequence = 0;
  for (const block of options.blockSizes) {
    const rates: number[][] = formats.map(() => []);
    for (let run = -1; run < options.runs; run++) {
      const slice = rows.slice(cursor, cursor + options.eventsPerRun);
      cursor = (cursor + options.eventsPerRun) % Math.max(1, rows.length - options.eventsPerRun);
      for (let turn = 0; turn < formats.length; turn++) {
        const i = (turn + run + 1) % formats.length;
        const format = formats[i] as InsertFormat;
        const started = performance.now();
        for (let at = 0; at < slice.length; at += block) await format.insert(stores[i] as Store, slice.slice(at, at + block), `peer-${sequence++}`);
        // The first run of each size warms up and is not counted.
        if (run >= 0) rates[i]?.push(slice.length / ((performance.now() - started) / 1000));
      }
    }
    const ours = rates[0] as number[];
    const ratios = rates.map((r) => r.map((rate, run) => rate / (ours[run] as number)));
    const build = buildCost(rows.slice(0, options.eventsPerRun), block);
    figures.by_block[String(block)] = Object.fromEntries(
      formats.map((f, i) => {
        const r = ratios[i] as number[];
        return [f.name, { events_per_s: median(rates[i] as number[]), spread: spread(rates[i] as number[]), vs_ours: fmt(percentile(r, 50), 2), vs_ours_spread: `${fmt(Math.min(...r), 2)}–${fmt(Math.max(...r), 2)}`, build_ms_per_1k: build[i] as number }];
      }),
    );
    const [best, x] = Object.entries(figures.by_block[String(block)] ?? {}).sort((a, b) => b[1].vs_ours - a[1].vs_ours)[0] ?? ['', { vs_ours: 1 }];
    figures.fastest[String(block)] = `${best} (${x.vs_ours}× ours)`;
  }
  const sums = await Promise.all(stores.map(contentChecksum));
  if (new Set(sums).size !== 1) throw new Error(`the insert formats stored different rows: ${sums.join(' / ')}`);
  session.close();
  // Gigabytes of views otherwise stay on disk for the rest of the run.
  for (const store of stores) await store.command(`DROP DATABASE IF EXISTS \`${store.database}\` SYNC`);
  // Merges of these many small blocks still writing when the run removes its data directory at exit would fail the run.
  await mergesSettled(stores[0] as Store, { maxMs: 30_000 });
  return figures;
}

export function reportInsertFormats(f: InsertFormatFigures): void {
  report(
    `Insert format into events_v1 and every view (chDB), ${f.events_per_run} events per run in blocks, body built from event rows inside the timing; median of ${f.runs} runs, formats alternating`,
    Object.entries(f.by_block).flatMap(([block, formats]) =>
      Object.entries(formats).map(([format, x]) => ({
        'events per insert': Number(block),
        format,
        'events/s': x.events_per_s,
        'spread (events/s)': x.spread,
        'this ÷ ours, same run': x.vs_ours,
        'spread (ratio)': x.vs_ours_spread,
        'JS build ms per 1k': x.build_ms_per_1k,
      })),
    ),
  );
  console.log(`fastest by block size: ${Object.entries(f.fastest).map(([block, best]) => `${block}: ${best}`).join('; ')}`);
}

