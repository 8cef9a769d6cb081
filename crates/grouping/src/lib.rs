//! Stackhouse's grouping engine, pure Rust (no I/O, no async).
//!
//! PUBLIC API CONTRACT (the server depends on exactly these names; extend, don't rename):
//! - [`FingerprintVersion`] (`V1`, `V2`, ...; `as_str()` → `"v1"`; `parse("v1")`; `LATEST`)
//! - [`GroupingConfig`] (version + server-side rules), `Default` = latest version, no rules
//! - [`fingerprint_event`] → [`Fingerprint`] { hash: u64, version, explanation: [`Explanation`] }
//! - [`Explanation`]: `Serialize + Deserialize`, stored as JSON with every event; `summary()`
//! - [`parameterize`]: message → parameterized message

use serde::{Deserialize, Serialize};
use stackhouse_protocol::ErrorEvent;

/// Versions of the fingerprint algorithm. A version is never changed in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FingerprintVersion {
    V1,
}

impl FingerprintVersion {
    pub const LATEST: FingerprintVersion = FingerprintVersion::V1;

    pub fn as_str(self) -> &'static str {
        match self {
            FingerprintVersion::V1 => "v1",
        }
    }

    pub fn parse(text: &str) -> Option<FingerprintVersion> {
        match text {
            "v1" => Some(FingerprintVersion::V1),
            _ => None,
        }
    }
}

/// How to fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupingConfig {
    pub version: FingerprintVersion,
}

impl Default for GroupingConfig {
    fn default() -> Self {
        GroupingConfig {
            version: FingerprintVersion::LATEST,
        }
    }
}

/// The result of fingerprinting one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    pub hash: u64,
    pub version: FingerprintVersion,
    pub explanation: Explanation,
}

/// Which components contributed to a fingerprint and which were ignored, and why.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Explanation {
    pub contributing: Vec<String>,
    pub ignored: Vec<String>,
}

impl Explanation {
    /// One line for humans.
    pub fn summary(&self) -> String {
        self.contributing.join(", ")
    }
}

/// Fingerprints an event.
pub fn fingerprint_event(event: &ErrorEvent, config: &GroupingConfig) -> Fingerprint {
    let _ = (event, config);
    Fingerprint {
        hash: 0,
        version: config.version,
        explanation: Explanation::default(),
    }
}

/// Replaces variable data in a message with typed placeholders.
pub fn parameterize(message: &str) -> String {
    message.to_owned()
}
