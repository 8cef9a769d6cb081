//! Step "group": fingerprint → issue.
//!
//! An exact fingerprint match joins its issue; an unknown fingerprint opens a new issue whose id
//! is derived from (project, fingerprint), so several stateless instances that see the same new
//! fingerprint agree on its issue without coordinating. A new issue stays *pending* until a
//! batch carrying it is durable: every batch with events of a pending issue also carries the
//! issue and its mapping (writing them twice is harmless; the side tables are versioned), so a
//! failed write can never leave events whose issue was never stored.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use stackhouse_grouping::Fingerprint;
use stackhouse_protocol::ErrorEvent;

use crate::engine::{FingerprintMapping, IssueRecord, WriteBatch};

/// The issue id a new fingerprint opens: 63 bits of xxHash64 over (project, fingerprint), so it
/// fits a signed 64-bit integer everywhere.
pub fn new_issue_id(project_id: u64, fingerprint: u64) -> u64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&project_id.to_le_bytes());
    bytes[8..].copy_from_slice(&fingerprint.to_le_bytes());
    (twox_hash::XxHash64::oneshot(0x5354_4143_4b48_4f55, &bytes) >> 1).max(1)
}

struct MappingEntry {
    issue_id: u64,
    /// Set while the new issue has not been durably written yet.
    pending: Option<(IssueRecord, FingerprintMapping)>,
}

/// The fingerprint→issue map of every project, in memory, loaded from the engine at start-up.
#[derive(Default)]
pub struct Grouper {
    mappings: RwLock<HashMap<(u64, u64), MappingEntry>>,
}

impl Grouper {
    pub fn new(mappings: Vec<FingerprintMapping>) -> Grouper {
        let map = mappings
            .into_iter()
            .map(|mapping| {
                (
                    (mapping.project_id, mapping.fingerprint),
                    MappingEntry {
                        issue_id: mapping.issue_id,
                        pending: None,
                    },
                )
            })
            .collect();
        Grouper {
            mappings: RwLock::new(map),
        }
    }

    /// Assigns an event to its issue and adds what must be stored for it to `batch`
    /// (the event itself is added by the caller). Returns the issue id.
    pub fn assign(
        &self,
        project_id: u64,
        event: &ErrorEvent,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
        batch: &mut WriteBatch,
    ) -> u64 {
        let key = (project_id, fingerprint.hash);
        if let Some(entry) = self.mappings.read().get(&key) {
            if let Some((issue, mapping)) = &entry.pending {
                batch.new_issues.push(issue.clone());
                batch.new_mappings.push(mapping.clone());
            }
            return entry.issue_id;
        }
        let mut mappings = self.mappings.write();
        let entry = mappings.entry(key).or_insert_with(|| {
            let issue_id = new_issue_id(project_id, fingerprint.hash);
            let issue = IssueRecord {
                project_id,
                issue_id,
                title: event.title(),
                culprit: event.culprit(),
                level: event.level.as_str().to_owned(),
                platform: event.platform.clone(),
                created_at: now,
            };
            let mapping = FingerprintMapping {
                project_id,
                fingerprint: fingerprint.hash,
                issue_id,
                updated_at: now,
            };
            MappingEntry {
                issue_id,
                pending: Some((issue, mapping)),
            }
        });
        if let Some((issue, mapping)) = &entry.pending {
            batch.new_issues.push(issue.clone());
            batch.new_mappings.push(mapping.clone());
        }
        entry.issue_id
    }

    /// Marks the issues and mappings of a durably written batch as stored.
    pub fn confirm(&self, batch: &WriteBatch) {
        if batch.new_mappings.is_empty() {
            return;
        }
        let mut mappings = self.mappings.write();
        for mapping in &batch.new_mappings {
            if let Some(entry) = mappings.get_mut(&(mapping.project_id, mapping.fingerprint)) {
                if entry.issue_id == mapping.issue_id {
                    entry.pending = None;
                }
            }
        }
    }

    /// The issue a fingerprint currently belongs to.
    pub fn issue_of(&self, project_id: u64, fingerprint: u64) -> Option<u64> {
        self.mappings
            .read()
            .get(&(project_id, fingerprint))
            .map(|entry| entry.issue_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackhouse_grouping::{Explanation, FingerprintVersion};
    use uuid::Uuid;

    fn fingerprint(hash: u64) -> Fingerprint {
        Fingerprint {
            hash,
            version: FingerprintVersion::LATEST,
            explanation: Explanation::default(),
        }
    }

    #[test]
    fn new_fingerprint_opens_pending_issue_until_confirmed() {
        let grouper = Grouper::default();
        let event = ErrorEvent::new(Uuid::nil(), Utc::now());
        let mut first = WriteBatch::default();
        let issue = grouper.assign(1, &event, &fingerprint(7), Utc::now(), &mut first);
        assert_eq!(issue, new_issue_id(1, 7));
        assert_eq!(first.new_issues.len(), 1);

        // Not yet durable: the next batch carries the issue again.
        let mut second = WriteBatch::default();
        assert_eq!(
            grouper.assign(1, &event, &fingerprint(7), Utc::now(), &mut second),
            issue
        );
        assert_eq!(second.new_issues.len(), 1);

        grouper.confirm(&second);
        let mut third = WriteBatch::default();
        assert_eq!(
            grouper.assign(1, &event, &fingerprint(7), Utc::now(), &mut third),
            issue
        );
        assert!(third.new_issues.is_empty() && third.new_mappings.is_empty());
    }

    #[test]
    fn same_fingerprint_in_other_project_is_another_issue() {
        assert_ne!(new_issue_id(1, 7), new_issue_id(2, 7));
        assert!(new_issue_id(1, 7) < (1 << 63));
    }

    #[test]
    fn loaded_mappings_are_not_pending() {
        let grouper = Grouper::new(vec![FingerprintMapping {
            project_id: 1,
            fingerprint: 9,
            issue_id: 42,
            updated_at: Utc::now(),
        }]);
        let mut batch = WriteBatch::default();
        let event = ErrorEvent::new(Uuid::nil(), Utc::now());
        assert_eq!(
            grouper.assign(1, &event, &fingerprint(9), Utc::now(), &mut batch),
            42
        );
        assert!(batch.new_issues.is_empty());
    }
}
