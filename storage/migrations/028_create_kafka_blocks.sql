-- The offset ranges of the blocks Kafka ingest wrote (or was about to write) to events_v1, one row
-- per block, recorded before the block's insert. A member that starts reading a partition cuts
-- what it reads again at exactly these boundaries, so a redelivered range is inserted under the
-- same deduplication token and ClickHouse keeps one copy (ingest/kafkaBlocks.ts). `account_id`
-- is always '': a block belongs to no account, and on a cluster the twin shards by it, so every
-- range lands on one shard and a member's read finds them together.
CREATE TABLE IF NOT EXISTS ${db}.kafka_blocks_v1
(
    account_id     LowCardinality(String) DEFAULT '',
    topic          String,
    partition      Int32,
    first_offset   Int64,
    last_offset    Int64,
    -- a digest of the block's last record: a topic created again under its name reuses offsets,
    -- and a range whose last record differs belongs to the earlier topic
    last_record    String,
    -- the consumer group generation the block was cut in: where two recorded ranges overlap,
    -- the later generation's stands
    generation     Int32,
    recorded_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- Replacing: the same range recorded again by a retry or a later owner collapses to one row.
ENGINE = ReplacingMergeTree
-- Read per partition from an offset on, the way the worker asks.
ORDER BY (account_id, topic, partition, first_offset, last_offset, generation)
-- A range matters only until the group commits past it; a month covers any consumer outage.
TTL toDateTime(recorded_at) + INTERVAL 30 DAY;
