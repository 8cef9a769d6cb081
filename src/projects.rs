//! Projects and their DSN keys: key generation, DSN formatting, and the in-memory key registry
//! ingest authenticates against (refreshed from the engine when an unknown key shows up, so a
//! project created by the CLI while the server runs is accepted at once).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::engine::{Engine, EngineResult, Project, ProjectKey};

/// A new random public key: 32 lowercase hex characters, like Sentry's.
pub fn generate_public_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `http://PUBLIC_KEY@HOST:PORT/PROJECT_ID` for a server reachable at `public_url`.
pub fn format_dsn(public_url: &str, public_key: &str, project_id: u64) -> String {
    let (scheme, rest) = public_url.split_once("://").unwrap_or(("http", public_url));
    let host = rest.trim_end_matches('/');
    format!("{scheme}://{public_key}@{host}/{project_id}")
}

/// Why a key was not accepted for a project.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejection {
    #[error(
        "missing DSN key: send it as sentry_key in the query string or in the X-Sentry-Auth header"
    )]
    Missing,
    #[error("unknown DSN key")]
    Unknown,
    #[error("the DSN key is disabled")]
    Disabled,
    #[error("the DSN key does not belong to project {0}")]
    WrongProject(u64),
    #[error("unknown project {0}")]
    UnknownProject(u64),
}

/// The known projects and keys, cached.
pub struct ProjectRegistry {
    engine: Arc<dyn Engine>,
    state: RwLock<RegistryState>,
}

struct RegistryState {
    keys: HashMap<String, ProjectKey>,
    projects: HashMap<u64, Project>,
    refreshed_at: Option<Instant>,
}

/// An unknown key triggers a reload at most this often, so a flood of bad keys cannot turn into
/// a flood of engine queries.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

impl ProjectRegistry {
    pub fn new(engine: Arc<dyn Engine>) -> ProjectRegistry {
        ProjectRegistry {
            engine,
            state: RwLock::new(RegistryState {
                keys: HashMap::new(),
                projects: HashMap::new(),
                refreshed_at: None,
            }),
        }
    }

    /// Reloads projects and keys from the engine.
    pub async fn refresh(&self) -> EngineResult<()> {
        let projects = self.engine.projects().await?;
        let keys = self.engine.project_keys().await?;
        let mut state = self.state.write();
        state.projects = projects.into_iter().map(|p| (p.id, p)).collect();
        state.keys = keys
            .into_iter()
            .map(|k| (k.public_key.clone(), k))
            .collect();
        state.refreshed_at = Some(Instant::now());
        Ok(())
    }

    fn check(&self, project_id: u64, public_key: &str) -> Option<Result<(), KeyRejection>> {
        let state = self.state.read();
        match state.keys.get(public_key) {
            Some(key) if key.project_id != project_id => {
                Some(Err(KeyRejection::WrongProject(project_id)))
            }
            Some(key) if !key.active => Some(Err(KeyRejection::Disabled)),
            Some(_) => Some(Ok(())),
            None => None,
        }
    }

    /// Accepts the key if it is an active key of `project_id`.
    pub async fn authenticate(
        &self,
        project_id: u64,
        public_key: Option<&str>,
    ) -> Result<(), AuthError> {
        let public_key = public_key.ok_or(AuthError::Rejected(KeyRejection::Missing))?;
        if let Some(verdict) = self.check(project_id, public_key) {
            return verdict.map_err(AuthError::Rejected);
        }
        let may_refresh = self
            .state
            .read()
            .refreshed_at
            .is_none_or(|at| at.elapsed() >= MIN_REFRESH_INTERVAL);
        if may_refresh {
            self.refresh().await.map_err(AuthError::Engine)?;
            if let Some(verdict) = self.check(project_id, public_key) {
                return verdict.map_err(AuthError::Rejected);
            }
        }
        if !self.state.read().projects.contains_key(&project_id) {
            return Err(AuthError::Rejected(KeyRejection::UnknownProject(
                project_id,
            )));
        }
        Err(AuthError::Rejected(KeyRejection::Unknown))
    }

    /// The project an active key belongs to (for doors whose path names no project, such as
    /// OTLP's `/v1/traces`).
    pub async fn project_for_key(&self, public_key: Option<&str>) -> Result<u64, AuthError> {
        let public_key = public_key.ok_or(AuthError::Rejected(KeyRejection::Missing))?;
        let lookup = |registry: &ProjectRegistry| {
            registry
                .state
                .read()
                .keys
                .get(public_key)
                .map(|key| (key.project_id, key.active))
        };
        let mut found = lookup(self);
        let may_refresh = self
            .state
            .read()
            .refreshed_at
            .is_none_or(|at| at.elapsed() >= MIN_REFRESH_INTERVAL);
        if found.is_none() && may_refresh {
            self.refresh().await.map_err(AuthError::Engine)?;
            found = lookup(self);
        }
        match found {
            Some((project_id, true)) => Ok(project_id),
            Some((_, false)) => Err(AuthError::Rejected(KeyRejection::Disabled)),
            None => Err(AuthError::Rejected(KeyRejection::Unknown)),
        }
    }

    pub fn project(&self, project_id: u64) -> Option<Project> {
        self.state.read().projects.get(&project_id).cloned()
    }

    pub fn projects(&self) -> Vec<Project> {
        let mut projects: Vec<Project> = self.state.read().projects.values().cloned().collect();
        projects.sort_by_key(|p| p.id);
        projects
    }

    pub fn keys_of(&self, project_id: u64) -> Vec<ProjectKey> {
        let mut keys: Vec<ProjectKey> = self
            .state
            .read()
            .keys
            .values()
            .filter(|k| k.project_id == project_id)
            .cloned()
            .collect();
        keys.sort_by_key(|k| k.created_at);
        keys
    }
}

/// Authentication failed: a bad key, or the engine could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Rejected(KeyRejection),
    #[error("cannot load project keys: {0}")]
    Engine(crate::engine::EngineError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_has_key_host_and_project() {
        assert_eq!(
            format_dsn("http://127.0.0.1:8000/", "abc", 3),
            "http://abc@127.0.0.1:8000/3"
        );
        assert_eq!(
            format_dsn("https://errors.example.com", "k", 1),
            "https://k@errors.example.com/1"
        );
    }

    #[test]
    fn generated_keys_are_32_hex() {
        let key = generate_public_key();
        assert_eq!(key.len(), 32);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
