import { inspect } from 'node:util';
import { createStore, type Store } from './clickhouse.js';
import type { StorageConfig } from './config.js';
import { DataDirInUseError } from './dataDirLock.js';
import { dataDirFilesystem, slowInsertsWarning } from './dataDirFilesystem.js';
import type { Logger } from './log.js';
import type { QueryObserver } from './query.js';

/**
 * The store a process uses: a ClickHouse server when CLICKHOUSE_URL is set, else embedded chDB.
 * A data directory another live process holds stops this one at boot, with the reason.
 */
export function storeFromConfig(config: StorageConfig, observer?: QueryObserver, log?: Logger): Store {
  try {
    const store = createStore({
      url: config.CLICKHOUSE_URL,
      username: config.CLICKHOUSE_USER,
      password: config.CLICKHOUSE_PASSWORD,
      dataDir: config.BALANCES_DATA_DIR,
      database: config.CLICKHOUSE_DATABASE,
      cluster: config.CLICKHOUSE_CLUSTER,
      observer,
    });
    if (store.kind === 'chdb' && log) {
      // Said once at start, so that an operator knows why inserts, and so the stream, cost more here.
      const fs = dataDirFilesystem(config.BALANCES_DATA_DIR);
      const warning = slowInsertsWarning(fs);
      if (warning) log.warn({ event: 'data_dir_slow_inserts', ...fs }, warning);
    }
    return store;
  } catch (err) {
    if (err instanceof DataDirInUseError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(3);
    }
    throw err;
  }
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits; a second signal exits at once. */
export function onShutdown(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        // The process is exiting: its logger may not flush, stderr does.
        process.stderr.write(`stopping on ${signal} failed: ${inspect(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
