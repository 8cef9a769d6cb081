//! Merge and unmerge: they change only the fingerprint→issue mapping (a new, newer mapping row),
//! never raw events, so every count and query shows the change at once on every engine.

use chrono::Utc;
use stackhouse_grouping::GroupingFeatures;

use crate::engine::{Engine, EngineError, IssueRecord, WriteBatch};
use crate::group::{new_issue_id, RegroupError};
use crate::pipeline::Pipeline;
use crate::writer::WriteError;

/// Why a merge or unmerge did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RegroupFailure {
    #[error(transparent)]
    Refused(#[from] RegroupError),
    #[error("cannot read the fingerprint's events: {0}")]
    Engine(#[from] EngineError),
    #[error("cannot store the new mapping: {0}")]
    Write(#[from] WriteError),
}

/// Moves every fingerprint of `sources` into `target`. Returns the fingerprints moved.
pub async fn merge(
    pipeline: &Pipeline,
    project_id: u64,
    target: u64,
    sources: &[u64],
) -> Result<Vec<u64>, RegroupFailure> {
    let grouper = pipeline.grouper();
    let mappings = grouper.plan_merge(project_id, target, sources, Utc::now())?;
    let batch = WriteBatch {
        new_mappings: mappings,
        ..WriteBatch::default()
    };
    pipeline.store(batch.clone()).await?;
    grouper.apply(&batch.new_mappings, &[]);
    Ok(batch.new_mappings.iter().map(|m| m.fingerprint).collect())
}

/// Moves `fingerprints` out of `issue_id`, each to the issue it opens on its own (re-created
/// from the fingerprint's latest event). Returns the issue ids they now belong to.
pub async fn unmerge(
    pipeline: &Pipeline,
    engine: &dyn Engine,
    project_id: u64,
    issue_id: u64,
    fingerprints: &[u64],
) -> Result<Vec<u64>, RegroupFailure> {
    let grouper = pipeline.grouper();
    let now = Utc::now();
    let mappings = grouper.plan_unmerge(project_id, issue_id, fingerprints, now)?;
    let mut new_issues = Vec::new();
    for mapping in &mappings {
        let latest = engine
            .fingerprint_events(project_id, &[mapping.fingerprint], 1)
            .await?
            .into_iter()
            .next()
            .and_then(|record| record.to_event().ok());
        let Some(event) = latest else {
            continue; // a fingerprint with no readable event keeps the issue record it had
        };
        debug_assert_eq!(
            mapping.issue_id,
            new_issue_id(project_id, mapping.fingerprint)
        );
        new_issues.push(IssueRecord {
            project_id,
            issue_id: mapping.issue_id,
            title: event.title(),
            culprit: event.culprit(),
            level: event.level.as_str().to_owned(),
            platform: event.platform.clone(),
            features: serde_json::to_string(&GroupingFeatures::from_event(&event))
                .unwrap_or_default(),
            created_at: now,
        });
    }
    let batch = WriteBatch {
        new_issues,
        new_mappings: mappings,
        ..WriteBatch::default()
    };
    pipeline.store(batch.clone()).await?;
    grouper.apply(&batch.new_mappings, &batch.new_issues);
    Ok(batch.new_mappings.iter().map(|m| m.issue_id).collect())
}
