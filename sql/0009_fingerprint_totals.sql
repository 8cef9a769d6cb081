-- All-time aggregates per fingerprint and environment, without a time bucket: the issue list
-- ranks every issue of a project by these (100,000 fingerprints are about as many rows here,
-- millions in fingerprint_hour), and finds the issues of an environment here instead of in
-- the raw events. Per fingerprint, like the other aggregates, so merges and unmerges show at
-- once.
CREATE TABLE IF NOT EXISTS fingerprint_total
(
    project_id UInt64,
    fingerprint UInt64,
    environment String,
    events_state AggregateFunction(count),
    first_seen_state AggregateFunction(min, DateTime),
    last_seen_state AggregateFunction(max, DateTime),
    users_state AggregateFunction(uniqIf, String, UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, fingerprint, environment)
-- Small granules: a page of the list reads the user sets of 50 scattered fingerprints, and a
-- granule of the default 8,192 rows would decode the sets of 8,192 fingerprints for each.
SETTINGS index_granularity = 256;

-- Events stored before this migration (one scan of them). Only into an empty table, so running
-- the migration again after a failure further down does not count them twice. Runs before the
-- view exists: migrations run at start-up, before this instance takes events.
INSERT INTO fingerprint_total
SELECT project_id, fingerprint, environment, countState(), minState(timestamp),
       maxState(timestamp), uniqIfState(user_key, user_key != '')
FROM events
WHERE (SELECT count() FROM fingerprint_total) = 0
GROUP BY project_id, fingerprint, environment;

CREATE MATERIALIZED VIEW IF NOT EXISTS fingerprint_total_mv TO fingerprint_total AS
SELECT
    project_id,
    fingerprint,
    environment,
    countState() AS events_state,
    minState(timestamp) AS first_seen_state,
    maxState(timestamp) AS last_seen_state,
    uniqIfState(user_key, user_key != '') AS users_state
FROM events
GROUP BY project_id, fingerprint, environment;
