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
 * The aggregator has a lane of its own: its six inserts per recomputation held the API's next
 * snapshot back on a shared one. Under 32 readers and 5,000 events/s (three alternating pairs of
 * `npm run bench -- load --seconds 30`), event → API balance p99 went from 3.9/4.5/3.6 s to
 * 3.1/3.7/2.1 s and event → balance tables from 4.8/4.4/5.1 s to 4.1/3.3/2.7 s, on a slow morning.
 *
 * A ClickHouse server runs requests side by side already, so there the three lanes are the store itself.
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
