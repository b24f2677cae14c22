import { Readable } from 'node:stream';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { lockDataDir } from './dataDirLock.js';
import { StageError } from './errors.js';
import type { QueryObserver } from './query.js';
import { inlineParams } from './sqlLiterals.js';

/**
 * The one way the product reaches ClickHouse. The embedded chDB connection and the HTTP
 * connection give the same `@clickhouse/client` client, so no code path differs but this one.
 * Every call fails with a `StorageError`, which says whether trying again may pass.
 */
export interface Store {
  readonly client: ClickHouseClient;
  /** Database that holds every table of this store; SQL names tables as `${db}.name`. */
  readonly database: string;
  readonly kind: 'chdb' | 'http';
  /** The ClickHouse cluster the tables are spread over, when there is one. */
  readonly cluster?: string;
  /**
   * Fully qualified, quoted table name. On a cluster, a data table's Distributed twin
   * (`<name>_dist`), through which every read and write goes.
   */
  table(name: string): string;
  /**
   * Inserts pre-serialised JSONEachRow text; returns once ClickHouse has written it. A
   * `deduplicationToken` makes a retried insert of the same rows land once, on tables that
   * keep a deduplication window.
   */
  insertJsonEachRow(table: string, ndjson: string, options?: { deduplicationToken?: string }): Promise<void>;
  queryRows<T>(query: string, params?: Record<string, unknown>): Promise<T[]>;
  /**
   * Rows as arrays of text fields: the cheapest way to read thousands of rows. With
   * `namesAndTypes`, the first two rows are the columns' names and ClickHouse types.
   */
  queryTsv(query: string, params?: Record<string, unknown>, options?: { namesAndTypes?: boolean }): Promise<string[][]>;
  /** Rows as ClickHouse writes them in JSONEachRow, one object per line, for passing through. */
  queryJsonLines(query: string, params?: Record<string, unknown>): Promise<string>;
  command(query: string, params?: Record<string, unknown>): Promise<void>;
  ping(): Promise<boolean>;
  /**
   * This store on a connection of its own, closed with it. Embedded chDB runs one statement at a
   * time per connection, whatever its size: on one connection a 3 ms read waits out a 400 ms
   * insert. Calls through a session run beside this store's. A server runs requests side by side
   * already: there, the store itself.
   */
  session(): Store;
  close(): Promise<void>;
  /** Sees every named query this store runs (`core/query.ts`): its name, time, rows and outcome. */
  readonly observer?: QueryObserver;
}

type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

export interface StoreOptions {
  /** chDB data directory; ignored when `url` is given. */
  dataDir?: string;
  url?: string;
  username?: string;
  password?: string;
  database: string;
  /** A ClickHouse cluster (server only): migrations render for it, and tables are read through their twins. */
  cluster?: string;
  observer?: QueryObserver;
}

/**
 * Names that stay local on a cluster: plain views (they read the twins themselves) and the
 * migration bookkeeping, which is replicated to every node.
 */
const CLUSTER_LOCAL_NAMES = new Set(['wallet_balances_v1', 'lot_balances_v1', 'token_events_v1', 'wallet_forecasts_v1', 'lot_forecasts_v1', 'daily_balances_v1', 'schema_migrations_v1', 'migration_lock_v1']);

/**
 * The INSERT every write of rows goes through.
 * - A block is written synchronously (`async_insert = 0`): a deduplication token names a block
 *   the server writes now, not one it may merge with others' rows later.
 * - Its token also names the blocks its views write (`deduplicate_blocks_in_dependent_materialized_views`),
 *   so a retry of the identical block fills only a view that missed it.
 * - The views over a table are fed side by side: inserts into events_v1 and its views ran 18–25%
 *   faster on 2 cores (25k-event inserts, measured alternately with and without).
 */
export function insertStatement(qualifiedTable: string, options: { token?: string }): string {
  const settings = ['async_insert = 0', 'parallel_view_processing = 1'];
  if (options.token !== undefined) {
    settings.push(`insert_deduplication_token = '${options.token.replace(/[^A-Za-z0-9_-]/g, '')}'`, 'deduplicate_blocks_in_dependent_materialized_views = 1');
  }
  return `INSERT INTO ${qualifiedTable} SETTINGS ${settings.join(', ')} FORMAT JSONEachRow`;
}

/** The longest statement embedded chDB parses, its parameters written in (1 GiB). */
const MAX_LITERAL_QUERY_BYTES = 1 << 30;

export function createStore(options: StoreOptions): Store {
  const kind = options.url ? 'http' : 'chdb';
  if (options.cluster && kind === 'chdb') throw new Error('CLICKHOUSE_CLUSTER needs CLICKHOUSE_URL: the embedded store is one process');
  if (options.url) {
    const connection = new Connection(
      createClient({
        url: options.url,
        username: options.username ?? 'default',
        password: options.password ?? '',
        request_timeout: 120_000,
        compression: { request: false, response: true },
        // On a cluster every write goes through a Distributed twin, which forwards it to its shard
        // before the statement returns: a confirmed insert is stored, not queued for later. Sent
        // with every request, so row inserts and INSERT … SELECT (fills, void pairing) alike.
        ...(options.cluster ? { clickhouse_settings: { distributed_foreground_insert: 1 } } : {}),
      }),
      Promise.resolve(),
    );
    const store: Store = storeOn(options, 'http', connection, { session: () => store, close: () => connection.close() });
    return store;
  }
  const dataDir = resolve(options.dataDir ?? './data');
  mkdirSync(dataDir, { recursive: true });
  // Before chDB opens the directory: waits a few seconds for a live holder to exit, then refuses.
  const releaseDataDir = lockDataDir(dataDir);
  const connect = () => {
    // chdb ships its own copy of client-common's Connection type; the shapes are the same.
    const client = createClient({ connection: createChdbConnection({ path: dataDir }) as unknown as ClientConnection });
    // Literals count towards the statement's size: a lookup of a large batch's keys is a few MB.
    return new Connection(client, client.command({ query: `SET max_query_size = ${MAX_LITERAL_QUERY_BYTES}` }));
  };
  const main = connect();
  /** Connections of this data directory opened by `session`, closed before the first one. */
  const sessions = new Set<Connection>();
  const session = (): Store => {
    const connection = connect();
    sessions.add(connection);
    return storeOn(options, 'chdb', connection, {
      session,
      // A connection closes once however often it is asked (`Connection.close`).
      close: () => {
        sessions.delete(connection);
        return connection.close();
      },
    });
  };
  return storeOn(options, 'chdb', main, {
    session,
    async close() {
      try {
        await Promise.all([...sessions].map((connection) => connection.close()));
        sessions.clear();
        await main.close();
      } finally {
        releaseDataDir();
      }
    },
  });
}

/**
 * One client and the calls under way on it. Invariant: a connection is closed only once no call
 * is under way on it (chDB aborts its engine, for the whole process, when a connection closes
 * under a running statement), and a call begun after `close` fails at once without reaching it.
 */
class Connection {
  private readonly running = new Set<Promise<unknown>>();
  private closed: Promise<void> | undefined;

  constructor(
    readonly client: ClickHouseClient,
    private readonly ready: Promise<unknown>,
  ) {
    ready.catch(() => undefined);
  }

  /** Runs `call` on the client once it is ready, as a `StorageError` when it fails. */
  call<T>(operation: string, call: (client: ClickHouseClient) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StorageError(`storage ${operation} failed: the store is closed`, { retriable: false }));
    const work = classified(operation, async () => {
      await this.ready;
      return call(this.client);
    });
    this.running.add(work);
    const done = () => this.running.delete(work);
    work.then(done, done);
    return work;
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      while (this.running.size > 0) await Promise.allSettled([...this.running]);
      await classified('close', () => this.client.close());
    })();
    return this.closed;
  }
}

/** The calls of a store over one connection: a server's, chDB's first connection, or one of its sessions. */
function storeOn(options: StoreOptions, kind: 'chdb' | 'http', connection: Connection, own: Pick<Store, 'session' | 'close'>): Store {
  const db = `\`${options.database}\``;
  const cluster = options.cluster;
  const table = (name: string) => `${db}.\`${cluster && !CLUSTER_LOCAL_NAMES.has(name) ? `${name}_dist` : name}\``;
  // Parameters are written into the SQL on chDB (sqlLiterals.ts); a server binds them itself.
  const bound = (query: string, params?: Record<string, unknown>) =>
    kind === 'chdb' ? { query: inlineParams(query, params), query_params: {} } : { query, query_params: params ?? {} };

  return {
    client: connection.client,
    database: options.database,
    kind,
    cluster,
    table,
    observer: options.observer,
    insertJsonEachRow: (name, ndjson, insertOptions) =>
      ndjson.length === 0
        ? Promise.resolve()
        : connection.call(`insert into ${name}`, async (client) => {
            // exec with a byte stream: the rows are already JSON text, so the client must not re-encode them.
            const result = await client.exec({
              query: insertStatement(table(name), { token: insertOptions?.deduplicationToken }),
              values: Readable.from([Buffer.from(ndjson)], { objectMode: false }),
            });
            result.stream.resume();
          }),
    queryRows: <T>(query: string, params?: Record<string, unknown>) =>
      connection.call('query', async (client) => {
        // One JSON document parses several times faster than the same rows as JSONEachRow lines.
        const rs = await client.query({ ...bound(query, params), format: 'JSON' });
        return (await rs.json<T>()).data;
      }),
    queryTsv: (query, params, tsvOptions) =>
      connection.call('query', async (client) => {
        const format = tsvOptions?.namesAndTypes ? 'TabSeparatedWithNamesAndTypes' : 'TabSeparated';
        const rs = await client.query({ ...bound(query, params), format });
        const text = await rs.text();
        if (text.length === 0) return [];
        const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
        return lines.map((line) => line.split('\t').map(unescapeTsv));
      }),
    queryJsonLines: (query, params) =>
      connection.call('query', async (client) => {
        const rs = await client.query({ ...bound(query, params), format: 'JSONEachRow' });
        return rs.text();
      }),
    command: (query, params) =>
      connection.call('command', async (client) => {
        await client.command(bound(query, params));
      }),
    ping: () => connection.call('ping', async (client) => (await client.ping()).success),
    session: own.session,
    close: own.close,
  };
}

/**
 * The storage stage's error: every failure of a `Store` call is one, classified once, here, by
 * the error codes ClickHouse and the network give. `code` is the first code found along the
 * causes; the failure is retriable when any of them means "try again".
 */
export class StorageError extends StageError {
  override readonly name: string = 'StorageError';
  readonly code: string | undefined;
  /** The named query that failed (`core/query.ts`), when it was one. */
  readonly query: string | undefined;

  constructor(
    message: string,
    options: { retriable: boolean; cause?: unknown; code?: string; query?: string },
  ) {
    super(message, options);
    this.code = options.code;
    this.query = options.query;
  }

  /** The failure of a `Store` call, `operation` saying which, classified by its codes. */
  static of(operation: string, cause: unknown): StorageError {
    if (cause instanceof StorageError) return cause;
    const codes = codesOf(cause);
    return new StorageError(`storage ${operation} failed`, {
      retriable: codes.some((code) => RETRIABLE_CLICKHOUSE_CODES.has(code) || RETRIABLE_NODE_CODES.has(code)),
      cause,
      code: codes[0],
    });
  }
}

async function classified<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw StorageError.of(operation, err);
  }
}

/** ClickHouse errors carry a numeric code; these mean "try again", not "your data is wrong". */
const RETRIABLE_CLICKHOUSE_CODES = new Set([
  '3', // UNEXPECTED_END_OF_FILE
  '159', // TIMEOUT_EXCEEDED
  '164', // READONLY
  '202', // TOO_MANY_SIMULTANEOUS_QUERIES
  '203', // NO_FREE_CONNECTION
  '209', // SOCKET_TIMEOUT
  '210', // NETWORK_ERROR
  '236', // ABORTED
  '241', // MEMORY_LIMIT_EXCEEDED
  '242', // TABLE_IS_READ_ONLY
  '252', // TOO_MANY_PARTS
  '285', // TOO_FEW_LIVE_REPLICAS
  '319', // UNKNOWN_STATUS_OF_INSERT
  '394', // QUERY_WAS_CANCELLED
  '425', // SYSTEM_ERROR
  '999', // KEEPER_EXCEPTION
]);
const RETRIABLE_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);

/** The error codes along a failure and its causes, outermost first. */
function codesOf(err: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  for (let e = err; typeof e === 'object' && e !== null && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') codes.push(code);
  }
  return codes;
}

const TSV_ESCAPES: Record<string, string> = { t: '\t', n: '\n', r: '\r', '\\': '\\', '0': '\0', b: '\b', f: '\f', "'": "'" };

/** ClickHouse TabSeparated escapes tab, newline and backslash inside a field. */
function unescapeTsv(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\(.)/g, (_, c: string) => TSV_ESCAPES[c] ?? c);
}
