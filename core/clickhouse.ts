import { Readable } from 'node:stream';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { lockDataDir } from './dataDirLock.js';

/**
 * The one way the product reaches ClickHouse. The embedded chDB connection and the HTTP
 * connection give the same `@clickhouse/client` client, so no code path differs but this one.
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
  /** Rows as arrays of text fields: the cheapest way to read thousands of rows. */
  queryTsv(query: string, params?: Record<string, unknown>): Promise<string[][]>;
  /** Rows as ClickHouse writes them in JSONEachRow, one object per line, for passing through. */
  queryJsonLines(query: string, params?: Record<string, unknown>): Promise<string>;
  command(query: string, params?: Record<string, unknown>): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
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
}

/**
 * Names that stay local on a cluster: plain views (they read the twins themselves) and the
 * migration bookkeeping, which is replicated to every node.
 */
const CLUSTER_LOCAL_NAMES = new Set(['wallet_balances_v1', 'lot_balances_v1', 'token_events_v1', 'schema_migrations_v1', 'migration_lock_v1']);

export function createStore(options: StoreOptions): Store {
  const kind = options.url ? 'http' : 'chdb';
  let client: ClickHouseClient;
  let releaseDataDir: () => void = () => undefined;
  if (options.url) {
    client = createClient({
      url: options.url,
      username: options.username ?? 'default',
      password: options.password ?? '',
      request_timeout: 120_000,
      compression: { request: false, response: true },
    });
  } else {
    const dataDir = resolve(options.dataDir ?? './data');
    mkdirSync(dataDir, { recursive: true });
    // Refuses at once, before chDB opens the directory, when another live process holds it.
    releaseDataDir = lockDataDir(dataDir);
    // chdb ships its own copy of client-common's Connection type; the shapes are the same.
    const connection = createChdbConnection({ path: dataDir }) as unknown as ClientConnection;
    client = createClient({ connection });
  }
  const db = `\`${options.database}\``;
  if (options.cluster && kind === 'chdb') throw new Error('CLICKHOUSE_CLUSTER needs CLICKHOUSE_URL: the embedded store is one process');
  const cluster = options.cluster;
  const table = (name: string) => `${db}.\`${cluster && !CLUSTER_LOCAL_NAMES.has(name) ? `${name}_dist` : name}\``;

  return {
    client,
    database: options.database,
    kind,
    cluster,
    table,
    async insertJsonEachRow(name, ndjson, insertOptions) {
      if (ndjson.length === 0) return;
      const token = insertOptions?.deduplicationToken;
      // exec with a byte stream: the rows are already JSON text, so the client must not re-encode them.
      const result = await client.exec({
        query: `INSERT INTO ${table(name)}${token ? ` SETTINGS insert_deduplication_token = '${token.replace(/[^A-Za-z0-9_-]/g, '')}'` : ''} FORMAT JSONEachRow`,
        values: Readable.from([Buffer.from(ndjson)], { objectMode: false }),
      });
      result.stream.resume();
    },
    async queryRows<T>(query: string, params?: Record<string, unknown>) {
      // One JSON document parses several times faster than the same rows as JSONEachRow lines.
      const rs = await client.query({ query, format: 'JSON', query_params: params ?? {} });
      return (await rs.json<T>()).data;
    },
    async queryTsv(query, params) {
      const rs = await client.query({ query, format: 'TabSeparated', query_params: params ?? {} });
      const text = await rs.text();
      if (text.length === 0) return [];
      const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
      return lines.map((line) => line.split('\t').map(unescapeTsv));
    },
    async queryJsonLines(query, params) {
      const rs = await client.query({ query, format: 'JSONEachRow', query_params: params ?? {} });
      return rs.text();
    },
    async command(query, params) {
      await client.command({ query, query_params: params ?? {} });
    },
    async ping() {
      const result = await client.ping();
      return result.success;
    },
    async close() {
      try {
        await client.close();
      } finally {
        releaseDataDir();
      }
    },
  };
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

export function isRetriableStorageError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (RETRIABLE_CLICKHOUSE_CODES.has(code) || RETRIABLE_NODE_CODES.has(code))) return true;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err && isRetriableStorageError(cause);
}

const TSV_ESCAPES: Record<string, string> = { t: '\t', n: '\n', r: '\r', '\\': '\\', '0': '\0', b: '\b', f: '\f', "'": "'" };

/** ClickHouse TabSeparated escapes tab, newline and backslash inside a field. */
function unescapeTsv(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\(.)/g, (_, c: string) => TSV_ESCAPES[c] ?? c);
}
