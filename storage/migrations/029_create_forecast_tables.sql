-- The forecast (SPEC section 5) and each wallet's closing balance per UTC day, for Grafana: written
-- by the aggregator only (`aggregator/process.ts`), versioned and read as the balance tables are
-- (migrations 020 and 021). A snapshot's rows of one table are one insert under one `version`,
-- with one placeholder row (an empty wallet_id, which no wallet has); each view shows, per
-- account, the rows of the latest version written into its own table.

CREATE TABLE IF NOT EXISTS ${db}.wallet_forecast_versions_v1
(
    account_id              LowCardinality(String),
    wallet_type             Enum8('team' = 1, 'contract' = 2),
    wallet_id               String,
    -- the latest wallet_name of the wallet's events, else the wallet id
    name                    String,
    -- the instant the forecast runs from: the ledger's instant
    at                      DateTime64(3, 'UTC'),
    window_days             UInt16,
    -- usage in [at - window_days, at) / window_days, truncated to 4 decimals
    burn_rate_per_day       Decimal(38, 4),
    -- NULL when the rate is 0 or the wallet does not run out within 730 days
    runs_out_at             Nullable(DateTime64(3, 'UTC')),
    projected_unused_total  Decimal(38, 4),
    computed_at             DateTime64(3, 'UTC'),
    version                 UInt64
)
-- Replacing by version: older snapshots of a wallet collapse on merge; reads filter by version.
ENGINE = ReplacingMergeTree(version)
-- Read per account, every wallet at once.
ORDER BY (account_id, wallet_type, wallet_id);

CREATE TABLE IF NOT EXISTS ${db}.lot_forecast_versions_v1
(
    account_id        LowCardinality(String),
    wallet_type       Enum8('team' = 1, 'contract' = 2),
    wallet_id         String,
    lot_id            String,
    -- tells apart two lots of one wallet that share a lot_id
    part              UInt16,
    expires_at        DateTime64(3, 'UTC'),
    -- what the projection leaves in the lot when it expires; always > 0
    projected_unused  Decimal(38, 4),
    computed_at       DateTime64(3, 'UTC'),
    version           UInt64
)
-- Replacing by version: older snapshots of a lot's forecast collapse on merge; reads filter by version.
ENGINE = ReplacingMergeTree(version)
-- One wallet's lots together, read per account.
ORDER BY (account_id, wallet_type, wallet_id, lot_id, part);

-- The balance at the end of each closed UTC day (at the day's last millisecond, so reflecting the
-- events that occurred that day), for a bounded number of days back (aggregator/dailyBalances.ts).
-- Today is not here: it is the current balance, in wallet_balances_v1.
CREATE TABLE IF NOT EXISTS ${db}.daily_balance_versions_v1
(
    account_id   LowCardinality(String),
    wallet_type  Enum8('team' = 1, 'contract' = 2),
    wallet_id    String,
    day          Date,
    total        Decimal(38, 4),
    used         Decimal(38, 4),
    available    Decimal(38, 4),
    -- cumulative up to the day's end
    expired      Decimal(38, 4),
    overage      Decimal(38, 4),
    computed_at  DateTime64(3, 'UTC'),
    version      UInt64
)
-- Replacing by version: older snapshots of a wallet's day collapse on merge; reads filter by version.
ENGINE = ReplacingMergeTree(version)
-- One wallet's days in order, read per account.
ORDER BY (account_id, wallet_type, wallet_id, day);

-- What Grafana, the alert rules and SQL users read: the latest snapshot of every account.
CREATE OR REPLACE VIEW ${db}.wallet_forecasts_v1 AS
SELECT account_id, wallet_type, wallet_id, name, at, window_days, burn_rate_per_day, runs_out_at,
       projected_unused_total, computed_at
FROM ${db}.wallet_forecast_versions_v1
WHERE wallet_id != ''
  AND (account_id, version) IN (SELECT account_id, max(version) FROM ${db}.wallet_forecast_versions_v1 GROUP BY account_id);

CREATE OR REPLACE VIEW ${db}.lot_forecasts_v1 AS
SELECT account_id, wallet_type, wallet_id, lot_id, part, expires_at, projected_unused, computed_at
FROM ${db}.lot_forecast_versions_v1
WHERE wallet_id != ''
  AND (account_id, version) IN (SELECT account_id, max(version) FROM ${db}.lot_forecast_versions_v1 GROUP BY account_id);

CREATE OR REPLACE VIEW ${db}.daily_balances_v1 AS
SELECT account_id, wallet_type, wallet_id, day, total, used, available, expired, overage, computed_at
FROM ${db}.daily_balance_versions_v1
WHERE wallet_id != ''
  AND (account_id, version) IN (SELECT account_id, max(version) FROM ${db}.daily_balance_versions_v1 GROUP BY account_id);
