import type { IncomingMessage, RejectedRow } from './pipeline.js';
import type { Logger } from '../core/log.js';
import type { CommitOffset, DeadLetter, KafkaRecord, KafkaSource } from './sources/kafka.js';
import type { Block } from './kafkaBlocks.js';

/**
 * What the Kafka worker makes of a flush's records: the messages the pipeline reads, the
 * records refused unread for their size, and the offsets a stored flush commits; and how it
 * leaves its group within a bound.
 */

/** A record refused by the worker itself, as one row of `rejected_events_v1`. */
export type RejectedRecord = RejectedRow & { source: 'kafka' };

/** Records as the pipeline reads them, with their coordinates. */
export function toMessages(records: KafkaRecord[]): IncomingMessage[] {
  const messages: IncomingMessage[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as KafkaRecord;
    messages[i] = {
      text: r.value === null ? '' : r.value.toString('utf8'),
      kafka: { topic: r.topic, partition: r.partition, offset: r.offset },
    };
  }
  return messages;
}

/** Past each block's last offset: the blocks of a partition come in offset order. */
export function nextOffsets(blocks: Block[]): CommitOffset[] {
  const byPartition = new Map<string, CommitOffset>();
  for (const { range } of blocks) {
    const next = (BigInt(range.last) + 1n).toString();
    const id = `${range.topic}/${range.partition}`;
    const current = byPartition.get(id);
    if (!current || BigInt(next) > BigInt(current.offset)) {
      byPartition.set(id, { topic: range.topic, partition: range.partition, offset: next });
    }
  }
  return [...byPartition.values()].sort((a, b) => a.partition - b.partition);
}

/** The records of a block the pipeline reads: an oversized message is refused unread. */
export function fitting(block: Block, maxMessageBytes: number, letters: DeadLetter[], refusals: RejectedRecord[]): KafkaRecord[] {
  // Decoding megabytes of JSON per record would let one producer stall the partition, and no
  // event of the contract comes near the limit.
  if (!block.records.some((r) => (r.value?.length ?? 0) > maxMessageBytes)) return block.records;
  const fits: KafkaRecord[] = [];
  for (const r of block.records) {
    const size = r.value?.length ?? 0;
    if (size <= maxMessageBytes) {
      fits.push(r);
      continue;
    }
    const message = `the message is ${size} bytes, over the limit of ${maxMessageBytes}`;
    letters.push({ record: r, code: 'message_too_large', message });
    refusals.push({
      source: 'kafka', account_id: '', event_id: '', code: 'message_too_large', message,
      payload: (r.value as Buffer).toString('utf8'), kafka_topic: r.topic, kafka_partition: r.partition, kafka_offset: r.offset,
    });
  }
  return fits;
}

/** Leaves the group, or gives up after `ms`: the broker then ends the membership after the session timeout. */
export async function disconnectWithin(source: Pick<KafkaSource, 'disconnect'>, log: Logger, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.warn({ event: 'kafka_disconnect_timeout', ms }, 'the consumer did not leave the group in time');
      resolve();
    }, ms);
  });
  const disconnected = source.disconnect().catch((err: unknown) => {
    log.warn({ event: 'kafka_disconnect_failed', err }, 'the consumer could not leave the group cleanly; the broker ends its membership after the session timeout');
  });
  await Promise.race([disconnected, timeout]);
  clearTimeout(timer);
}
