import { loadConfigOrExit, storageConfigSchema } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { observeQueries } from '../core/metrics.js';
import { storeFromConfig } from '../core/runtime.js';
import { rebuildRollups } from './backfill.js';
import { migrate } from './migrate.js';
import { acquireMigrationLock } from './migrationLock.js';

/** `npm run backfill`: apply migrations, then rebuild every rollup from the raw events. */
const config = loadConfigOrExit(storageConfigSchema);
const log = createLogger(config.LOG_LEVEL, 'backfill');
const store = storeFromConfig(config, observeQueries(log));
await migrate(store);
const started = performance.now();
// Under the migration lock: no process migrates or fills while the rollups are rebuilt.
const lock = await acquireMigrationLock(store);
const report = await rebuildRollups(store).finally(() => lock.release());
log.info({ event: 'rollups_rebuilt', seconds: (performance.now() - started) / 1000, ...report }, 'rollups rebuilt from raw events');
await store.close();
