-- How much each account has stored: a changed count means cached ledger results are stale.
CREATE TABLE IF NOT EXISTS ${db}.account_versions_v1
(
    account_id    LowCardinality(String),
    events        Int64
)
-- Summing: one small row per insert block, collapsing to one per account.
ENGINE = SummingMergeTree(events)
-- Point lookup per account.
ORDER BY account_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.account_versions_mv_v1 TO ${db}.account_versions_v1 AS
SELECT account_id, toInt64(count()) AS events FROM ${db}.events_v1 GROUP BY account_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.account_versions_void_mv_v1 TO ${db}.account_versions_v1 AS
SELECT account_id, toInt64(count()) AS events FROM ${db}.voided_usage_v1 GROUP BY account_id;
