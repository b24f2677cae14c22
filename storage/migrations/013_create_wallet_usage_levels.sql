-- fill: usage_wallet_levels_v1
-- Usage of each wallet at two levels in one table: whole hours per product × service × user, and
-- single events. A wallet's range reads its whole hours and the events of its two partial edge
-- hours in one pass over one key range. Replaces usage_hourly_v1, which needed a second read of
-- the raw events for the edges.
CREATE TABLE IF NOT EXISTS ${db}.usage_wallet_levels_v1
(
    account_id   LowCardinality(String),
    wallet_type  Enum8('team' = 1, 'contract' = 2),
    wallet_id    String,
    level        Enum8('hour' = 1, 'event' = 2),
    -- the hour's start, or the event's instant
    at           DateTime64(3, 'UTC'),
    product      LowCardinality(String),
    service      LowCardinality(String),
    user_id      String,
    -- empty on hour rows
    event_id     String,
    amount       Decimal(38, 4),
    events       Int64
)
-- Summing: hour rows collapse on merge; a voided event's negative row cancels its event row.
ENGINE = SummingMergeTree((amount, events))
-- One wallet's hours, then its events, each in time order: a range is two key ranges of one wallet.
ORDER BY (account_id, wallet_type, wallet_id, level, at, product, service, user_id, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_wallet_levels_mv_v1 TO ${db}.usage_wallet_levels_v1 AS
SELECT account_id, CAST(wallet_type, 'Enum8(\'team\' = 1, \'contract\' = 2)') AS wallet_type, wallet_id,
       CAST(lvl, 'Enum8(\'hour\' = 1, \'event\' = 2)') AS level,
       if(lvl = 'hour', toDateTime64(toStartOfHour(occurred_at), 3, 'UTC'), occurred_at) AS at,
       product, service, user_id, if(lvl = 'hour', '', event_id) AS event_id,
       sum(assumeNotNull(amount)) AS amount, toInt64(count()) AS events
FROM ${db}.events_v1
ARRAY JOIN ['hour', 'event'] AS lvl
WHERE type = 'usage'
GROUP BY account_id, wallet_type, wallet_id, lvl, at, product, service, user_id, event_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_wallet_levels_void_mv_v1 TO ${db}.usage_wallet_levels_v1 AS
SELECT account_id, wallet_type, wallet_id, CAST(lvl, 'Enum8(\'hour\' = 1, \'event\' = 2)') AS level,
       if(lvl = 'hour', toDateTime64(toStartOfHour(occurred_at), 3, 'UTC'), occurred_at) AS at,
       product, service, user_id, if(lvl = 'hour', '', event_id) AS event_id,
       -sum(amount) AS amount, -toInt64(count()) AS events
FROM ${db}.voided_usage_v1
ARRAY JOIN ['hour', 'event'] AS lvl
GROUP BY account_id, wallet_type, wallet_id, lvl, at, product, service, user_id, event_id;

DROP VIEW IF EXISTS ${db}.usage_hourly_mv_v1;

DROP VIEW IF EXISTS ${db}.usage_hourly_void_mv_v1;

DROP TABLE IF EXISTS ${db}.usage_hourly_v1;
