-- The last state each alert was delivered in, so a restart does not fire again what already fired.
CREATE TABLE IF NOT EXISTS ${db}.alert_states_v1
(
    account_id  LowCardinality(String),
    alert_key   String,
    state       Enum8('firing' = 1, 'resolved' = 2),
    payload     String,
    changed_at  DateTime64(3, 'UTC'),
    version     UInt64
)
-- Replacing by version: only the latest state of an alert matters; read with FINAL.
ENGINE = ReplacingMergeTree(version)
-- One row per alert after merges; read per account.
ORDER BY (account_id, alert_key);
