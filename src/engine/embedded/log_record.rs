//! What one write-ahead log record holds: a write batch (its issues and mappings, and its
//! events as an Arrow IPC stream, the very batch the memtable keeps), a new project with its
//! key, a lifecycle transition, or an API token.

use datafusion::arrow::array::RecordBatch;

use super::codec::{Decoder, Encoder};
use super::event_batch::{from_ipc, ipc_bytes_hint, to_ipc};
use super::side_tables::{
    decode_api_token, decode_change, decode_issue, decode_key, decode_mapping, encode_api_token,
    encode_change, encode_issue, encode_key, encode_mapping,
};
use super::EmbeddedError;
use crate::engine::{
    ApiTokenRecord, FingerprintMapping, IssueRecord, Project, ProjectKey, StatusChangeRecord,
};

const BATCH: u8 = 1;
const PROJECT: u8 = 2;
// Kind 3 was a lone status change, before transitions travelled in batches.
const BATCH_WITH_CHANGES: u8 = 4;
const API_TOKEN: u8 = 5;

#[derive(Debug, Clone)]
pub enum LogRecord {
    Batch {
        issues: Vec<IssueRecord>,
        mappings: Vec<FingerprintMapping>,
        events: Option<RecordBatch>,
        status_changes: Vec<StatusChangeRecord>,
    },
    Project {
        project: Project,
        key: ProjectKey,
    },
    ApiToken(ApiTokenRecord),
}

impl LogRecord {
    pub fn encode(&self) -> Result<Vec<u8>, EmbeddedError> {
        match self {
            LogRecord::Batch {
                issues,
                mappings,
                events,
                status_changes,
            } => {
                // The events' IPC stream, most of the record, is written in place, into room
                // made up front, and not copied. In a perf profile of the load benchmark, the
                // reallocations of a stream written into its own growing buffer and then of
                // the record's took 0.9% of the server's CPU, page faults included, and copying
                // the stream into the record another 0.5%.
                let mut encoder = Encoder::with_capacity(
                    events.as_ref().map_or(0, ipc_bytes_hint)
                        + 256 * (issues.len() + status_changes.len())
                        + 64 * mappings.len()
                        + 64,
                );
                encoder.u8(if status_changes.is_empty() {
                    BATCH
                } else {
                    BATCH_WITH_CHANGES
                });
                encoder.len(issues.len());
                for issue in issues {
                    encode_issue(&mut encoder, issue);
                }
                encoder.len(mappings.len());
                for mapping in mappings {
                    encode_mapping(&mut encoder, mapping);
                }
                match events {
                    Some(events) => {
                        encoder.u8(1);
                        encoder.bytes_written_by(|bytes| to_ipc(events, bytes))?;
                    }
                    None => encoder.u8(0),
                }
                if !status_changes.is_empty() {
                    encoder.len(status_changes.len());
                    for change in status_changes {
                        encode_change(&mut encoder, change);
                    }
                }
                Ok(encoder.finish())
            }
            LogRecord::Project { project, key } => {
                let mut encoder = Encoder::new();
                encoder.u8(PROJECT);
                encoder.u64(project.id);
                encoder.str(&project.name);
                encoder.time(project.created_at);
                encode_key(&mut encoder, key);
                Ok(encoder.finish())
            }
            LogRecord::ApiToken(token) => {
                let mut encoder = Encoder::new();
                encoder.u8(API_TOKEN);
                encode_api_token(&mut encoder, token);
                Ok(encoder.finish())
            }
        }
    }

    pub fn decode(payload: &[u8]) -> Result<LogRecord, EmbeddedError> {
        let mut decoder = Decoder::new(payload, "write-ahead log record");
        let record = match decoder.u8()? {
            kind @ (BATCH | BATCH_WITH_CHANGES) => {
                let mut issues = Vec::new();
                for _ in 0..decoder.len()? {
                    issues.push(decode_issue(&mut decoder)?);
                }
                let mut mappings = Vec::new();
                for _ in 0..decoder.len()? {
                    mappings.push(decode_mapping(&mut decoder)?);
                }
                let events = match decoder.u8()? {
                    0 => None,
                    _ => Some(from_ipc(decoder.bytes()?)?),
                };
                let mut status_changes = Vec::new();
                if kind == BATCH_WITH_CHANGES {
                    for _ in 0..decoder.len()? {
                        status_changes.push(decode_change(&mut decoder)?);
                    }
                }
                LogRecord::Batch {
                    issues,
                    mappings,
                    events,
                    status_changes,
                }
            }
            PROJECT => LogRecord::Project {
                project: Project {
                    id: decoder.u64()?,
                    name: decoder.string()?,
                    created_at: decoder.time()?,
                },
                key: decode_key(&mut decoder)?,
            },
            API_TOKEN => LogRecord::ApiToken(decode_api_token(&mut decoder)?),
            other => {
                return Err(EmbeddedError::Corrupt(format!(
                    "unknown write-ahead log record kind {other}"
                )))
            }
        };
        if !decoder.is_empty() {
            return Err(EmbeddedError::Corrupt(
                "trailing bytes after a write-ahead log record".into(),
            ));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::embedded::event_batch::{sample_record, to_record_batch, to_records};
    use crate::engine::IssueStatus;

    #[test]
    fn every_kind_round_trips() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let events = to_record_batch(&[sample_record(1), sample_record(2)]).expect("batch");
        let batch = LogRecord::Batch {
            issues: vec![IssueRecord {
                project_id: 1,
                issue_id: 2,
                title: "t".into(),
                culprit: "c".into(),
                level: "error".into(),
                platform: "go".into(),
                features: "{}".into(),
                created_at: at,
            }],
            mappings: vec![FingerprintMapping {
                project_id: 1,
                fingerprint: 3,
                issue_id: 2,
                updated_at: at,
            }],
            events: Some(events.clone()),
            status_changes: Vec::new(),
        };
        match LogRecord::decode(&batch.encode().expect("encode")).expect("decode") {
            LogRecord::Batch {
                issues,
                mappings,
                events: Some(decoded),
                status_changes,
            } => {
                assert_eq!(issues.len(), 1);
                assert_eq!(mappings[0].fingerprint, 3);
                assert!(status_changes.is_empty());
                assert_eq!(
                    to_records(&decoded).expect("records"),
                    to_records(&events).expect("records")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let change = LogRecord::Batch {
            issues: Vec::new(),
            mappings: Vec::new(),
            events: None,
            status_changes: vec![StatusChangeRecord {
                project_id: 1,
                issue_id: 2,
                from_status: IssueStatus::New,
                to_status: IssueStatus::Ignored,
                actor: "ada".into(),
                comment: String::new(),
                changed_at: at,
                resolved_in_release: String::new(),
                ignore_condition: "{\"untilEvents\":5}".into(),
                version: 42,
            }],
        };
        match LogRecord::decode(&change.encode().expect("encode")).expect("decode") {
            LogRecord::Batch { status_changes, .. } => {
                assert_eq!(status_changes.len(), 1);
                assert_eq!(status_changes[0].to_status, IssueStatus::Ignored);
                assert_eq!(status_changes[0].version, 42);
            }
            other => panic!("unexpected {other:?}"),
        }
        let token = LogRecord::ApiToken(ApiTokenRecord {
            token_id: "0011223344556677".into(),
            secret_hash: "ab".repeat(32),
            name: "ci".into(),
            project_ids: vec![1, 7],
            created_at: at,
            revoked: true,
        });
        match LogRecord::decode(&token.encode().expect("encode")).expect("decode") {
            LogRecord::ApiToken(decoded) => {
                assert_eq!(decoded.project_ids, vec![1, 7]);
                assert!(decoded.revoked);
                assert_eq!(decoded.name, "ci");
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut garbage = change.encode().expect("encode");
        garbage.push(0);
        assert!(LogRecord::decode(&garbage).is_err());
    }
}
