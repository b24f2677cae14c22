import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { loadConfigOrExit, serverConfigSchema } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { createMetrics, observeQueries } from '../core/metrics.js';
import { reportBackgroundFailures } from '../core/background.js';
import { onShutdown, storeFromConfig } from '../core/runtime.js';
import { migrate } from '../storage/migrate.js';
import { createIngestPipeline } from '../ingest/pipeline.js';
import { kafkaWorkerFromConfig } from '../ingest/service.js';
import { DEMO_ACCOUNT, loadDemo } from '../ingest/demo.js';
import { createApp } from './app.js';
import { BalanceService, freshnessOf } from '../readmodels/balances.js';
import { AlertEvaluator } from '../alerts/evaluator.js';
import { ensureWebBuild } from '../scripts/buildWeb.js';
import { BalanceAggregator } from '../aggregator/process.js';
import { pairVoidedUsage } from '../storage/voids.js';
import { lanesOf } from '../core/lanes.js';
import { UsageIndex } from '../readmodels/usageIndex.js';
import { ForecastService } from '../readmodels/forecasts.js';

/**
 * `npm start`: the API and the ingest (HTTP, and Kafka when KAFKA_BROKERS is set) in one process.
 * `--demo` also loads the demo account and, without BALANCES_API_KEYS, prints an admin key for it.
 */
const { values: args } = parseArgs({ options: { demo: { type: 'boolean', default: false }, aggregate: { type: 'boolean', default: false } }, strict: true });
const config = loadConfigOrExit(serverConfigSchema);
const log = createLogger(config.LOG_LEVEL, 'balances');
// The Balances page is built, alongside storage and demo loading, when it is missing or older than
// its sources; without the build tools (a production install) the API serves and `/` says how.
const webBuild = ensureWebBuild({ quiet: true }).then(
  (built) => built && log.info({ event: 'web_built' }, 'Balances page built'),
  (err: unknown) => log.warn({ event: 'web_build_failed', err }, 'the Balances page could not be built; the API serves without it'),
);
const metrics = createMetrics();
const store = storeFromConfig(config, observeQueries(log, metrics));
const migrations = await migrate(store);
log.info({ event: 'migrations_applied', ...migrations }, 'storage ready');
// Pairings a crash left unwritten (or a standalone ingest left to an aggregator not yet run) are
// made before anything is answered.
await pairVoidedUsage(store, 'all');

const abort = new AbortController();
// On embedded chDB, ingest's queries go ahead of reads and background work (core/lanes.ts).
const lanes = lanesOf(store);
const balances = new BalanceService(lanes.reads, Date.now, { onBackgroundFailure: reportBackgroundFailures(log, metrics) });
const usageIndex = new UsageIndex(lanes.reads, { maxEntries: config.BALANCES_USAGE_INDEX_ENTRIES, onBackgroundFailure: reportBackgroundFailures(log, metrics) });
// One forecast per snapshot, for the API and the alert evaluator alike, its usage window summed from memory.
const forecasts = new ForecastService(balances, lanes.reads, usageIndex);
// The balance tables' writer runs in this process when no other process can reach the store
// (embedded chDB), or with --aggregate; against a server it is usually `npm run aggregate`.
const aggregator = args.aggregate || store.kind === 'chdb' ? new BalanceAggregator({ store: lanes.reads, log, usage: usageIndex }) : undefined;
const pipeline = createIngestPipeline({
  store: lanes.ingest, metrics, log, signal: abort.signal,
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
const apiKeys = [...config.BALANCES_API_KEYS];
let demoKey: string | undefined;
if (args.demo && apiKeys.length === 0) {
  demoKey = `demo-${randomBytes(18).toString('base64url')}`;
  apiKeys.push({ key: demoKey, accountId: DEMO_ACCOUNT, role: 'admin' });
}
if (apiKeys.length === 0) {
  log.warn({ event: 'no_api_keys' }, 'BALANCES_API_KEYS is empty: every /v1 request will answer 401');
}
if (args.demo) {
  const started = performance.now();
  const report = await loadDemo(pipeline);
  log.info({ event: 'demo_loaded', ...report, seconds: (performance.now() - started) / 1000 }, 'demo account loaded');
}

await webBuild;

const app = createApp({
  store: lanes.reads, pipeline, metrics, log, apiKeys, bodyLimitBytes: config.BALANCES_BODY_LIMIT_BYTES, balances,
  usageIndex,
  forecasts,
  alertRunsOutDays: config.ALERT_RUNS_OUT_DAYS,
  // Kafka is consumed on this event loop too: reads start one per turn, so it keeps up (readGate.ts).
  ...(config.KAFKA_BROKERS?.length ? { readsPerTurn: 1 } : {}),
  corsOrigins: config.BALANCES_CORS_ORIGINS,
  rateLimit: { perMinute: config.BALANCES_RATE_LIMIT_PER_MIN, burst: config.BALANCES_RATE_LIMIT_BURST ?? config.BALANCES_RATE_LIMIT_PER_MIN },
});
const server = app.listen(config.PORT);
await once(server, 'listening');
const address = server.address();
const port = typeof address === 'object' && address ? address.port : config.PORT;
log.info({ event: 'listening', port, storage: store.kind }, `listening on http://localhost:${port}`);
if (demoKey) {
  process.stdout.write(
    `\nDemo account "${DEMO_ACCOUNT}" is ready on http://localhost:${port}\n` +
      `Admin API key for this run: ${demoKey}\n` +
      `  curl -H "Authorization: Bearer ${demoKey}" http://localhost:${port}/v1/wallets\n\n`,
  );
}

// One pipeline for HTTP and Kafka: its dedupe-then-insert step is serialised across both.
const worker = kafkaWorkerFromConfig(config, pipeline, metrics, log, lanes.ingest);
if (worker) {
  await worker.start();
  worker.done.catch((err: unknown) => {
    log.fatal({ event: 'ingest_failed', err }, 'Kafka ingest stopped on an error; uncommitted events will be redelivered');
    process.exit(1);
  });
}

// Every API process runs one; only the holder of the evaluator's lease in storage evaluates and delivers.
const alerts = new AlertEvaluator({ store: lanes.reads, balances, forecasts, log, metrics, webhookUrl: config.ALERT_WEBHOOK_URL, intervalMs: config.ALERT_EVALUATION_INTERVAL_MS, runsOutDays: config.ALERT_RUNS_OUT_DAYS });
alerts.start();
aggregator?.start();

onShutdown(async (signal) => {
  log.info({ event: 'shutdown', signal }, 'stopping');
  server.close();
  await alerts.stop();
  await aggregator?.stop();
  abort.abort();
  await worker?.stop();
  await store.close();
});
