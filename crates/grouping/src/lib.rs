//! Stackhouse's grouping engine, pure Rust (no I/O, no async): it decides which issue an event
//! belongs to, and says why.
//!
//! The path of an event through this crate:
//!
//! 1. [`fingerprint_event`] ([`fingerprint`]) picks the fingerprint basis in order of preference:
//!    the client's `fingerprint`, a server-side rule ([`rules`]), else the automatic one built
//!    from the exception chain's types and the normalized in-app frames ([`stack`]), or the
//!    parameterized message ([`parameterize()`]) when no frame contributes. The algorithm is
//!    versioned ([`FingerprintVersion`]); the result carries an [`Explanation`] stored with the
//!    event.
//! 2. An exact fingerprint match joins its issue (the server's fingerprint→issue map).
//! 3. A new fingerprint is compared with similar issues through a [`SimilarityIndex`]
//!    ([`similarity`]): candidates come from an inverted index, never a scan, and are scored by
//!    stack overlap, message similarity and context similarity ([`context`]).
//!
//! PUBLIC API CONTRACT (the server depends on these names; extend, don't rename):
//! - [`FingerprintVersion`] (`V1`, `V2`; `as_str()` → `"v2"`; `parse("v2")`; `LATEST` = `V2`;
//!   `ALL`). `v1` stays computable and unchanged.
//! - [`GroupingConfig`] { `version`, `rules`: [`FingerprintRules`], `similarity`:
//!   [`SimilarityConfig`] }; `Default` = latest version, no rules, default similarity.
//! - [`fingerprint_event`]`(&ErrorEvent, &GroupingConfig) -> `[`Fingerprint`] { `hash: u64`,
//!   `version`, `explanation` }; [`Fingerprint::similarity_applies`] (false when a client
//!   fingerprint or a rule decided); [`Fingerprint::record_similarity`].
//! - [`Explanation`]: `Serialize + Deserialize`, stored as JSON with every event; `summary()`.
//! - [`parameterize()`]`(&str) -> String`.
//! - [`FingerprintRules::parse`]`(&str) -> Result<FingerprintRules, RuleParseError>`: a
//!   project's rules (language documented in [`rules`]).
//! - [`GroupingFeatures::from_event`] and [`SimilarityIndex`] (`new`, `insert`, `best_match`,
//!   `best_candidates`, `remove_issue`, `merge_issues`, `issue_count`).
//! - [`context`]: `template_path`, `user_agent_family`, `coarse_region`, `NormalizedContext`.
//!
//! What the server does per event:
//!
//! ```text
//! let fingerprint = fingerprint_event(&event, &config);
//! if let Some(issue) = issue_of(project, fingerprint.hash) { return issue }   // exact match
//! let features = GroupingFeatures::from_event(&event);
//! let issue = match fingerprint.similarity_applies()
//!     .then(|| index.best_match(&features, &config.similarity)).flatten() {
//!     Some(found) => { fingerprint.record_similarity(&found, &config.similarity); found.issue_id }
//!     None => open_issue(),
//! };
//! map(project, fingerprint.hash, issue);
//! index.insert(issue, &features);   // also persist `features` to rebuild the index on start
//! ```

pub mod context;
pub mod explanation;
pub mod fingerprint;
pub mod parameterize;
pub mod rules;
pub mod similarity;
pub mod stack;

pub use explanation::{
    Basis, Component, ComponentKind, Explanation, Ignored, SimilarityExplanation,
};
pub use fingerprint::{fingerprint_event, Fingerprint, FingerprintVersion};
pub use parameterize::parameterize;
pub use rules::{FingerprintRules, RuleParseError};
pub use similarity::{
    GroupingFeatures, SimilarityConfig, SimilarityIndex, SimilarityMatch, SimilarityScore,
};

/// How to fingerprint and group, per project.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupingConfig {
    /// The fingerprint algorithm version. Default: [`FingerprintVersion::LATEST`].
    pub version: FingerprintVersion,
    /// Server-side fingerprint rules ([`FingerprintRules::parse`]), first match wins; a
    /// client-supplied fingerprint takes precedence. Ignored by `v1`. Default: none.
    pub rules: FingerprintRules,
    /// Similarity grouping of new fingerprints: weights and threshold. Default:
    /// [`SimilarityConfig::default`] (0.7 / 0.2 / 0.1).
    pub similarity: SimilarityConfig,
}

impl Default for GroupingConfig {
    fn default() -> Self {
        GroupingConfig {
            version: FingerprintVersion::LATEST,
            rules: FingerprintRules::default(),
            similarity: SimilarityConfig::default(),
        }
    }
}
