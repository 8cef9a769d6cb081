//! Versioned fingerprint algorithms and the hash input they share.
//!
//! A version is frozen once shipped: changing what it hashes re-groups live issues, so a change
//! is a new version (`v3.rs`), never an edit. `tests/fingerprint_golden.rs` pins each version
//! bit for bit.

mod v1;
pub(crate) mod v2;

pub use v2::MAX_FRAMES_PER_STACK;

use serde::{Deserialize, Serialize};
use stackhouse_protocol::ErrorEvent;
use twox_hash::XxHash64;

use crate::explanation::{Component, ComponentKind, Explanation};
use crate::GroupingConfig;

/// Versions of the fingerprint algorithm. A version is never changed in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FingerprintVersion {
    /// Exception type + in-app frames as sent (module/package + function), else type +
    /// parameterized message.
    V1,
    /// Client fingerprints, server-side rules, per-platform frame normalization, exception
    /// chains, typed message parameterization.
    V2,
}

impl FingerprintVersion {
    pub const LATEST: FingerprintVersion = FingerprintVersion::V2;

    /// Every version, oldest first.
    pub const ALL: [FingerprintVersion; 2] = [FingerprintVersion::V1, FingerprintVersion::V2];

    pub fn as_str(self) -> &'static str {
        match self {
            FingerprintVersion::V1 => "v1",
            FingerprintVersion::V2 => "v2",
        }
    }

    pub fn parse(text: &str) -> Option<FingerprintVersion> {
        match text {
            "v1" => Some(FingerprintVersion::V1),
            "v2" => Some(FingerprintVersion::V2),
            _ => None,
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

impl Fingerprint {
    /// Whether a new fingerprint may still join an existing issue by similarity: not when the
    /// client or a server-side rule chose it on purpose.
    pub fn similarity_applies(&self) -> bool {
        !matches!(
            self.explanation.basis,
            crate::explanation::Basis::ClientFingerprint | crate::explanation::Basis::Rule
        )
    }
}

/// Fingerprints an event with the algorithm version `config.version`.
pub fn fingerprint_event(event: &ErrorEvent, config: &GroupingConfig) -> Fingerprint {
    let (hash, explanation) = match config.version {
        FingerprintVersion::V1 => v1::fingerprint(event),
        FingerprintVersion::V2 => v2::fingerprint(event, config),
    };
    Fingerprint {
        hash,
        version: config.version,
        explanation,
    }
}

/// The bytes a fingerprint hashes: the version, then each component as `kind`, `value`, with
/// separator bytes that cannot occur in UTF-8 so no two component lists hash the same input.
///
/// Recording the component in the explanation happens here too, so what is hashed and what is
/// explained cannot drift apart.
struct HashInput {
    /// The bytes to hash, hashed in one call at the end (the same value as streaming them
    /// into the hasher, at less cost than many small writes).
    bytes: Vec<u8>,
    contributing: Vec<Component>,
}

const KIND_SEPARATOR: u8 = 0xFE;
const COMPONENT_SEPARATOR: u8 = 0xFF;

impl HashInput {
    fn new(version: FingerprintVersion) -> Self {
        // A 30-frame event hashes about 800 bytes: one allocation, no regrowth.
        let mut bytes = Vec::with_capacity(1024);
        bytes.extend_from_slice(version.as_str().as_bytes());
        bytes.push(COMPONENT_SEPARATOR);
        HashInput {
            bytes,
            contributing: Vec::with_capacity(16),
        }
    }

    fn push(&mut self, kind: ComponentKind, value: String) {
        self.bytes.extend_from_slice(kind_tag(kind).as_bytes());
        self.bytes.push(KIND_SEPARATOR);
        self.bytes.extend_from_slice(value.as_bytes());
        self.bytes.push(COMPONENT_SEPARATOR);
        self.contributing.push(Component::new(kind, value));
    }

    fn finish(self) -> (u64, Vec<Component>) {
        (XxHash64::oneshot(0, &self.bytes), self.contributing)
    }
}

/// The tag hashed for each component kind. Part of every version's hash input: never change.
fn kind_tag(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::ExceptionType => "type",
        ComponentKind::Frame => "frame",
        ComponentKind::Message => "message",
        ComponentKind::ClientFingerprint => "client",
        ComponentKind::Rule => "rule",
    }
}

/// `frames 3-7` / `frame 3`, for explanations, appended to `label`.
fn push_frame_range(label: &mut String, first: usize, last: usize) {
    use std::fmt::Write as _;
    // Writing into a `String` cannot fail.
    let _ = if first == last {
        write!(label, "frame {first}")
    } else {
        write!(label, "frames {first}-{last}")
    };
}

/// Runs of consecutive indices with the same reason, so a 60-frame stack explains itself in a
/// few entries instead of 60.
#[derive(Default)]
pub(crate) struct IgnoredFrames {
    /// Names the stack when an event has several (`exception 1 `).
    prefix: String,
    runs: Vec<(usize, usize, &'static str)>,
    /// An index arrived below the last one: [`IgnoredFrames::sort`] has work to do.
    out_of_order: bool,
}

impl IgnoredFrames {
    fn with_prefix(prefix: String) -> Self {
        IgnoredFrames {
            prefix,
            runs: Vec::new(),
            out_of_order: false,
        }
    }

    /// Re-merges runs after out-of-order additions.
    fn sort(&mut self) {
        if !self.out_of_order {
            return;
        }
        self.out_of_order = false;
        let mut singles: Vec<(usize, &'static str)> = self
            .runs
            .iter()
            .flat_map(|&(first, last, reason)| (first..=last).map(move |index| (index, reason)))
            .collect();
        singles.sort_by_key(|&(index, _)| index);
        self.runs.clear();
        for (index, reason) in singles {
            self.add(index, reason);
        }
    }

    fn add(&mut self, index: usize, reason: &'static str) {
        if let Some((_, last, last_reason)) = self.runs.last_mut() {
            if index <= *last {
                self.out_of_order = true;
            }
            if *last + 1 == index && *last_reason == reason {
                *last = index;
                return;
            }
        }
        self.runs.push((index, index, reason));
    }

    fn into_explanation(self, ignored: &mut Vec<crate::explanation::Ignored>) {
        for (first, last, reason) in self.runs {
            let mut component = String::with_capacity(self.prefix.len() + 16);
            component.push_str(&self.prefix);
            push_frame_range(&mut component, first, last);
            ignored.push(crate::explanation::Ignored::new(component, reason));
        }
    }
}
