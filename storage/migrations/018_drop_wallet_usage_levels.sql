-- One wallet's usage is read from the raw events, which are ordered by wallet and time: the
-- two-level wallet table answered no faster (p50 11 ms against 7–10 ms for the raw read of the
-- same range) and was the costliest view on every insert, a full second copy of each event.
DROP VIEW IF EXISTS ${db}.usage_wallet_levels_mv_v1;

DROP TABLE IF EXISTS ${db}.usage_wallet_levels_v1;
