-- Raw events become prunable by `received`, the arrival time that alert windows filter on.
--
-- `events` was ordered by (project_id, fingerprint, timestamp) and partitioned by the month of
-- `timestamp`, so a query over the last five minutes of arrivals read every stored event: on
-- ClickHouse 18.16 nothing skips parts by any other column (no skipping indices). A MergeTree
-- keeps the minimum and maximum of each partition-key column per part, and prunes parts by
-- them. So new events go to `events_v2`, partitioned by the months of both `timestamp` and
-- `received`: the partitions are the same as before (an event arrives in the month it
-- happened, give or take a late one), and each part now also records the range of arrivals it
-- holds. Parts are written in arrival order and merged only with their neighbours, so a recent
-- window reads the recent parts, not the history.
--
-- The events stored before stay where they are (nothing is copied): the table is renamed
-- `events_v1`, and `events` becomes a Merge table over both, so every reader (the engine,
-- analyst SQL, alert rules) reads the same name as before. Inserts go to `events_v2`. (The
-- parts of `events_v1` know only their range of event times, so they are read whole by a
-- window on arrivals. Analyst SQL reaches `events` through a subquery that limits it to the
-- token's projects, and the window prunes only when pushed into it: the engine asks 18.16 for
-- that with `enable_optimize_predicate_expression`, later releases do it by default.)
--
-- Order matters for a server of the previous version still writing while this runs: its
-- inserts go into `events` (the old table, with its old views) until the rename, and fail
-- after it (a Merge table takes no inserts), so no acknowledged event misses the aggregates.

-- The columns of `events` as 0001 made them (a re-run after the rename below finds `events_v2`
-- there already and skips this).
CREATE TABLE IF NOT EXISTS events_v2 AS events
ENGINE = MergeTree
PARTITION BY (toYYYYMM(timestamp), toYYYYMM(received))
ORDER BY (project_id, fingerprint, timestamp);

CREATE MATERIALIZED VIEW IF NOT EXISTS fingerprint_minute_v2_mv TO fingerprint_minute AS
SELECT
    project_id,
    fingerprint,
    toStartOfMinute(timestamp) AS minute,
    countState() AS events_state,
    minState(timestamp) AS first_seen_state,
    maxState(timestamp) AS last_seen_state,
    uniqIfState(user_key, user_key != '') AS users_state
FROM events_v2
GROUP BY project_id, fingerprint, minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS fingerprint_hour_v2_mv TO fingerprint_hour AS
SELECT
    project_id,
    fingerprint,
    toStartOfHour(timestamp) AS hour,
    countState() AS events_state,
    minState(timestamp) AS first_seen_state,
    maxState(timestamp) AS last_seen_state,
    uniqIfState(user_key, user_key != '') AS users_state
FROM events_v2
GROUP BY project_id, fingerprint, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS fingerprint_total_v2_mv TO fingerprint_total AS
SELECT
    project_id,
    fingerprint,
    environment,
    countState() AS events_state,
    minState(timestamp) AS first_seen_state,
    maxState(timestamp) AS last_seen_state,
    uniqIfState(user_key, user_key != '') AS users_state
FROM events_v2
GROUP BY project_id, fingerprint, environment;

-- Skipped when `events_v1` exists (the migration runs again after a failure further down).
RENAME TABLE events TO events_v1;

-- The views of `events_v1`: it takes no more inserts.
DROP TABLE IF EXISTS fingerprint_minute_mv;
DROP TABLE IF EXISTS fingerprint_hour_mv;
DROP TABLE IF EXISTS fingerprint_total_mv;

CREATE TABLE IF NOT EXISTS events AS events_v2
ENGINE = Merge(currentDatabase(), '^events_v[0-9]+$');
