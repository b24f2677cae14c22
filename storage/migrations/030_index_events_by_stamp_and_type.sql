-- What the stream's readers ask of events_v1 after every stored batch, in time that follows the
-- batch, not the account:
--   - the usage index's catch-up reads the rows stamped since its last read
--     (readmodels/usageIndex.ts). events_v1 is ordered by wallet and occurred_at, so without an
--     index on the stamp that read scanned every row of the account. Rows are stamped when
--     stored, so a part's granules hold stamps close together: a min/max per granule skips all
--     but the newest.
--   - the same read counts the account's usage rows. The projection keeps counts by account and
--     type inside each part, so the count reads a few rows per part, and from the same parts, of
--     the same snapshot, as the rows beside it (the usage index's invariant needs exactly that; a
--     rollup table would be another snapshot).
ALTER TABLE ${db}.events_v1 ADD INDEX IF NOT EXISTS ingested_at_minmax ingested_at TYPE minmax GRANULARITY 1;
ALTER TABLE ${db}.events_v1 ADD PROJECTION IF NOT EXISTS type_counts (SELECT account_id, type, count() GROUP BY account_id, type);
-- Parts stored before this migration get both in the background; until then they are read whole.
ALTER TABLE ${db}.events_v1 MATERIALIZE INDEX ingested_at_minmax;
ALTER TABLE ${db}.events_v1 MATERIALIZE PROJECTION type_counts;
