-- account_versions_v1 counted the rows each account's insert blocks wrote, as account_changes_v1
-- (migration 027) does; only the latter is a version (it is never rebuilt), and every reader now
-- asks it. Two views on every insert into events_v1 and voided_usage_v2, and the part each wrote,
-- bought nothing.
DROP VIEW IF EXISTS ${db}.account_versions_mv_v1;

DROP VIEW IF EXISTS ${db}.account_versions_void_mv_v2;

DROP TABLE IF EXISTS ${db}.account_versions_v1;
