-- Spans of traces, from OTLP/HTTP (`/v1/traces`) and Sentry transactions. One row per span as
-- received (a span sent twice is two rows; readers keep one per span_id). Ordered for the
-- event page's read, a whole trace; time-range reads (the service map) prune by partition.
-- start_us/duration_us are microseconds (ClickHouse 18.16 has no DateTime64); start_time is
-- the same instant in seconds, for partitions and filters.
CREATE TABLE IF NOT EXISTS spans
(
    project_id UInt64,
    trace_id String,
    span_id String,
    parent_span_id String,
    service String,
    name String,
    kind String,
    start_time DateTime,
    start_us Int64,
    duration_us UInt64,
    status String,
    status_message String,
    http_method String,
    http_route String,
    http_status_code UInt16,
    db_system String,
    attribute_keys Array(String),
    attribute_values Array(String),
    source String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(start_time)
ORDER BY (project_id, trace_id, span_id);
