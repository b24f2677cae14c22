import type { Store } from '../core/clickhouse.js';
import type { IngestConfig } from '../core/config.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import { createKafkaWorker, type KafkaWorker, type RejectedRecord } from './kafkaWorker.js';
import { storedBlockLog } from './kafkaBlocks.js';
import { rejectionsBlock, type IngestPipeline } from './pipeline.js';
import { createThreadedKafkaSource } from './sources/kafkaThread.js';

/**
 * Writes the worker's own refusals (messages too large to decode) where the pipeline writes its,
 * under a token named by their content: a redelivered refusal is kept once.
 */
export function rejectedEventsTable(store: Store): (rows: RejectedRecord[]) => Promise<void> {
  return (rows) => {
    const { body, deduplicationToken } = rejectionsBlock(rows);
    return store.insertJsonEachRow('rejected_events_v1', body, { deduplicationToken });
  };
}

/** The Kafka ingest worker as configured by the environment, or undefined without KAFKA_BROKERS. */
export function kafkaWorkerFromConfig(
  config: IngestConfig,
  pipeline: IngestPipeline,
  metrics: Metrics,
  log: Logger,
  store?: Store,
): KafkaWorker | undefined {
  if (!config.KAFKA_BROKERS) return undefined;
  // Fetching on a thread of its own, so it keeps pace with the broker however busy the event loop is.
  const source = createThreadedKafkaSource({
    brokers: config.KAFKA_BROKERS,
    topic: config.KAFKA_TOPIC,
    groupId: config.KAFKA_GROUP_ID,
    clientId: config.KAFKA_CLIENT_ID,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    log,
  });
  return createKafkaWorker({
    source,
    pipeline,
    metrics,
    log,
    batchSize: config.INGEST_BATCH_SIZE,
    flushMs: config.INGEST_FLUSH_MS,
    maxInFlight: config.INGEST_MAX_IN_FLIGHT,
    // Block ranges in storage: every member of the group cuts a partition's records alike.
    ...(store ? { recordRejections: rejectedEventsTable(store), blocks: storedBlockLog(store) } : {}),
  });
}
