-- Usage per wallet × hour × product × service × user: the analytics rollup.
CREATE TABLE IF NOT EXISTS ${db}.usage_hourly_v1
(
    account_id   LowCardinality(String),
    wallet_type  Enum8('team' = 1, 'contract' = 2),
    wallet_id    String,
    hour         DateTime('UTC'),
    product      LowCardinality(String),
    service      LowCardinality(String),
    user_id      String,
    amount       Decimal(38, 4),
    events       Int64
)
-- Summing: additive rows for one key collapse on merge; voids arrive as negative rows.
ENGINE = SummingMergeTree((amount, events))
-- Wallet first: most reads are one wallet over a time range.
ORDER BY (account_id, wallet_type, wallet_id, hour, product, service, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_hourly_mv_v1 TO ${db}.usage_hourly_v1 AS
SELECT account_id, CAST(wallet_type, 'Enum8(\'team\' = 1, \'contract\' = 2)') AS wallet_type, wallet_id,
       toStartOfHour(occurred_at) AS hour, product, service, user_id,
       sum(assumeNotNull(amount)) AS amount, toInt64(count()) AS events
FROM ${db}.events_v1
WHERE type = 'usage'
GROUP BY account_id, wallet_type, wallet_id, hour, product, service, user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_hourly_void_mv_v1 TO ${db}.usage_hourly_v1 AS
SELECT account_id, wallet_type, wallet_id, toStartOfHour(occurred_at) AS hour, product, service, user_id,
       -sum(amount) AS amount, -toInt64(count()) AS events
FROM ${db}.voided_usage_v1
GROUP BY account_id, wallet_type, wallet_id, hour, product, service, user_id;

-- Usage per wallet × day: what the ledger sums between breakpoints.
CREATE TABLE IF NOT EXISTS ${db}.usage_wallet_daily_v1
(
    account_id   LowCardinality(String),
    wallet_type  Enum8('team' = 1, 'contract' = 2),
    wallet_id    String,
    day          Date,
    amount       Decimal(38, 4),
    events       Int64
)
-- Summing: additive rows collapse on merge; voids arrive as negative rows.
ENGINE = SummingMergeTree((amount, events))
-- The ledger reads a whole account, wallet by wallet, in day order.
ORDER BY (account_id, wallet_type, wallet_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_wallet_daily_mv_v1 TO ${db}.usage_wallet_daily_v1 AS
SELECT account_id, CAST(wallet_type, 'Enum8(\'team\' = 1, \'contract\' = 2)') AS wallet_type, wallet_id,
       toDate(occurred_at) AS day, sum(assumeNotNull(amount)) AS amount, toInt64(count()) AS events
FROM ${db}.events_v1
WHERE type = 'usage'
GROUP BY account_id, wallet_type, wallet_id, day;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_wallet_daily_void_mv_v1 TO ${db}.usage_wallet_daily_v1 AS
SELECT account_id, wallet_type, wallet_id, toDate(occurred_at) AS day, -sum(amount) AS amount, -toInt64(count()) AS events
FROM ${db}.voided_usage_v1
GROUP BY account_id, wallet_type, wallet_id, day;
