-- The ledger's results as tables, written by the aggregator only (`aggregator/process.ts`).
-- Each recomputation of an account writes every row of the account once, all with one `version`,
-- into each table, and then records that version in `balance_snapshots_v1`. The views at the end
-- show, per account, only the rows of its latest recorded snapshot: exact before any merge, and
-- a wallet, lot or token event that a later snapshot no longer has (a voided purchase) is gone
-- at once. A restart, a replay or a second aggregator only writes snapshots with other versions.

-- The latest snapshot of each account: the version every view reads.
CREATE TABLE IF NOT EXISTS ${db}.balance_snapshots_v1
(
    account_id   LowCardinality(String),
    version      UInt64,
    -- the instant the ledger was computed at
    computed_at  DateTime64(3, 'UTC'),
    -- the account's stored events (account_versions_v1) the ledger saw
    events       Int64
)
-- Replacing by version: only the latest snapshot of an account matters; read with max(version).
ENGINE = ReplacingMergeTree(version)
-- One row per account after merges.
ORDER BY account_id;

CREATE TABLE IF NOT EXISTS ${db}.wallet_balance_versions_v1
(
    account_id           LowCardinality(String),
    wallet_type          Enum8('team' = 1, 'contract' = 2),
    wallet_id            String,
    -- the latest wallet_name of the wallet's events, else the wallet id
    name                 String,
    total                Decimal(38, 4),
    used                 Decimal(38, 4),
    available            Decimal(38, 4),
    status               Enum8('green' = 1, 'red' = 2),
    overage              Decimal(38, 4),
    expired              Decimal(38, 4),
    -- remaining in lots that expire within 90 days of computed_at
    expiring_within_90d  Decimal(38, 4),
    -- the earliest expiry of a lot with something left, if any
    next_expiry          Nullable(DateTime64(3, 'UTC')),
    computed_at          DateTime64(3, 'UTC'),
    version              UInt64
)
-- Replacing by version: older snapshots of a wallet collapse on merge; reads filter by version.
ENGINE = ReplacingMergeTree(version)
-- Read per account, every wallet at once.
ORDER BY (account_id, wallet_type, wallet_id);

CREATE TABLE IF NOT EXISTS ${db}.lot_balance_versions_v1
(
    account_id         LowCardinality(String),
    wallet_type        Enum8('team' = 1, 'contract' = 2),
    wallet_id          String,
    lot_id             String,
    -- the purchase at the root of the lot
    purchase_event_id  String,
    -- for a lot a move created, that move; empty for a purchased lot
    move_event_id      String,
    -- tells apart two parts of one lot that one move brought into one wallet
    part               UInt16,
    amount             Decimal(38, 4),
    consumed           Decimal(38, 4),
    moved_out          Decimal(38, 4),
    expired            Decimal(38, 4),
    remaining          Decimal(38, 4),
    effective_at       DateTime64(3, 'UTC'),
    expires_at         DateTime64(3, 'UTC'),
    computed_at        DateTime64(3, 'UTC'),
    version            UInt64
)
-- Replacing by version: older snapshots of a lot collapse on merge; reads filter by version.
ENGINE = ReplacingMergeTree(version)
-- One wallet's lots together, read per account.
ORDER BY (account_id, wallet_type, wallet_id, lot_id, purchase_event_id, move_event_id, part);

CREATE TABLE IF NOT EXISTS ${db}.token_event_versions_v1
(
    account_id          LowCardinality(String),
    wallet_type         Enum8('team' = 1, 'contract' = 2),
    wallet_id           String,
    occurred_at         DateTime64(3, 'UTC'),
    type                Enum8('purchased' = 1, 'expired' = 2, 'moved_in' = 3, 'moved_out' = 4),
    -- the purchase or move behind it; for an expiry, the purchase at the root of the lot
    event_id            String,
    -- tells apart two expiries of parts of one purchase at one instant in one wallet
    part                UInt16,
    amount              Decimal(38, 4),
    lot_ids             Array(String),
    -- the other wallet of a move, else empty
    counterparty_type   Enum8('' = 0, 'team' = 1, 'contract' = 2),
    counterparty_id     String,
    -- what a move asked for and what it could not take, when it named an amount
    requested           Nullable(Decimal(38, 4)),
    shortfall           Nullable(Decimal(38, 4)),
    computed_at         DateTime64(3, 'UTC'),
    version             UInt64
)
-- Replacing by version: older snapshots of an event collapse on merge; reads filter by version.
ENGINE = ReplacingMergeTree(version)
-- One wallet's history in time order, read per account.
ORDER BY (account_id, wallet_type, wallet_id, occurred_at, type, event_id, part);

-- What Grafana, the alert rules and SQL users read: the latest snapshot of every account.
CREATE VIEW IF NOT EXISTS ${db}.wallet_balances_v1 AS
SELECT account_id, wallet_type, wallet_id, name, total, used, available, status, overage, expired,
       expiring_within_90d, next_expiry, computed_at
FROM ${db}.wallet_balance_versions_v1
WHERE (account_id, version) IN (SELECT account_id, max(version) FROM ${db}.balance_snapshots_v1 GROUP BY account_id);

CREATE VIEW IF NOT EXISTS ${db}.lot_balances_v1 AS
SELECT account_id, wallet_type, wallet_id, lot_id, purchase_event_id, move_event_id, part, amount, consumed,
       moved_out, expired, remaining, effective_at, expires_at, computed_at
FROM ${db}.lot_balance_versions_v1
WHERE (account_id, version) IN (SELECT account_id, max(version) FROM ${db}.balance_snapshots_v1 GROUP BY account_id);

CREATE VIEW IF NOT EXISTS ${db}.token_events_v1 AS
SELECT account_id, wallet_type, wallet_id, occurred_at, type, event_id, part, amount, lot_ids,
       counterparty_type, counterparty_id, requested, shortfall, computed_at
FROM ${db}.token_event_versions_v1
WHERE (account_id, version) IN (SELECT account_id, max(version) FROM ${db}.balance_snapshots_v1 GROUP BY account_id);
