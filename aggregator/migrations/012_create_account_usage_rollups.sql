-- Usage per dimension value across all of an account's wallets, per day and per month: the
-- account-wide analytics read half the rows of the per-wallet-type tables.
CREATE TABLE IF NOT EXISTS ${db}.usage_account_dims_daily_v1
(
    account_id   LowCardinality(String),
    dim          Enum8('service' = 1, 'user' = 2, 'product' = 3),
    day          Date,
    value        String,
    amount       Decimal(38, 4),
    events       Int64
)
-- Summing: additive rows collapse on merge; voided usage arrives as negative rows.
ENGINE = SummingMergeTree((amount, events))
-- A range of days for one grouping is one contiguous key range.
ORDER BY (account_id, dim, day, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_account_dims_daily_mv_v1 TO ${db}.usage_account_dims_daily_v1 AS
SELECT account_id, dim, day, value, sum(amount) AS amount, sum(events) AS events
FROM ${db}.usage_dims_daily_v1
GROUP BY account_id, dim, day, value;

CREATE TABLE IF NOT EXISTS ${db}.usage_account_dims_monthly_v1
(
    account_id   LowCardinality(String),
    dim          Enum8('service' = 1, 'user' = 2, 'product' = 3),
    month        Date,
    value        String,
    amount       Decimal(38, 4),
    events       Int64
)
-- Summing: additive rows collapse on merge; voided usage arrives as negative rows.
ENGINE = SummingMergeTree((amount, events))
-- A range of months for one grouping is one contiguous key range.
ORDER BY (account_id, dim, month, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_account_dims_monthly_mv_v1 TO ${db}.usage_account_dims_monthly_v1 AS
SELECT account_id, dim, month, value, sum(amount) AS amount, sum(events) AS events
FROM ${db}.usage_dims_monthly_v1
GROUP BY account_id, dim, month, value;
