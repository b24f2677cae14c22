-- Moves between wallets of one account, one row per accepted move.
CREATE TABLE IF NOT EXISTS ${db}.moves_v1
(
    account_id      LowCardinality(String),
    event_id        String,
    occurred_at     DateTime64(3, 'UTC'),
    wallet_type     Enum8('team' = 1, 'contract' = 2),
    from_wallet_id  String,
    to_wallet_id    String,
    lot_id          String,
    amount          Nullable(Decimal(18, 4))
)
-- Plain MergeTree: events are deduplicated before insert, one row per move.
ENGINE = MergeTree
-- Read per account in event-time order, the order in which the ledger applies them.
ORDER BY (account_id, occurred_at, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.moves_mv_v1 TO ${db}.moves_v1 AS
SELECT account_id, event_id, occurred_at, CAST(wallet_type, 'Enum8(\'team\' = 1, \'contract\' = 2)') AS wallet_type,
       wallet_id AS from_wallet_id, to_wallet_id, lot_id, amount
FROM ${db}.events_v1
WHERE type = 'move';
