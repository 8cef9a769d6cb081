//! Golden tests: every fingerprint algorithm version, pinned bit for bit.
//!
//! A diff in `snapshots/fingerprint_golden__*.snap` is a DATA MIGRATION, not a test to
//! re-accept: a changed hash re-groups every live issue whose events hit it (new events stop
//! matching their issue's fingerprint). Never change what a shipped version hashes — add a new
//! `FingerprintVersion` instead, and pin it here. Summary-only diffs (explanation wording) do
//! not move events but change what users see, so review them too.
//!
//! Inputs are frozen: `golden/events.json` (the first event of each corpus bug, written once
//! and never regenerated) plus the hand-built edge cases below. Add inputs; do not edit them.
#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::Write as _;

use common::{base_event, exception_event, frame};
use stackhouse_grouping::{
    fingerprint_event, parameterize, FingerprintRules, FingerprintVersion, GroupingConfig,
    SimilarityMatch, SimilarityScore,
};
use stackhouse_protocol::{ErrorEvent, Mechanism};

#[derive(serde::Deserialize)]
struct GoldenEvent {
    name: String,
    event: ErrorEvent,
}

const RULES: &str = "type:ChunkLoadError -> chunk-load-error\n\
                     message:\"*timeout*\" module:db.* -> db-timeouts {{ transaction }}";

fn edge_cases() -> Vec<(String, ErrorEvent)> {
    let mut cases = Vec::new();
    cases.push(("edge/empty-event".to_owned(), base_event("other")));

    let mut client_default = exception_event(
        "python",
        "ValueError",
        "bad",
        vec![frame("app.x", "f", 1, true)],
    );
    client_default.fingerprint = Some(vec!["{{ default }}".into(), "tenant-a".into()]);
    cases.push(("edge/client-fingerprint-default".to_owned(), client_default));

    let mut client_only = exception_event(
        "python",
        "ValueError",
        "bad",
        vec![frame("app.x", "f", 1, true)],
    );
    client_only.fingerprint = Some(vec!["payments".into(), "{{ level }}".into()]);
    cases.push(("edge/client-fingerprint-literal".to_owned(), client_only));

    let chunk = exception_event(
        "javascript",
        "ChunkLoadError",
        "Loading chunk 7 failed.",
        vec![],
    );
    cases.push(("edge/rule-chunk-load".to_owned(), chunk));

    let mut timeout = exception_event(
        "python",
        "OperationalError",
        "query timeout after 30s",
        vec![
            frame("db.pool", "execute", 1, false),
            frame("app.reports", "build", 2, true),
        ],
    );
    timeout.transaction = Some("/reports/{id}".into());
    cases.push(("edge/rule-db-timeout".to_owned(), timeout));

    let mut synthetic = exception_event(
        "native",
        "SIGSEGV",
        "",
        vec![frame("app", "crash", 1, true)],
    );
    synthetic.exceptions[0].mechanism = Some(Mechanism {
        ty: "signalhandler".into(),
        synthetic: Some(true),
        ..Mechanism::default()
    });
    cases.push(("edge/synthetic-exception".to_owned(), synthetic));

    let mut template = base_event("python");
    template.message = Some("user 42 not found".into());
    template.message_template = Some("user %s not found".into());
    cases.push(("edge/message-template".to_owned(), template));

    let type_only = exception_event("go", "*errors.errorString", "", vec![]);
    cases.push(("edge/type-only".to_owned(), type_only));
    cases
}

fn golden_inputs() -> Vec<(String, ErrorEvent)> {
    let json = include_str!("golden/events.json");
    let golden: Vec<GoldenEvent> = serde_json::from_str(json).unwrap();
    let mut inputs: Vec<(String, ErrorEvent)> = golden
        .into_iter()
        .map(|golden| (golden.name, golden.event))
        .collect();
    inputs.extend(edge_cases());
    inputs
}

#[test]
fn every_version_is_pinned() {
    let rules = FingerprintRules::parse(RULES).unwrap();
    let mut table = String::new();
    for (name, event) in golden_inputs() {
        writeln!(table, "{name}").unwrap();
        for version in FingerprintVersion::ALL {
            let config = GroupingConfig {
                version,
                rules: rules.clone(),
                ..GroupingConfig::default()
            };
            let fingerprint = fingerprint_event(&event, &config);
            writeln!(
                table,
                "  {} {:016x} {}",
                version.as_str(),
                fingerprint.hash,
                fingerprint.explanation.summary()
            )
            .unwrap();
        }
    }
    insta::assert_snapshot!("fingerprints", table);
}

#[test]
fn parameterization_is_pinned() {
    // v2 hashes parameterized messages: a change here moves every message-based v2 hash.
    let messages = [
        "user 42 (bob@example.com) from 10.0.0.1 took 1.5s",
        "order 3fa85f64-5717-4562-b3fc-2c963f66afa6 missing at 2024-01-15T10:30:00Z",
        "GET https://api.example.com/v1/users/42?x=1 failed: connect to db-3.prod.internal (10.0.12.7:5432)",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 etag d41d8cd98f00b204e9800998ecf8427e at 0x7ffd5e8c9a10",
        "cannot open /var/lib/app/uploads/a1.tmp: name='Robert' id=42 after 300ms",
        "fe80::1 and ::ffff:192.168.0.1 on Mon, 15 Jan 2024 10:30:00 GMT",
        "first line 1\nsecond line 2\nthird line 3",
    ];
    let table: String = messages
        .iter()
        .map(|message| format!("{message:?}\n  => {:?}\n", parameterize(message)))
        .collect();
    insta::assert_snapshot!("parameterize", table);
}

#[test]
fn stored_explanation_json_is_pinned() {
    // The explanation is stored as JSON with every event and served by GraphQL: its shape is
    // an interface. A chain with a library frame, joined to an issue by similarity.
    let golden = golden_inputs();
    let (_, event) = golden
        .iter()
        .find(|(name, _)| name == "java-payment-read-timeout")
        .unwrap();
    let config = GroupingConfig::default();
    let mut fingerprint = fingerprint_event(event, &config);
    let found = SimilarityMatch {
        issue_id: 42,
        score: SimilarityScore {
            score: 0.75,
            stack_overlap: 0.75,
            message_similarity: 1.0,
            context_similarity: 0.5,
        },
    };
    fingerprint.record_similarity(&found, &config.similarity);
    insta::assert_json_snapshot!("explanation_json", fingerprint.explanation);
    insta::assert_snapshot!("explanation_summary", fingerprint.explanation.summary());
}
