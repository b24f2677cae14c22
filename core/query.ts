import { z } from 'zod';
import { StorageError, type Store } from './clickhouse.js';

/**
 * A read of storage as a module entry: a name, a zod schema for its parameters, the SQL, and a
 * schema for its rows. `read` checks the parameters before the query runs and the rows after,
 * so a query that drifts from its table (a renamed column, a type that now arrives as a string)
 * fails with the query's name instead of handing the caller `undefined` or `NaN`. The name
 * labels the query's metrics (`balances_storage_query_duration_seconds{query}`) and the
 * `StorageError` of a failure, which every log line of it carries.
 *
 * Two row shapes:
 * - `rows: z.object(...)`: ClickHouse's JSON, every row parsed by the schema. For answers of up
 *   to a few thousand rows.
 * - `columns: { name: 'ClickHouse type', ... }`: tab-separated text, `string[]` per row, for
 *   reads of hundreds of thousands of rows. ClickHouse sends each column's name and type ahead
 *   of the rows, and those are checked against the declaration (plus each row's width): every
 *   value of a column has the column's type, so this checks as much as a per-row schema would,
 *   without its cost (a zod tuple of 6 strings parses 1M rows in 265 ms on this machine, which
 *   the 2M-entry usage index would pay on every load).
 */
export type Query<P, R> = JsonQuery<P, R> | TsvQuery<P>;

/** What a query's SQL may use from the store: table names, and the cluster when there is one. */
export type Tables = Pick<Store, 'table' | 'cluster' | 'database'>;

interface QueryBase<P> {
  readonly name: string;
  readonly params: z.ZodType<P>;
  /**
   * The SQL for these parameters; `{name:Type}` placeholders are bound from them, or, for SQL
   * planned from its parameters, from the values the plan returns beside it.
   */
  readonly sql: (tables: Tables, params: P) => string | { sql: string; values: Record<string, unknown> };
}

export interface JsonQuery<P, R> extends QueryBase<P> {
  readonly rows: z.ZodType<R>;
}

export interface TsvQuery<P> extends QueryBase<P> {
  /**
   * Each column's name and ClickHouse type, in order; the result's header must match them
   * (`LowCardinality(T)` counts as `T`).
   */
  readonly columns: Readonly<Record<string, string>>;
}

export function jsonQuery<P, R>(query: JsonQuery<P, R>): JsonQuery<P, R> {
  return query;
}

export function tsvQuery<P>(query: TsvQuery<P>): TsvQuery<P> {
  return query;
}

/** One run of a named query, as the store's observer sees it. */
export interface QuerySample {
  name: string;
  seconds: number;
  rows: number;
  outcome: 'ok' | 'error';
}

export type QueryObserver = (sample: QuerySample) => void;

/** Rows of a JSON query, each checked by its schema. */
export function read<P, R>(store: Store, query: JsonQuery<P, R>, params: NoInfer<P>): Promise<R[]>;
/** Rows of a tab-separated query as text fields, its columns checked by name and type. */
export function read<P>(store: Store, query: TsvQuery<P>, params: NoInfer<P>): Promise<string[][]>;
export async function read<P, R>(store: Store, query: Query<P, R>, params: P): Promise<R[] | string[][]> {
  const started = performance.now();
  let rows = 0;
  let outcome: QuerySample['outcome'] = 'error';
  try {
    const checked = query.params.safeParse(params);
    if (!checked.success) throw schemaError(query.name, 'the parameters', checked.error);
    const rendered = query.sql(store, checked.data);
    const [sql, bound] = typeof rendered === 'string' ? [rendered, checked.data as Record<string, unknown>] : [rendered.sql, rendered.values];
    const result = 'rows' in query ? await jsonRows(store, query, sql, bound) : await tsvRows(store, query, sql, bound);
    rows = result.length;
    outcome = 'ok';
    return result;
  } catch (err) {
    throw named(query.name, err);
  } finally {
    store.observer?.({ name: query.name, seconds: (performance.now() - started) / 1000, rows, outcome });
  }
}

async function jsonRows<P, R>(store: Store, query: JsonQuery<P, R>, sql: string, params: Record<string, unknown>): Promise<R[]> {
  const raw = await store.queryRows<unknown>(sql, params);
  const out = new Array<R>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const row = query.rows.safeParse(raw[i]);
    if (!row.success) throw schemaError(query.name, `row ${i}`, row.error);
    out[i] = row.data;
  }
  return out;
}

async function tsvRows<P>(store: Store, query: TsvQuery<P>, sql: string, params: Record<string, unknown>): Promise<string[][]> {
  const raw = await store.queryTsv(sql, params, { namesAndTypes: true });
  const names = raw[0] ?? [];
  // LowCardinality is how a column is stored, not what its values are: its text is the same.
  const types = (raw[1] ?? []).map((type) => type.replace(/^LowCardinality\((.*)\)$/, '$1'));
  const expected = Object.entries(query.columns);
  const got = names.map((name, i) => `${name} ${types[i]}`);
  const wanted = expected.map(([name, type]) => `${name} ${type}`);
  if (got.join(', ') !== wanted.join(', ')) {
    throw schemaError(query.name, `the columns (got ${got.join(', ')})`, `expected ${wanted.join(', ')}`);
  }
  const rows = raw.slice(2);
  const width = expected.length;
  for (let i = 0; i < rows.length; i++) {
    if (rows[i]?.length !== width) throw schemaError(query.name, `row ${i}`, `has ${rows[i]?.length} fields, not ${width}`);
  }
  return rows;
}

/** A named query's rows or columns that are not what it declares. */
export function schemaError(name: string, what: string, problem: z.ZodError | string): StorageError {
  const detail = typeof problem === 'string' ? problem : z.prettifyError(problem).replaceAll('\n', '; ');
  return new StorageError(`query "${name}": its schema refuses ${what}: ${detail}`, { retriable: false, code: 'SCHEMA_MISMATCH', query: name });
}

/** The failure of a named query, as a `StorageError` that names it and keeps its classification. */
function named(name: string, err: unknown): StorageError {
  const failure = StorageError.of('query', err);
  if (failure.query === name) return failure;
  return new StorageError(`storage query "${name}" failed`, { retriable: failure.retriable, cause: failure.cause ?? failure, code: failure.code, query: name });
}

/**
 * Row fields as ClickHouse's JSON writes them. A 64-bit integer arrives as a number or, with
 * `output_format_json_quote_64bit_integers` (the default of some server versions), as a string;
 * both are read as a number, which holds the milliseconds and counts these queries return.
 * Decimals arrive as the text of `toString`.
 */
export const field = {
  text: z.string(),
  /** An Int64 or UInt64 of ClickHouse's JSON, as a number. */
  int64: z.union([z.number().int(), z.string().regex(/^-?\d+$/).transform(Number)]),
  /** A 32-bit or smaller integer, which ClickHouse's JSON writes as a number. */
  int: z.number().int(),
  /** Exact decimal text, from `toString` of a Decimal. */
  decimal: z.string().regex(/^-?\d+(\.\d+)?$/),
};

/** Parameter schemas shared by the queries of one account. */
export const param = {
  account: z.string().min(1),
  millis: z.number().int(),
  texts: z.array(z.string()),
  millisLists: z.array(z.array(z.number().int())),
};
