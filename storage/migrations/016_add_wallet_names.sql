-- Wallets have display names: a purchase or usage event may carry `wallet_name`, and the latest
-- by (occurred_at, event_id) names the wallet. Events stored before this migration carry none.
ALTER TABLE ${db}.events_v1
    ADD COLUMN IF NOT EXISTS wallet_name String DEFAULT '';

CREATE TABLE IF NOT EXISTS ${db}.wallet_names_v1
(
    account_id   LowCardinality(String),
    wallet_type  Enum8('team' = 1, 'contract' = 2),
    wallet_id    String,
    -- the name of the latest naming event; exact before merges, since reads merge the states
    name         AggregateFunction(argMax, String, Tuple(DateTime64(3, 'UTC'), String))
)
-- Aggregating: one row per wallet after merges, whatever order the naming events arrived in.
ENGINE = AggregatingMergeTree
-- Read per account, all wallets at once.
ORDER BY (account_id, wallet_type, wallet_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.wallet_names_mv_v1 TO ${db}.wallet_names_v1 AS
SELECT account_id, CAST(wallet_type, 'Enum8(\'team\' = 1, \'contract\' = 2)') AS wallet_type, wallet_id,
       argMaxState(wallet_name, (occurred_at, event_id)) AS name
FROM ${db}.events_v1
WHERE wallet_name != '' AND type IN ('purchase', 'usage')
GROUP BY account_id, wallet_type, wallet_id;
