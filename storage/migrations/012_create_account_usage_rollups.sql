-- Usage per dimension value across all of an account's wallets, at two levels in one table:
-- whole months and whole days. An account-wide range reads its months and its edge days in a
-- single pass over one key range.
CREATE TABLE IF NOT EXISTS ${db}.usage_account_dims_v1
(
    account_id   LowCardinality(String),
    dim          Enum8('service' = 1, 'user' = 2, 'product' = 3),
    level        Enum8('day' = 1, 'month' = 2),
    bucket       Date,
    value        String,
    amount       Decimal(38, 4),
    events       Int64
)
-- Summing: additive rows collapse on merge; voided usage arrives as negative rows.
ENGINE = SummingMergeTree((amount, events))
-- One grouping's days and months are two contiguous key ranges.
ORDER BY (account_id, dim, level, bucket, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_account_dims_daily_mv_v1 TO ${db}.usage_account_dims_v1 AS
SELECT account_id, dim, 'day' AS level, day AS bucket, value, sum(amount) AS amount, sum(events) AS events
FROM ${db}.usage_dims_daily_v1
GROUP BY account_id, dim, day, value;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_account_dims_monthly_mv_v1 TO ${db}.usage_account_dims_v1 AS
SELECT account_id, dim, 'month' AS level, month AS bucket, value, sum(amount) AS amount, sum(events) AS events
FROM ${db}.usage_dims_monthly_v1
GROUP BY account_id, dim, month, value;
