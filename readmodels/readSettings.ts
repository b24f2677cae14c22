/**
 * The settings the read models' statements carry: what ClickHouse may spend planning a read that
 * a user waits for. Every value here changes how a statement runs, never what it answers.
 */

/**
 * Interactive reads: no JIT compilation. ClickHouse compiles an expression the fourth time it
 * sees it, which stalls that one query by tens of milliseconds, and compiled code gains nothing
 * on reads this small.
 */
export const INTERACTIVE = 'compile_expressions = 0, compile_aggregate_expressions = 0, compile_sort_description = 0';

/**
 * Interactive reads of one wallet's rows by primary key (`events_v1` is ordered by wallet and
 * time, so a range of them is a few granules): none of the planning below can narrow them, and
 * each costs the statement its analysis, whatever it reads:
 * - projections: `events_v1`'s counts by account and type answer only such counts;
 * - skip indexes: `events_v1`'s are on the stamp (the usage index's catch-up) and the event id
 *   (key lookups), neither of which these reads filter on;
 * - the query condition cache, which remembers granules a filter ruled out: the key range
 *   already rules out every granule but the wallet's;
 * - PREWHERE: the filter columns of a key range are its few granules' own.
 *
 * Measured alternately in one process (p50, 600 rounds): one wallet's usage by service over 90
 * days of a 10M-event account 7.21 ms with `INTERACTIVE` alone, 6.00 ms with these (the same
 * question of the raw table with default settings: 7.29 ms). Reads of a whole account keep
 * `INTERACTIVE`: without projections and skip indexes the account's ledger structure took
 * 13.8 ms against 14.4 (demo account, 500 rounds), within what the machine varies, and its void
 * events are one type among all of the account's rows, where PREWHERE and the condition cache
 * can spare granules.
 */
export const WALLET_RANGE = `${INTERACTIVE}, optimize_use_projections = 0, use_skip_indexes = 0, use_query_condition_cache = 0, optimize_move_to_prewhere = 0`;
