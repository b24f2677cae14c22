-- Usage across wallets per dimension value (service, user, product): full days and full months.
-- Account-wide analytics read months where a range covers them and days at its edges.
CREATE TABLE IF NOT EXISTS ${db}.usage_dims_daily_v1
(
    account_id   LowCardinality(String),
    dim          Enum8('service' = 1, 'user' = 2, 'product' = 3),
    day          Date,
    wallet_type  Enum8('team' = 1, 'contract' = 2),
    value        String,
    amount       Decimal(38, 4),
    events       Int64
)
-- Summing: additive rows collapse on merge; voided usage arrives as negative rows.
ENGINE = SummingMergeTree((amount, events))
-- A range of days for one grouping is one contiguous key range.
ORDER BY (account_id, dim, day, wallet_type, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_dims_daily_mv_v1 TO ${db}.usage_dims_daily_v1 AS
SELECT account_id, tupleElement(d, 1) AS dim, toDate(occurred_at) AS day,
       CAST(wallet_type, 'Enum8(\'team\' = 1, \'contract\' = 2)') AS wallet_type, tupleElement(d, 2) AS value,
       sum(assumeNotNull(amount)) AS amount, toInt64(count()) AS events
FROM ${db}.events_v1
ARRAY JOIN [('service', service), ('user', user_id), ('product', toString(product))] AS d
WHERE type = 'usage'
GROUP BY account_id, dim, day, wallet_type, value;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_dims_daily_void_mv_v1 TO ${db}.usage_dims_daily_v1 AS
SELECT account_id, tupleElement(d, 1) AS dim, toDate(occurred_at) AS day, wallet_type, tupleElement(d, 2) AS value,
       -sum(amount) AS amount, -toInt64(count()) AS events
FROM ${db}.voided_usage_v1
ARRAY JOIN [('service', toString(service)), ('user', user_id), ('product', toString(product))] AS d
GROUP BY account_id, dim, day, wallet_type, value;

CREATE TABLE IF NOT EXISTS ${db}.usage_dims_monthly_v1
(
    account_id   LowCardinality(String),
    dim          Enum8('service' = 1, 'user' = 2, 'product' = 3),
    month        Date,
    wallet_type  Enum8('team' = 1, 'contract' = 2),
    value        String,
    amount       Decimal(38, 4),
    events       Int64
)
-- Summing: additive rows collapse on merge; voided usage arrives as negative rows.
ENGINE = SummingMergeTree((amount, events))
-- A range of months for one grouping is one contiguous key range.
ORDER BY (account_id, dim, month, wallet_type, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_dims_monthly_mv_v1 TO ${db}.usage_dims_monthly_v1 AS
SELECT account_id, tupleElement(d, 1) AS dim, toStartOfMonth(occurred_at) AS month,
       CAST(wallet_type, 'Enum8(\'team\' = 1, \'contract\' = 2)') AS wallet_type, tupleElement(d, 2) AS value,
       sum(assumeNotNull(amount)) AS amount, toInt64(count()) AS events
FROM ${db}.events_v1
ARRAY JOIN [('service', service), ('user', user_id), ('product', toString(product))] AS d
WHERE type = 'usage'
GROUP BY account_id, dim, month, wallet_type, value;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_dims_monthly_void_mv_v1 TO ${db}.usage_dims_monthly_v1 AS
SELECT account_id, tupleElement(d, 1) AS dim, toStartOfMonth(occurred_at) AS month, wallet_type, tupleElement(d, 2) AS value,
       -sum(amount) AS amount, -toInt64(count()) AS events
FROM ${db}.voided_usage_v1
ARRAY JOIN [('service', toString(service)), ('user', user_id), ('product', toString(product))] AS d
GROUP BY account_id, dim, month, wallet_type, value;

-- Usage totals per 15 minutes: every time zone's days are made of whole quarter hours.
CREATE TABLE IF NOT EXISTS ${db}.usage_quarter_hours_v1
(
    account_id   LowCardinality(String),
    bucket       DateTime('UTC'),
    wallet_type  Enum8('team' = 1, 'contract' = 2),
    amount       Decimal(38, 4),
    events       Int64
)
-- Summing: additive rows collapse on merge; voided usage arrives as negative rows.
ENGINE = SummingMergeTree((amount, events))
-- Time ranges of one account are contiguous.
ORDER BY (account_id, bucket, wallet_type);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_quarter_hours_mv_v1 TO ${db}.usage_quarter_hours_v1 AS
SELECT account_id, toStartOfFifteenMinutes(occurred_at) AS bucket, CAST(wallet_type, 'Enum8(\'team\' = 1, \'contract\' = 2)') AS wallet_type,
       sum(assumeNotNull(amount)) AS amount, toInt64(count()) AS events
FROM ${db}.events_v1
WHERE type = 'usage'
GROUP BY account_id, bucket, wallet_type;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_quarter_hours_void_mv_v1 TO ${db}.usage_quarter_hours_v1 AS
SELECT account_id, toStartOfFifteenMinutes(occurred_at) AS bucket, wallet_type, -sum(amount) AS amount, -toInt64(count()) AS events
FROM ${db}.voided_usage_v1
GROUP BY account_id, bucket, wallet_type;

-- Usage events in time order, for the partial buckets at the edges of an account-wide range.
CREATE TABLE IF NOT EXISTS ${db}.usage_by_time_v1
(
    account_id   LowCardinality(String),
    occurred_at  DateTime64(3, 'UTC'),
    wallet_type  Enum8('team' = 1, 'contract' = 2),
    wallet_id    String,
    event_id     String,
    amount       Decimal(18, 4),
    user_id      String,
    product      LowCardinality(String),
    service      LowCardinality(String)
)
-- Plain MergeTree: a copy of each accepted usage event; voided ones are excluded when read.
ENGINE = MergeTree
-- Time first after the account, so an edge of a few hours reads only those hours.
ORDER BY (account_id, occurred_at);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_by_time_mv_v1 TO ${db}.usage_by_time_v1 AS
SELECT account_id, occurred_at, CAST(wallet_type, 'Enum8(\'team\' = 1, \'contract\' = 2)') AS wallet_type, wallet_id, event_id,
       assumeNotNull(amount) AS amount, user_id, product, service
FROM ${db}.events_v1
WHERE type = 'usage';
