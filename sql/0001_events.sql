-- Raw events: one row per ingested event, column-wise. Never rewritten (merges and unmerges
-- change issue_fingerprints only). Ordered for the most common read: an issue's latest events.
CREATE TABLE IF NOT EXISTS events
(
    project_id UInt64,
    event_id String,
    timestamp DateTime,
    received DateTime,
    fingerprint UInt64,
    grouping_version String,
    grouping_explanation String,
    title String,
    culprit String,
    platform String,
    level String,
    logger String,
    environment String,
    release String,
    dist String,
    server_name String,
    `transaction` String,
    message String,
    exception_types Array(String),
    exception_values Array(String),
    frame_modules Array(String),
    frame_functions Array(String),
    frame_filenames Array(String),
    frame_linenos Array(UInt32),
    frame_in_app Array(UInt8),
    tag_keys Array(String),
    tag_values Array(String),
    user_key String,
    user_id String,
    user_email String,
    user_ip String,
    user_username String,
    request_method String,
    request_url String,
    trace_id String,
    span_id String,
    sdk_name String,
    sdk_version String,
    details String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, fingerprint, timestamp);
