import type { Store } from './clickhouse.js';

/**
 * Three ways into one store: one for ingest, one for the balances and the work that keeps them
 * current, one for every other read.
 *
 * Invariant: on embedded chDB each lane is a connection of its own (`Store.session`). chDB runs
 * one statement at a time per connection, so on one connection a balance's 3 ms read waited out
 * each 400 ms insert of the stream, and each of a recomputation's sequential reads waited behind
 * whatever readers had asked before it: under 32 readers and 5,000 events/s, a balance trailed its
 * events by 7–9 s. On their own connections an insert, a balance read and an analyst's read run
 * side by side, each waiting only for a core; within a lane, calls still run one at a time, so
 * the readers together take at most one query's share of the cores from storing the stream.
 *
 * A ClickHouse server runs requests side by side already, so there the three lanes are the store itself.
 */
export interface Lanes {
  ingest: Store;
  /** The balance snapshots, the aggregator and the usage index. */
  balances: Store;
  reads: Store;
}

export function lanesOf(store: Store): Lanes {
  return { ingest: store, balances: store.session(), reads: store.session() };
}
