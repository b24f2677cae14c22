-- Every accepted event, one row each, exactly as validated. The source of truth for rollups and backfills.
-- Columns that a type does not use stay NULL or empty.
CREATE TABLE IF NOT EXISTS ${db}.events_v1
(
    account_id      LowCardinality(String),
    event_id        String,
    type            Enum8('purchase' = 1, 'usage' = 2, 'move' = 3, 'void' = 4),
    occurred_at     DateTime64(3, 'UTC'),
    -- purchase and usage: the wallet; move: the source wallet; void: empty
    wallet_type     Enum8('' = 0, 'team' = 1, 'contract' = 2),
    wallet_id       String,
    -- exact decimal: at most 10^12 with 4 fractional digits fits in 18 digits
    amount          Nullable(Decimal(18, 4)),
    effective_at    Nullable(DateTime64(3, 'UTC')),
    expires_at      Nullable(DateTime64(3, 'UTC')),
    lot_id          String,
    sku             String,
    order_id        String,
    user_id         String,
    product         LowCardinality(String),
    service         LowCardinality(String),
    to_wallet_type  Enum8('' = 0, 'team' = 1, 'contract' = 2),
    to_wallet_id    String,
    voids_event_id  String,
    source          LowCardinality(String),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- Plain MergeTree: rows are deduplicated before insert, so the engine must never merge rows away.
ENGINE = MergeTree
-- Lowest-cardinality columns we always filter on go leftmost; one wallet's history is then one contiguous range.
ORDER BY (account_id, wallet_type, wallet_id, occurred_at);
