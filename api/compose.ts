import type { Express } from 'express';
import type { Store } from '../core/clickhouse.js';
import type { ApiKey, ServerConfig } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { createMetrics, type Metrics } from '../core/metrics.js';
import { reportBackgroundFailures } from '../core/background.js';
import { lanesOf, type Lanes } from '../core/lanes.js';
import { migrate } from '../storage/migrate.js';
import { pairVoidedUsage } from '../storage/voids.js';
import { createIngestPipeline, type IngestPipeline } from '../ingest/pipeline.js';
import { kafkaWorkerFromConfig } from '../ingest/service.js';
import type { KafkaWorker } from '../ingest/kafkaWorker.js';
import { BalanceService, freshnessOf } from '../readmodels/balances.js';
import { UsageIndex } from '../readmodels/usageIndex.js';
import { ForecastService } from '../readmodels/forecasts.js';
import { BalanceAggregator } from '../aggregator/process.js';
import { AlertEvaluator } from '../alerts/evaluator.js';
import { createApp } from './app.js';

/**
 * The one wiring of a server process: storage made ready, the read models, the ingest pipeline,
 * the API, and the background parts (Kafka worker, balance aggregator, alert evaluator). `npm
 * start` and the benchmarks call it alike, so what is measured is what runs.
 */
export interface ServerOptions {
  config: ServerConfig;
  store: Store;
  log: Logger;
  metrics?: Metrics;
  /** Keys the API accepts; the configured ones when not given. */
  apiKeys?: ApiKey[];
  /** Runs the balance tables' writer here. Always on embedded chDB, which no other process can reach. */
  aggregate?: boolean;
  signal?: AbortSignal;
}

export interface ServerProcess {
  app: Express;
  store: Store;
  lanes: Lanes;
  metrics: Metrics;
  pipeline: IngestPipeline;
  balances: BalanceService;
  usageIndex: UsageIndex;
  forecasts: ForecastService;
  aggregator: BalanceAggregator | undefined;
  /** Present when KAFKA_BROKERS is set; started by `start()`. */
  worker: KafkaWorker | undefined;
  alerts: AlertEvaluator;
  /** Starts consuming Kafka, evaluating alerts and writing the balance tables. */
  start(): Promise<void>;
  /** Stops them, in the order that loses nothing; the caller closes its listener and the store. */
  stop(): Promise<void>;
}

/** How often the aggregator of an embedded store asks storage for change counts (`POLL_MS` against a server). */
const EMBEDDED_POLL_MS = 5_000;

export async function composeServer(options: ServerOptions): Promise<ServerProcess> {
  const { config, store, log } = options;
  const metrics = options.metrics ?? createMetrics();
  const migrations = await migrate(store);
  log.info({ event: 'migrations_applied', ...migrations }, 'storage ready');
  // Pairings a crash left unwritten (or a standalone ingest left to an aggregator not yet run) are
  // made before anything is answered.
  await pairVoidedUsage(store, 'all');

  const onBackgroundFailure = reportBackgroundFailures(log, metrics);
  /** The Kafka worker, once made (when KAFKA_BROKERS is set): reads and the aggregator give way while it is behind. */
  const consumer: { worker?: KafkaWorker } = {};
  const ingestBehind = () => consumer.worker?.behind() ?? false;
  // On embedded chDB, ingest, the balances and every other read each have a connection of their
  // own, so none waits for another's statements (core/lanes.ts).
  const lanes = lanesOf(store);
  const balances = new BalanceService(lanes.balances, Date.now, { onBackgroundFailure });
  const usageIndex = new UsageIndex(lanes.balances, { maxEntries: config.BALANCES_USAGE_INDEX_ENTRIES, onBackgroundFailure });
  // One forecast per snapshot, for the API and the alert evaluator alike, its usage window summed from memory.
  const forecasts = new ForecastService(balances, lanes.reads, usageIndex);
  // The balance tables' writer runs in this process when no other process can reach the store
  // (embedded chDB), or when asked; against a server it is usually `npm run aggregate`.
  const aggregator =
    options.aggregate || store.kind === 'chdb'
      ? new BalanceAggregator({
          store: lanes.aggregate,
          log,
          usage: usageIndex,
          ingestBehind,
          // No other process writes an embedded store: this one's pipeline tells the aggregator of
          // every write at once, so storage is polled rarely, for what a poll alone shows.
          ...(store.kind === 'chdb' ? { pollMs: EMBEDDED_POLL_MS } : {}),
        })
      : undefined;
  const pipeline = createIngestPipeline({
    store: lanes.ingest,
    metrics,
    log,
    signal: options.signal,
    onStored: (accounts, source) => {
      balances.invalidate(accounts, freshnessOf(source));
      aggregator?.notify(accounts, freshnessOf(source));
    },
    // Void pairing is the aggregator's: it pairs an account's voids at each recomputation. This
    // process also answers reads, so a batch posted to the API, which its client reads back at
    // once, is paired before it is acknowledged; a streamed batch is paired by the aggregator
    // within its next recomputation, as the read models see streamed writes within their bound.
    afterStore: (accounts, source) => (freshnessOf(source) === 'now' ? pairVoidedUsage(lanes.ingest, accounts) : Promise.resolve()),
  });
  const apiKeys = options.apiKeys ?? config.BALANCES_API_KEYS;
  if (apiKeys.length === 0) log.warn({ event: 'no_api_keys' }, 'BALANCES_API_KEYS is empty: every /v1 request will answer 401');
  // One pipeline for HTTP and Kafka: its dedupe-then-insert step is serialised across both.
  const worker = (consumer.worker = kafkaWorkerFromConfig(config, pipeline, metrics, log, lanes.ingest));
  const app = createApp({
    store: lanes.reads,
    pipeline,
    metrics,
    log,
    apiKeys,
    bodyLimitBytes: config.BALANCES_BODY_LIMIT_BYTES,
    balances,
    usageIndex,
    forecasts,
    alertRunsOutDays: config.ALERT_RUNS_OUT_DAYS,
    ...(worker ? { ingestBehind } : {}),
    corsOrigins: config.BALANCES_CORS_ORIGINS,
    rateLimit: { perMinute: config.BALANCES_RATE_LIMIT_PER_MIN, burst: config.BALANCES_RATE_LIMIT_BURST ?? config.BALANCES_RATE_LIMIT_PER_MIN },
  });
  // Every API process runs one; only the holder of the evaluator's lease in storage evaluates and delivers.
  const alerts = new AlertEvaluator({
    store: lanes.reads,
    balances,
    forecasts,
    log,
    metrics,
    webhookUrl: config.ALERT_WEBHOOK_URL,
    intervalMs: config.ALERT_EVALUATION_INTERVAL_MS,
    runsOutDays: config.ALERT_RUNS_OUT_DAYS,
  });

  return {
    app,
    store,
    lanes,
    metrics,
    pipeline,
    balances,
    usageIndex,
    forecasts,
    aggregator,
    worker,
    alerts,
    async start() {
      if (worker) {
        await worker.start();
        worker.done.catch((err: unknown) => {
          log.fatal({ event: 'ingest_failed', err }, 'Kafka ingest stopped on an error; uncommitted events will be redelivered');
          process.exit(1);
        });
      }
      alerts.start();
      aggregator?.start();
    },
    async stop() {
      await alerts.stop();
      await aggregator?.stop();
      await worker?.stop();
    },
  };
}
