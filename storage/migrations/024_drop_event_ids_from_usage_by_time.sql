-- No reader of the time-ordered usage needs its event ids: usage reads subtract voided usage
-- through voided_usage_v2 and group by the other columns. They were 5.4 of its 6.7 bytes per
-- event after merges (random strings compress badly), the most of any derived column
-- (`npm run bench -- ingest`). The view stops writing them first, in one step, so no insert
-- lands between the two statements without its rows.
ALTER TABLE ${db}.usage_by_time_mv_v1 MODIFY QUERY
SELECT account_id, occurred_at, CAST(wallet_type, 'Enum8(\'team\' = 1, \'contract\' = 2)') AS wallet_type, wallet_id,
       assumeNotNull(amount) AS amount, user_id, product, service
FROM ${db}.events_v1
WHERE type = 'usage';

ALTER TABLE ${db}.usage_by_time_v1 DROP COLUMN IF EXISTS event_id;
