//! The small side tables (projects, keys, issues, fingerprint→issue mapping, lifecycle state
//! and history) held in memory, already resolved the way ClickHouse's readers resolve its
//! versioned tables: the newest write wins per key, creation times keep their minimum.
//!
//! The version of a write is its write-ahead log sequence number, so "newest" is the order in
//! which writes were made durable.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::codec::{Decoder, Encoder};
use super::event_batch::stored_time;
use super::EmbeddedError;
use crate::engine::{
    ApiTokenRecord, FingerprintMapping, IssueRecord, IssueStatus, Project, ProjectKey,
    StatusChangeRecord,
};

/// Every side table, resolved.
#[derive(Debug, Default, Clone)]
pub struct SideTables {
    pub projects: BTreeMap<u64, Project>,
    pub keys: BTreeMap<(u64, String), ProjectKey>,
    pub issues: BTreeMap<(u64, u64), IssueRecord>,
    /// The project an issue id was first stored under (ClickHouse: `SELECT DISTINCT
    /// project_id FROM issues WHERE issue_id = ?`, first row).
    pub issue_projects: HashMap<u64, u64>,
    pub mappings: BTreeMap<(u64, u64), FingerprintMapping>,
    /// The newest transition per issue (`issue_state`).
    pub states: BTreeMap<(u64, u64), StatusChangeRecord>,
    /// Every transition, in the order made durable (`issue_history`).
    pub history: Vec<StatusChangeRecord>,
    /// (issue, version) of every transition in `history`: one carried again is kept once.
    pub seen_changes: HashSet<(u64, u64)>,
    /// API tokens by `token_id` (hashed secrets only).
    pub api_tokens: BTreeMap<String, ApiTokenRecord>,
}

impl SideTables {
    pub fn next_project_id(&self) -> u64 {
        self.projects.keys().next_back().copied().unwrap_or(0) + 1
    }

    pub fn apply_project(&mut self, project: &Project, key: &ProjectKey) {
        let created_at = stored_time(project.created_at);
        self.projects
            .entry(project.id)
            .and_modify(|existing| {
                existing.name = project.name.clone();
                existing.created_at = existing.created_at.min(created_at);
            })
            .or_insert_with(|| Project {
                created_at,
                ..project.clone()
            });
        let key_created_at = stored_time(key.created_at);
        self.keys
            .entry((key.project_id, key.public_key.clone()))
            .and_modify(|existing| {
                existing.active = key.active;
                existing.created_at = existing.created_at.min(key_created_at);
            })
            .or_insert_with(|| ProjectKey {
                created_at: key_created_at,
                ..key.clone()
            });
    }

    pub fn apply_issue(&mut self, issue: &IssueRecord) {
        let created_at = stored_time(issue.created_at);
        self.issue_projects
            .entry(issue.issue_id)
            .or_insert(issue.project_id);
        self.issues
            .entry((issue.project_id, issue.issue_id))
            .and_modify(|existing| {
                let first_created = existing.created_at.min(created_at);
                *existing = IssueRecord {
                    created_at: first_created,
                    ..issue.clone()
                };
            })
            .or_insert_with(|| IssueRecord {
                created_at,
                ..issue.clone()
            });
    }

    pub fn apply_mapping(&mut self, mapping: &FingerprintMapping) {
        let updated_at = stored_time(mapping.updated_at);
        self.mappings
            .entry((mapping.project_id, mapping.fingerprint))
            .and_modify(|existing| {
                existing.issue_id = mapping.issue_id;
                existing.updated_at = existing.updated_at.max(updated_at);
            })
            .or_insert_with(|| FingerprintMapping {
                updated_at,
                ..mapping.clone()
            });
    }

    pub fn apply_status_change(&mut self, change: &StatusChangeRecord) {
        if !self.seen_changes.insert((change.issue_id, change.version)) {
            return;
        }
        let change = StatusChangeRecord {
            changed_at: stored_time(change.changed_at),
            ..change.clone()
        };
        let key = (change.project_id, change.issue_id);
        let newer = self
            .states
            .get(&key)
            .is_none_or(|current| current.version <= change.version);
        if newer {
            self.states.insert(key, change.clone());
        }
        self.history.push(change);
    }

    /// The newest write of a token wins; its creation time keeps its minimum.
    pub fn apply_api_token(&mut self, token: &ApiTokenRecord) {
        let created_at = stored_time(token.created_at);
        self.api_tokens
            .entry(token.token_id.clone())
            .and_modify(|existing| {
                let first_created = existing.created_at.min(created_at);
                *existing = ApiTokenRecord {
                    created_at: first_created,
                    ..token.clone()
                };
            })
            .or_insert_with(|| ApiTokenRecord {
                created_at,
                ..token.clone()
            });
    }

    /// An issue's current status; `New` when none was ever recorded.
    pub fn status_of(&self, project_id: u64, issue_id: u64) -> IssueStatus {
        self.states
            .get(&(project_id, issue_id))
            .map(|row| row.to_status)
            .unwrap_or(IssueStatus::New)
    }

    /// The current mapping of one project, fingerprint → issue.
    pub fn project_mappings(&self, project_id: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.mappings
            .range((project_id, 0)..=(project_id, u64::MAX))
            .map(|(&(_, fingerprint), mapping)| (fingerprint, mapping.issue_id))
    }

    pub fn encode(&self, encoder: &mut Encoder) {
        encoder.len(self.projects.len());
        for project in self.projects.values() {
            encoder.u64(project.id);
            encoder.str(&project.name);
            encoder.time(project.created_at);
        }
        encoder.len(self.keys.len());
        for key in self.keys.values() {
            encode_key(encoder, key);
        }
        encoder.len(self.issues.len());
        for issue in self.issues.values() {
            encode_issue(encoder, issue);
        }
        // Issue → first project, for issue ids stored under more than one project.
        encoder.len(self.issue_projects.len());
        for (issue_id, project_id) in &self.issue_projects {
            encoder.u64(*issue_id);
            encoder.u64(*project_id);
        }
        encoder.len(self.mappings.len());
        for mapping in self.mappings.values() {
            encode_mapping(encoder, mapping);
        }
        encoder.len(self.states.len());
        for change in self.states.values() {
            encode_change(encoder, change);
        }
        encoder.len(self.history.len());
        for change in &self.history {
            encode_change(encoder, change);
        }
        // Added after the first release: a checkpoint without it decodes to no tokens.
        encoder.len(self.api_tokens.len());
        for token in self.api_tokens.values() {
            encode_api_token(encoder, token);
        }
    }

    pub fn decode(decoder: &mut Decoder<'_>) -> Result<SideTables, EmbeddedError> {
        let mut tables = SideTables::default();
        for _ in 0..decoder.len()? {
            let project = Project {
                id: decoder.u64()?,
                name: decoder.string()?,
                created_at: decoder.time()?,
            };
            tables.projects.insert(project.id, project);
        }
        for _ in 0..decoder.len()? {
            let key = decode_key(decoder)?;
            tables
                .keys
                .insert((key.project_id, key.public_key.clone()), key);
        }
        for _ in 0..decoder.len()? {
            let issue = decode_issue(decoder)?;
            tables
                .issues
                .insert((issue.project_id, issue.issue_id), issue);
        }
        for _ in 0..decoder.len()? {
            let issue_id = decoder.u64()?;
            tables.issue_projects.insert(issue_id, decoder.u64()?);
        }
        for _ in 0..decoder.len()? {
            let mapping = decode_mapping(decoder)?;
            tables
                .mappings
                .insert((mapping.project_id, mapping.fingerprint), mapping);
        }
        for _ in 0..decoder.len()? {
            let change = decode_change(decoder)?;
            tables
                .states
                .insert((change.project_id, change.issue_id), change);
        }
        for _ in 0..decoder.len()? {
            let change = decode_change(decoder)?;
            tables
                .seen_changes
                .insert((change.issue_id, change.version));
            tables.history.push(change);
        }
        if !decoder.is_empty() {
            for _ in 0..decoder.len()? {
                let token = decode_api_token(decoder)?;
                tables.api_tokens.insert(token.token_id.clone(), token);
            }
        }
        Ok(tables)
    }
}

pub fn encode_api_token(encoder: &mut Encoder, token: &ApiTokenRecord) {
    encoder.str(&token.token_id);
    encoder.str(&token.secret_hash);
    encoder.str(&token.name);
    encoder.len(token.project_ids.len());
    for project_id in &token.project_ids {
        encoder.u64(*project_id);
    }
    encoder.time(token.created_at);
    encoder.u8(u8::from(token.revoked));
}

pub fn decode_api_token(decoder: &mut Decoder<'_>) -> Result<ApiTokenRecord, EmbeddedError> {
    let token_id = decoder.string()?;
    let secret_hash = decoder.string()?;
    let name = decoder.string()?;
    let mut project_ids = Vec::new();
    for _ in 0..decoder.len()? {
        project_ids.push(decoder.u64()?);
    }
    Ok(ApiTokenRecord {
        token_id,
        secret_hash,
        name,
        project_ids,
        created_at: decoder.time()?,
        revoked: decoder.u8()? != 0,
    })
}

pub fn encode_key(encoder: &mut Encoder, key: &ProjectKey) {
    encoder.u64(key.project_id);
    encoder.str(&key.public_key);
    encoder.u8(u8::from(key.active));
    encoder.time(key.created_at);
}

pub fn decode_key(decoder: &mut Decoder<'_>) -> Result<ProjectKey, EmbeddedError> {
    Ok(ProjectKey {
        project_id: decoder.u64()?,
        public_key: decoder.string()?,
        active: decoder.u8()? != 0,
        created_at: decoder.time()?,
    })
}

pub fn encode_issue(encoder: &mut Encoder, issue: &IssueRecord) {
    encoder.u64(issue.project_id);
    encoder.u64(issue.issue_id);
    encoder.str(&issue.title);
    encoder.str(&issue.culprit);
    encoder.str(&issue.level);
    encoder.str(&issue.platform);
    encoder.str(&issue.features);
    encoder.time(issue.created_at);
}

pub fn decode_issue(decoder: &mut Decoder<'_>) -> Result<IssueRecord, EmbeddedError> {
    Ok(IssueRecord {
        project_id: decoder.u64()?,
        issue_id: decoder.u64()?,
        title: decoder.string()?,
        culprit: decoder.string()?,
        level: decoder.string()?,
        platform: decoder.string()?,
        features: decoder.string()?,
        created_at: decoder.time()?,
    })
}

pub fn encode_mapping(encoder: &mut Encoder, mapping: &FingerprintMapping) {
    encoder.u64(mapping.project_id);
    encoder.u64(mapping.fingerprint);
    encoder.u64(mapping.issue_id);
    encoder.time(mapping.updated_at);
}

pub fn decode_mapping(decoder: &mut Decoder<'_>) -> Result<FingerprintMapping, EmbeddedError> {
    Ok(FingerprintMapping {
        project_id: decoder.u64()?,
        fingerprint: decoder.u64()?,
        issue_id: decoder.u64()?,
        updated_at: decoder.time()?,
    })
}

pub fn encode_change(encoder: &mut Encoder, change: &StatusChangeRecord) {
    encoder.u64(change.project_id);
    encoder.u64(change.issue_id);
    encoder.str(change.from_status.as_str());
    encoder.str(change.to_status.as_str());
    encoder.str(&change.actor);
    encoder.str(&change.comment);
    encoder.time(change.changed_at);
    encoder.str(&change.resolved_in_release);
    encoder.str(&change.ignore_condition);
    encoder.u64(change.version);
}

pub fn decode_change(decoder: &mut Decoder<'_>) -> Result<StatusChangeRecord, EmbeddedError> {
    Ok(StatusChangeRecord {
        project_id: decoder.u64()?,
        issue_id: decoder.u64()?,
        from_status: decode_status(decoder)?,
        to_status: decode_status(decoder)?,
        actor: decoder.string()?,
        comment: decoder.string()?,
        changed_at: decoder.time()?,
        resolved_in_release: decoder.string()?,
        ignore_condition: decoder.string()?,
        version: decoder.u64()?,
    })
}

fn decode_status(decoder: &mut Decoder<'_>) -> Result<IssueStatus, EmbeddedError> {
    let text = decoder.string()?;
    IssueStatus::parse(&text)
        .ok_or_else(|| EmbeddedError::Corrupt(format!("unknown issue status {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 500).unwrap_or_default()
    }

    #[test]
    fn newest_write_wins_and_creation_keeps_its_minimum() {
        let mut tables = SideTables::default();
        let issue = IssueRecord {
            project_id: 1,
            issue_id: 9,
            title: "first".into(),
            culprit: "c".into(),
            level: "error".into(),
            platform: "python".into(),
            features: String::new(),
            created_at: at(100),
        };
        tables.apply_issue(&issue);
        tables.apply_issue(&IssueRecord {
            title: "second".into(),
            created_at: at(200),
            ..issue.clone()
        });
        let stored = &tables.issues[&(1, 9)];
        assert_eq!(stored.title, "second");
        assert_eq!(stored.created_at, stored_time(at(100)));
        assert_eq!(stored.created_at.timestamp_subsec_nanos(), 0);

        for (fingerprint, issue_id, updated) in [(5, 9, 10), (5, 11, 5)] {
            tables.apply_mapping(&FingerprintMapping {
                project_id: 1,
                fingerprint,
                issue_id,
                updated_at: at(updated),
            });
        }
        assert_eq!(tables.mappings[&(1, 5)].issue_id, 11);
        assert_eq!(tables.mappings[&(1, 5)].updated_at.timestamp(), 10);

        let change = StatusChangeRecord {
            project_id: 1,
            issue_id: 9,
            from_status: IssueStatus::New,
            to_status: IssueStatus::Resolved,
            actor: "ada".into(),
            comment: "fixed".into(),
            changed_at: at(300),
            resolved_in_release: "1.2".into(),
            ignore_condition: String::new(),
            version: 7,
        };
        tables.apply_status_change(&change);
        // Carried again (a retried write): kept once.
        tables.apply_status_change(&change);
        // An older transition arriving late joins the history but not the state.
        tables.apply_status_change(&StatusChangeRecord {
            to_status: IssueStatus::Acknowledged,
            version: 5,
            ..change.clone()
        });
        assert_eq!(tables.status_of(1, 9), IssueStatus::Resolved);
        assert_eq!(tables.status_of(1, 10), IssueStatus::New);
        assert_eq!(tables.history.len(), 2);
        assert_eq!(tables.history[0].resolved_in_release, "1.2");

        let mut encoder = Encoder::new();
        tables.encode(&mut encoder);
        let bytes = encoder.finish();
        let decoded = SideTables::decode(&mut Decoder::new(&bytes, "test")).expect("decode");
        assert_eq!(decoded.issues, tables.issues);
        assert_eq!(decoded.mappings, tables.mappings);
        assert_eq!(decoded.states, tables.states);
        assert_eq!(decoded.history, tables.history);
        assert_eq!(decoded.issue_projects, tables.issue_projects);
    }
}
