-- API tokens for GraphQL and analyst SQL: only the SHA-256 of each secret is stored. A token
-- with no project ids may read every project. Revoking writes a new version with revoked = 1;
-- readers take argMax(..., version) per token_id.
CREATE TABLE IF NOT EXISTS api_tokens
(
    token_id String,
    secret_hash String,
    name String,
    project_ids Array(UInt64),
    created_at DateTime,
    revoked UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY token_id;
