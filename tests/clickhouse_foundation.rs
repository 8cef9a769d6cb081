//! The whole path on a real ClickHouse server: ingest → fingerprint → group → batch writer →
//! ClickHouse → GraphQL, plus every kind of bad input and backpressure. (What every engine must
//! answer alike, including the 10,000-event grouping test, is in `conformance.rs`.)
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{
    clickhouse_engine, clickhouse_url, fresh_database, python_event, spooled_clickhouse_engine,
    Ingest, TestServer,
};
use serde_json::{json, Value};
use stackhouse::alerting::evaluate;
use stackhouse::alerting::rules::{Comparison, Condition, RuleSpec};
use stackhouse::config::Config;
use stackhouse::engine::clickhouse::{
    statements, ClickHouseEngine, ClickHouseSettings, SpoolSettings, MIGRATIONS,
};
use stackhouse::engine::{Engine, EventFilter, Project, WriteBatch};

const ISSUES_QUERY: &str = r#"
query($project: ID!) {
  issues(projectId: $project, sort: EVENTS, first: 100) { nodes {
    id title culprit level platform status count userCount firstSeen lastSeen sparkline
  } }
}"#;

/// What most tests here start with: `engine`'s schema applied, a project `name` with public
/// key `key`, and the ingest pipeline loaded over it.
async fn migrated_project(engine: &dyn Engine, name: &str, key: &str) -> (Project, Ingest) {
    engine.migrate().await.unwrap();
    let project = engine.create_project(name, key).await.unwrap();
    (project, Ingest::load(engine).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_several_platforms_keep_their_frames_tags_user_and_trace() {
    let server = TestServer::start(
        clickhouse_engine(&fresh_database("platforms")),
        Config::default(),
    )
    .await;
    let now = Utc::now().timestamp() as f64;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let events = vec![
        json!({
            "platform": "javascript",
            "timestamp": now,
            "level": "error",
            "exception": {"values": [{
                "type": "TypeError",
                "value": "Cannot read properties of undefined (reading 'id')",
                "stacktrace": {"frames": [
                    {"function": "dispatch", "filename": "webpack:///node_modules/react-dom/cjs/react-dom.js", "lineno": 4091, "colno": 14, "in_app": false},
                    {"function": "CartItem", "module": "src/components/CartItem", "filename": "src/components/CartItem.tsx", "lineno": 42, "colno": 17, "in_app": true}
                ]}
            }]},
            "request": {"url": "https://shop.example.com/cart", "method": "GET"},
            "contexts": {"browser": {"name": "Chrome", "version": "131.0"}, "trace": {"trace_id": trace_id, "span_id": "00f067aa0ba902b7"}},
            "user": {"email": "ada@example.com"},
            "tags": [["page", "cart"]]
        }),
        json!({
            "platform": "java",
            "timestamp": now,
            "exception": {"values": [{
                "type": "NullPointerException",
                "module": "java.lang",
                "value": "Cannot invoke \"Order.getId()\" because \"order\" is null",
                "stacktrace": {"frames": [
                    {"module": "org.springframework.web.servlet.FrameworkServlet", "function": "service", "lineno": 897, "in_app": false},
                    {"module": "com.shop.orders.OrderController", "function": "show", "lineno": 58, "in_app": true}
                ]}
            }]},
            "release": "orders@2.0.0"
        }),
        json!({
            "platform": "go",
            "timestamp": now,
            "exception": [{
                "type": "*errors.errorString",
                "value": "sql: no rows in result set",
                "stacktrace": {"frames": [
                    {"module": "net/http", "function": "(*conn).serve", "lineno": 2092, "in_app": false},
                    {"module": "github.com/shop/api/users", "function": "GetUser", "lineno": 77, "in_app": true}
                ]}
            }],
            "environment": "staging"
        }),
        json!({
            "platform": "python",
            "timestamp": now,
            "level": "warning",
            "logentry": {"message": "Disk usage at %s%%", "params": ["93"]},
        }),
    ];
    let (status, body) = server.send_ndjson(&events).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 4);

    let data = server
        .graphql(
            r#"query($project: ID!) { issues(projectId: $project) { nodes { id platform title culprit level
                 events(limit: 5) { id platform message environment release traceId spanId
                   tags { key value } user { id email }
                   exceptions { type value module frames { function module filename lineno inApp } }
                   groupingVersion groupingExplanation fingerprint } } } }"#,
            json!({ "project": server.project_id.to_string() }),
        )
        .await;
    let issues = data["issues"]["nodes"].as_array().unwrap();
    assert_eq!(issues.len(), 4);
    let by_platform: BTreeMap<&str, &Value> = issues
        .iter()
        .map(|issue| (issue["platform"].as_str().unwrap(), issue))
        .collect();

    let js = by_platform["javascript"];
    assert_eq!(
        js["title"],
        "TypeError: Cannot read properties of undefined (reading 'id')"
    );
    assert_eq!(js["culprit"], "src/components/CartItem in CartItem");
    let js_event = &js["events"][0];
    assert_eq!(js_event["traceId"], trace_id);
    assert_eq!(js_event["spanId"], "00f067aa0ba902b7");
    assert_eq!(js_event["user"]["email"], "ada@example.com");
    assert_eq!(js_event["tags"], json!([{"key": "page", "value": "cart"}]));
    let frames = js_event["exceptions"][0]["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1]["inApp"], true);
    assert_eq!(frames[1]["lineno"], 42);
    assert_eq!(
        js_event["groupingVersion"].as_str().unwrap().chars().next(),
        Some('v')
    );
    assert!(!js_event["groupingExplanation"].is_null());
    assert_eq!(js_event["fingerprint"].as_str().unwrap().len(), 16);

    let java = by_platform["java"];
    assert_eq!(java["culprit"], "com.shop.orders.OrderController in show");
    assert_eq!(java["events"][0]["release"], "orders@2.0.0");

    let go = by_platform["go"];
    assert_eq!(
        go["title"],
        "*errors.errorString: sql: no rows in result set"
    );
    assert_eq!(go["events"][0]["environment"], "staging");

    let python = by_platform["python"];
    assert_eq!(python["title"], "Disk usage at 93%");
    assert_eq!(python["level"], "warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_good_lines_are_kept() {
    let mut config = Config::default();
    config.ingest.max_body_bytes = 512 * 1024;
    config.ingest.max_decompressed_bytes = 2 * 1024 * 1024;
    config.ingest.max_event_bytes = 64 * 1024;
    let server = TestServer::start(clickhouse_engine(&fresh_database("bad")), config).await;
    let http = &server.http;
    let now = Utc::now().timestamp() as f64;

    // Invalid JSON.
    let response = http
        .post(server.events_url())
        .body("{\"exception\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("invalid JSON"),
        "{body}"
    );
    assert_eq!(body["code"], "bad_request");

    // Wrong key, missing key, unknown project, non-numeric project.
    let event = python_event("ValueError", "x", &["a_view"], None, now);
    let wrong_key = format!(
        "{}/api/{}/events?sentry_key=deadbeef",
        server.base, server.project_id
    );
    let response = http.post(&wrong_key).json(&event).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("unknown DSN key"));
    let no_key = format!("{}/api/{}/events", server.base, server.project_id);
    let response = http.post(&no_key).json(&event).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("missing DSN key"));
    let unknown_project = format!("{}/api/999/events?sentry_key={}", server.base, server.key);
    let response = http
        .post(&unknown_project)
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "a valid key of another project");
    let text = response.text().await.unwrap();
    assert!(text.contains("does not belong to project 999"), "{text}");
    let unknown_project_and_key = format!("{}/api/999/events?sentry_key=00ff", server.base);
    let response = http
        .post(&unknown_project_and_key)
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("unknown project 999"));
    let bad_project = format!("{}/api/abc/events?sentry_key={}", server.base, server.key);
    let response = http.post(&bad_project).json(&event).send().await.unwrap();
    assert_eq!(response.status(), 400);

    // Oversized body.
    let huge = "x".repeat(600 * 1024);
    let response = http
        .post(server.events_url())
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("larger than the 524288 byte limit"));

    // Gzip bomb: 200 KB on the wire, 200 MB expanded.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![b' '; 200 << 20]).unwrap();
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 512 * 1024);
    let response = http
        .post(server.events_url())
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.text().await.unwrap().contains("expands past"));

    // Unsupported encoding.
    let response = http
        .post(server.events_url())
        .header("content-encoding", "compress")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);

    // A batch with bad lines among good ones: the good ones are stored.
    let good_a = python_event("ValueError", "first", &["a_view"], Some("u1"), now);
    let good_b = python_event("ValueError", "second", &["a_view"], Some("u2"), now);
    let mut wrong_field = python_event("ValueError", "third", &["a_view"], Some("u3"), now);
    wrong_field["level"] = json!(42);
    let body = format!(
        "{good_a}\n[1, 2, 3]\n{{\"exception\": \n{good_b}\n\"just a string\"\n{wrong_field}\n{{\"message\": \"{}\"}}\n",
        "y".repeat(70 * 1024)
    );
    let response = http
        .post(server.events_url())
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["accepted"], 3, "{outcome}");
    let rejected: Vec<u64> = outcome["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(rejected, vec![2, 3, 5, 7], "{outcome}");
    assert!(outcome["rejected"][0]["error"]
        .as_str()
        .unwrap()
        .contains("object"));
    assert!(outcome["rejected"][3]["error"]
        .as_str()
        .unwrap()
        .contains("byte limit"));
    let dropped = &outcome["dropped_fields"][0];
    assert_eq!(dropped["line"], 6);
    assert_eq!(dropped["fields"][0]["path"], "level");

    let data = server
        .graphql(
            ISSUES_QUERY,
            json!({ "project": server.project_id.to_string() }),
        )
        .await;
    assert_eq!(data["issues"]["nodes"][0]["count"], 3);
    assert_eq!(data["issues"]["nodes"][0]["userCount"], 3);

    // Still serving.
    let health: Value = http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_with_retry_after_instead_of_growing() {
    let mut config = Config::default();
    config.writer.queue_capacity_events = 100;
    config.writer.batch_max_events = 1_000;
    config.writer.flush_interval_ms = 1_500;
    let server = TestServer::start(clickhouse_engine(&fresh_database("queue")), config).await;
    let now = Utc::now().timestamp() as f64;
    let batch: Vec<Value> = (0..80)
        .map(|i| python_event("ValueError", &format!("n={i}"), &["a_view"], None, now))
        .collect();
    // The first request holds 80 of 100 slots until its flush, 1.5 s later.
    let first = {
        let http = server.http.clone();
        let url = server.events_url();
        let body: String = batch.iter().map(|e| format!("{e}\n")).collect();
        tokio::spawn(async move { http.post(url).body(body).send().await.unwrap().status() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let body: String = batch.iter().map(|e| format!("{e}\n")).collect();
    let response = server
        .http
        .post(server.events_url())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(response.text().await.unwrap().contains("queue is full"));
    assert_eq!(first.await.unwrap(), 200);
    // Once drained, the same request is accepted.
    let (status, _) = server.send_ndjson(&batch).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouping_survives_a_restart() {
    let database = fresh_database("restart");
    let server = TestServer::start(clickhouse_engine(&database), Config::default()).await;
    let now = Utc::now().timestamp() as f64;
    let (status, _) = server
        .send_ndjson(&[python_event("KeyError", "'a'", &["cart_view"], None, now)])
        .await;
    assert_eq!(status, 200);
    // A second, fresh server process state over the same database.
    let restarted =
        stackhouse::server::AppState::start(Config::default(), clickhouse_engine(&database))
            .await
            .unwrap();
    let mut batch = stackhouse::engine::WriteBatch::default();
    let event = stackhouse_protocol::parse_event_value(
        python_event("KeyError", "'b'", &["cart_view"], None, now),
        Utc::now(),
    )
    .unwrap()
    .event;
    let prepared =
        restarted
            .pipeline
            .prepare(server.project_id, std::slice::from_ref(&event), Utc::now());
    batch.append(prepared);
    assert!(
        batch.new_issues.is_empty(),
        "the fingerprint's issue was loaded, not re-created"
    );
    restarted.pipeline.store(batch).await.unwrap();
    let data = server
        .graphql(
            ISSUES_QUERY,
            json!({ "project": server.project_id.to_string() }),
        )
        .await;
    assert_eq!(data["issues"]["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(data["issues"]["nodes"][0]["count"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_and_unmerge_change_only_the_mapping_and_show_in_every_count() {
    let server = TestServer::start(
        clickhouse_engine(&fresh_database("merge")),
        Config::default(),
    )
    .await;
    let now = Utc::now().timestamp() as f64;
    let mut events = Vec::new();
    for i in 0..6 {
        events.push(python_event(
            "KeyError",
            &format!("'k{i}'"),
            &["cart_view", "load_session"],
            Some(&format!("a{i}")),
            now,
        ));
    }
    for i in 0..4 {
        events.push(python_event(
            "ZeroDivisionError",
            "division by zero",
            &["report_view", "average_basket"],
            Some(&format!("b{i}")),
            now,
        ));
    }
    let (status, _) = server.send_ndjson(&events).await;
    assert_eq!(status, 200);
    let project = server.project_id.to_string();
    let list = r#"query($project: ID!) { issues(projectId: $project, sort: EVENTS) { nodes { id count userCount fingerprints } } }"#;
    let issues =
        server.graphql(list, json!({ "project": project })).await["issues"]["nodes"].clone();
    assert_eq!(issues.as_array().unwrap().len(), 2);
    let (a, b) = (
        issues[0]["id"].as_str().unwrap().to_owned(),
        issues[1]["id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(issues[0]["count"], 6);
    assert_eq!(issues[1]["count"], 4);
    let b_fingerprint = issues[1]["fingerprints"][0].as_str().unwrap().to_owned();

    let merged = server
        .graphql(
            r#"mutation($project: ID!, $into: ID!, $from: [ID!]!) { mergeIssues(projectId: $project, into: $into, from: $from) { id count userCount fingerprints } }"#,
            json!({ "project": project, "into": a, "from": [b] }),
        )
        .await;
    assert_eq!(merged["mergeIssues"]["count"], 10);
    assert_eq!(merged["mergeIssues"]["userCount"], 10);
    assert_eq!(
        merged["mergeIssues"]["fingerprints"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let issues =
        server.graphql(list, json!({ "project": project })).await["issues"]["nodes"].clone();
    assert_eq!(issues.as_array().unwrap().len(), 1, "{issues}");
    // New events of the merged fingerprint land in the merged issue.
    let (status, _) = server
        .send_ndjson(&[python_event(
            "ZeroDivisionError",
            "division by zero",
            &["report_view", "average_basket"],
            None,
            now,
        )])
        .await;
    assert_eq!(status, 200);
    let issues =
        server.graphql(list, json!({ "project": project })).await["issues"]["nodes"].clone();
    assert_eq!(issues[0]["count"], 11);

    // Refusals are clear.
    let response: Value = server
        .http
        .post(format!("{}/graphql", server.base))
        .json(&json!({"query": format!("mutation {{ mergeIssues(projectId: \"{project}\", into: \"{a}\", from: [\"{a}\"]) {{ id }} }}")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("into itself"),
        "{response}"
    );

    let moved = server
        .graphql(
            r#"mutation($project: ID!, $issue: ID!, $fps: [String!]!) { unmergeFingerprints(projectId: $project, issueId: $issue, fingerprints: $fps) }"#,
            json!({ "project": project, "issue": a, "fps": [b_fingerprint] }),
        )
        .await;
    assert_eq!(moved["unmergeFingerprints"], json!([b]));
    let issues =
        server.graphql(list, json!({ "project": project })).await["issues"]["nodes"].clone();
    assert_eq!(issues.as_array().unwrap().len(), 2);
    assert_eq!(issues[0]["count"], 6);
    assert_eq!(issues[1]["count"], 5);
    assert_eq!(issues[1]["id"], b.as_str());

    // The CLI does the same through the server's API.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_stackhouse"))
        .args([
            "issue",
            "--server",
            &server.base,
            "merge",
            "--project",
            &project,
            "--into",
            &b,
            &a,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["mergeIssues"]["count"], 11);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_stackhouse"))
        .args([
            "issue",
            "--server",
            &server.base,
            "merge",
            "--project",
            &project,
            "--into",
            &b,
            "12345",
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("has no fingerprints"));
}

/// Per-fingerprint events of a project as an engine ranks them.
async fn ranked_events(engine: &dyn Engine, project_id: u64) -> BTreeMap<u64, u64> {
    engine
        .fingerprint_totals(project_id, None)
        .await
        .unwrap()
        .into_iter()
        .map(|totals| (totals.fingerprint, totals.events))
        .collect()
}

/// Events per fingerprint in the hour starting at `hour`, as the trend sort asks for them
/// (that hour and the 24 before it, which here hold none).
async fn hour_events(
    engine: &dyn Engine,
    project_id: u64,
    hour: DateTime<Utc>,
) -> BTreeMap<u64, u64> {
    let windows = [
        (hour, hour + chrono::Duration::hours(1)),
        (hour - chrono::Duration::hours(24), hour),
    ];
    let counts = engine
        .fingerprint_counts(project_id, &windows)
        .await
        .unwrap();
    counts
        .rows()
        .map(|(fingerprint, events)| {
            assert_eq!(events[1], 0, "no events were written the day before");
            (fingerprint, events[0])
        })
        .collect()
}

/// The issue ranking's in-memory copy (`engine/clickhouse/ranking.rs`): this instance's own
/// writes count at once, another instance's after a reload, and reloads that race this
/// instance's writes count nothing twice and miss nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issue_ranking_counts_own_writes_at_once_and_other_instances_after_a_reload() {
    let database = fresh_database("ranking");
    let engine_with = |refresh: Duration| -> Arc<dyn Engine> {
        Arc::new(ClickHouseEngine::new(ClickHouseSettings {
            ranking_refresh: refresh,
            ..ClickHouseSettings::new(clickhouse_url(), database.as_str())
        }))
    };
    // `a` reloads on every read (when no reload is running): as many reloads racing its writes
    // as can be had. `b` is another instance on the same database.
    let a = engine_with(Duration::ZERO);
    let b = engine_with(Duration::from_secs(3600));
    let (project, ingest) = migrated_project(a.as_ref(), "ranking", &"ab".repeat(16)).await;
    let now = Utc::now().timestamp() as f64;
    let hour = DateTime::from_timestamp(now as i64 / 3600 * 3600, 0).unwrap();
    // Both copies: all-time totals and the trend's window counts (every event is in `hour`).
    let project_id = project.id;
    let ranked = move |engine: Arc<dyn Engine>| async move {
        let totals = ranked_events(engine.as_ref(), project_id).await;
        let in_hour = hour_events(engine.as_ref(), project_id, hour).await;
        (totals, in_hour)
    };
    let both = |expected: BTreeMap<u64, u64>| (expected.clone(), expected);
    let event = |bug: &str, environment: &str| {
        let mut event = python_event(&format!("{bug}Error"), "failed", &[bug], Some("u1"), now);
        event["environment"] = json!(environment);
        event
    };
    let fingerprint_of = |batch: &WriteBatch| batch.events[0].fingerprint;

    let first = ingest
        .write(
            a.as_ref(),
            project.id,
            &vec![event("checkout", "production"); 3],
        )
        .await;
    let checkout = fingerprint_of(&first);
    assert_eq!(
        ranked(a.clone()).await,
        both(BTreeMap::from([(checkout, 3)]))
    );

    // Own writes: ranked at once, environments too.
    let canary = ingest
        .write(
            a.as_ref(),
            project.id,
            &[event("refund", "canary"), event("checkout", "canary")],
        )
        .await;
    let refund = fingerprint_of(&canary);
    assert_eq!(
        ranked(a.clone()).await,
        both(BTreeMap::from([(checkout, 4), (refund, 1)]))
    );
    let in_environment = |environment: &str| EventFilter {
        environment: Some(environment.to_owned()),
        ..EventFilter::default()
    };
    let mut found = a
        .matching_fingerprints(project.id, &in_environment("canary"))
        .await
        .unwrap();
    found.sort_unstable();
    let mut expected = vec![checkout, refund];
    expected.sort_unstable();
    assert_eq!(found, expected);

    // Another instance's write: ranked by `a` once a reload has run.
    let other = ingest
        .write(
            b.as_ref(),
            project.id,
            &vec![event("invoice", "staging"); 4],
        )
        .await;
    let invoice = fingerprint_of(&other);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (totals, in_hour) = ranked(a.clone()).await;
        if totals.get(&invoice) == Some(&4) && in_hour.get(&invoice) == Some(&4) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "another instance's events never ranked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        a.matching_fingerprints(project.id, &in_environment("staging"))
            .await
            .unwrap(),
        vec![invoice]
    );

    // Writes racing reloads: a reader keeps starting reloads while 40 batches are written.
    let writer = {
        let a = a.clone();
        let batches: Vec<WriteBatch> = (0..40)
            .map(|n| {
                let bug = ["checkout", "refund", "invoice"][n % 3];
                ingest.prepare(project.id, &vec![event(bug, "production"); 1 + n % 4])
            })
            .collect();
        tokio::spawn(async move {
            for batch in &batches {
                a.write(batch).await.unwrap();
            }
            batches
                .iter()
                .map(|batch| batch.events.len() as u64)
                .sum::<u64>()
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        ranked(a.clone()).await;
        reads += 1;
    }
    let raced = writer.await.unwrap();
    assert!(reads > 1, "the reader never overlapped the writer");
    // Let a reload that is still running land, then compare with a fresh instance's first
    // load (a recount of what ClickHouse holds).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = ranked(a.clone()).await;
    let fresh = ranked(engine_with(Duration::from_secs(3600))).await;
    assert_eq!(settled, fresh);
    assert_eq!(settled.0, settled.1);
    assert_eq!(settled.0.values().sum::<u64>(), 3 + 2 + 4 + raced);
}

/// A statement straight to the test server, in `database` (`""`: the default one).
async fn clickhouse_statement(database: &str, statement: &str) -> String {
    let mut request = reqwest::Client::new().post(clickhouse_url());
    if !database.is_empty() {
        request = request.query(&[("database", database)]);
    }
    let response = request.body(statement.to_owned()).send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "{statement}: {body}");
    body
}

/// Writes `count` copies of one event, happened and received at `received`.
async fn write_received(
    engine: &dyn Engine,
    ingest: &Ingest,
    project_id: u64,
    count: usize,
    received: DateTime<Utc>,
) {
    let event = python_event(
        "SlowError",
        "timed out",
        &["pay"],
        Some("u1"),
        received.timestamp() as f64,
    );
    let mut batch = ingest.prepare(project_id, &vec![event; count]);
    for record in &mut batch.events {
        record.received = received;
    }
    engine.write(&batch).await.unwrap();
}

/// Migration 0010: each part of the raw events knows the range of arrival times it holds, so an
/// alert rule's window on `received` reads the parts that arrived in it, not every stored event
/// (ClickHouse 18.16 has no other way to skip them), through the rule's project scoping too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_on_received_reads_only_the_parts_received_in_it() {
    let database = fresh_database("window");
    let engine =
        ClickHouseEngine::new(ClickHouseSettings::new(clickhouse_url(), database.as_str()));
    let (project, ingest) = migrated_project(&engine, "window", &"cd".repeat(16)).await;
    // Parts kept apart: a merge would put early and recent arrivals in one part.
    clickhouse_statement(&database, "SYSTEM STOP MERGES events_v2").await;
    let now = Utc::now();
    for (hours_ago, count) in [(5, 300), (3, 200), (0, 7)] {
        let received = now - chrono::Duration::hours(hours_ago);
        write_received(&engine, &ingest, project.id, count, received).await;
    }
    let marker = format!("probe-{database}");
    let rule = |condition| RuleSpec {
        project_id: project.id,
        name: "window".into(),
        condition,
        interval_secs: 60,
        window_secs: 600,
        cooldown_secs: 0,
        max_notifications_per_hour: 0,
        notify_on_resolve: false,
        webhook: None,
        enabled: true,
    };
    let sql = rule(Condition::Sql {
        query: format!(
            "SELECT count(*) FROM events WHERE received >= {{window_start}} \
             AND received < {{window_end}} AND event_id <> '{marker}'"
        ),
        comparison: Comparison::Gt,
        threshold: 5.0,
    });
    let (start, end) = (
        now - chrono::Duration::minutes(10),
        now + chrono::Duration::seconds(1),
    );
    let observed = evaluate::observe(&engine, &sql, start, end).await.unwrap();
    assert_eq!(observed.len(), 1);
    assert_eq!((observed[0].value, observed[0].breaching), (7.0, true));
    let frequency = rule(Condition::Frequency { threshold: 5 });
    let observed = evaluate::observe(&engine, &frequency, start, end)
        .await
        .unwrap();
    assert_eq!(
        observed.iter().map(|o| o.value).collect::<Vec<_>>(),
        vec![7.0]
    );

    clickhouse_statement("", "SYSTEM FLUSH LOGS").await;
    let read = clickhouse_statement(
        "",
        &format!(
            "SELECT read_rows FROM system.query_log \
             WHERE type = 2 AND query LIKE '%{marker}%' AND query NOT LIKE '%query_log%'"
        ),
    )
    .await;
    assert_eq!(read.trim(), "7", "rows read by the rule's query");
}

/// An installation from before migration 0010 keeps its events where they are (`events_v1`),
/// counted in every aggregate beside the new ones; running 0010 again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stored_before_the_arrival_partitioning_stay_readable_and_counted() {
    let database = fresh_database("premigration");
    clickhouse_statement("", &format!("CREATE DATABASE {database}")).await;
    let (before, from) = MIGRATIONS.split_at(9);
    assert_eq!(from[0].version, 10);
    clickhouse_statement(
        &database,
        "CREATE TABLE schema_migrations (version UInt32, name String, applied_at DateTime) \
         ENGINE = MergeTree ORDER BY version",
    )
    .await;
    for migration in before {
        for statement in statements(migration.sql) {
            clickhouse_statement(&database, &statement).await;
        }
        clickhouse_statement(
            &database,
            &format!(
                "INSERT INTO schema_migrations VALUES ({}, '{}', now())",
                migration.version, migration.name
            ),
        )
        .await;
    }
    let engine =
        ClickHouseEngine::new(ClickHouseSettings::new(clickhouse_url(), database.as_str()));
    let project = engine
        .create_project("old", &"ef".repeat(16))
        .await
        .unwrap();
    let ingest = Ingest::load(&engine).await;
    // This version's writer inserts into `events_v2`, which 0010 creates. A server of the
    // previous version wrote into `events`, the MergeTree of 0001, as the insert below does.
    let batch = ingest.prepare(
        project.id,
        &vec![
            python_event(
                "OldError",
                "before",
                &["pay"],
                Some("u1"),
                Utc::now().timestamp() as f64
            );
            4
        ],
    );
    let fingerprint = batch.events[0].fingerprint;
    engine
        .write(&batch)
        .await
        .expect_err("no events_v2 before 0010");
    clickhouse_statement(
        &database,
        &format!(
            "INSERT INTO events (project_id, event_id, timestamp, received, fingerprint, user_key) \
             SELECT {}, toString(number), now(), now(), {fingerprint}, 'u1' FROM system.numbers LIMIT 4",
            project.id
        ),
    )
    .await;

    engine.migrate().await.unwrap();
    // Again, as after a failure part-way: the rename is skipped, the rest exists already.
    engine.apply_migration(&from[0]).await.unwrap();
    engine.write(&batch).await.unwrap();

    let count = |table: &str| {
        let database = database.clone();
        let table = table.to_owned();
        async move {
            clickhouse_statement(&database, &format!("SELECT count() FROM {table}"))
                .await
                .trim()
                .to_owned()
        }
    };
    assert_eq!(count("events_v1").await, "4");
    assert_eq!(count("events_v2").await, "4");
    assert_eq!(count("events").await, "8");
    let totals = clickhouse_statement(
        &database,
        &format!(
            "SELECT countMerge(events_state) FROM fingerprint_total WHERE fingerprint = {fingerprint}"
        ),
    )
    .await;
    assert_eq!(totals.trim(), "8");
    let hours = clickhouse_statement(
        &database,
        &format!("SELECT countMerge(events_state) FROM fingerprint_hour WHERE fingerprint = {fingerprint}"),
    )
    .await;
    assert_eq!(hours.trim(), "8");
}

/// A TCP proxy in front of the test's ClickHouse server that can be switched off: every
/// connection through it is cut then, and new ones are refused, as with a server that is down.
struct SwitchableProxy {
    url: String,
    up: tokio::sync::watch::Sender<bool>,
}

impl SwitchableProxy {
    async fn start() -> SwitchableProxy {
        let target = clickhouse_url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (up, _) = tokio::sync::watch::channel(true);
        let switch = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !*switch.borrow() {
                    continue; // dropped: the connection is refused
                }
                let target = target.clone();
                let mut state = switch.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        SwitchableProxy { url, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// The spool (`engine/clickhouse/spool.rs`): with ClickHouse down, writes are still
/// acknowledged; what was acknowledged is shipped at the next start, and the events of an
/// insert that landed just before the process went away are not stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_writes_survive_clickhouse_being_down_and_ship_once_at_the_next_start() {
    let database = fresh_database("spool");
    let spool = tempfile::tempdir().unwrap();
    let proxy = SwitchableProxy::start().await;
    let spooled = |url: &str| -> Arc<dyn Engine> {
        Arc::new(ClickHouseEngine::new(ClickHouseSettings {
            spool: Some(SpoolSettings {
                read_wait: Duration::from_millis(300),
                ..SpoolSettings::new(spool.path())
            }),
            ..ClickHouseSettings::new(url, database.as_str())
        }))
    };
    let now = Utc::now().timestamp() as f64;
    let events = |bug: &str, count: usize| -> Vec<Value> {
        (0..count)
            .map(|i| python_event("SpoolError", &format!("{bug} {i}"), &[bug], None, now))
            .collect()
    };

    let first_run = spooled(&proxy.url);
    let (project, ingest) = migrated_project(first_run.as_ref(), "spool", &"cd".repeat(16)).await;
    // Up: written, shipped, and read back at once.
    let shipped = ingest
        .write(first_run.as_ref(), project.id, &events("shipped", 4))
        .await;
    let fingerprint_of = |batch: &WriteBatch| batch.events[0].fingerprint;
    assert_eq!(
        first_run
            .fingerprint_totals(project.id, None)
            .await
            .unwrap()[0]
            .events,
        4,
        "a read sees the acknowledged batch"
    );

    // Down: still acknowledged. The shipper takes the batch, marks it as maybe stored, and
    // retries its insert.
    proxy.set_up(false);
    let landed = ingest
        .write(first_run.as_ref(), project.id, &events("landed", 10))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !shipping_mark_names(spool.path(), 2) {
        assert!(
            Instant::now() < deadline,
            "the shipper never took the batch"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let queued = ingest
        .write(first_run.as_ref(), project.id, &events("queued", 5))
        .await;
    // A read waits for the spool a while, then goes to ClickHouse, which is down.
    let started = Instant::now();
    let read = first_run
        .event(project.id, &landed.events[0].event_id)
        .await;
    assert!(read.is_err(), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    drop(first_run);

    // As if the insert had landed just before the process went away: its events are in
    // ClickHouse, though the spool does not know it.
    let direct = clickhouse_engine(&database);
    direct
        .write(&WriteBatch {
            events: landed.events.clone(),
            ..WriteBatch::default()
        })
        .await
        .unwrap();

    let second_run = spooled(&clickhouse_url());
    second_run.migrate().await.unwrap();
    let totals: BTreeMap<u64, u64> = second_run
        .fingerprint_totals(project.id, None)
        .await
        .unwrap()
        .iter()
        .map(|totals| (totals.fingerprint, totals.events))
        .collect();
    assert_eq!(
        totals,
        BTreeMap::from([
            (fingerprint_of(&shipped), 4),
            (fingerprint_of(&landed), 10),
            (fingerprint_of(&queued), 5),
        ]),
        "the landed batch once, and the queued one"
    );
    let stored = clickhouse_statement(
        &database,
        &format!(
            "SELECT count(), uniqExact(event_id) FROM events WHERE project_id = {}",
            project.id
        ),
    )
    .await;
    assert_eq!(stored.trim(), "19\t19");
    // New writes go on through the recovered spool.
    let again = ingest
        .write(second_run.as_ref(), project.id, &events("after", 2))
        .await;
    assert_eq!(
        second_run
            .event(project.id, &again.events[1].event_id)
            .await
            .unwrap()
            .map(|e| e.event_id),
        Some(again.events[1].event_id.clone())
    );
}

/// Whether the spool's shipping mark says records up to `seq` may be stored (the layout of
/// `write_checked_file`: 8 bytes of magic, the payload, a checksum).
fn shipping_mark_names(spool: &std::path::Path, seq: u64) -> bool {
    let Ok(bytes) = std::fs::read(spool.join("shipping")) else {
        return false;
    };
    bytes.len() >= 24 && bytes[16..24] == seq.to_le_bytes()
}

/// The spool's cadence (`SpoolSettings::ship_interval`, `ship_bytes`): after an insert, the
/// next waits for the interval unless enough bytes of events are queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spool_inserts_at_its_interval_unless_enough_bytes_wait() {
    let now = Utc::now().timestamp() as f64;
    // A minute between inserts: a batch after the first waits, unless `ship_bytes` of events
    // are queued.
    for (ship_bytes, second_batch_visible) in [(usize::MAX, false), (1, true)] {
        let database = fresh_database("spool_cadence");
        let spool = tempfile::tempdir().unwrap();
        let engine: Arc<dyn Engine> = Arc::new(ClickHouseEngine::new(ClickHouseSettings {
            spool: Some(SpoolSettings {
                read_wait: Duration::from_millis(300),
                ship_interval: Duration::from_secs(60),
                ship_bytes,
                ..SpoolSettings::new(spool.path())
            }),
            ..ClickHouseSettings::new(clickhouse_url(), database.as_str())
        }));
        let (project, ingest) =
            migrated_project(engine.as_ref(), "cadence", &"ef".repeat(16)).await;
        let events = |count: usize| -> Vec<Value> {
            (0..count)
                .map(|i| python_event("CadenceError", &format!("{i}"), &["cadence"], None, now))
                .collect()
        };
        let stored = || async {
            engine
                .fingerprint_totals(project.id, None)
                .await
                .unwrap()
                .iter()
                .map(|totals| totals.events)
                .sum::<u64>()
        };
        ingest.write(engine.as_ref(), project.id, &events(3)).await;
        assert_eq!(stored().await, 3, "the first batch ships at once");
        ingest.write(engine.as_ref(), project.id, &events(2)).await;
        let (expected, what) = if second_batch_visible {
            (5, "ships at once")
        } else {
            (3, "waits for the interval")
        };
        assert_eq!(
            stored().await,
            expected,
            "ship_bytes {ship_bytes}: the second batch {what}"
        );
    }
}

/// A batch ClickHouse rejects (here: its events table is gone) is retried record by record, and
/// a record rejected alone is kept aside in the spool's `rejected/` directory: the other
/// records are not held back, and nothing acknowledged is silently dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spooled_batch_clickhouse_rejects_is_kept_aside() {
    let database = fresh_database("spool_rejected");
    let spool = tempfile::tempdir().unwrap();
    let engine = spooled_clickhouse_engine(&database, spool.path());
    let (project, ingest) = migrated_project(engine.as_ref(), "rejected", &"ef".repeat(16)).await;
    let now = Utc::now().timestamp() as f64;
    clickhouse_statement(&database, "DROP TABLE events_v2").await;
    for bug in ["first", "second"] {
        let event = python_event("RejectedError", bug, &[bug], None, now);
        ingest.write(engine.as_ref(), project.id, &[event]).await;
    }
    // Reads wait until the spool has dealt with both batches.
    let _ = engine.event(project.id, "0".repeat(32).as_str()).await;
    let mut kept: Vec<String> = std::fs::read_dir(spool.path().join("rejected"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        vec![
            "00000000000000000001.record".to_owned(),
            "00000000000000000002.record".to_owned()
        ]
    );
}

/// `stackhouse serve` on ClickHouse, stopped (SIGTERM) right after it acknowledged events: once
/// the process has exited they are in ClickHouse, because it ships its spool before it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_has_shipped_everything_it_acknowledged() {
    let database = fresh_database("stop");
    let data = tempfile::tempdir().unwrap();
    let command = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_stackhouse"));
        command
            .args(args)
            .env("STACKHOUSE_CLICKHOUSE_URL", clickhouse_url())
            .env("STACKHOUSE_CLICKHOUSE_DATABASE", &database)
            .env("STACKHOUSE_DATA_DIR", data.path())
            .env_remove("STACKHOUSE_CLICKHOUSE_SPOOL");
        command
    };
    let created = command(&["project", "create", "stop"]).output().unwrap();
    assert!(created.status.success(), "{created:?}");
    let dsn = String::from_utf8(created.stdout).unwrap();
    let (key, project) = dsn
        .trim()
        .trim_start_matches("http://")
        .split_once('@')
        .map(|(key, rest)| (key.to_owned(), rest.rsplit('/').next().unwrap().to_owned()))
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = command(&["serve", "--listen", &format!("127.0.0.1:{port}")])
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = Utc::now().timestamp() as f64;
    for i in 0..5 {
        let event = python_event("StopError", &format!("stop {i}"), &["stop"], None, now);
        let response = http
            .post(format!("{base}/api/{project}/store/?sentry_key={key}"))
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let stored = clickhouse_statement(
        &database,
        &format!("SELECT count() FROM events WHERE project_id = {project}"),
    )
    .await;
    assert_eq!(stored.trim(), "5");
}
