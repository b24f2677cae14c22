import type { Store } from './clickhouse.js';

/**
 * Two ways into one store: one for ingest, one for everything else. On embedded chDB, reads,
 * the aggregator and the alert evaluator share the same two cores as storing the stream; reads
 * asked by many clients at once would each take a share of them, and events arriving steadily
 * would fall behind whenever readers are busy. Through `reads`, calls are admitted one at a
 * time: an ingest call finds at most one other query beside it.
 *
 * A ClickHouse server runs queries on cores of its own, so there the two lanes are the store itself.
 */
export interface Lanes {
  ingest: Store;
  reads: Store;
}

export function lanesOf(store: Store): Lanes {
  if (store.kind !== 'chdb') return { ingest: store, reads: store };
  let running = false;
  const waiting: Array<() => void> = [];
  const admitted = async <T>(call: () => Promise<T>): Promise<T> => {
    if (running) await new Promise<void>((resolve) => waiting.push(resolve));
    else running = true;
    try {
      return await call();
    } finally {
      // The lane passes straight to the next waiter, or falls idle.
      const next = waiting.shift();
      if (next) next();
      else running = false;
    }
  };
  const reads: Store = {
    ...store,
    queryRows: <T>(query: string, params?: Record<string, unknown>) => admitted(() => store.queryRows<T>(query, params)),
    queryTsv: (query, params, options) => admitted(() => store.queryTsv(query, params, options)),
    queryJsonLines: (query, params) => admitted(() => store.queryJsonLines(query, params)),
    command: (query, params) => admitted(() => store.command(query, params)),
    insertJsonEachRow: (table, body, options) => admitted(() => store.insertJsonEachRow(table, body, options)),
  };
  return { ingest: store, reads };
}
