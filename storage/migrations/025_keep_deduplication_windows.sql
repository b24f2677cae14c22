-- Every block written to events_v1 carries a deduplication token named by what it holds, and its
-- views write their blocks under tokens derived from it. A table keeps the tokens of its last
-- 10,000 blocks, so a retried block, or the same block sent by a second process, is written once,
-- and a retry after an insert that failed in one view fills only that view.
-- Non-replicated tables keep no window by default; replicated ones keep 10,000 blocks, for at
-- most replicated_deduplication_window_seconds. Setting both makes the server and the cluster agree.
ALTER TABLE ${db}.events_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
ALTER TABLE ${db}.rejected_events_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
ALTER TABLE ${db}.event_keys_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
ALTER TABLE ${db}.lots_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
ALTER TABLE ${db}.moves_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
ALTER TABLE ${db}.usage_by_time_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
ALTER TABLE ${db}.usage_wallet_daily_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
ALTER TABLE ${db}.usage_quarter_hours_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
ALTER TABLE ${db}.usage_dims_daily_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
ALTER TABLE ${db}.usage_dims_monthly_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
ALTER TABLE ${db}.wallet_names_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
ALTER TABLE ${db}.account_versions_v1 MODIFY SETTING non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;
