import { parseArgs } from 'node:util';
import { ingestConfigSchema, loadConfigOrExit } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { createMetrics, observeQueries } from '../core/metrics.js';
import { onShutdown, storeFromConfig } from '../core/runtime.js';
import { migrate } from '../storage/migrate.js';
import { createIngestPipeline } from './pipeline.js';
import { kafkaWorkerFromConfig } from './service.js';
import { ingestNdjsonFile } from './sources/file.js';

/**
 * `npm run ingest`                          consume KAFKA_TOPIC until SIGTERM
 * `npm run ingest -- --file events.ndjson`  backfill a file, then exit
 */
const { values: args } = parseArgs({ options: { file: { type: 'string' } }, strict: true });
const config = loadConfigOrExit(ingestConfigSchema);
const log = createLogger(config.LOG_LEVEL, 'ingest');
const metrics = createMetrics();
const store = storeFromConfig(config, observeQueries(log, metrics), log);
await migrate(store);
const abort = new AbortController();
// This process stores what arrives (events_v1, rejected_events_v1) and nothing derived: the
// aggregator sees every stored event through account_changes_v1 and pairs voids itself.
const pipeline = createIngestPipeline({ store, metrics, log, signal: abort.signal });

if (args.file) {
  const tty = process.stderr.isTTY;
  const report = await ingestNdjsonFile({
    pipeline,
    path: args.file,
    batchSize: config.INGEST_BATCH_SIZE,
    onProgress: (r, bytesRead, totalBytes) => {
      if (!tty) return;
      const pct = totalBytes ? Math.min(100, (100 * bytesRead) / totalBytes) : 100;
      process.stderr.write(
        `\r${pct.toFixed(1).padStart(5)}%  ${r.lines} lines  ${r.accepted} accepted  ${r.duplicates} duplicates  ${r.rejected} rejected  ${Math.round(r.lines / Math.max(r.seconds, 0.001))}/s   `,
      );
    },
  });
  if (tty) process.stderr.write('\n');
  log.info({ event: 'file_ingested', file: args.file, ...report }, 'file ingested');
  await store.close();
} else {
  const worker = kafkaWorkerFromConfig(config, pipeline, metrics, log, store);
  if (!worker) {
    process.stderr.write('KAFKA_BROKERS is not set: set it to consume Kafka, or pass --file <events.ndjson>\n');
    process.exit(2);
  }
  onShutdown(async (signal) => {
    log.info({ event: 'shutdown', signal }, 'flushing and committing');
    abort.abort();
    await worker.stop();
    await store.close();
  });
  await worker.start();
  worker.done.catch(async (err: unknown) => {
    log.fatal({ event: 'ingest_failed', err }, 'ingest stopped on an error; uncommitted events will be redelivered');
    await store.close().catch((closeErr: unknown) => log.error({ event: 'store_close_failed', err: closeErr }, 'storage did not close cleanly'));
    process.exit(1);
  });
}
