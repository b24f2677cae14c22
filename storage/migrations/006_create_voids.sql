-- Voids, keyed by the event they remove. A void may arrive before its target.
CREATE TABLE IF NOT EXISTS ${db}.voids_v1
(
    account_id      LowCardinality(String),
    voids_event_id  String,
    event_id        String,
    occurred_at     DateTime64(3, 'UTC')
)
-- Plain MergeTree: events are deduplicated before insert; two voids of one target are harmless.
ENGINE = MergeTree
-- Looked up by target: "is this event voided?"
ORDER BY (account_id, voids_event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.voids_mv_v1 TO ${db}.voids_v1 AS
SELECT account_id, voids_event_id, event_id, occurred_at
FROM ${db}.events_v1
WHERE type = 'void';
