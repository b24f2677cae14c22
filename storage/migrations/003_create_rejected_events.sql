-- Events that failed validation, kept with the reason and the raw payload so nothing is lost.
CREATE TABLE IF NOT EXISTS ${db}.rejected_events_v1
(
    received_at     DateTime64(3, 'UTC') DEFAULT now64(3),
    source          LowCardinality(String),
    account_id      String,
    event_id        String,
    code            LowCardinality(String),
    message         String,
    payload         String,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    Int64
)
-- Plain MergeTree: an append-only audit log.
ENGINE = MergeTree
-- Operators read the newest rejections of one account.
ORDER BY (account_id, received_at);
