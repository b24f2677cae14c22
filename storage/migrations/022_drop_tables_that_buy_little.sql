-- Every derived table earns its place with a measured ratio on a question users ask: the balance
-- benchmark times each table against the next-best plan without it, on a 10M-event account
-- (bench/tables.ts, `npm run bench -- balances`). These did not:
--
-- The account-wide usage levels bought 0.9× over the monthly and daily rollups kept per wallet
-- type, summed across both types (usage by user, 12 whole months: 20.8 ms against 18.7 ms), for
-- four views and a table. Account-wide reads now use the per-type rollups.
DROP VIEW IF EXISTS ${db}.usage_account_dims_daily_mv_v1;

DROP VIEW IF EXISTS ${db}.usage_account_dims_monthly_mv_v1;

DROP VIEW IF EXISTS ${db}.usage_account_dims_quarterly_mv_v1;

DROP VIEW IF EXISTS ${db}.usage_account_dims_yearly_mv_v1;

DROP TABLE IF EXISTS ${db}.usage_account_dims_v1;

-- The voids alone bought 1.2× over picking them out of the raw table (10.3 ms against 12.3 ms
-- with 10,000 voids): a view on every insert for nothing. Voids are read from events_v1.
DROP VIEW IF EXISTS ${db}.voids_mv_v1;

DROP TABLE IF EXISTS ${db}.voids_v1;

-- Pairings before migration 017, copied into voided_usage_v2 there; nothing reads them since.
DROP TABLE IF EXISTS ${db}.voided_usage_v1;

-- When each account was last computed: no view reads it, and the balance tables answer the same
-- question (max(computed_at) of an account's rows).
DROP TABLE IF EXISTS ${db}.balance_snapshots_v1;
