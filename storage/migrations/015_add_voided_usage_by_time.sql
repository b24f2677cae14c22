-- fill: usage_by_time_v1
-- The time-ordered usage copy nets out voided usage itself, as every rollup does: a voided
-- event gets a second row with the negated amount and -1 event, so reads need no list of
-- voided ids.
ALTER TABLE ${db}.usage_by_time_v1
    ADD COLUMN IF NOT EXISTS events Int8 DEFAULT 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.usage_by_time_void_mv_v1 TO ${db}.usage_by_time_v1 AS
SELECT account_id, occurred_at, wallet_type, wallet_id, event_id, -amount AS amount, toInt8(-1) AS events,
       user_id, product, service
FROM ${db}.voided_usage_v1;
