import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { loadConfigOrExit, storageConfigSchema } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { observeQueries } from '../core/metrics.js';
import { onShutdown, storeFromConfig } from '../core/runtime.js';
import { migrate } from '../storage/migrate.js';
import { BalanceAggregator } from './process.js';

/**
 * `npm run aggregate`: keeps the balance tables current for every account, against the same
 * ClickHouse the ingest and api processes use. Any number may run; each writes whole snapshots.
 */
const config = loadConfigOrExit(
  storageConfigSchema.extend({
    /** Touched after every pass, for a container health check. */
    AGGREGATOR_HEARTBEAT_FILE: z.string().min(1).optional(),
    /** Aggregators dividing the accounts among them, and this one's number from 0. */
    AGGREGATOR_SHARDS: z.coerce.number().int().min(1).max(1024).default(1),
    AGGREGATOR_SHARD_INDEX: z.coerce.number().int().min(0).default(0),
  }).refine((c) => c.AGGREGATOR_SHARD_INDEX < c.AGGREGATOR_SHARDS, {
    path: ['AGGREGATOR_SHARD_INDEX'],
    message: 'must be below AGGREGATOR_SHARDS',
  }),
);
const log = createLogger(config.LOG_LEVEL, 'aggregator');
const store = storeFromConfig(config, observeQueries(log), log);
await migrate(store);
const heartbeat = config.AGGREGATOR_HEARTBEAT_FILE;
const aggregator = new BalanceAggregator({
  store,
  log,
  shard: { index: config.AGGREGATOR_SHARD_INDEX, count: config.AGGREGATOR_SHARDS },
  onPass: (storageAnswered) => {
    if (heartbeat && storageAnswered) writeFileSync(heartbeat, String(Date.now()));
  },
});
aggregator.start();
log.info({ event: 'aggregator_started', storage: store.kind, shard: `${config.AGGREGATOR_SHARD_INDEX}/${config.AGGREGATOR_SHARDS}` }, 'keeping balance tables current');

onShutdown(async (signal) => {
  log.info({ event: 'shutdown', signal }, 'stopping after the current pass');
  await aggregator.stop();
  await store.close();
});
