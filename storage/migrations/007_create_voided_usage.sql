-- Usage events that a void removed: one row per voided usage, written by ingest when a void and
-- its target usage are both stored, whichever came second. The usage rollups subtract these rows,
-- so no rollup ever counts a voided event.
CREATE TABLE IF NOT EXISTS ${db}.voided_usage_v1
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
    service        LowCardinality(String)
)
-- Plain MergeTree: ingest writes a pairing once, under the same lock as its dedupe.
ENGINE = MergeTree
-- Looked up by voided usage event, and scanned per wallet by the ledger's exact edges.
ORDER BY (account_id, event_id);
