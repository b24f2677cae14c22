import type { Store } from './clickhouse.js';

/**
 * Four ways into one store: one for ingest, one for the API's balances and the usage index, one
 * for the balance tables' writer (the aggregator), one for every other read.
 *
 * Invariant: on embedded chDB each lane is a connection of its own (`Store.session`). chDB runs
 * one statement at a time per connection, so on one connection a balance's 3 ms read waited out
 * each 400 ms insert of the stream, and each of a recomputation's sequential reads waited behind
 * whatever readers had asked before it: under 32 readers and 5,000 events/s, a balance trailed its
 * events by 7–9 s. On their own connections an insert, a balance read and an analyst's read run
 * side by side, each waiting only for a core; within a lane, calls still run one at a time, so
 * the readers together take at most one query's share of the cores from storing the stream.
 * The aggregator has a lane of its own: on the balances' lane each of its recomputations (a
 * count, a structure read, six inserts) held the API's next snapshot back. Under 32 readers and
 * 5,000 events/s, in five alternating pairs of `npm run bench -- load` (three of 30 s, two of
 * 60 s), the stream was stored sooner in all five, API balances were younger in four, the balance
 * tables in three (bench/FINDINGS.md has the figures).
 *
 * A ClickHouse server runs requests side by side already, so there every lane is the store itself.
 */
export interface Lanes {
  ingest: Store;
  /** The API's balance snapshots and the usage index. */
  balances: Store;
  /** The balance tables' writer. */
  aggregate: Store;
  reads: Store;
}

export function lanesOf(store: Store): Lanes {
  return { ingest: store, balances: store.session(), aggregate: store.session(), reads: store.session() };
}
