-- Alerting (issue 7). Rules, per-group rule state and deliveries are versioned side tables
-- (readers take argMax(..., version) per key); alert_events is an append-only log of every
-- evaluation outcome and notification decision; alert_claims holds the claims that let one of
-- several instances evaluate each rule slot and send each delivery attempt.
CREATE TABLE IF NOT EXISTS alert_rules
(
    rule_id UInt64,
    project_id UInt64,
    name String,
    kind String,
    definition String,
    webhook_secret String,
    interval_secs UInt64,
    enabled UInt8,
    deleted UInt8,
    created_at DateTime,
    updated_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY rule_id;

CREATE TABLE IF NOT EXISTS alert_states
(
    rule_id UInt64,
    group_key String,
    status String,
    since DateTime,
    last_notified_at DateTime,
    value Float64,
    updated_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (rule_id, group_key);

CREATE TABLE IF NOT EXISTS alert_events
(
    event_id String,
    rule_id UInt64,
    project_id UInt64,
    group_key String,
    outcome String,
    value Float64,
    notification String,
    message String,
    at DateTime
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (rule_id, at, event_id);

CREATE TABLE IF NOT EXISTS alert_deliveries
(
    delivery_id String,
    rule_id UInt64,
    project_id UInt64,
    alert_event_id String,
    url String,
    payload String,
    status String,
    attempts UInt32,
    next_attempt_at DateTime,
    last_error String,
    last_status_code UInt16,
    created_at DateTime,
    updated_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY delivery_id;

-- Claims are only read for their own key; old ones can be dropped by month partition.
CREATE TABLE IF NOT EXISTS alert_claims
(
    claim_key String,
    instance String,
    nonce UInt64,
    claimed_at_ms UInt64,
    claimed_on Date
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(claimed_on)
ORDER BY claim_key;
