-- Per-fingerprint aggregates, fed by materialized views at insert time, so issue lists and
-- trends never scan raw events. Aggregated per *fingerprint* (not per issue) so that merging
-- and unmerging issues only changes issue_fingerprints and shows in every count at once.
CREATE TABLE IF NOT EXISTS fingerprint_minute
(
    project_id UInt64,
    fingerprint UInt64,
    minute DateTime,
    events_state AggregateFunction(count),
    first_seen_state AggregateFunction(min, DateTime),
    last_seen_state AggregateFunction(max, DateTime),
    users_state AggregateFunction(uniqIf, String, UInt8)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (project_id, fingerprint, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS fingerprint_minute_mv TO fingerprint_minute AS
SELECT
    project_id,
    fingerprint,
    toStartOfMinute(timestamp) AS minute,
    countState() AS events_state,
    minState(timestamp) AS first_seen_state,
    maxState(timestamp) AS last_seen_state,
    uniqIfState(user_key, user_key != '') AS users_state
FROM events
GROUP BY project_id, fingerprint, minute;

CREATE TABLE IF NOT EXISTS fingerprint_hour
(
    project_id UInt64,
    fingerprint UInt64,
    hour DateTime,
    events_state AggregateFunction(count),
    first_seen_state AggregateFunction(min, DateTime),
    last_seen_state AggregateFunction(max, DateTime),
    users_state AggregateFunction(uniqIf, String, UInt8)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (project_id, fingerprint, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS fingerprint_hour_mv TO fingerprint_hour AS
SELECT
    project_id,
    fingerprint,
    toStartOfHour(timestamp) AS hour,
    countState() AS events_state,
    minState(timestamp) AS first_seen_state,
    maxState(timestamp) AS last_seen_state,
    uniqIfState(user_key, user_key != '') AS users_state
FROM events
GROUP BY project_id, fingerprint, hour;
