-- fill: usage_account_dims_v1
-- Whole quarters and whole years join days and months in the account-wide usage table, so a year
-- of usage reads about five rows per value instead of twelve or more.
ALTER TABLE ${db}.usage_account_dims_v1
    MODIFY COLUMN level Enum8('day' = 1, 'month' = 2, 'quarter' = 3, 'year' = 4);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_account_dims_quarterly_mv_v1 TO ${db}.usage_account_dims_v1 AS
SELECT account_id, dim, 'quarter' AS level, toStartOfQuarter(month) AS bucket, value, sum(amount) AS amount, sum(events) AS events
FROM ${db}.usage_dims_monthly_v1
GROUP BY account_id, dim, bucket, value;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_account_dims_yearly_mv_v1 TO ${db}.usage_account_dims_v1 AS
SELECT account_id, dim, 'year' AS level, toStartOfYear(month) AS bucket, value, sum(amount) AS amount, sum(events) AS events
FROM ${db}.usage_dims_monthly_v1
GROUP BY account_id, dim, bucket, value;
