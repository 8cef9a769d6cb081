//! Step "group": fingerprint → issue.
//!
//! 1. An exact fingerprint match joins its issue.
//! 2. Else, unless a client fingerprint or a rule decided, the event's features are scored
//!    against the project's issues through the similarity index (never a scan); at or above the
//!    threshold it joins the best issue, and the score is recorded in its explanation.
//! 3. Else it opens a new issue whose id is derived from (project, fingerprint), so several
//!    stateless instances that see the same new fingerprint agree without coordinating.
//!
//! New issues and mappings stay *pending* until a batch carrying them is durable: every batch
//! with events of a pending fingerprint carries its mapping (and new issue) again — writing them
//! twice is harmless, the side tables are versioned — so a failed write can never leave events
//! whose issue was never stored.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use stackhouse_grouping::{Fingerprint, GroupingConfig, GroupingFeatures, SimilarityIndex};
use stackhouse_protocol::ErrorEvent;

use crate::engine::{FingerprintMapping, IssueFingerprints, IssueRecord, WriteBatch};

/// The issue id a new fingerprint opens: 63 bits of xxHash64 over (project, fingerprint), so it
/// fits a signed 64-bit integer everywhere.
pub fn new_issue_id(project_id: u64, fingerprint: u64) -> u64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&project_id.to_le_bytes());
    bytes[8..].copy_from_slice(&fingerprint.to_le_bytes());
    (twox_hash::XxHash64::oneshot(0x5354_4143_4b48_4f55, &bytes) >> 1).max(1)
}

/// What must still be written for a fingerprint before its mapping is durable.
#[derive(Clone)]
struct PendingWrite {
    issue: Option<IssueRecord>,
    mapping: FingerprintMapping,
}

struct MappingEntry {
    issue_id: u64,
    /// Boxed: an entry stays two words, so the 100,000 entries an issue list looks up stay
    /// dense in memory (a pending write, with its issue record, is ten times larger and rare).
    pending: Option<Box<PendingWrite>>,
}

#[derive(Default)]
struct GroupingState {
    mappings: foldhash::HashMap<(u64, u64), MappingEntry>,
    similarity: HashMap<u64, SimilarityIndex>,
}

/// Why a merge or unmerge was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegroupError {
    #[error("issue {0} has no fingerprints in project {1}")]
    UnknownIssue(u64, u64),
    #[error("cannot merge issue {0} into itself")]
    SelfMerge(u64),
    #[error("fingerprint {0:016x} does not belong to issue {1}")]
    ForeignFingerprint(u64, u64),
    #[error("fingerprint {0:016x} opened issue {1}: unmerge the other fingerprints instead")]
    OriginalFingerprint(u64, u64),
}

/// The fingerprint→issue map and similarity index of every project, in memory, rebuilt from
/// the engine at start-up.
pub struct Grouper {
    config: GroupingConfig,
    state: RwLock<GroupingState>,
}

impl Grouper {
    pub fn new(
        config: GroupingConfig,
        mappings: Vec<FingerprintMapping>,
        issues: &[IssueRecord],
    ) -> Grouper {
        let mut state = GroupingState::default();
        for mapping in mappings {
            state.mappings.insert(
                (mapping.project_id, mapping.fingerprint),
                MappingEntry {
                    issue_id: mapping.issue_id,
                    pending: None,
                },
            );
        }
        for issue in issues {
            let Ok(features) = serde_json::from_str::<GroupingFeatures>(&issue.features) else {
                continue; // issues stored before features were kept cannot be matched by similarity
            };
            state
                .similarity
                .entry(issue.project_id)
                .or_default()
                .insert(issue.issue_id, &features);
        }
        Grouper {
            config,
            state: RwLock::new(state),
        }
    }

    pub fn config(&self) -> &GroupingConfig {
        &self.config
    }

    /// Assigns an event to its issue and adds what must be stored for it to `batch` (the event
    /// itself is added by the caller, after this has recorded a similarity join in the
    /// fingerprint's explanation). Returns the issue id.
    pub fn assign(
        &self,
        project_id: u64,
        event: &ErrorEvent,
        fingerprint: &mut Fingerprint,
        now: DateTime<Utc>,
        batch: &mut WriteBatch,
    ) -> u64 {
        let key = (project_id, fingerprint.hash);
        if let Some(entry) = self.state.read().mappings.get(&key) {
            carry_pending(entry, batch);
            return entry.issue_id;
        }
        // A new fingerprint: the (rare) slow path, under the write lock so that two requests
        // with the same new fingerprint cannot open two issues.
        let features = GroupingFeatures::from_event(event);
        let mut state = self.state.write();
        if let Some(entry) = state.mappings.get(&key) {
            carry_pending(entry, batch);
            return entry.issue_id;
        }
        let index = state.similarity.entry(project_id).or_default();
        let similar = (self.config.similarity.enabled && fingerprint.similarity_applies())
            .then(|| index.best_match(&features, &self.config.similarity))
            .flatten();
        let (issue_id, issue) = match similar {
            Some(found) => {
                fingerprint.record_similarity(&found, &self.config.similarity);
                (found.issue_id, None)
            }
            None => {
                let issue_id = new_issue_id(project_id, fingerprint.hash);
                let issue = IssueRecord {
                    project_id,
                    issue_id,
                    title: event.title(),
                    culprit: event.culprit(),
                    level: event.level.as_str().to_owned(),
                    platform: event.platform.clone(),
                    features: serde_json::to_string(&features).unwrap_or_default(),
                    created_at: now,
                };
                (issue_id, Some(issue))
            }
        };
        index.insert(issue_id, &features);
        let entry = MappingEntry {
            issue_id,
            pending: Some(Box::new(PendingWrite {
                issue,
                mapping: FingerprintMapping {
                    project_id,
                    fingerprint: fingerprint.hash,
                    issue_id,
                    updated_at: now,
                },
            })),
        };
        carry_pending(&entry, batch);
        state.mappings.insert(key, entry);
        issue_id
    }

    /// Marks the issues and mappings of a durably written batch as stored.
    pub fn confirm(&self, batch: &WriteBatch) {
        if batch.new_mappings.is_empty() {
            return;
        }
        let mut state = self.state.write();
        for mapping in &batch.new_mappings {
            if let Some(entry) = state
                .mappings
                .get_mut(&(mapping.project_id, mapping.fingerprint))
            {
                if entry.issue_id == mapping.issue_id {
                    entry.pending = None;
                }
            }
        }
    }

    /// The issue a fingerprint currently belongs to.
    pub fn issue_of(&self, project_id: u64, fingerprint: u64) -> Option<u64> {
        self.state
            .read()
            .mappings
            .get(&(project_id, fingerprint))
            .map(|entry| entry.issue_id)
    }

    /// The issue each fingerprint currently belongs to, in the same order (under one lock: the
    /// issue list maps every fingerprint of a project).
    pub fn issues_of(&self, project_id: u64, fingerprints: &[u64]) -> Vec<Option<u64>> {
        let state = self.state.read();
        fingerprints
            .iter()
            .map(|fingerprint| {
                state
                    .mappings
                    .get(&(project_id, *fingerprint))
                    .map(|entry| entry.issue_id)
            })
            .collect()
    }

    /// The fingerprints currently mapped to an issue.
    pub fn fingerprints_of(&self, project_id: u64, issue_id: u64) -> Vec<u64> {
        let mut fingerprints: Vec<u64> = self
            .state
            .read()
            .mappings
            .iter()
            .filter(|((project, _), entry)| *project == project_id && entry.issue_id == issue_id)
            .map(|((_, fingerprint), _)| *fingerprint)
            .collect();
        fingerprints.sort_unstable();
        fingerprints
    }

    /// The fingerprints currently mapped to each of `issue_ids` (sorted; issues without any left
    /// out), in one pass over the mappings: a page of the issue list asks for 50 at once.
    pub fn fingerprints_of_issues(&self, project_id: u64, issue_ids: &[u64]) -> IssueFingerprints {
        let mut wanted: IssueFingerprints = issue_ids.iter().map(|id| (*id, Vec::new())).collect();
        for ((project, fingerprint), entry) in &self.state.read().mappings {
            if *project != project_id {
                continue;
            }
            if let Some(fingerprints) = wanted.get_mut(&entry.issue_id) {
                fingerprints.push(*fingerprint);
            }
        }
        wanted.retain(|_, fingerprints| {
            fingerprints.sort_unstable();
            !fingerprints.is_empty()
        });
        wanted
    }

    /// The project of an issue and its fingerprints (sorted), in one pass over the mappings;
    /// `None` when this instance maps no fingerprint to it.
    pub fn locate(&self, issue_id: u64) -> Option<(u64, Vec<u64>)> {
        let state = self.state.read();
        let mut found = state
            .mappings
            .iter()
            .filter(|(_, entry)| entry.issue_id == issue_id)
            .map(|(key, _)| *key);
        let (project_id, first) = found.next()?;
        let mut fingerprints: Vec<u64> = std::iter::once(first)
            .chain(found.filter(|key| key.0 == project_id).map(|key| key.1))
            .collect();
        fingerprints.sort_unstable();
        Some((project_id, fingerprints))
    }

    /// The mappings that merge `sources` into `target` (to be written, then [`Self::apply`]).
    pub fn plan_merge(
        &self,
        project_id: u64,
        target: u64,
        sources: &[u64],
        now: DateTime<Utc>,
    ) -> Result<Vec<FingerprintMapping>, RegroupError> {
        if self.fingerprints_of(project_id, target).is_empty() {
            return Err(RegroupError::UnknownIssue(target, project_id));
        }
        let mut mappings = Vec::new();
        for &source in sources {
            if source == target {
                return Err(RegroupError::SelfMerge(target));
            }
            let fingerprints = self.fingerprints_of(project_id, source);
            if fingerprints.is_empty() {
                return Err(RegroupError::UnknownIssue(source, project_id));
            }
            mappings.extend(
                fingerprints
                    .into_iter()
                    .map(|fingerprint| FingerprintMapping {
                        project_id,
                        fingerprint,
                        issue_id: target,
                        updated_at: now,
                    }),
            );
        }
        Ok(mappings)
    }

    /// The mappings that move `fingerprints` out of `issue_id`, each back to the issue it
    /// opens on its own.
    pub fn plan_unmerge(
        &self,
        project_id: u64,
        issue_id: u64,
        fingerprints: &[u64],
        now: DateTime<Utc>,
    ) -> Result<Vec<FingerprintMapping>, RegroupError> {
        let current = self.fingerprints_of(project_id, issue_id);
        if current.is_empty() {
            return Err(RegroupError::UnknownIssue(issue_id, project_id));
        }
        fingerprints
            .iter()
            .map(|&fingerprint| {
                if !current.contains(&fingerprint) {
                    return Err(RegroupError::ForeignFingerprint(fingerprint, issue_id));
                }
                let own_issue = new_issue_id(project_id, fingerprint);
                if own_issue == issue_id {
                    return Err(RegroupError::OriginalFingerprint(fingerprint, issue_id));
                }
                Ok(FingerprintMapping {
                    project_id,
                    fingerprint,
                    issue_id: own_issue,
                    updated_at: now,
                })
            })
            .collect()
    }

    /// Adds stored mappings of fingerprints this instance has not seen (written by another
    /// instance since start-up); mappings it holds are kept. Returns how many were added.
    pub fn learn(&self, mappings: &[FingerprintMapping]) -> usize {
        let mut state = self.state.write();
        let mut added = 0;
        for mapping in mappings {
            let key = (mapping.project_id, mapping.fingerprint);
            if let std::collections::hash_map::Entry::Vacant(entry) = state.mappings.entry(key) {
                entry.insert(MappingEntry {
                    issue_id: mapping.issue_id,
                    pending: None,
                });
                added += 1;
            }
        }
        added
    }

    /// Applies durably written remappings (merge/unmerge) to the in-memory state.
    pub fn apply(&self, mappings: &[FingerprintMapping], new_issues: &[IssueRecord]) {
        let mut state = self.state.write();
        for mapping in mappings {
            let previous = state.mappings.insert(
                (mapping.project_id, mapping.fingerprint),
                MappingEntry {
                    issue_id: mapping.issue_id,
                    pending: None,
                },
            );
            if let Some(previous) = previous {
                let still_used = state.mappings.iter().any(|((project, _), entry)| {
                    *project == mapping.project_id && entry.issue_id == previous.issue_id
                });
                let index = state.similarity.entry(mapping.project_id).or_default();
                if !still_used {
                    index.merge_issues(previous.issue_id, mapping.issue_id);
                }
            }
        }
        for issue in new_issues {
            if let Ok(features) = serde_json::from_str::<GroupingFeatures>(&issue.features) {
                state
                    .similarity
                    .entry(issue.project_id)
                    .or_default()
                    .insert(issue.issue_id, &features);
            }
        }
    }
}

fn carry_pending(entry: &MappingEntry, batch: &mut WriteBatch) {
    if let Some(pending) = &entry.pending {
        if let Some(issue) = &pending.issue {
            batch.new_issues.push(issue.clone());
        }
        batch.new_mappings.push(pending.mapping.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackhouse_protocol::{Exception, Frame, Stacktrace};
    use uuid::Uuid;

    fn event(ty: &str, functions: &[&str], message: &str) -> ErrorEvent {
        let mut event = ErrorEvent::new(Uuid::new_v4(), Utc::now());
        event.platform = "python".into();
        event.exceptions.push(Exception {
            ty: ty.into(),
            value: Some(message.into()),
            stacktrace: Some(Stacktrace {
                frames: functions
                    .iter()
                    .map(|function| Frame {
                        module: Some("shop.views".into()),
                        function: Some((*function).into()),
                        in_app: Some(true),
                        ..Frame::default()
                    })
                    .collect(),
            }),
            ..Exception::default()
        });
        event
    }

    fn assign(grouper: &Grouper, event: &ErrorEvent, batch: &mut WriteBatch) -> (u64, Fingerprint) {
        let mut fingerprint = stackhouse_grouping::fingerprint_event(event, grouper.config());
        let issue = grouper.assign(1, event, &mut fingerprint, Utc::now(), batch);
        (issue, fingerprint)
    }

    #[test]
    fn new_fingerprint_opens_pending_issue_until_confirmed() {
        let grouper = Grouper::new(GroupingConfig::default(), Vec::new(), &[]);
        let bug = event("ValueError", &["checkout", "parse"], "bad 1");
        let mut first = WriteBatch::default();
        let (issue, fingerprint) = assign(&grouper, &bug, &mut first);
        assert_eq!(issue, new_issue_id(1, fingerprint.hash));
        assert_eq!(first.new_issues.len(), 1);
        assert!(
            first.new_issues[0].features.contains("frames")
                || !first.new_issues[0].features.is_empty()
        );

        // Not yet durable: the next batch carries the issue again.
        let mut second = WriteBatch::default();
        assert_eq!(assign(&grouper, &bug, &mut second).0, issue);
        assert_eq!(second.new_issues.len(), 1);

        grouper.confirm(&second);
        let mut third = WriteBatch::default();
        assert_eq!(assign(&grouper, &bug, &mut third).0, issue);
        assert!(third.new_issues.is_empty() && third.new_mappings.is_empty());
    }

    #[test]
    fn a_slightly_different_stack_joins_by_similarity_and_says_so() {
        let grouper = Grouper::new(GroupingConfig::default(), Vec::new(), &[]);
        let mut batch = WriteBatch::default();
        let functions = [
            "handle",
            "dispatch",
            "checkout",
            "load_cart",
            "price",
            "tax",
            "round",
        ];
        let (issue, _) = assign(
            &grouper,
            &event("ValueError", &functions, "bad 1"),
            &mut batch,
        );
        // One more frame in the middle: another fingerprint, the same bug.
        let longer = [
            "handle",
            "dispatch",
            "checkout",
            "load_cart",
            "cache",
            "price",
            "tax",
            "round",
        ];
        let (joined, fingerprint) =
            assign(&grouper, &event("ValueError", &longer, "bad 2"), &mut batch);
        assert_eq!(joined, issue);
        let similarity = fingerprint
            .explanation
            .similarity
            .expect("similarity recorded");
        assert_eq!(similarity.issue_id, issue);
        // An unrelated bug of the same type opens its own issue.
        let other = ["report", "export", "csv", "encode"];
        let (separate, _) = assign(&grouper, &event("ValueError", &other, "other"), &mut batch);
        assert_ne!(separate, issue);
    }

    #[test]
    fn merge_and_unmerge_plan_mappings_and_refuse_nonsense() {
        let grouper = Grouper::new(GroupingConfig::default(), Vec::new(), &[]);
        let mut batch = WriteBatch::default();
        let (a, fa) = assign(&grouper, &event("KeyError", &["a1", "a2"], "x"), &mut batch);
        let (b, fb) = assign(
            &grouper,
            &event("TypeError", &["b1", "b2"], "y"),
            &mut batch,
        );
        assert_ne!(a, b);
        assert_eq!(
            grouper.plan_merge(1, a, &[a], Utc::now()),
            Err(RegroupError::SelfMerge(a))
        );
        assert_eq!(
            grouper.plan_merge(1, a, &[42], Utc::now()),
            Err(RegroupError::UnknownIssue(42, 1))
        );
        let merge = grouper.plan_merge(1, a, &[b], Utc::now()).expect("merge");
        assert_eq!(merge.len(), 1);
        grouper.apply(&merge, &[]);
        assert_eq!(grouper.fingerprints_of(1, a), {
            let mut both = vec![fa.hash, fb.hash];
            both.sort_unstable();
            both
        });
        assert_eq!(
            grouper.plan_unmerge(1, a, &[fa.hash], Utc::now()),
            Err(RegroupError::OriginalFingerprint(fa.hash, a))
        );
        let unmerge = grouper
            .plan_unmerge(1, a, &[fb.hash], Utc::now())
            .expect("unmerge");
        assert_eq!(unmerge[0].issue_id, b);
        grouper.apply(&unmerge, &[]);
        assert_eq!(grouper.issue_of(1, fb.hash), Some(b));
    }

    #[test]
    fn same_fingerprint_in_other_project_is_another_issue() {
        assert_ne!(new_issue_id(1, 7), new_issue_id(2, 7));
        assert!(new_issue_id(1, 7) < (1 << 63));
    }

    #[test]
    fn loaded_mappings_are_not_pending() {
        let grouper = Grouper::new(
            GroupingConfig::default(),
            vec![FingerprintMapping {
                project_id: 1,
                fingerprint: 9,
                issue_id: 42,
                updated_at: Utc::now(),
            }],
            &[],
        );
        let mut batch = WriteBatch::default();
        let mut fingerprint = stackhouse_grouping::fingerprint_event(
            &ErrorEvent::new(Uuid::nil(), Utc::now()),
            grouper.config(),
        );
        fingerprint.hash = 9;
        let event = ErrorEvent::new(Uuid::nil(), Utc::now());
        assert_eq!(
            grouper.assign(1, &event, &mut fingerprint, Utc::now(), &mut batch),
            42
        );
        assert!(batch.new_issues.is_empty());
    }
}
