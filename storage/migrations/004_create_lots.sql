-- Purchased lots, one row per accepted purchase. The ledger reads a whole account's lots at once.
CREATE TABLE IF NOT EXISTS ${db}.lots_v1
(
    account_id    LowCardinality(String),
    wallet_type   Enum8('team' = 1, 'contract' = 2),
    wallet_id     String,
    lot_id        String,
    event_id      String,
    amount        Decimal(18, 4),
    occurred_at   DateTime64(3, 'UTC'),
    effective_at  DateTime64(3, 'UTC'),
    expires_at    DateTime64(3, 'UTC'),
    sku           String,
    order_id      String
)
-- Plain MergeTree: events are deduplicated before insert, one row per purchase.
ENGINE = MergeTree
-- Read per account, grouped by wallet.
ORDER BY (account_id, wallet_type, wallet_id, lot_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.lots_mv_v1 TO ${db}.lots_v1 AS
SELECT account_id, CAST(wallet_type, 'Enum8(\'team\' = 1, \'contract\' = 2)') AS wallet_type, wallet_id, lot_id, event_id,
       assumeNotNull(amount) AS amount, occurred_at, assumeNotNull(effective_at) AS effective_at,
       assumeNotNull(expires_at) AS expires_at, sku, order_id
FROM ${db}.events_v1
WHERE type = 'purchase';
