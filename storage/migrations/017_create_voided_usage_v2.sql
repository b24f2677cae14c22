-- Voided usage is derived in storage and may be written more than once: by whichever process
-- stored the second of a usage and its void, by the aggregator's sweep, again after a crash.
-- Pairings are keyed by the voided event, collapse on merge, and readers deduplicate with FINAL,
-- so a pairing written twice is subtracted once. Reads subtract the pairings from the usage
-- rollups themselves; nothing is pushed into the rollups by views any more.
CREATE TABLE IF NOT EXISTS ${db}.voided_usage_v2
(
    account_id     LowCardinality(String),
    event_id       String,
    void_event_id  String,
    occurred_at    DateTime64(3, 'UTC'),
    wallet_type    Enum8('team' = 1, 'contract' = 2),
    wallet_id      String,
    amount         Decimal(18, 4),
    user_id        String,
    product        LowCardinality(String),
    service        LowCardinality(String),
    -- 1: already subtracted inside the rollups by the views of voided_usage_v1; readers skip it
    netted         UInt8 DEFAULT 0
)
-- Replacing by netted: one row per voided event; a pairing the old views already subtracted wins.
ENGINE = ReplacingMergeTree(netted)
-- Per account, by voided event: the key that makes a duplicate pairing collapse.
ORDER BY (account_id, event_id);

-- Pairings from before this migration were subtracted by these views; they stop here.
DROP VIEW IF EXISTS ${db}.usage_wallet_levels_void_mv_v1;

DROP VIEW IF EXISTS ${db}.usage_wallet_daily_void_mv_v1;

DROP VIEW IF EXISTS ${db}.usage_dims_daily_void_mv_v1;

DROP VIEW IF EXISTS ${db}.usage_dims_monthly_void_mv_v1;

DROP VIEW IF EXISTS ${db}.usage_quarter_hours_void_mv_v1;

DROP VIEW IF EXISTS ${db}.usage_by_time_void_mv_v1;

DROP VIEW IF EXISTS ${db}.account_versions_void_mv_v1;

INSERT INTO ${db}.voided_usage_v2
    (account_id, event_id, void_event_id, occurred_at, wallet_type, wallet_id, amount, user_id, product, service, netted)
SELECT account_id, event_id, void_event_id, occurred_at, wallet_type, wallet_id, amount, user_id, product, service, 1
FROM ${db}.voided_usage_v1;

-- A new pairing changes balances: it counts as a change of the account.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.account_versions_void_mv_v2 TO ${db}.account_versions_v1 AS
SELECT account_id, toInt64(count()) AS events FROM ${db}.voided_usage_v2 GROUP BY account_id;

-- Pairing looks a void's target up by event_id; the raw table is ordered by wallet and time.
ALTER TABLE ${db}.events_v1
    ADD INDEX IF NOT EXISTS event_id_bloom_v1 event_id TYPE bloom_filter(0.01) GRANULARITY 1;

ALTER TABLE ${db}.events_v1 MATERIALIZE INDEX event_id_bloom_v1;

-- A retried insert of rejections carries its batch's token and lands once.
ALTER TABLE ${db}.rejected_events_v1
    MODIFY SETTING non_replicated_deduplication_window = 10000;
