-- Who may evaluate and deliver alerts. A lease runs in terms: a process claims term N + 1 of a
-- lease whose term N ran out with an insert whose deduplication token names the term, so of
-- two processes claiming one term exactly one row lands, and its owner holds the lease until
-- expires_at, renewing it while it lives. `account_id` is '' for the evaluator's lease, which
-- covers every account; on a cluster the twin shards by it, so the claims of one lease meet on
-- one shard, where its replicas deduplicate them together.
CREATE TABLE IF NOT EXISTS ${db}.alert_leases_v1
(
    account_id  LowCardinality(String),
    lease       LowCardinality(String),
    term        UInt64,
    owner       String,
    expires_at  DateTime64(3, 'UTC')
)
-- Replacing by expiry: a holder's renewals of one term collapse to its latest lease.
ENGINE = ReplacingMergeTree(expires_at)
-- One row per term and holder after merges; every read is of one lease, newest term first.
ORDER BY (account_id, lease, term, owner)
-- The claims' tokens are kept for the last 10,000 inserts: far more than the renewals between two terms.
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

-- Each change of an alert is recorded under a token naming the change (account, alert, state
-- version), so an evaluator that delivers a change again after a crash records it once.
ALTER TABLE ${db}.alert_states_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
