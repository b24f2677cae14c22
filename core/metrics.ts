import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from './log.js';
import type { QueryObserver } from './query.js';

/** Prometheus metrics of one process; created once and handed to the stages that record them. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    events: new Counter({
      name: 'balances_ingest_events_total',
      help: 'Events seen by the ingest pipeline, by outcome (accepted, duplicate, rejected) and source',
      labelNames: ['outcome', 'source'] as const,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'balances_ingest_batch_size',
      help: 'Events per stored batch',
      buckets: [1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000],
      registers: [registry],
    }),
    flushSeconds: new Histogram({
      name: 'balances_ingest_flush_duration_seconds',
      help: 'Time to dedupe and store one batch',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    backpressureSeconds: new Histogram({
      name: 'balances_ingest_backpressure_wait_seconds',
      help: 'Time the Kafka consumer waited because too many events were in flight',
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    storeRetries: new Counter({
      name: 'balances_ingest_store_retries_total',
      help: 'Retriable storage errors that were retried',
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: 'balances_kafka_consumer_lag',
      help: 'Messages between the last fetched offset and the high watermark, per partition',
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
    }),
    backgroundFailures: new Counter({
      name: 'balances_background_failures_total',
      help: 'Failures of work nobody awaits (snapshot refreshes, statistics loads), by task',
      labelNames: ['task'] as const,
      registers: [registry],
    }),
    storageQueries: new Histogram({
      name: 'balances_storage_query_duration_seconds',
      help: 'Time of each named storage query (core/query.ts), by query name and outcome',
      labelNames: ['query', 'outcome'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    storageQueryRows: new Counter({
      name: 'balances_storage_query_rows_total',
      help: 'Rows returned by named storage queries, by query name',
      labelNames: ['query'] as const,
      registers: [registry],
    }),
    httpRequests: new Histogram({
      name: 'balances_http_request_duration_seconds',
      help: 'HTTP request duration by route pattern ("unmatched" when no route answered) and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Queries slower than this are logged by name. */
export const SLOW_QUERY_SECONDS = 1;

/**
 * Records each named query in `metrics` (a process that serves `/metrics`) and logs the slow
 * ones with their name.
 */
export function observeQueries(log: Logger, metrics?: Metrics): QueryObserver {
  return ({ name, seconds, rows, outcome }) => {
    metrics?.storageQueries.observe({ query: name, outcome }, seconds);
    if (rows > 0) metrics?.storageQueryRows.inc({ query: name }, rows);
    if (seconds >= SLOW_QUERY_SECONDS) log.info({ event: 'slow_query', query: name, seconds, rows, outcome }, 'slow storage query');
  };
}
