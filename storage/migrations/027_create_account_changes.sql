-- An account's version: a number that only grows, and grows with every change of the account.
-- account_versions_v1 cannot be one: it counts what its tables hold, and the backfill empties and
-- rebuilds it, so a pairing written twice before a rebuild is counted once after it, and the next
-- event brings the count back to a value already seen (a cached answer of that value is served
-- again). This table is a log of writes, not a rollup: each insert block into events_v1 or
-- voided_usage_v2 adds its row count, duplicates and the backfill's replays included. Nothing
-- removes a row from it: no backfill or fill lists it, and merges keep each account's sum. So the
-- sum of an account's rows only grows, and any new event or pairing makes it grow.
CREATE TABLE IF NOT EXISTS ${db}.account_changes_v1
(
    account_id  LowCardinality(String),
    -- rows one insert block wrote for the account
    changes     UInt64
)
-- Summing: one small row per insert block, collapsing to one per account; a merge keeps the sum.
ENGINE = SummingMergeTree(changes)
-- Point lookup per account, and every account at once for the aggregator's poll.
ORDER BY account_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.account_changes_mv_v1 TO ${db}.account_changes_v1 AS
SELECT account_id, count() AS changes FROM ${db}.events_v1 GROUP BY account_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.account_changes_void_mv_v1 TO ${db}.account_changes_v1 AS
SELECT account_id, count() AS changes FROM ${db}.voided_usage_v2 GROUP BY account_id;

-- Accounts stored before this migration start from their count, read after the views exist. An
-- insert both counts is counted twice, and a migration run again adds its start again: either
-- only makes versions larger, which is all a version needs.
INSERT INTO ${db}.account_changes_v1 (account_id, changes)
SELECT account_id, toUInt64(sum(events)) FROM ${db}.account_versions_v1 GROUP BY account_id;
