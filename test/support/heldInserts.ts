import { connect, type Socket } from 'node:net';
import { Kafka, Partitioners, logLevel, type ISocketFactory } from 'kafkajs';
import type { Store } from '../../core/clickhouse.js';
import { formatScaled } from '../../core/decimal.js';
import { units } from './reference.js';

/** One insert into `events_v1` as the store saw it. */
export interface SeenInsert {
  eventIds: string[];
  token: string | undefined;
  startedAt: number;
  /** When it returned; undefined while it is under way. */
  endedAt?: number;
  /** It waited at the gate. */
  held: boolean;
}

export interface HeldInserts {
  store: Store;
  readonly inserts: SeenInsert[];
  /**
   * Every insert into `events_v1` waits for `gate` (given its event ids) before it reaches
   * storage; `pass` lets everything through again.
   */
  hold(gate: (eventIds: string[]) => Promise<void>): void;
  pass(): void;
}

/**
 * The same store, its inserts into `events_v1` watched, and held at a gate a test sets: a member
 * whose insert is under way (its keys looked up, its body sent) when the group rebalances.
 */
export function heldInserts(base: Store): HeldInserts {
  const inserts: SeenInsert[] = [];
  let gate: ((eventIds: string[]) => Promise<void>) | undefined;
  return {
    inserts,
    store: {
      ...base,
      table: (name) => base.table(name),
      async insertJsonEachRow(table, ndjson, options) {
        if (table !== 'events_v1') return base.insertJsonEachRow(table, ndjson, options);
        const eventIds = ndjson
          .split('\n')
          .filter(Boolean)
          .map((line) => (JSON.parse(line) as { event_id: string }).event_id);
        const seen: SeenInsert = { eventIds, token: options?.deduplicationToken, startedAt: Date.now(), held: gate !== undefined };
        inserts.push(seen);
        if (gate) await gate(eventIds);
        try {
          await base.insertJsonEachRow(table, ndjson, options);
        } finally {
          seen.endedAt = Date.now();
        }
      },
    },
    hold(next) {
      gate = next;
    },
    pass() {
      gate = undefined;
    },
  };
}

/** Produces each event to the partition `partitionOf` names, keyed by nothing: the test chooses. */
export async function produceToPartitions(brokers: string[], topic: string, events: Array<Record<string, unknown>>, partitionOf: (event: Record<string, unknown>) => number): Promise<void> {
  const producer = new Kafka({ clientId: 'test-partitions', brokers, logLevel: logLevel.NOTHING }).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: true,
  });
  await producer.connect();
  try {
    for (let i = 0; i < events.length; i += 2_000) {
      await producer.send({
        topic,
        acks: -1,
        messages: events.slice(i, i + 2_000).map((e) => ({ partition: partitionOf(e), value: JSON.stringify(e) })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Usage per account as the daily wallet rollup holds it: amount and event count. */
export async function rolledUpUsage(store: Store): Promise<Record<string, { amount: string; events: number }>> {
  const rows = await store.queryRows<{ account_id: string; amount: string; events: string }>(
    `SELECT account_id, toString(sum(amount)) AS amount, toString(sum(events)) AS events
     FROM ${store.table('usage_wallet_daily_v1')} GROUP BY account_id ORDER BY account_id`,
  );
  return Object.fromEntries(rows.map((r) => [r.account_id, { amount: formatScaled(units(r.amount)), events: Number(r.events) }]));
}

/** Kafka API keys of the group requests a test watches for. */
export const JOIN_GROUP = 11;

/**
 * Real TCP connections to the broker, noting when the client sends each request, by API key:
 * when a member asked to join the group, as the broker saw it.
 */
export function watchedRequests(): { socketFactory: ISocketFactory; sent: Array<{ apiKey: number; at: number }> } {
  const sent: Array<{ apiKey: number; at: number }> = [];
  return {
    sent,
    socketFactory: ({ host, port, onConnect }) => {
      const socket = connect({ host, port }, onConnect);
      const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
      // The client writes one whole request per call: size, api key, api version, correlation id.
      socket.write = ((chunk: unknown, ...rest: unknown[]) => {
        if (Buffer.isBuffer(chunk) && chunk.length >= 8) sent.push({ apiKey: chunk.readInt16BE(4), at: Date.now() });
        return write(chunk, ...rest);
      }) as Socket['write'];
      return socket;
    },
  };
}
