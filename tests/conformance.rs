//! One conformance suite, written once and run against every engine: ClickHouse (needs
//! `STACKHOUSE_TEST_CLICKHOUSE_URL`, see `scripts/test.sh`), the embedded engine with its
//! defaults (recent data in the memtable and the write-ahead log), and the embedded engine
//! checkpointing every few dozen events (reads across many Parquet segments and merges).
//!
//! Each test body is a function of the [`Backend`] and asserts values computed in the test
//! from the events it sent, so any behaviour that differs between the engines fails one of them.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::{
    alert_delivery, alert_event, alert_history, python_event, Backend, Ingest, TestServer,
};
use serde_json::{json, Value};
use stackhouse::config::Config;
use stackhouse::engine::{
    AlertClaim, AlertEvaluationWrite, AlertPruneCounts, AlertStateRecord, Engine, EventFilter,
    EventRecord, FingerprintMapping, HourlyCount, IssueFingerprints, IssueQuery, IssueSort,
    IssueStatus, IssueSummary, SpanRange, SpanRecord, WriteBatch,
};

conformance!(
    ten_thousand_events_from_a_handful_of_bugs_group_into_exact_issues,
    issue_list_counts_users_first_last_seen_in_every_sort_and_page,
    status_filter_follows_the_latest_lifecycle_state,
    hourly_counts_bucket_by_hour_within_the_window,
    latest_events_come_newest_first_with_event_id_breaking_ties,
    merge_and_unmerge_change_the_mapping_and_every_aggregate_at_once,
    projects_keys_and_mappings_are_stored,
    reopening_gives_identical_answers,
    span_ranges_count_and_sample_whole_traces,
    alert_history_prune_keeps_recent_rows_and_pending_deliveries,
    alert_reads_and_claims_cover_a_whole_evaluation_group_at_once,
);

fn iso(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(seconds, 0).unwrap()
}

/// A base time well inside the last day, on an hour boundary, so hourly buckets are known.
fn base_hour() -> i64 {
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    (hour - Duration::hours(12)).timestamp()
}

/// What the events of one issue add up to, computed by the test.
#[derive(Debug, Default, Clone)]
struct Expected {
    events: u64,
    users: BTreeSet<String>,
    first: i64,
    last: i64,
}

impl Expected {
    fn add(&mut self, record: &EventRecord) {
        let seconds = record.timestamp.timestamp();
        if self.events == 0 {
            (self.first, self.last) = (seconds, seconds);
        }
        self.events += 1;
        self.first = self.first.min(seconds);
        self.last = self.last.max(seconds);
        if !record.user_key.is_empty() {
            self.users.insert(record.user_key.clone());
        }
    }

    fn sort_value(&self, sort: IssueSort) -> i64 {
        match sort {
            IssueSort::LastSeen => self.last,
            IssueSort::FirstSeen => self.first,
            IssueSort::Events => self.events as i64,
            IssueSort::Users => self.users.len() as i64,
        }
    }
}

/// Expected aggregates per issue from the written batches (fingerprint → issue as mapped).
fn expected_issues(
    batches: &[&WriteBatch],
    mapping: &HashMap<u64, u64>,
) -> BTreeMap<u64, Expected> {
    let mut expected: BTreeMap<u64, Expected> = BTreeMap::new();
    for batch in batches {
        for record in &batch.events {
            expected
                .entry(mapping[&record.fingerprint])
                .or_default()
                .add(record);
        }
    }
    expected
}

fn mapping_of(batches: &[&WriteBatch]) -> HashMap<u64, u64> {
    batches
        .iter()
        .flat_map(|batch| &batch.new_mappings)
        .map(|mapping| (mapping.fingerprint, mapping.issue_id))
        .collect()
}

/// The fingerprints of each of `issues` under `mapping` (issues without any left out).
fn fingerprints_of(mapping: &HashMap<u64, u64>, issues: &[u64]) -> IssueFingerprints {
    let mut groups = IssueFingerprints::new();
    for (fingerprint, issue_id) in mapping {
        if issues.contains(issue_id) {
            groups.entry(*issue_id).or_default().push(*fingerprint);
        }
    }
    groups
}

/// Hourly counts of `issues` in `[from, to)` (epoch seconds) from the written batches, oldest
/// first, hours without events left out.
fn hourly_of(
    batches: &[&WriteBatch],
    mapping: &HashMap<u64, u64>,
    issues: &[u64],
    (from, to): (i64, i64),
) -> HashMap<u64, Vec<HourlyCount>> {
    let mut counts: BTreeMap<(u64, i64), u64> = BTreeMap::new();
    for record in batches.iter().flat_map(|batch| &batch.events) {
        let issue_id = mapping[&record.fingerprint];
        let seconds = record.timestamp.timestamp();
        let hour = seconds - seconds.rem_euclid(3600);
        if issues.contains(&issue_id) && (from..to).contains(&hour) {
            *counts.entry((issue_id, hour)).or_default() += 1;
        }
    }
    let mut hourly: HashMap<u64, Vec<HourlyCount>> = HashMap::new();
    for ((issue_id, hour), events) in counts {
        hourly.entry(issue_id).or_default().push(HourlyCount {
            hour: at(hour),
            events,
        });
    }
    hourly
}

fn assert_summary(summary: &IssueSummary, want: &Expected) {
    let id = summary.issue.issue_id;
    assert_eq!(summary.events, want.events, "events of issue {id}");
    assert_eq!(
        summary.users,
        want.users.len() as u64,
        "users of issue {id}"
    );
    assert_eq!(
        summary.first_seen.timestamp(),
        want.first,
        "first seen of {id}"
    );
    assert_eq!(
        summary.last_seen.timestamp(),
        want.last,
        "last seen of {id}"
    );
}

fn query(project_id: u64, sort: IssueSort) -> IssueQuery {
    IssueQuery {
        project_id,
        status: None,
        sort,
        limit: 100,
        offset: 0,
    }
}

/// Four bugs with deliberate ties: A and B have the same count; B and C the same last seen;
/// C and D the same number of users. Timestamps have fractions (stored as whole seconds),
/// span several hours, and come in two batches.
fn four_bugs(base: i64) -> (Vec<Value>, Vec<Value>) {
    let event = |bug: &str, offset: f64, user: Option<&str>| {
        let functions: &[&str] = match bug {
            "A" => &["checkout_view", "parse_quantity"],
            "B" => &["cart_view", "load_session"],
            "C" => &["payment_view", "charge_card"],
            _ => &["report_view", "average_basket"],
        };
        let kind = format!("Bug{bug}Error");
        python_event(
            &kind,
            &format!("failed after {offset}"),
            functions,
            user,
            base as f64 + offset,
        )
    };
    let first = vec![
        event("A", 100.25, Some("u1")),
        event("A", 3_700.9, Some("u2")),
        event("A", 3_701.0, Some("u1")),
        event("B", 50.5, None),
        event("B", 7_300.0, Some("u3")),
        event("C", 200.0, Some("u1")),
        event("D", 10.0, Some("u4")),
    ];
    let second = vec![
        event("A", 7_250.75, None),
        event("B", 3_600.0, Some("u3")),
        event("B", 90.0, Some("u5")),
        event("C", 7_300.4, Some("u2")),
        event("D", 11_000.0, Some("u5")),
    ];
    (first, second)
}

async fn ten_thousand_events_from_a_handful_of_bugs_group_into_exact_issues(backend: Backend) {
    const ISSUES_QUERY: &str = r#"
    query($project: ID!) {
      issues(projectId: $project, sort: EVENTS, first: 100) { nodes {
        id title culprit level platform status count userCount firstSeen lastSeen sparkline
      } }
    }"#;
    let server = TestServer::start(backend.open().engine, Config::default()).await;
    let now = Utc::now().timestamp();
    // Five bugs; two share ValueError but come from different code paths.
    let bugs: [(&str, &[&str]); 5] = [
        ("ValueError", &["checkout_view", "parse_quantity"]),
        ("ValueError", &["checkout_view", "apply_coupon"]),
        ("KeyError", &["cart_view", "load_session"]),
        (
            "TimeoutError",
            &["payment_view", "charge_card", "call_gateway"],
        ),
        ("ZeroDivisionError", &["report_view", "average_basket"]),
    ];
    #[derive(Default)]
    struct Bug {
        title: String,
        count: u64,
        users: BTreeSet<String>,
        first: i64,
        last: i64,
    }
    let mut expected: BTreeMap<usize, Bug> = BTreeMap::new();
    let mut lines = Vec::with_capacity(10_000);
    for i in 0..10_000usize {
        // Uneven mix so every count differs.
        let bug = match i % 20 {
            0..=7 => 0,
            8..=12 => 1,
            13..=15 => 2,
            16..=17 => 3,
            _ => 4,
        };
        let (exception_type, functions) = bugs[bug];
        let message = match bug {
            0 => format!("invalid literal for int() with base 10: '{}'", i * 7),
            1 => format!("coupon {} expired for order {}", uuid::Uuid::new_v4(), i),
            2 => format!("'session_{i}'"),
            3 => format!(
                "gateway 10.0.{}.{} timed out after {}ms",
                i % 255,
                i % 7,
                3000 + i
            ),
            _ => "division by zero".to_owned(),
        };
        let user = (i % 3 != 0).then(|| format!("user-{}", (i * 13 + bug) % (50 + bug * 10)));
        let timestamp = now - 7200 + (i as i64 % 7000);
        let event = python_event(
            exception_type,
            &message,
            functions,
            user.as_deref(),
            timestamp as f64,
        );
        let entry = expected.entry(bug).or_insert_with(|| Bug {
            first: i64::MAX,
            last: i64::MIN,
            ..Bug::default()
        });
        entry.count += 1;
        if let Some(user) = user {
            entry.users.insert(user);
        }
        entry.first = entry.first.min(timestamp);
        entry.last = entry.last.max(timestamp);
        entry.title = format!("{exception_type}: {message}");
        lines.push(event);
    }

    let (status, body) = server.send_ndjson(&lines).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 10_000);
    assert_eq!(body["ids"].as_array().unwrap().len(), 10_000);
    assert!(body["rejected"].as_array().unwrap().is_empty());

    // The response came after the batch was durable: it is visible at once.
    let data = server
        .graphql(
            ISSUES_QUERY,
            json!({ "project": server.project_id.to_string() }),
        )
        .await;
    let issues = data["issues"]["nodes"].as_array().unwrap();
    assert_eq!(issues.len(), 5, "{issues:#?}");
    let mut by_count: Vec<&Bug> = expected.values().collect();
    by_count.sort_by_key(|bug| std::cmp::Reverse(bug.count));
    for (issue, want) in issues.iter().zip(by_count) {
        assert_eq!(issue["count"], want.count, "{issue}");
        assert_eq!(issue["userCount"], want.users.len() as u64, "{issue}");
        assert_eq!(issue["firstSeen"], iso(want.first), "{issue}");
        assert_eq!(issue["lastSeen"], iso(want.last), "{issue}");
        assert_eq!(issue["status"], "NEW");
        assert_eq!(issue["platform"], "python");
        assert_eq!(issue["level"], "error");
        // The title is the first event's; every event of a bug shares its exception type.
        let want_type = want.title.split(':').next().unwrap();
        assert!(
            issue["title"].as_str().unwrap().starts_with(want_type),
            "{issue}"
        );
        let sparkline: u64 = issue["sparkline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(
            sparkline, want.count,
            "all events are within the last 24 hours"
        );
    }
    let culprits: BTreeSet<&str> = issues
        .iter()
        .map(|i| i["culprit"].as_str().unwrap())
        .collect();
    assert!(
        culprits.contains("shop.parse in parse_quantity"),
        "{culprits:?}"
    );
    assert!(
        culprits.contains("shop.apply in apply_coupon"),
        "{culprits:?}"
    );
}

async fn issue_list_counts_users_first_last_seen_in_every_sort_and_page(backend: Backend) {
    let handle = backend.open();
    let engine = handle.engine.as_ref();
    engine.migrate().await.unwrap();
    let project = engine
        .create_project("conformance", "key-issues")
        .await
        .unwrap();
    let other = engine
        .create_project("other", "key-issues-other")
        .await
        .unwrap();
    let ingest = Ingest::load(engine).await;
    let base = base_hour();
    let (first, second) = four_bugs(base);
    let one = ingest.write(engine, project.id, &first).await;
    let two = ingest.write(engine, project.id, &second).await;
    // Another project's events never show in this project's list.
    ingest.write(engine, other.id, &first).await;
    let mapping = mapping_of(&[&one, &two]);
    let expected = expected_issues(&[&one, &two], &mapping);
    assert_eq!(expected.len(), 4);

    for sort in [
        IssueSort::LastSeen,
        IssueSort::FirstSeen,
        IssueSort::Events,
        IssueSort::Users,
    ] {
        let mut want: Vec<(&u64, &Expected)> = expected.iter().collect();
        want.sort_by(|(a_id, a), (b_id, b)| {
            b.sort_value(sort)
                .cmp(&a.sort_value(sort))
                .then(b_id.cmp(a_id))
        });
        let got = engine.issues(&query(project.id, sort)).await.unwrap();
        let got_ids: Vec<u64> = got.iter().map(|s| s.issue.issue_id).collect();
        let want_ids: Vec<u64> = want.iter().map(|(id, _)| **id).collect();
        assert_eq!(got_ids, want_ids, "order by {sort:?}");
        for summary in &got {
            assert_summary(summary, &expected[&summary.issue.issue_id]);
            assert_eq!(summary.status, IssueStatus::New);
            assert_eq!(summary.issue.project_id, project.id);
            assert_eq!(summary.issue.platform, "python");
            assert!(
                summary.issue.title.starts_with("Bug"),
                "{:?}",
                summary.issue
            );
        }
        // Pages are slices of the same order.
        let page = engine
            .issues(&IssueQuery {
                limit: 2,
                offset: 1,
                ..query(project.id, sort)
            })
            .await
            .unwrap();
        let page_ids: Vec<u64> = page.iter().map(|s| s.issue.issue_id).collect();
        assert_eq!(page_ids, want_ids[1..3].to_vec(), "page of {sort:?}");
    }
    let past_the_end = engine
        .issues(&IssueQuery {
            offset: 10,
            ..query(project.id, IssueSort::Events)
        })
        .await
        .unwrap();
    assert!(past_the_end.is_empty());

    for (issue_id, want) in &expected {
        let summary = engine.issue(*issue_id).await.unwrap().unwrap();
        assert_summary(&summary, want);
    }
    // A page read by id: the records asked for (an unknown id left out); users and hours
    // over the fingerprints the caller names for each issue.
    let some: Vec<u64> = expected.keys().copied().take(2).chain([12345]).collect();
    let mut records = engine.issue_records_of(project.id, &some).await.unwrap();
    records.sort_by_key(|record| record.issue_id);
    let record_ids: Vec<u64> = records.iter().map(|record| record.issue_id).collect();
    assert_eq!(record_ids, some[..2].to_vec());
    assert!(records.iter().all(|record| record.project_id == project.id));
    assert!(engine
        .issue_records_of(project.id, &[])
        .await
        .unwrap()
        .is_empty());
    let page = fingerprints_of(&mapping, &some);
    let users = engine.issue_users(project.id, &page).await.unwrap();
    let want: HashMap<u64, u64> = some[..2]
        .iter()
        .map(|id| (*id, expected[id].users.len() as u64))
        .filter(|(_, users)| *users > 0)
        .collect();
    assert_eq!(users, want, "users of a page");
    let hours = engine
        .issue_hourly_counts(project.id, &page, at(base - 3600), at(base + 24 * 3600))
        .await
        .unwrap();
    assert_eq!(
        hours,
        hourly_of(
            &[&one, &two],
            &mapping,
            &some,
            (base - 3600, base + 24 * 3600)
        ),
        "hours of a page"
    );
    let one_hour = engine
        .issue_hourly_counts(project.id, &page, at(base + 3600), at(base + 7200))
        .await
        .unwrap();
    assert_eq!(
        one_hour,
        hourly_of(&[&one, &two], &mapping, &some, (base + 3600, base + 7200)),
        "hours of a page, one hour"
    );
    assert!(engine
        .issue_users(project.id, &IssueFingerprints::new())
        .await
        .unwrap()
        .is_empty());
    // The totals of some fingerprints only.
    let named: Vec<u64> = page.values().flatten().copied().chain([777]).collect();
    let mut subset = engine
        .fingerprint_totals(project.id, Some(&named))
        .await
        .unwrap();
    subset.sort_by_key(|t| t.fingerprint);
    let mut want_fingerprints: Vec<u64> = page.values().flatten().copied().collect();
    want_fingerprints.sort_unstable();
    assert_eq!(
        subset.iter().map(|t| t.fingerprint).collect::<Vec<_>>(),
        want_fingerprints
    );

    // What the list ranks by: per fingerprint, all time and per range of hours.
    let mut per_fingerprint: BTreeMap<u64, Expected> = BTreeMap::new();
    for record in one.events.iter().chain(&two.events) {
        per_fingerprint
            .entry(record.fingerprint)
            .or_default()
            .add(record);
    }
    let totals: BTreeMap<u64, (u64, i64, i64)> = engine
        .fingerprint_totals(project.id, None)
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            let seen = (t.first_seen.timestamp(), t.last_seen.timestamp());
            (t.fingerprint, (t.events, seen.0, seen.1))
        })
        .collect();
    let want: BTreeMap<u64, (u64, i64, i64)> = per_fingerprint
        .iter()
        .map(|(fingerprint, e)| (*fingerprint, (e.events, e.first, e.last)))
        .collect();
    assert_eq!(totals, want);
    let windows = [
        (base, base + 3600),
        (base + 3600, base + 3 * 3600),
        (base - 86_400, base + 86_400),
        (base + 7200, base),
    ];
    let mut want: HashMap<u64, Vec<u64>> = HashMap::new();
    for record in one.events.iter().chain(&two.events) {
        let seconds = record.timestamp.timestamp();
        let hour = seconds - seconds.rem_euclid(3600);
        for (index, (from, to)) in windows.iter().enumerate() {
            if (*from..*to).contains(&hour) {
                want.entry(record.fingerprint)
                    .or_insert_with(|| vec![0; windows.len()])[index] += 1;
            }
        }
    }
    let ranges: Vec<_> = windows
        .iter()
        .map(|(from, to)| (at(*from), at(*to)))
        .collect();
    let got = engine
        .fingerprint_counts(project.id, &ranges)
        .await
        .unwrap();
    assert_eq!(got.len(), want.len(), "one row per fingerprint");
    assert_eq!(got.to_map(), want, "counts per window");
    // An empty window alone: nothing.
    assert!(engine
        .fingerprint_counts(project.id, &ranges[3..])
        .await
        .unwrap()
        .is_empty());
    assert!(engine
        .fingerprint_totals(999, None)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(engine.issue(12345).await.unwrap(), None);
    assert!(engine
        .issues(&query(999, IssueSort::LastSeen))
        .await
        .unwrap()
        .is_empty());
}

async fn status_filter_follows_the_latest_lifecycle_state(backend: Backend) {
    let handle = backend.open();
    let engine = handle.engine.as_ref();
    engine.migrate().await.unwrap();
    let project = engine.create_project("status", "key-status").await.unwrap();
    let ingest = Ingest::load(engine).await;
    let (first, _) = four_bugs(base_hour());
    let batch = ingest.write(engine, project.id, &first).await;
    let ids: Vec<u64> = expected_issues(&[&batch], &mapping_of(&[&batch]))
        .keys()
        .copied()
        .collect();
    let (resolved, ignored, acknowledged_again_new) = (ids[0], ids[1], ids[2]);
    handle
        .set_status(project.id, resolved, IssueStatus::Resolved)
        .await;
    handle
        .set_status(project.id, ignored, IssueStatus::Acknowledged)
        .await;
    // Versions are write times (ClickHouse) or log order (embedded): the later write wins.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    handle
        .set_status(project.id, ignored, IssueStatus::Ignored)
        .await;
    handle
        .set_status(
            project.id,
            acknowledged_again_new,
            IssueStatus::Acknowledged,
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    handle
        .set_status(project.id, acknowledged_again_new, IssueStatus::New)
        .await;

    let with_status = |status: Option<IssueStatus>| {
        let query = IssueQuery {
            status,
            ..query(project.id, IssueSort::Events)
        };
        async move {
            let mut ids: Vec<u64> = engine
                .issues(&query)
                .await
                .unwrap()
                .iter()
                .map(|s| s.issue.issue_id)
                .collect();
            ids.sort_unstable();
            ids
        }
    };
    assert_eq!(
        with_status(Some(IssueStatus::Resolved)).await,
        vec![resolved]
    );
    assert_eq!(with_status(Some(IssueStatus::Ignored)).await, vec![ignored]);
    assert!(with_status(Some(IssueStatus::Acknowledged))
        .await
        .is_empty());
    assert!(with_status(Some(IssueStatus::Regressed)).await.is_empty());
    let mut new = vec![acknowledged_again_new, ids[3]];
    new.sort_unstable();
    assert_eq!(with_status(Some(IssueStatus::New)).await, new);
    assert_eq!(with_status(None).await.len(), 4);
    let summary = engine.issue(ignored).await.unwrap().unwrap();
    assert_eq!(summary.status, IssueStatus::Ignored);
}

async fn hourly_counts_bucket_by_hour_within_the_window(backend: Backend) {
    let handle = backend.open();
    let engine = handle.engine.as_ref();
    engine.migrate().await.unwrap();
    let project = engine.create_project("hourly", "key-hourly").await.unwrap();
    let ingest = Ingest::load(engine).await;
    let base = base_hour();
    let (first, second) = four_bugs(base);
    let one = ingest.write(engine, project.id, &first).await;
    let two = ingest.write(engine, project.id, &second).await;
    let mapping = mapping_of(&[&one, &two]);
    let mut want: BTreeMap<u64, BTreeMap<i64, u64>> = BTreeMap::new();
    for record in one.events.iter().chain(&two.events) {
        let seconds = record.timestamp.timestamp();
        *want
            .entry(mapping[&record.fingerprint])
            .or_default()
            .entry(seconds - seconds.rem_euclid(3600))
            .or_default() += 1;
    }
    let issue_ids: Vec<u64> = want.keys().copied().collect();
    let all = engine
        .hourly_counts(
            project.id,
            &issue_ids,
            at(base - 3600),
            at(base + 24 * 3600),
        )
        .await
        .unwrap();
    let mut got: BTreeMap<u64, BTreeMap<i64, u64>> = BTreeMap::new();
    for (issue, hours) in &all {
        let starts: Vec<i64> = hours.iter().map(|h| h.hour.timestamp()).collect();
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "hours oldest first");
        got.insert(
            *issue,
            hours
                .iter()
                .map(|h| (h.hour.timestamp(), h.events))
                .collect(),
        );
    }
    assert_eq!(got, want);

    // [from, to): the hour starting at `from` is in, the one starting at `to` is out.
    let window = engine
        .hourly_counts(project.id, &issue_ids, at(base + 3600), at(base + 7200))
        .await
        .unwrap();
    for (issue, hours) in &window {
        assert_eq!(hours.len(), 1);
        assert_eq!(hours[0].hour.timestamp(), base + 3600);
        assert_eq!(hours[0].events, want[issue][&(base + 3600)]);
    }
    let expected_in_window = want
        .values()
        .filter(|hours| hours.contains_key(&(base + 3600)))
        .count();
    assert_eq!(window.len(), expected_in_window);

    // Only the asked issues; none asked, none returned.
    let one_issue = engine
        .hourly_counts(
            project.id,
            &issue_ids[..1],
            at(base - 3600),
            at(base + 24 * 3600),
        )
        .await
        .unwrap();
    assert_eq!(
        one_issue.keys().copied().collect::<Vec<_>>(),
        issue_ids[..1].to_vec()
    );
    // A project with 100,000 issues asks for all of them (the trend sort): ~2 MB of ids, past
    // ClickHouse's default query size. Ids without events add nothing.
    let many: Vec<u64> = issue_ids
        .iter()
        .copied()
        .chain((1..=100_000u64).map(|n| n << 20))
        .collect();
    let with_many = engine
        .hourly_counts(project.id, &many, at(base - 3600), at(base + 24 * 3600))
        .await
        .unwrap();
    assert_eq!(with_many, all);
    assert!(engine
        .hourly_counts(project.id, &[], at(base), at(base + 3600))
        .await
        .unwrap()
        .is_empty());
    assert!(engine
        .hourly_counts(
            project.id,
            &issue_ids,
            at(base + 48 * 3600),
            at(base + 49 * 3600)
        )
        .await
        .unwrap()
        .is_empty());
}

async fn latest_events_come_newest_first_with_event_id_breaking_ties(backend: Backend) {
    let handle = backend.open();
    let engine = handle.engine.as_ref();
    engine.migrate().await.unwrap();
    let project = engine.create_project("latest", "key-latest").await.unwrap();
    let ingest = Ingest::load(engine).await;
    let base = base_hour();
    // Thirty events of one bug, in three batches; groups of five share a second.
    let mut written: Vec<EventRecord> = Vec::new();
    for part in 0..3 {
        let events: Vec<Value> = (0..10)
            .map(|i| {
                let n = part * 10 + i;
                let mut event = python_event(
                    "ValueError",
                    &format!("bad value {n}"),
                    &["checkout_view", "parse_quantity"],
                    Some(&format!("user-{}", n % 4)),
                    (base + (n as i64 / 5) * 60) as f64 + 0.5,
                );
                event["tags"] = json!({"n": n.to_string(), "region": "eu"});
                event
            })
            .collect();
        let batch = ingest.write(engine, project.id, &events).await;
        written.extend(batch.events);
    }
    let issue_id = ingest_issue(engine, project.id).await;
    // What the engines store: whole seconds.
    let mut want: Vec<EventRecord> = written
        .into_iter()
        .map(|mut record| {
            record.timestamp = at(record.timestamp.timestamp());
            record.received = at(record.received.timestamp());
            record
        })
        .collect();
    want.sort_by(|a, b| {
        b.timestamp
            .cmp(&a.timestamp)
            .then_with(|| b.event_id.cmp(&a.event_id))
    });
    for limit in [1, 7, 30, 100] {
        let got = engine.issue_events(issue_id, limit).await.unwrap();
        assert_eq!(got.len(), limit.min(30));
        for (got, want) in got.iter().zip(&want) {
            assert_eq!(got, want, "limit {limit}");
        }
        assert_eq!(got[0].to_event().unwrap().tags[0].0, "n");
        // The same through the fingerprints (one bug: one fingerprint).
        let by_fingerprint = engine
            .fingerprint_events(project.id, &[want[0].fingerprint, 777], limit)
            .await
            .unwrap();
        assert_eq!(by_fingerprint, got, "by fingerprint, limit {limit}");
    }
    assert!(engine.issue_events(424242, 10).await.unwrap().is_empty());
    assert!(engine
        .fingerprint_events(project.id, &[], 10)
        .await
        .unwrap()
        .is_empty());
}

/// The single issue of a project.
async fn ingest_issue(engine: &dyn Engine, project_id: u64) -> u64 {
    let issues = engine
        .issues(&query(project_id, IssueSort::LastSeen))
        .await
        .unwrap();
    assert_eq!(issues.len(), 1);
    issues[0].issue.issue_id
}

async fn merge_and_unmerge_change_the_mapping_and_every_aggregate_at_once(backend: Backend) {
    let handle = backend.open();
    let engine = handle.engine.as_ref();
    engine.migrate().await.unwrap();
    let project = engine.create_project("merge", "key-merge").await.unwrap();
    let ingest = Ingest::load(engine).await;
    let base = base_hour();
    let (first, second) = four_bugs(base);
    let one = ingest.write(engine, project.id, &first).await;
    let two = ingest.write(engine, project.id, &second).await;
    let mut mapping = mapping_of(&[&one, &two]);
    let fingerprint_of = |kind: &str| {
        one.events
            .iter()
            .find(|record| record.title.starts_with(kind))
            .unwrap()
            .fingerprint
    };
    let (a, b) = (fingerprint_of("BugAError"), fingerprint_of("BugBError"));
    let (issue_a, issue_b) = (mapping[&a], mapping[&b]);

    // Merge: B's fingerprint now belongs to A's issue (a new mapping, no event rewritten).
    // Versions are write times on ClickHouse: let the clock move past the first mapping.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let remap = |fingerprint: u64, issue_id: u64| WriteBatch {
        new_mappings: vec![FingerprintMapping {
            project_id: project.id,
            fingerprint,
            issue_id,
            updated_at: Utc::now(),
        }],
        ..WriteBatch::default()
    };
    engine.write(&remap(b, issue_a)).await.unwrap();
    mapping.insert(b, issue_a);
    let expected = expected_issues(&[&one, &two], &mapping);
    assert_eq!(expected.len(), 3);
    // Users are the union: u1 is in both A and B; u3/u5 only in B.
    assert_eq!(expected[&issue_a].users.len(), 4);
    let list = engine
        .issues(&query(project.id, IssueSort::Events))
        .await
        .unwrap();
    assert_eq!(list.len(), 3);
    for summary in &list {
        assert_summary(summary, &expected[&summary.issue.issue_id]);
    }
    assert_eq!(
        list[0].issue.issue_id, issue_a,
        "the merged issue has most events"
    );
    assert_eq!(engine.issue(issue_b).await.unwrap(), None);
    // Users over the merged issue's fingerprints are their union.
    let users = engine
        .issue_users(project.id, &fingerprints_of(&mapping, &[issue_a, issue_b]))
        .await
        .unwrap();
    assert_eq!(users, HashMap::from([(issue_a, 4)]));
    let hours = engine
        .hourly_counts(
            project.id,
            &[issue_a, issue_b],
            at(base),
            at(base + 24 * 3600),
        )
        .await
        .unwrap();
    assert_eq!(
        hours[&issue_a].iter().map(|h| h.events).sum::<u64>(),
        expected[&issue_a].events
    );
    assert!(!hours.contains_key(&issue_b));
    let events = engine.issue_events(issue_a, 100).await.unwrap();
    assert_eq!(events.len() as u64, expected[&issue_a].events);
    assert!(engine.issue_events(issue_b, 100).await.unwrap().is_empty());
    let current: HashMap<u64, u64> = engine
        .fingerprint_mappings()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.project_id == project.id)
        .map(|m| (m.fingerprint, m.issue_id))
        .collect();
    assert_eq!(current, mapping);

    // Unmerge: back as it was.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    engine.write(&remap(b, issue_b)).await.unwrap();
    mapping.insert(b, issue_b);
    let expected = expected_issues(&[&one, &two], &mapping);
    let list = engine
        .issues(&query(project.id, IssueSort::Events))
        .await
        .unwrap();
    assert_eq!(list.len(), 4);
    for summary in &list {
        assert_summary(summary, &expected[&summary.issue.issue_id]);
    }
}

async fn projects_keys_and_mappings_are_stored(backend: Backend) {
    let handle = backend.open();
    let engine = handle.engine.as_ref();
    engine.migrate().await.unwrap();
    let first = engine.create_project("first", "key-first").await.unwrap();
    let second = engine.create_project("second", "key-second").await.unwrap();
    assert_eq!((first.id, second.id), (1, 2));
    assert_eq!(
        first.created_at.timestamp_subsec_nanos(),
        0,
        "whole seconds"
    );
    let projects = engine.projects().await.unwrap();
    assert_eq!(projects, vec![first.clone(), second.clone()]);
    let mut keys: Vec<(u64, String, bool)> = engine
        .project_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.project_id, k.public_key, k.active))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            (1, "key-first".to_owned(), true),
            (2, "key-second".to_owned(), true)
        ]
    );
    let ingest = Ingest::load(engine).await;
    let (events, _) = four_bugs(base_hour());
    let batch = ingest.write(engine, second.id, &events).await;
    let mut want: Vec<(u64, u64, u64)> = batch
        .new_mappings
        .iter()
        .map(|m| (m.project_id, m.fingerprint, m.issue_id))
        .collect();
    want.sort_unstable();
    want.dedup();
    let mut got: Vec<(u64, u64, u64)> = engine
        .fingerprint_mappings()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.project_id, m.fingerprint, m.issue_id))
        .collect();
    got.sort_unstable();
    assert_eq!(got, want);
    // A new grouper loads them: the same fingerprints join the same issues, no new issue.
    let reloaded = Ingest::load(engine).await;
    let again = reloaded.prepare(second.id, &events);
    assert!(again.new_issues.is_empty() && again.new_mappings.is_empty());
}

/// Everything a reader can ask, to compare an engine before and after reopening it.
#[derive(Debug, PartialEq)]
struct Answers {
    lists: Vec<Vec<IssueSummary>>,
    issues: Vec<Option<IssueSummary>>,
    hourly: BTreeMap<u64, Vec<HourlyCount>>,
    events: Vec<Vec<EventRecord>>,
    mappings: BTreeSet<(u64, u64, u64, i64)>,
    projects: Vec<stackhouse::engine::Project>,
    /// The fingerprints with events in each environment.
    environments: Vec<Vec<u64>>,
}

async fn answers(engine: &dyn Engine, project_id: u64, base: i64) -> Answers {
    let mut lists = Vec::new();
    for sort in [
        IssueSort::LastSeen,
        IssueSort::FirstSeen,
        IssueSort::Events,
        IssueSort::Users,
    ] {
        for status in [None, Some(IssueStatus::New), Some(IssueStatus::Resolved)] {
            lists.push(
                engine
                    .issues(&IssueQuery {
                        status,
                        ..query(project_id, sort)
                    })
                    .await
                    .unwrap(),
            );
        }
    }
    let ids: Vec<u64> = lists[0].iter().map(|s| s.issue.issue_id).collect();
    let mut issues = Vec::new();
    let mut events = Vec::new();
    for id in &ids {
        issues.push(engine.issue(*id).await.unwrap());
        events.push(engine.issue_events(*id, 50).await.unwrap());
    }
    let hourly = engine
        .hourly_counts(project_id, &ids, at(base - 3600), at(base + 24 * 3600))
        .await
        .unwrap()
        .into_iter()
        .collect();
    let mappings = engine
        .fingerprint_mappings()
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                m.project_id,
                m.fingerprint,
                m.issue_id,
                m.updated_at.timestamp(),
            )
        })
        .collect();
    let mut environments = Vec::new();
    for environment in ["production", "staging", "nowhere"] {
        let only = EventFilter {
            environment: Some(environment.into()),
            ..EventFilter::default()
        };
        let mut found = engine
            .matching_fingerprints(project_id, &only)
            .await
            .unwrap();
        found.sort_unstable();
        // The same question with a time bound that excludes nothing: the engines answer
        // that one from the events, the environment alone from their aggregates.
        let bounded = EventFilter {
            from: Some(at(0)),
            ..only
        };
        let mut scanned = engine
            .matching_fingerprints(project_id, &bounded)
            .await
            .unwrap();
        scanned.sort_unstable();
        assert_eq!(found, scanned, "fingerprints in {environment}");
        environments.push(found);
    }
    Answers {
        lists,
        issues,
        hourly,
        events,
        mappings,
        projects: engine.projects().await.unwrap(),
        environments,
    }
}

async fn reopening_gives_identical_answers(backend: Backend) {
    let base = base_hour();
    let (project_id, before) = {
        let handle = backend.open();
        let engine = handle.engine.as_ref();
        engine.migrate().await.unwrap();
        let project = engine.create_project("reopen", "key-reopen").await.unwrap();
        let ingest = Ingest::load(engine).await;
        let (first, second) = four_bugs(base);
        // Many small batches, so the segment-happy variant checkpoints and compacts.
        for round in 0..12 {
            let events: Vec<Value> = first
                .iter()
                .chain(&second)
                .map(|event| {
                    let mut event = event.clone();
                    event["event_id"] = json!(uuid::Uuid::new_v4().simple().to_string());
                    event["timestamp"] = json!(event["timestamp"].as_f64().unwrap() + round as f64);
                    if round % 4 == 1 && event["exception"].to_string().contains("BugB") {
                        event["environment"] = json!("staging");
                    }
                    event
                })
                .collect();
            ingest.write(engine, project.id, &events).await;
        }
        let ids: Vec<u64> = engine
            .issues(&query(project.id, IssueSort::Events))
            .await
            .unwrap()
            .iter()
            .map(|s| s.issue.issue_id)
            .collect();
        handle
            .set_status(project.id, ids[1], IssueStatus::Resolved)
            .await;
        (project.id, answers(engine, project.id, base).await)
    };
    assert_eq!(before.lists[0].len(), 4);
    assert_eq!(
        before.lists[0].iter().map(|s| s.events).sum::<u64>(),
        12 * 12
    );
    assert_eq!(before.environments[0].len(), 4, "every bug in production");
    assert_eq!(before.environments[1].len(), 1, "bug B in staging too");
    assert!(before.environments[2].is_empty());
    let handle = backend.open();
    let after = answers(handle.engine.as_ref(), project_id, base).await;
    assert_eq!(after, before);
}

/// `spans_between`/`count_spans`: the project and `[from, to)` bound them, `roots_only` keeps
/// roots, and a sample keeps whole traces, about one in `sample` (the service map's estimate
/// past a million spans rests on both).
async fn span_ranges_count_and_sample_whole_traces(backend: Backend) {
    let handle = backend.open();
    let engine = handle.engine.as_ref();
    engine.migrate().await.unwrap();
    let project = engine.create_project("spans", "key-spans").await.unwrap();
    let other = engine.create_project("other", "key-other").await.unwrap();
    let base = base_hour();
    let span = |project_id: u64, trace: u64, span: u64, parent: Option<u64>, at: i64| SpanRecord {
        project_id,
        trace_id: format!("{trace:032x}"),
        span_id: format!("{span:016x}"),
        parent_span_id: parent.map(|p| format!("{p:016x}")).unwrap_or_default(),
        service: "api".into(),
        name: "GET /".into(),
        kind: "server".into(),
        start_us: at * 1_000_000,
        duration_us: 1_000,
        status: "ok".into(),
        source: "otlp".into(),
        ..SpanRecord::default()
    };
    let traces = 400u64;
    let mut spans = Vec::new();
    for trace in 1..=traces {
        let root = trace * 10;
        spans.push(span(project.id, trace, root, None, base + 60));
        spans.push(span(project.id, trace, root + 1, Some(root), base + 61));
        spans.push(span(project.id, trace, root + 2, Some(root + 1), base + 62));
    }
    spans.push(span(other.id, 9_999, 99_990, None, base + 60));
    spans.push(span(project.id, 9_998, 99_980, None, base + 7_200));
    engine.write_spans(&spans).await.unwrap();

    let range = SpanRange::all(project.id, at(base), at(base + 3_600));
    assert_eq!(engine.count_spans(&range).await.unwrap(), traces * 3);
    let all = engine.spans_between(&range, 10_000).await.unwrap();
    assert_eq!(all.len() as u64, traces * 3);
    assert!(
        all.windows(2).all(|w| w[0].start_us >= w[1].start_us),
        "newest first"
    );
    assert_eq!(engine.spans_between(&range, 7).await.unwrap().len(), 7);
    let roots = SpanRange {
        roots_only: true,
        ..range
    };
    assert_eq!(engine.count_spans(&roots).await.unwrap(), traces);
    assert!(engine
        .spans_between(&roots, 10_000)
        .await
        .unwrap()
        .iter()
        .all(SpanRecord::is_root));

    let sampled = SpanRange { sample: 4, ..range };
    let kept = engine.spans_between(&sampled, 10_000).await.unwrap();
    assert_eq!(
        engine.count_spans(&sampled).await.unwrap(),
        kept.len() as u64
    );
    let mut per_trace: BTreeMap<&str, usize> = BTreeMap::new();
    for span in &kept {
        *per_trace.entry(span.trace_id.as_str()).or_default() += 1;
    }
    assert!(
        per_trace.values().all(|&n| n == 3),
        "whole traces: {per_trace:?}"
    );
    // What the service map reads: the same spans, with only its fields.
    let key = |span: &SpanRecord| (span.start_us, span.span_id.clone());
    let mut for_map = engine.service_map_spans(&sampled, 10_000).await.unwrap();
    let mut narrowed: Vec<SpanRecord> = kept.iter().map(SpanRecord::map_fields).collect();
    for_map.sort_by_key(key);
    narrowed.sort_by_key(key);
    assert_eq!(for_map, narrowed);
    // One in four of 400 traces: 100 expected; a hash puts it well within 50..150.
    assert!(
        (50..150).contains(&per_trace.len()),
        "{} of {traces} traces sampled at 1 in 4",
        per_trace.len()
    );
}

fn claim(key: &str, claimed_at: DateTime<Utc>) -> AlertClaim {
    AlertClaim {
        claim_key: key.to_owned(),
        instance: "conformance".into(),
        nonce: 1,
        claimed_at_ms: claimed_at.timestamp_millis() as u64,
    }
}

/// `prune_alert_history`: events before the cut and finished deliveries last updated before it
/// go (every version); recent rows and pending deliveries, however old, stay; claims follow
/// their own cut; the result survives a reopen, and writes after a prune are kept too.
async fn alert_history_prune_keeps_recent_rows_and_pending_deliveries(backend: Backend) {
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let events_before = now - Duration::days(10);
    let claims_before = now - Duration::days(1);
    let settle = std::time::Duration::ZERO;
    let expected_events = vec!["e-new".to_owned(), "e-recent".to_owned()];
    let expected_deliveries: Vec<(String, String)> = [
        ("d-delivered-recent", "delivered"),
        ("d-pending-old", "pending"),
        ("d-requeued", "pending"),
    ]
    .iter()
    .map(|(id, status)| (id.to_string(), status.to_string()))
    .collect();
    {
        let handle = backend.open();
        let engine = handle.engine.as_ref();
        engine.migrate().await.unwrap();
        engine
            .record_alert_evaluation(&AlertEvaluationWrite {
                states: Vec::new(),
                events: vec![
                    alert_event("e-old", 7, now - Duration::days(20)),
                    alert_event("e-old2", 8, events_before - Duration::seconds(1)),
                    alert_event("e-recent", 7, events_before),
                    alert_event("e-new", 8, now),
                ],
                deliveries: vec![
                    alert_delivery("d-delivered-old", "pending", now - Duration::days(20)),
                    alert_delivery("d-failed-old", "pending", now - Duration::days(20)),
                    alert_delivery("d-pending-old", "pending", now - Duration::days(20)),
                    alert_delivery("d-delivered-recent", "pending", now - Duration::days(12)),
                    alert_delivery("d-requeued", "delivered", now - Duration::days(20)),
                ],
            })
            .await
            .unwrap();
        // Versions are write times on ClickHouse: the attempt outcomes come later.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        engine
            .put_alert_deliveries(&[
                alert_delivery("d-delivered-old", "delivered", now - Duration::days(19)),
                alert_delivery(
                    "d-failed-old",
                    "failed",
                    events_before - Duration::seconds(1),
                ),
                alert_delivery("d-delivered-recent", "delivered", now - Duration::days(5)),
                // An older version finished long ago; the current one is pending again.
                alert_delivery("d-requeued", "pending", now - Duration::days(20)),
            ])
            .await
            .unwrap();
        assert!(engine
            .claim_one_alert_work(&claim("old-slot", now - Duration::days(2)), settle)
            .await
            .unwrap());
        assert!(engine
            .claim_one_alert_work(&claim("recent-slot", now - Duration::hours(1)), settle)
            .await
            .unwrap());
        assert_eq!(alert_history(engine).await.0.len(), 4);
        assert_eq!(alert_history(engine).await.1.len(), 5);

        let counts = engine
            .prune_alert_history(events_before, claims_before)
            .await
            .unwrap();
        assert_eq!(
            counts,
            AlertPruneCounts {
                events: 2,
                deliveries: 2,
                claims: 1
            }
        );
        assert_eq!(
            alert_history(engine).await,
            (expected_events.clone(), expected_deliveries.clone())
        );
        // The old claim is gone (its key can be claimed again), the recent one holds.
        assert!(engine
            .claim_one_alert_work(&claim("old-slot", now), settle)
            .await
            .unwrap());
        assert!(!engine
            .claim_one_alert_work(&claim("recent-slot", now), settle)
            .await
            .unwrap());
        // Nothing more to prune at the same cut.
        assert_eq!(
            engine
                .prune_alert_history(events_before, claims_before)
                .await
                .unwrap(),
            AlertPruneCounts::default()
        );
        // Writes after a prune are stored as before (the embedded log was swapped).
        engine
            .record_alert_evaluation(&AlertEvaluationWrite {
                states: Vec::new(),
                events: vec![alert_event("e-after", 7, now)],
                deliveries: Vec::new(),
            })
            .await
            .unwrap();
        engine
            .put_alert_deliveries(&[alert_delivery("d-pending-old", "failed", now)])
            .await
            .unwrap();
    }
    let mut events = expected_events;
    events.insert(0, "e-after".to_owned());
    let mut deliveries = expected_deliveries;
    deliveries[1].1 = "failed".to_owned();
    let handle = backend.open();
    assert_eq!(
        alert_history(handle.engine.as_ref()).await,
        (events, deliveries)
    );
}

fn alert_state(rule_id: u64, group_key: &str, status: &str, at: DateTime<Utc>) -> AlertStateRecord {
    AlertStateRecord {
        rule_id,
        group_key: group_key.to_owned(),
        status: status.to_owned(),
        since: at,
        last_notified_at: (status == "firing").then_some(at),
        value: 2.0,
        updated_at: at,
    }
}

/// What one evaluation group reads and claims in one exchange each: the states of several
/// rules (newest version per group key), their sent notifications since a time, and claims on
/// several slots (a taken key loses, the others win).
async fn alert_reads_and_claims_cover_a_whole_evaluation_group_at_once(backend: Backend) {
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let handle = backend.open();
    let engine = handle.engine.as_ref();
    engine.migrate().await.unwrap();
    let mut sent_early = alert_event("e-early", 11, now - Duration::hours(2));
    sent_early.notification = "sent".into();
    let mut suppressed = alert_event("e-suppressed", 11, now - Duration::minutes(5));
    suppressed.notification = "suppressed_cooldown".into();
    engine
        .record_alert_evaluation(&AlertEvaluationWrite {
            states: vec![
                alert_state(11, "a", "firing", now - Duration::minutes(3)),
                alert_state(11, "b", "ok", now - Duration::minutes(3)),
                alert_state(12, "", "firing", now - Duration::minutes(2)),
                alert_state(99, "", "firing", now - Duration::minutes(2)),
            ],
            events: vec![
                alert_event("e-1", 11, now - Duration::minutes(30)),
                alert_event("e-2", 11, now - Duration::minutes(1)),
                alert_event("e-3", 12, now),
                alert_event("e-other", 99, now),
                sent_early,
                suppressed,
            ],
            deliveries: Vec::new(),
        })
        .await
        .unwrap();
    // Versions are write times on ClickHouse: the newer state comes later.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    engine
        .record_alert_evaluation(&AlertEvaluationWrite {
            states: vec![alert_state(11, "a", "resolved", now)],
            ..AlertEvaluationWrite::default()
        })
        .await
        .unwrap();

    let states = engine.alert_states(&[12, 11, 13]).await.unwrap();
    let summary: Vec<(u64, &str, &str)> = states
        .iter()
        .map(|state| {
            (
                state.rule_id,
                state.group_key.as_str(),
                state.status.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![(11, "a", "resolved"), (11, "b", "ok"), (12, "", "firing")]
    );
    assert_eq!(
        states[2],
        alert_state(12, "", "firing", now - Duration::minutes(2))
    );
    assert!(engine.alert_states(&[]).await.unwrap().is_empty());
    assert_eq!(engine.alert_states(&[12]).await.unwrap().len(), 1);

    let sent = engine
        .alert_notifications_sent(&[11, 12, 13], now - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(sent.into_iter().collect::<Vec<_>>(), vec![(11, 2), (12, 1)]);
    assert!(engine
        .alert_notifications_sent(&[], now - Duration::hours(1))
        .await
        .unwrap()
        .is_empty());

    let settle = std::time::Duration::ZERO;
    let first = [claim("slot-1", now), claim("slot-2", now)];
    assert_eq!(
        engine.claim_alert_work(&first, settle).await.unwrap(),
        vec![true, true]
    );
    let second = [claim("slot-2", now), claim("slot-3", now)];
    assert_eq!(
        engine.claim_alert_work(&second, settle).await.unwrap(),
        vec![false, true]
    );
    assert!(engine
        .claim_alert_work(&[], settle)
        .await
        .unwrap()
        .is_empty());
}
