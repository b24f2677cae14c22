import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Store } from '../core/clickhouse.js';
import { jsonQuery, read } from '../core/query.js';
import type { KafkaRecord } from './sources/kafka.js';

/**
 * Kafka blocks: what one insert into `events_v1` holds, and how every member cuts it the same way.
 *
 * INVARIANT: two inserts that hold the same record of a partition carry the same deduplication
 * token, whichever member sends them and whenever they land, so ClickHouse keeps the first and
 * drops the other. It holds because
 * 1. a block holds records of one partition only, and its token is its topic, partition and
 *    first and last offset (`blockToken`);
 * 2. a block's range is recorded in `kafka_blocks_v1` before its insert is handed to the
 *    pipeline, and the insert is handed over only if the member had not learnt of a rebalance
 *    when the record landed; a member that has learnt it starts no flush, and it does not rejoin
 *    the group (so no next owner is assigned) until its flushes under way are done, for at most
 *    half its session (sources/kafka.ts holds the rejoin). So every range whose insert may still
 *    land was recorded before the next owner reads the ranges;
 * 3. a member that starts reading a partition reads the ranges recorded at and after its first
 *    offset, and cuts what it reads at exactly those boundaries, waiting for a recorded range's
 *    last record before it flushes that block; past the recorded ranges it cuts new blocks,
 *    which start after them.
 * So a range written twice (by an old owner whose insert lands late, and by the new owner who
 * reads the same records again from the last commit) is the same block under the same token.
 * This is how ClickHouse's Kafka Connect sink makes its inserts exactly once: per partition, it
 * keeps the offset range it is about to insert and splits a redelivered batch to it.
 *
 * Where it does not hold: a member that stops running (frozen, or cut off from the broker)
 * longer than its session, between checking that it owns a partition and recording a range,
 * may record after the next owner read the ranges. Nothing else in ingest covers that case
 * either; the pipeline's key lookup still drops what had landed when the next owner looked.
 */

export interface BlockRange {
  topic: string;
  partition: number;
  /** Offsets of the block's first and last record, as Kafka gives them. */
  first: string;
  last: string;
  /**
   * A digest of the last record (`recordDigest`). Offsets start again at 0 when a topic is
   * deleted and created again under its name: without it, new records at offsets an earlier
   * incarnation wrote would get that block's token and be dropped as its copy.
   */
  lastRecord: string;
}

/** A range as it was recorded, with the consumer group generation it was cut in. */
export interface RecordedRange extends BlockRange {
  generation: number;
}

/** Where block ranges are recorded: a table in storage, shared by every member of the group. */
export interface KafkaBlockLog {
  /** The ranges recorded for a partition that end at or after `offset`, in offset order. */
  recordedFrom(topic: string, partition: number, offset: string): Promise<RecordedRange[]>;
  record(ranges: RecordedRange[]): Promise<void>;
}

/**
 * The block's `insert_deduplication_token`: topic (hex, since a token keeps only
 * `[A-Za-z0-9_-]` and topics may hold dots), partition, first and last offset, and the digest
 * of the last record.
 */
function blockToken(range: BlockRange): string {
  return `kafka-${Buffer.from(range.topic, 'utf8').toString('hex')}-${range.partition}-${range.first}-${range.last}-${range.lastRecord}`;
}

/** What a record holds (key and value), in 16 hex digits: the same record read again gives the same. */
export function recordDigest(record: KafkaRecord): string {
  const hash = createHash('sha256');
  hash.update(record.key ?? Buffer.alloc(0)).update('\u0000').update(record.value ?? Buffer.alloc(0));
  return hash.digest('hex').slice(0, 16);
}

const rangesQuery = jsonQuery({
  name: 'ingest.kafka_blocks_from',
  params: z.object({ topic: z.string(), partition: z.number().int(), offset: z.string().regex(/^\d+$/) }),
  sql: (t) =>
    `SELECT DISTINCT topic, partition, toString(first_offset) AS first, toString(last_offset) AS last, last_record AS lastRecord, generation
     FROM ${t.table('kafka_blocks_v1')}
     WHERE account_id = '' AND topic = {topic:String} AND partition = {partition:Int32} AND last_offset >= {offset:Int64}
     ORDER BY first, last, generation`,
  rows: z.object({ topic: z.string(), partition: z.number(), first: z.string(), last: z.string(), lastRecord: z.string(), generation: z.number() }),
});

export function storedBlockLog(store: Store): KafkaBlockLog {
  return {
    recordedFrom: (topic, partition, offset) => read(store, rangesQuery, { topic, partition, offset }),
    async record(ranges) {
      if (ranges.length === 0) return;
      const rows = ranges.map((r) => JSON.stringify({ topic: r.topic, partition: r.partition, first_offset: r.first, last_offset: r.last, last_record: r.lastRecord, generation: r.generation }));
      await store.insertJsonEachRow('kafka_blocks_v1', rows.join('\n') + '\n');
    },
  };
}

/** Ranges kept in this process only: enough for one member alone, and for tests. */
export function memoryBlockLog(): KafkaBlockLog & { readonly ranges: RecordedRange[] } {
  const ranges: RecordedRange[] = [];
  return {
    ranges,
    async recordedFrom(topic, partition, offset) {
      return ranges.filter((r) => r.topic === topic && r.partition === partition && BigInt(r.last) >= BigInt(offset));
    },
    async record(more) {
      ranges.push(...more);
    },
  };
}

/**
 * The recorded ranges a member cuts at, in offset order and without overlaps. Ranges overlap
 * only when a member recorded after losing the partition (see the module comment): the later
 * generation's range is the one its owner wrote, so it stands.
 */
export function boundariesOf(recorded: RecordedRange[]): RecordedRange[] {
  const sorted = [...recorded].sort((a, b) => compareOffsets(a.first, b.first) || compareOffsets(a.last, b.last) || a.generation - b.generation);
  const chosen: RecordedRange[] = [];
  for (const range of sorted) {
    const previous = chosen.at(-1);
    if (previous && compareOffsets(range.first, previous.last) <= 0) {
      if (range.generation > previous.generation) chosen[chosen.length - 1] = range;
      continue;
    }
    chosen.push(range);
  }
  return chosen;
}

function compareOffsets(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** One insert's worth of one partition's records. */
export interface Block {
  range: BlockRange;
  token: string;
  records: KafkaRecord[];
  /** Cut at a recorded range: nothing to record before its insert. */
  recorded: boolean;
}

/**
 * The records of one partition waiting to be flushed, cut into blocks at the recorded
 * boundaries first, then freely.
 */
export interface PartitionBlocks {
  readonly topic: string;
  readonly partition: number;
  /** Records waiting, including those held back until a recorded range is complete. */
  readonly waiting: number;
  /** When the oldest waiting record arrived (ms since the epoch); 0 when none waits. */
  readonly waitingSince: number;
  /**
   * How long after it was produced the first record of the last batch added was fetched: a fetch
   * that starves leaves records at the broker, where the buffer's own ages cannot see them.
   */
  readonly fetchDelayMs: number;
  add(records: KafkaRecord[], lag: number): void;
  /** Every block that can be flushed now; what is left waits for more records. */
  cut(): Block[];
  /** Forgets the waiting records; returns how many there were. */
  drop(): number;
}

export function partitionBlocks(topic: string, partition: number, recorded: RecordedRange[]): PartitionBlocks {
  const boundaries = boundariesOf(recorded);
  let waiting: KafkaRecord[] = [];
  let waitingSince = 0;
  let fetchDelayMs = 0;
  /** The broker had nothing past the last record added: a recorded range can get no more. */
  let caughtUp = false;

  const block = (records: KafkaRecord[], recordedRange: boolean): Block => {
    const last = records[records.length - 1] as KafkaRecord;
    const range = { topic, partition, first: (records[0] as KafkaRecord).offset, last: last.offset, lastRecord: recordDigest(last) };
    return { range, token: blockToken(range), records, recorded: recordedRange };
  };

  return {
    topic,
    partition,
    get waiting() {
      return waiting.length;
    },
    get waitingSince() {
      return waitingSince;
    },
    get fetchDelayMs() {
      return fetchDelayMs;
    },
    add(records, lag) {
      const now = Date.now();
      if (waiting.length === 0 && records.length > 0) waitingSince = now;
      const producedAt = records[0]?.timestamp;
      fetchDelayMs = producedAt === undefined ? 0 : now - producedAt;
      for (const r of records) waiting.push(r);
      caughtUp = lag === 0;
    },
    cut() {
      const blocks: Block[] = [];
      while (waiting.length > 0) {
        const first = (waiting[0] as KafkaRecord).offset;
        while (boundaries.length > 0 && compareOffsets((boundaries[0] as RecordedRange).last, first) < 0) boundaries.shift();
        const next = boundaries[0];
        if (!next) {
          blocks.push(block(waiting, false));
          waiting = [];
          break;
        }
        if (compareOffsets(next.first, first) > 0) {
          // Records before the next recorded range were never recorded: a block of their own.
          const end = waiting.findIndex((r) => compareOffsets(r.offset, next.first) >= 0);
          const upTo = end === -1 ? waiting.length : end;
          blocks.push(block(waiting.slice(0, upTo), false));
          waiting = waiting.slice(upTo);
          continue;
        }
        const lastWaiting = (waiting[waiting.length - 1] as KafkaRecord).offset;
        if (compareOffsets(lastWaiting, next.last) < 0 && !caughtUp) break;
        const end = waiting.findIndex((r) => compareOffsets(r.offset, next.last) > 0);
        const upTo = end === -1 ? waiting.length : end;
        const records = waiting.slice(0, upTo);
        const lastOfRange = records[records.length - 1] as KafkaRecord;
        if (lastOfRange.offset !== next.last || recordDigest(lastOfRange) !== next.lastRecord) {
          // The partition does not hold the record that closed the recorded range: the ranges
          // were written for an earlier incarnation of the topic, whose offsets these reuse.
          // None of them is this log's: cut freely.
          boundaries.length = 0;
          continue;
        }
        waiting = waiting.slice(upTo);
        boundaries.shift();
        // The recorded range's own token, also when its first records are gone (committed
        // before, or deleted by retention): an earlier copy of the range holds these records too.
        const range = { topic, partition, first: next.first, last: next.last, lastRecord: next.lastRecord };
        blocks.push({ range, token: blockToken(range), records, recorded: true });
      }
      // What is held back counts as waiting from now: it is due again after another interval.
      waitingSince = waiting.length > 0 ? Date.now() : 0;
      return blocks;
    },
    drop() {
      const dropped = waiting.length;
      waiting = [];
      waitingSince = 0;
      return dropped;
    },
  };
}
