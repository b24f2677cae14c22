-- Usage in time order with voided usage netted out, for readers that cannot subtract pairings
-- themselves (Grafana's usage panels). Since migration 017 no view negates a voided event inside
-- usage_by_time_v1; its pairings are in voided_usage_v2, which may hold one twice until merged
-- (hence FINAL). Pairings the old views already netted inside the table (netted = 1) are skipped.
CREATE OR REPLACE VIEW ${db}.net_usage_v1 AS
SELECT account_id, occurred_at, wallet_type, wallet_id, amount, toInt64(events) AS events, user_id, product, service
FROM ${db}.usage_by_time_v1
UNION ALL
SELECT account_id, occurred_at, wallet_type, wallet_id, -amount AS amount, toInt64(-1) AS events, user_id, product, service
FROM ${db}.voided_usage_v2 FINAL
WHERE netted = 0;
