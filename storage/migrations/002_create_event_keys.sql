-- The dedupe state: one key per accepted event, shared by every source and surviving restarts.
CREATE TABLE IF NOT EXISTS ${db}.event_keys_v1
(
    account_id  LowCardinality(String),
    event_id    String
)
-- Replacing: a key written twice by a race between processes collapses on merge; readers never count it.
ENGINE = ReplacingMergeTree
-- Point lookups by (account, event_id) for every ingested batch.
ORDER BY (account_id, event_id);

-- Filled by the insert into events_v1. A view can fail after the table took the block, so the key
-- and the event can be stored apart for a moment: the writer retries the identical block under its
-- deduplication token (migration 025), which fills only what is missing.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.event_keys_mv_v1 TO ${db}.event_keys_v1 AS
SELECT account_id, event_id FROM ${db}.events_v1;
