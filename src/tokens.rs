//! API tokens: how they are made (`sh_` + 40 random base62 characters), stored (only the
//! SHA-256 of the secret, in the engine's `api_tokens` side table) and recognised
//! ([`TokenRegistry`], an in-memory snapshot refreshed when an unknown token shows up or the
//! snapshot is older than [`SNAPSHOT_MAX_AGE`], so revocations from another process apply).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use parking_lot::RwLock;
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::access::Access;
use crate::engine::{ApiTokenRecord, Engine, EngineError};

/// The prefix every secret starts with, so leaked tokens are easy to recognise.
pub const TOKEN_PREFIX: &str = "sh_";
/// Random characters after the prefix (base62: about 238 bits).
const SECRET_CHARS: usize = 40;
/// A snapshot older than this is refreshed before it answers.
pub const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(10);

/// Lower-case hex SHA-256 of a secret.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A new token: the secret (shown once) and the record to store.
pub fn new_token(name: &str, project_ids: &[u64]) -> (String, ApiTokenRecord) {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let secret: String = TOKEN_PREFIX
        .chars()
        .chain((0..SECRET_CHARS).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])))
        .collect();
    let secret_hash = hash_secret(&secret);
    let mut project_ids = project_ids.to_vec();
    project_ids.sort_unstable();
    project_ids.dedup();
    let record = ApiTokenRecord {
        // The id is derived from the hash: public, stable, and no help in guessing the secret.
        token_id: secret_hash[..16].to_owned(),
        secret_hash,
        name: name.to_owned(),
        project_ids,
        created_at: Utc::now(),
        revoked: false,
    };
    (secret, record)
}

/// Why a bearer token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("unknown API token")]
    Unknown,
    #[error("this API token was revoked")]
    Revoked,
    #[error("cannot check the API token right now: {0}")]
    Engine(#[from] EngineError),
}

struct Snapshot {
    by_hash: HashMap<String, ApiTokenRecord>,
    loaded_at: Instant,
}

/// The tokens the server accepts, cached.
pub struct TokenRegistry {
    engine: Arc<dyn Engine>,
    snapshot: RwLock<Option<Snapshot>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl TokenRegistry {
    pub fn new(engine: Arc<dyn Engine>) -> TokenRegistry {
        TokenRegistry {
            engine,
            snapshot: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The access a bearer secret grants.
    pub async fn authenticate(&self, secret: &str) -> Result<Access, TokenError> {
        let hash = hash_secret(secret);
        if let Some(found) = self.lookup(&hash, SNAPSHOT_MAX_AGE) {
            return found;
        }
        let asked_at = Instant::now();
        {
            // One refresh at a time: a stream of wrong tokens costs one engine query at a time.
            let _one_refresh = self.refreshing.lock().await;
            // Someone else may have refreshed while this request waited.
            let recently = self
                .snapshot
                .read()
                .as_ref()
                .is_some_and(|snapshot| snapshot.loaded_at >= asked_at);
            if !recently {
                let by_hash = self
                    .engine
                    .api_tokens()
                    .await?
                    .into_iter()
                    .map(|token| (token.secret_hash.clone(), token))
                    .collect();
                *self.snapshot.write() = Some(Snapshot {
                    by_hash,
                    loaded_at: Instant::now(),
                });
            }
        }
        self.lookup(&hash, Duration::MAX)
            .unwrap_or(Err(TokenError::Unknown))
    }

    /// `None` when the snapshot is missing, older than `max_age`, or lacks the token.
    fn lookup(&self, hash: &str, max_age: Duration) -> Option<Result<Access, TokenError>> {
        let snapshot = self.snapshot.read();
        let snapshot = snapshot.as_ref()?;
        if snapshot.loaded_at.elapsed() > max_age {
            return None;
        }
        let token = snapshot.by_hash.get(hash)?;
        Some(if token.revoked {
            Err(TokenError::Revoked)
        } else {
            Ok(Access::for_token(token))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_stored_hashed() {
        let (secret, record) = new_token("ci", &[3, 1, 3]);
        let (other, _) = new_token("ci", &[]);
        assert!(secret.starts_with("sh_"));
        assert_eq!(secret.len(), 3 + SECRET_CHARS);
        assert!(secret[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(secret, other);
        assert_eq!(record.secret_hash, hash_secret(&secret));
        assert_eq!(record.secret_hash.len(), 64);
        assert!(!record.secret_hash.contains(&secret[3..]));
        assert_eq!(record.project_ids, vec![1, 3]);
        assert_eq!(record.token_id, record.secret_hash[..16]);
    }
}
