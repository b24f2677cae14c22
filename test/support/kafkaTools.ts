import { CompressionTypes, Kafka, Partitioners, logLevel } from 'kafkajs';

/** Polls `check` until it holds; never a fixed sleep where a condition exists. */
export async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function client(brokers: string[]) {
  return new Kafka({ clientId: 'test-tools', brokers, logLevel: logLevel.NOTHING });
}

export function walletKey(event: Record<string, unknown>): string {
  const wallet = event.wallet as { type: string; id: string } | undefined;
  return wallet ? `${String(event.account_id)}/${wallet.type}/${wallet.id}` : String(event.account_id);
}

/**
 * Produces events keyed by wallet, as the product's producers do, in chunks of `chunk` messages.
 * Raw strings are sent as they are.
 */
export async function produce(
  brokers: string[],
  topic: string,
  events: Array<Record<string, unknown> | string>,
  options: { gzip?: boolean; chunk?: number } = {},
): Promise<void> {
  const producer = client(brokers).producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true });
  await producer.connect();
  try {
    const chunk = options.chunk ?? 5_000;
    for (let i = 0; i < events.length; i += chunk) {
      await producer.send({
        topic,
        acks: -1,
        compression: options.gzip ? CompressionTypes.GZIP : CompressionTypes.None,
        messages: events.slice(i, i + chunk).map((e) =>
          typeof e === 'string' ? { key: 'raw', value: e } : { key: walletKey(e), value: JSON.stringify(e) },
        ),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface PartitionSpan {
  partition: number;
  /** The oldest offset the broker still holds. */
  low: number;
  high: number;
}

/** What the broker holds per partition: the test broker silently drops old batches past ~5 MB. */
export async function topicSpans(brokers: string[], topic: string): Promise<PartitionSpan[]> {
  const admin = client(brokers).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) })).sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}

/** The group's committed offsets on `topic`, summed over partitions (none committed counts 0). */
export async function committedTotal(brokers: string[], groupId: string, topic: string): Promise<number> {
  const admin = client(brokers).admin();
  await admin.connect();
  try {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (entry?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}
