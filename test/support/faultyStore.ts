import { StorageError, type Store } from '../../core/clickhouse.js';

export type StorageMode = 'up' | 'down' | 'stalled';

export interface FaultyStore extends Store {
  /** Every call fails as an unreachable ClickHouse server does: connection refused, retriable. */
  down(): void;
  /** Every call waits, as on a server that stopped answering, until `up()`; then it runs. */
  stall(): void;
  up(): void;
  readonly mode: StorageMode;
  /** Calls that failed or waited because of the fault. */
  readonly refused: number;
}

/**
 * A real store behind a switch, for outages a test can start and end: the product runs on it
 * unchanged, and when storage comes back every call reaches the real chDB store.
 */
export function faultyStore(store: Store): FaultyStore {
  let mode: StorageMode = 'up';
  let refused = 0;
  let resumed: () => void = () => undefined;
  let gate = Promise.resolve();

  async function through<T>(operation: string, call: () => Promise<T>): Promise<T> {
    if (mode === 'down') {
      refused++;
      throw StorageError.of(operation, Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' }));
    }
    if (mode === 'stalled') {
      refused++;
      await gate;
      return through(operation, call);
    }
    return call();
  }

  /** The store's calls behind the switch; a session of it is behind the same switch. */
  const behind = (inner: Store): Store => ({
    get client() {
      return inner.client;
    },
    database: inner.database,
    kind: inner.kind,
    observer: inner.observer,
    table: (name) => inner.table(name),
    insertJsonEachRow: (table, ndjson, options) => through(`insert into ${table}`, () => inner.insertJsonEachRow(table, ndjson, options)),
    queryRows: (query, params) => through('query', () => inner.queryRows(query, params)),
    queryTsv: (query, params, options) => through('query', () => inner.queryTsv(query, params, options)),
    queryJsonLines: (query, params) => through('query', () => inner.queryJsonLines(query, params)),
    command: (query, params) => through('command', () => inner.command(query, params)),
    ping: () => through('ping', () => inner.ping()),
    session: () => behind(inner.session()),
    close: () => inner.close(),
  });

  return {
    ...behind(store),
    get mode() {
      return mode;
    },
    get refused() {
      return refused;
    },
    down() {
      mode = 'down';
    },
    stall() {
      if (mode === 'stalled') return;
      mode = 'stalled';
      gate = new Promise<void>((resolve) => (resumed = resolve));
    },
    up() {
      mode = 'up';
      resumed();
    },
  };
}
