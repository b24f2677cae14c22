-- Each balance table shows, per account, the rows of the latest version written into that table
-- itself. A snapshot's rows of one table arrive in one insert, so they become visible together, and
-- a newer version only ever replaces an older one (on merge) once it is complete: no moment in
-- which a merge has dropped a row that the visible version still needs. Every snapshot carries
-- one placeholder row per table (an empty wallet_id, which no wallet has), so an account whose
-- latest snapshot has no lots or token events at all still hides its older ones.
CREATE OR REPLACE VIEW ${db}.wallet_balances_v1 AS
SELECT account_id, wallet_type, wallet_id, name, total, used, available, status, overage, expired,
       expiring_within_90d, next_expiry, computed_at
FROM ${db}.wallet_balance_versions_v1
WHERE wallet_id != ''
  AND (account_id, version) IN (SELECT account_id, max(version) FROM ${db}.wallet_balance_versions_v1 GROUP BY account_id);

CREATE OR REPLACE VIEW ${db}.lot_balances_v1 AS
SELECT account_id, wallet_type, wallet_id, lot_id, purchase_event_id, move_event_id, part, amount, consumed,
       moved_out, expired, remaining, effective_at, expires_at, computed_at
FROM ${db}.lot_balance_versions_v1
WHERE wallet_id != ''
  AND (account_id, version) IN (SELECT account_id, max(version) FROM ${db}.lot_balance_versions_v1 GROUP BY account_id);

CREATE OR REPLACE VIEW ${db}.token_events_v1 AS
SELECT account_id, wallet_type, wallet_id, occurred_at, type, event_id, part, amount, lot_ids,
       counterparty_type, counterparty_id, requested, shortfall, computed_at
FROM ${db}.token_event_versions_v1
WHERE wallet_id != ''
  AND (account_id, version) IN (SELECT account_id, max(version) FROM ${db}.token_event_versions_v1 GROUP BY account_id);
