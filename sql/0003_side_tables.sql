-- Small side tables. Each row carries a `version` (nanoseconds since the epoch when written);
-- readers take argMax(..., version) per key, which is right whether or not the
-- ReplacingMergeTree has merged yet.
CREATE TABLE IF NOT EXISTS projects
(
    id UInt64,
    name String,
    created_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;

CREATE TABLE IF NOT EXISTS project_keys
(
    project_id UInt64,
    public_key String,
    active UInt8,
    created_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, public_key);

CREATE TABLE IF NOT EXISTS issues
(
    project_id UInt64,
    issue_id UInt64,
    title String,
    culprit String,
    level String,
    platform String,
    created_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, issue_id);

CREATE TABLE IF NOT EXISTS issue_fingerprints
(
    project_id UInt64,
    fingerprint UInt64,
    issue_id UInt64,
    updated_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, fingerprint);

-- Lifecycle: the current state per issue (latest version wins) ...
CREATE TABLE IF NOT EXISTS issue_state
(
    project_id UInt64,
    issue_id UInt64,
    status String,
    actor String,
    comment String,
    changed_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, issue_id);

-- ... and every transition, kept.
CREATE TABLE IF NOT EXISTS issue_history
(
    project_id UInt64,
    issue_id UInt64,
    from_status String,
    to_status String,
    actor String,
    comment String,
    changed_at DateTime,
    version UInt64
)
ENGINE = MergeTree
ORDER BY (project_id, issue_id, version);
