//! The issue lifecycle and the complete GraphQL API, on every engine (the conformance pattern of
//! `tests/conformance.rs`): transitions and their history, regression at ingest (also racing a
//! resolve), ignore conditions, issue list filters/sorts/pages, issue and event detail, project
//! stats, projects and keys, and subscriptions over a real WebSocket.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use common::{python_event, Backend, Ingest, TestServer};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use stackhouse::config::Config;
use stackhouse::engine::{IssueStatus, WriteBatch};
use stackhouse::lifecycle::EventFacts;
use stackhouse::tracker::StatusTracker;

conformance!(
    every_transition_follows_the_rules_and_is_recorded,
    a_new_event_regresses_a_resolved_issue_at_ingest,
    resolve_racing_new_events_keeps_status_and_history_consistent,
    ignore_conditions_reopen_the_issue,
    ignore_counts_survive_a_restart,
    issue_list_filters_sorts_and_pages,
    the_list_shows_issues_another_instance_opened,
    issue_detail_events_and_project_stats,
    projects_are_created_and_keys_rotated,
);

async fn start(backend: &Backend) -> TestServer {
    TestServer::start(backend.open().engine, Config::default()).await
}

/// An event of its own issue (`kind` names the exception type).
fn event(kind: &str, user: Option<&str>) -> Value {
    python_event(
        kind,
        "something broke",
        &["checkout_view", "charge"],
        user,
        Utc::now().timestamp() as f64,
    )
}

async fn send(server: &TestServer, events: &[Value]) {
    let (status, body) = server.send_ndjson(events).await;
    assert_eq!(status, 200, "{body}");
}

/// The id of the issue whose title starts with `kind`.
async fn issue_id(server: &TestServer, kind: &str) -> String {
    let data = server
        .graphql(
            "query($p: ID!, $s: String) { issues(projectId: $p, filter: {search: $s}, first: 200) { nodes { id title } } }",
            json!({ "p": server.project_id.to_string(), "s": kind }),
        )
        .await;
    data["issues"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|issue| issue["title"].as_str().unwrap().starts_with(kind))
        .unwrap_or_else(|| panic!("no issue {kind}: {data}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn status(server: &TestServer, id: &str) -> String {
    server
        .graphql(
            "query($id: ID!) { issue(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await["issue"]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn history(server: &TestServer, id: &str) -> Vec<Value> {
    server
        .graphql(
            "query($id: ID!) { issue(id: $id) { history { from to actor comment at resolvedInRelease ignoreCondition } } }",
            json!({ "id": id }),
        )
        .await["issue"]["history"]
        .as_array()
        .unwrap()
        .clone()
}

const ACK: &str = "mutation($ids: [ID!]!, $c: String) { acknowledgeIssues(ids: $ids, comment: $c) { id status } }";
const RESOLVE: &str = "mutation($ids: [ID!]!, $r: String, $c: String) { resolveIssues(ids: $ids, inRelease: $r, comment: $c) { id status resolvedInRelease } }";
const REOPEN: &str =
    "mutation($ids: [ID!]!) { reopenIssues(ids: $ids, comment: \"again\") { id status } }";
const IGNORE: &str = "mutation($ids: [ID!]!, $until: DateTime, $events: Int, $users: Int, $rate: IgnoreRate) {
  ignoreIssues(ids: $ids, until: $until, untilEvents: $events, untilUsers: $users, untilRate: $rate, comment: \"noisy\") { id status ignoreCondition } }";

/// Runs a mutation expected to fail; returns its error code.
async fn refused(server: &TestServer, query: &str, variables: Value) -> String {
    let response = server.graphql_response(query, variables).await;
    let errors = response["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected an error: {response}"));
    errors[0]["extensions"]["code"].as_str().unwrap().to_owned()
}

async fn every_transition_follows_the_rules_and_is_recorded(backend: Backend) {
    let server = start(&backend).await;
    send(
        &server,
        &[event("AlphaError", None), event("BetaError", None)],
    )
    .await;
    let alpha = issue_id(&server, "AlphaError").await;
    let beta = issue_id(&server, "BetaError").await;
    assert_eq!(status(&server, &alpha).await, "NEW");

    // New → Acknowledged (bulk), and again is refused.
    let data = server
        .graphql(ACK, json!({ "ids": [alpha, beta], "c": "on it" }))
        .await;
    assert_eq!(data["acknowledgeIssues"][0]["status"], "ACKNOWLEDGED");
    assert_eq!(data["acknowledgeIssues"][1]["status"], "ACKNOWLEDGED");
    assert_eq!(
        refused(&server, ACK, json!({ "ids": [alpha] })).await,
        "INVALID_TRANSITION"
    );
    // Acknowledged → Resolved in a release; Resolved → Ignored refused; → New by reopen.
    let data = server
        .graphql(
            RESOLVE,
            json!({ "ids": [alpha], "r": "shop@2.0.0", "c": "fixed" }),
        )
        .await;
    assert_eq!(data["resolveIssues"][0]["status"], "RESOLVED");
    assert_eq!(data["resolveIssues"][0]["resolvedInRelease"], "shop@2.0.0");
    assert_eq!(
        refused(&server, IGNORE, json!({ "ids": [alpha] })).await,
        "INVALID_TRANSITION"
    );
    assert_eq!(
        refused(&server, RESOLVE, json!({ "ids": [alpha] })).await,
        "INVALID_TRANSITION"
    );
    server.graphql(REOPEN, json!({ "ids": [alpha] })).await;
    assert_eq!(status(&server, &alpha).await, "NEW");
    assert_eq!(
        refused(&server, REOPEN, json!({ "ids": [alpha] })).await,
        "INVALID_TRANSITION"
    );
    // New → Ignored (with a condition) → Resolved → New.
    let data = server
        .graphql(IGNORE, json!({ "ids": [alpha], "events": 100 }))
        .await;
    assert_eq!(data["ignoreIssues"][0]["status"], "IGNORED");
    assert_eq!(
        data["ignoreIssues"][0]["ignoreCondition"],
        json!({"untilEvents": 100})
    );
    assert_eq!(
        refused(&server, ACK, json!({ "ids": [alpha] })).await,
        "INVALID_TRANSITION"
    );
    server.graphql(RESOLVE, json!({ "ids": [alpha] })).await;
    server.graphql(REOPEN, json!({ "ids": [alpha] })).await;

    // A bulk mutation with one invalid issue changes none (beta is Acknowledged; alpha New).
    assert_eq!(
        refused(&server, REOPEN, json!({ "ids": [beta, alpha] })).await,
        "INVALID_TRANSITION"
    );
    assert_eq!(status(&server, &beta).await, "ACKNOWLEDGED");
    // Unknown issues and bad conditions are refused with their own codes.
    assert_eq!(
        refused(&server, ACK, json!({ "ids": ["12345"] })).await,
        "NOT_FOUND"
    );
    assert_eq!(
        refused(&server, IGNORE, json!({ "ids": [beta], "events": 0 })).await,
        "BAD_REQUEST"
    );

    let steps: Vec<(Value, Value, Value)> = history(&server, &alpha)
        .await
        .into_iter()
        .map(|h| (h["from"].clone(), h["to"].clone(), h["comment"].clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (json!("NEW"), json!("ACKNOWLEDGED"), json!("on it")),
            (json!("ACKNOWLEDGED"), json!("RESOLVED"), json!("fixed")),
            (json!("RESOLVED"), json!("NEW"), json!("again")),
            (json!("NEW"), json!("IGNORED"), json!("noisy")),
            (json!("IGNORED"), json!("RESOLVED"), json!("")),
            (json!("RESOLVED"), json!("NEW"), json!("again")),
        ]
    );
    let full = history(&server, &alpha).await;
    assert_eq!(full[1]["resolvedInRelease"], "shop@2.0.0");
    assert_eq!(full[3]["ignoreCondition"], json!({"untilEvents": 100}));
    assert!(full.iter().all(|h| h["actor"] == "api"));
    // The stored current state is the tracker's (what a restarted server loads).
    let states = server.engine.issue_states().await.unwrap();
    let stored = states
        .iter()
        .find(|s| s.issue_id.to_string() == beta)
        .unwrap();
    assert_eq!(stored.to_status, IssueStatus::Acknowledged);
    // The status filter of the list follows the tracker.
    let data = server
        .graphql(
            "query($p: ID!) { issues(projectId: $p, filter: {status: [ACKNOWLEDGED]}) { nodes { id } totalCount } }",
            json!({ "p": server.project_id.to_string() }),
        )
        .await;
    assert_eq!(data["issues"]["nodes"], json!([{ "id": beta }]));
    assert_eq!(data["issues"]["totalCount"], 1);
}

fn with_release(mut event: Value, release: &str) -> Value {
    event["release"] = json!(release);
    event
}

async fn a_new_event_regresses_a_resolved_issue_at_ingest(backend: Backend) {
    let server = start(&backend).await;
    send(
        &server,
        &[event("GammaError", None), event("DeltaError", None)],
    )
    .await;
    let gamma = issue_id(&server, "GammaError").await;
    let delta = issue_id(&server, "DeltaError").await;

    // Resolved without a release: any new event regresses it.
    server.graphql(RESOLVE, json!({ "ids": [gamma] })).await;
    send(&server, &[event("GammaError", None)]).await;
    assert_eq!(status(&server, &gamma).await, "REGRESSED");
    let last = history(&server, &gamma).await.pop().unwrap();
    assert_eq!(
        (&last["from"], &last["to"], &last["actor"]),
        (&json!("RESOLVED"), &json!("REGRESSED"), &json!("system"))
    );
    // More events keep it Regressed without new transitions.
    send(
        &server,
        &[event("GammaError", None), event("GammaError", None)],
    )
    .await;
    assert_eq!(history(&server, &gamma).await.len(), 2);
    // Regressed → Acknowledged is allowed.
    server.graphql(ACK, json!({ "ids": [gamma] })).await;

    // Resolved in 1.5.0: events of 1.4.9, 1.5.0 and without a release do not regress it...
    server
        .graphql(RESOLVE, json!({ "ids": [delta], "r": "shop@1.5.0" }))
        .await;
    let mut no_release = event("DeltaError", None);
    no_release.as_object_mut().unwrap().remove("release");
    send(
        &server,
        &[
            with_release(event("DeltaError", None), "shop@1.4.9"),
            with_release(event("DeltaError", None), "shop@1.5.0"),
            no_release,
        ],
    )
    .await;
    assert_eq!(status(&server, &delta).await, "RESOLVED");
    // ... one of 1.10.0 does.
    send(
        &server,
        &[with_release(event("DeltaError", None), "shop@1.10.0")],
    )
    .await;
    assert_eq!(status(&server, &delta).await, "REGRESSED");
    let stored = server.engine.issue_states().await.unwrap();
    let stored = stored
        .iter()
        .find(|s| s.issue_id.to_string() == delta)
        .unwrap();
    assert_eq!(stored.to_status, IssueStatus::Regressed);
}

async fn resolve_racing_new_events_keeps_status_and_history_consistent(backend: Backend) {
    let server = start(&backend).await;
    send(&server, &[event("RaceError", Some("u0"))]).await;
    let race = issue_id(&server, "RaceError").await;
    for round in 0..6 {
        // A resolve and bursts of events for the same issue, all at once.
        let resolve = async {
            server.graphql(RESOLVE, json!({ "ids": [race] })).await;
        };
        let bursts = futures::future::join_all((0..4).map(|i| {
            let server = &server;
            async move {
                tokio::time::sleep(StdDuration::from_millis(i * 3)).await;
                send(server, &[event("RaceError", Some(&format!("u{round}{i}")))]).await;
            }
        }));
        tokio::join!(resolve, bursts);
        // Whichever order the tracker saw, the stored history is one chain ending in the
        // status shown, and the stored state equals it.
        let shown = status(&server, &race).await;
        assert!(shown == "RESOLVED" || shown == "REGRESSED", "{shown}");
        let steps = history(&server, &race).await;
        for pair in steps.windows(2) {
            assert_eq!(pair[0]["to"], pair[1]["from"], "{steps:#?}");
        }
        assert_eq!(steps.last().unwrap()["to"], json!(shown));
        let stored = server.engine.issue_states().await.unwrap();
        let stored = stored
            .iter()
            .find(|s| s.issue_id.to_string() == race)
            .unwrap();
        assert_eq!(
            stored.to_status.as_str().to_uppercase(),
            shown,
            "round {round}"
        );
        // An event after both have finished always finds it resolved or regressed, and
        // leaves it regressed.
        send(&server, &[event("RaceError", None)]).await;
        assert_eq!(status(&server, &race).await, "REGRESSED");
        // Every resolve is followed by at most one regression.
        let regressions = steps.iter().filter(|h| h["to"] == "REGRESSED").count();
        let resolves = steps.iter().filter(|h| h["to"] == "RESOLVED").count();
        assert!(regressions <= resolves, "{steps:#?}");
    }
    // Six resolves, six regressions: none lost.
    let steps = history(&server, &race).await;
    assert_eq!(steps.iter().filter(|h| h["to"] == "RESOLVED").count(), 6);
    assert_eq!(steps.iter().filter(|h| h["to"] == "REGRESSED").count(), 6);
}

async fn ignore_conditions_reopen_the_issue(backend: Backend) {
    let server = start(&backend).await;
    let kinds = [
        "EventsError",
        "UsersError",
        "RateError",
        "TimeError",
        "ForeverError",
    ];
    let first: Vec<Value> = kinds.iter().map(|k| event(k, None)).collect();
    send(&server, &first).await;
    let mut ids = Vec::new();
    for kind in kinds {
        ids.push(issue_id(&server, kind).await);
    }
    let (by_events, by_users, by_rate, by_time, forever) =
        (&ids[0], &ids[1], &ids[2], &ids[3], &ids[4]);
    server
        .graphql(IGNORE, json!({ "ids": [by_events], "events": 3 }))
        .await;
    server
        .graphql(IGNORE, json!({ "ids": [by_users], "users": 2 }))
        .await;
    server
        .graphql(
            IGNORE,
            json!({ "ids": [by_rate], "rate": {"events": 4, "minutes": 10} }),
        )
        .await;
    let until = Utc::now() + Duration::seconds(6);
    server
        .graphql(
            IGNORE,
            json!({ "ids": [by_time], "until": until.to_rfc3339() }),
        )
        .await;
    assert_eq!(status(&server, by_time).await, "IGNORED");
    server.graphql(IGNORE, json!({ "ids": [forever] })).await;
    let past = (Utc::now() - Duration::seconds(5)).to_rfc3339();
    assert_eq!(
        refused(&server, IGNORE, json!({ "ids": [forever], "until": past })).await,
        "BAD_REQUEST"
    );

    // Two events: not yet three.
    send(
        &server,
        &[event("EventsError", None), event("EventsError", None)],
    )
    .await;
    assert_eq!(status(&server, by_events).await, "IGNORED");
    send(&server, &[event("EventsError", None)]).await;
    assert_eq!(status(&server, by_events).await, "NEW");

    // The same user many times is one user.
    let same: Vec<Value> = (0..5).map(|_| event("UsersError", Some("ada"))).collect();
    send(&server, &same).await;
    assert_eq!(status(&server, by_users).await, "IGNORED");
    send(&server, &[event("UsersError", Some("bob"))]).await;
    assert_eq!(status(&server, by_users).await, "NEW");

    // Three within ten minutes is under the rate; the fourth exceeds it.
    let three: Vec<Value> = (0..3).map(|_| event("RateError", None)).collect();
    send(&server, &three).await;
    assert_eq!(status(&server, by_rate).await, "IGNORED");
    send(&server, &[event("RateError", None)]).await;
    assert_eq!(status(&server, by_rate).await, "NEW");

    // Until a time: read as New once it passes; the next event stores the transition.
    let wait = (until - Utc::now() + Duration::milliseconds(500))
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    assert_eq!(status(&server, by_time).await, "NEW");
    send(&server, &[event("TimeError", None)]).await;
    let last = history(&server, by_time).await.pop().unwrap();
    assert_eq!(
        (&last["from"], &last["to"], &last["actor"]),
        (&json!("IGNORED"), &json!("NEW"), &json!("system"))
    );

    // Without a condition, events never end the ignore.
    let many: Vec<Value> = (0..20)
        .map(|i| event("ForeverError", Some(&format!("user{i}"))))
        .collect();
    send(&server, &many).await;
    assert_eq!(status(&server, forever).await, "IGNORED");
    for id in [by_events, by_users, by_rate] {
        let last = history(&server, id).await.pop().unwrap();
        assert_eq!(last["to"], "NEW");
        assert_eq!(last["actor"], "system");
    }
}

async fn ignore_counts_survive_a_restart(backend: Backend) {
    let server = start(&backend).await;
    send(
        &server,
        &[event("CountedError", None), event("PeopleError", None)],
    )
    .await;
    let (counted, people) = (
        issue_id(&server, "CountedError").await,
        issue_id(&server, "PeopleError").await,
    );
    server
        .graphql(IGNORE, json!({ "ids": [counted], "events": 3 }))
        .await;
    server
        .graphql(IGNORE, json!({ "ids": [people], "users": 2 }))
        .await;
    // Two of three events, one of two users (twice), before the "restart".
    send(
        &server,
        &[
            event("CountedError", None),
            event("CountedError", None),
            event("PeopleError", Some("ada")),
            event("PeopleError", Some("ada")),
        ],
    )
    .await;
    assert_eq!(status(&server, &counted).await, "IGNORED");
    assert_eq!(status(&server, &people).await, "IGNORED");

    // What a restarted server loads from the engine.
    let tracker = StatusTracker::load(server.engine.as_ref()).await.unwrap();
    let project = server.project_id;
    let observe = |issue: &str, user: &str| {
        let mut batch = WriteBatch::default();
        let facts = EventFacts {
            release: "",
            user_key: user,
            received: Utc::now(),
        };
        tracker.observe(project, issue.parse().unwrap(), facts, &mut batch);
        tracker.status(project, issue.parse().unwrap(), Utc::now())
    };
    assert_eq!(observe(&counted, ""), IssueStatus::New, "the third event");
    assert_eq!(
        observe(&people, "id:ada"),
        IssueStatus::Ignored,
        "ada counted once"
    );
    assert_eq!(
        observe(&people, "id:bob"),
        IssueStatus::New,
        "the second user"
    );
}

/// Sends events to make issues of known shape; returns their ids by kind.
async fn issue_list_filters_sorts_and_pages(backend: Backend) {
    let server = start(&backend).await;
    let now = Utc::now().timestamp();
    let make = |kind: &str,
                environment: &str,
                release: &str,
                level: &str,
                region: &str,
                user: Option<String>,
                at: i64| {
        let mut e = python_event(
            kind,
            &format!("{kind} message"),
            &["list_view"],
            user.as_deref(),
            at as f64,
        );
        e["environment"] = json!(environment);
        e["release"] = json!(release);
        e["level"] = json!(level);
        e["tags"] = json!({"region": region});
        e
    };
    let mut events = Vec::new();
    // ListA: 5 events, 5 users, production, 1.0, error, eu, first seen 5 hours ago.
    for i in 0..5 {
        events.push(make(
            "ListAError",
            "production",
            "app@1.0",
            "error",
            "eu",
            Some(format!("a{i}")),
            now - 5 * 3600 + i,
        ));
    }
    // ListB: 3 events, 1 user, staging, 2.0, warning, us, seen now (trending: all in the
    // current hour).
    for _ in 0..3 {
        events.push(make(
            "ListBError",
            "staging",
            "app@2.0",
            "warning",
            "us",
            Some("b".into()),
            now,
        ));
    }
    // ListC: 1 event, no user, production, 2.0, fatal, us, 3 hours ago.
    events.push(make(
        "ListCError",
        "production",
        "app@2.0",
        "fatal",
        "us",
        None,
        now - 3 * 3600,
    ));
    // ListD: 4 events, 2 users, production, 1.0, error, eu, 10 hours ago, one carries a
    // distinctive message.
    for i in 0..4 {
        let mut e = make(
            "ListDError",
            "production",
            "app@1.0",
            "error",
            "eu",
            Some(format!("d{}", i % 2)),
            now - 10 * 3600 + i,
        );
        if i == 3 {
            e["exception"]["values"][0]["value"] = json!("the Needle in the haystack");
        }
        events.push(e);
    }
    send(&server, &events).await;
    let mut ids = std::collections::HashMap::new();
    for kind in ["ListAError", "ListBError", "ListCError", "ListDError"] {
        ids.insert(kind, issue_id(&server, kind).await);
    }
    let names = |nodes: &Value| -> Vec<String> {
        nodes
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let id = n["id"].as_str().unwrap();
                ids.iter()
                    .find(|(_, v)| v.as_str() == id)
                    .unwrap()
                    .0
                    .to_string()
            })
            .collect()
    };
    let list = "query($p: ID!, $f: IssueFilter, $s: IssueSort, $first: Int, $after: String) {
        issues(projectId: $p, filter: $f, sort: $s, first: $first, after: $after) {
          nodes { id } totalCount pageInfo { hasNextPage endCursor } } }";
    let project = server.project_id.to_string();
    let query = |filter: Value, sort: &str| {
        let server = &server;
        let project = project.clone();
        let sort = sort.to_owned();
        async move {
            server
                .graphql(
                    list,
                    json!({ "p": project, "f": filter, "s": sort, "first": 50 }),
                )
                .await["issues"]
                .clone()
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // Sorts.
    assert_eq!(
        names(&query(json!({}), "EVENTS").await["nodes"]),
        set(&["ListAError", "ListDError", "ListBError", "ListCError"])
    );
    assert_eq!(
        names(&query(json!({}), "USERS").await["nodes"]),
        set(&["ListAError", "ListDError", "ListBError", "ListCError"])
    );
    assert_eq!(
        names(&query(json!({}), "LAST_SEEN").await["nodes"]),
        set(&["ListBError", "ListCError", "ListAError", "ListDError"])
    );
    assert_eq!(
        names(&query(json!({}), "FIRST_SEEN").await["nodes"]),
        set(&["ListBError", "ListCError", "ListAError", "ListDError"])
    );
    let trend = names(&query(json!({}), "TREND").await["nodes"]);
    assert_eq!(trend[0], "ListBError", "{trend:?}");
    // Declared variables left out (and null) take the arguments' defaults: LAST_SEEN, 50.
    for variables in [
        json!({ "p": project }),
        json!({ "p": project, "s": null, "first": null }),
    ] {
        let defaulted = server.graphql(list, variables).await;
        assert_eq!(
            names(&defaulted["issues"]["nodes"]),
            set(&["ListBError", "ListCError", "ListAError", "ListDError"])
        );
    }

    // Filters.
    let filtered = |filter: Value| {
        let query = &query;
        async move {
            let result = query(filter, "EVENTS").await;
            let found = sorted(names(&result["nodes"]));
            assert_eq!(result["totalCount"], json!(found.len()));
            found
        }
    };
    assert_eq!(
        filtered(json!({"environment": "staging"})).await,
        set(&["ListBError"])
    );
    assert_eq!(
        filtered(json!({"release": "app@2.0"})).await,
        set(&["ListBError", "ListCError"])
    );
    assert_eq!(
        filtered(json!({"level": ["fatal", "warning"]})).await,
        set(&["ListBError", "ListCError"])
    );
    assert_eq!(filtered(json!({"platform": "python"})).await.len(), 4);
    assert_eq!(filtered(json!({"platform": "go"})).await.len(), 0);
    assert_eq!(
        filtered(json!({"tag": "region:us"})).await,
        set(&["ListBError", "ListCError"])
    );
    assert_eq!(
        filtered(json!({"tag": "region:eu", "release": "app@1.0"})).await,
        set(&["ListAError", "ListDError"])
    );
    assert_eq!(
        filtered(json!({"search": "needle IN THE"})).await,
        set(&["ListDError"])
    );
    assert_eq!(
        filtered(json!({"search": "listc"})).await,
        set(&["ListCError"])
    );
    let hours_ago = |h: i64| (Utc::now() - Duration::hours(h)).to_rfc3339();
    assert_eq!(
        filtered(json!({"from": hours_ago(4)})).await,
        set(&["ListBError", "ListCError"])
    );
    assert_eq!(
        filtered(json!({"from": hours_ago(6), "to": hours_ago(4)})).await,
        set(&["ListAError"])
    );
    assert_eq!(filtered(json!({"status": ["RESOLVED"]})).await.len(), 0);
    assert_eq!(
        filtered(json!({"status": ["NEW"], "environment": "production"}))
            .await
            .len(),
        3
    );
    let bad = server
        .graphql_response(
            list,
            json!({ "p": project, "s": "EVENTS", "first": 10, "f": {"tag": "no-colon"} }),
        )
        .await;
    assert_eq!(
        bad["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{bad}"
    );
    let too_big = server
        .graphql_response(list, json!({ "p": project, "s": "EVENTS", "first": 201 }))
        .await;
    assert_eq!(too_big["errors"][0]["extensions"]["code"], "BAD_REQUEST");

    // Pages of one cover the list once, in order, in every sort.
    for sort in ["EVENTS", "USERS", "LAST_SEEN", "FIRST_SEEN", "TREND"] {
        let whole = names(&query(json!({}), sort).await["nodes"]);
        let mut paged = Vec::new();
        let mut after = Value::Null;
        loop {
            let page = server
                .graphql(
                    list,
                    json!({ "p": project, "s": sort, "first": 1, "after": after }),
                )
                .await["issues"]
                .clone();
            paged.extend(names(&page["nodes"]));
            assert_eq!(page["totalCount"], 4);
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(paged, whole, "{sort}");
    }
    let unique: BTreeSet<String> = names(&query(json!({}), "EVENTS").await["nodes"])
        .into_iter()
        .collect();
    assert_eq!(unique.len(), 4);
}

async fn issue_detail_events_and_project_stats(backend: Backend) {
    let server = start(&backend).await;
    let now = Utc::now().timestamp();
    let mut events = Vec::new();
    for i in 0..6i64 {
        let mut e = python_event(
            "DetailError",
            "detail",
            &["detail_view"],
            Some(&format!("u{}", i % 3)),
            (now - 120 + i) as f64,
        );
        e["tags"] = json!({"browser": if i < 4 { "Firefox" } else { "Chrome" }, "region": "eu"});
        e["breadcrumbs"] =
            json!({"values": [{"category": "http", "message": format!("GET /{i}")}]});
        e["request"] = json!({"method": "POST", "url": "https://shop.example/checkout"});
        e["contexts"] = json!({"os": {"name": "Linux"}});
        events.push(e);
    }
    send(&server, &events).await;
    let id = issue_id(&server, "DetailError").await;
    let detail = "query($id: ID!, $after: String) { issue(id: $id) {
        count groupingExplanation
        tags(limit: 1) { key total values { value count } }
        minutes: trend(granularity: MINUTE) { time events }
        hours: trend(granularity: HOUR) { events }
        days: trend(granularity: DAY) { events }
        latestEvent { id issueId breadcrumbs request contexts }
        eventPage(first: 4, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }";
    let data = server.graphql(detail, json!({ "id": id })).await["issue"].clone();
    assert_eq!(data["count"], 6);
    assert!(data["groupingExplanation"]
        .as_object()
        .is_some_and(|o| !o.is_empty()));
    assert_eq!(
        data["tags"],
        json!([
            {"key": "browser", "total": 6, "values": [{"value": "Firefox", "count": 4}]},
            {"key": "region", "total": 6, "values": [{"value": "eu", "count": 6}]},
        ])
    );
    let sum = |points: &Value| -> u64 {
        points
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["events"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(data["minutes"].as_array().unwrap().len(), 60);
    assert_eq!(sum(&data["minutes"]), 6);
    assert_eq!(data["hours"].as_array().unwrap().len(), 24);
    assert_eq!(sum(&data["hours"]), 6);
    assert_eq!(sum(&data["days"]), 6);
    let latest = &data["latestEvent"];
    assert_eq!(latest["issueId"], json!(id));
    assert_eq!(latest["breadcrumbs"][0]["message"], "GET /5");
    assert_eq!(latest["request"]["method"], "POST");
    assert_eq!(latest["contexts"]["os"]["name"], "Linux");
    // Event pages: 4 then 2, newest first, no repeats.
    let first_page = &data["eventPage"];
    assert_eq!(first_page["pageInfo"]["hasNextPage"], true);
    let second = server
        .graphql(
            detail,
            json!({ "id": id, "after": first_page["pageInfo"]["endCursor"] }),
        )
        .await["issue"]["eventPage"]
        .clone();
    assert_eq!(second["pageInfo"]["hasNextPage"], false);
    let mut all: Vec<Value> = first_page["nodes"].as_array().unwrap().clone();
    all.extend(second["nodes"].as_array().unwrap().iter().cloned());
    assert_eq!(all.len(), 6);
    assert_eq!(all[0]["id"], latest["id"]);
    assert_eq!(
        all.iter().collect::<std::collections::HashSet<_>>().len(),
        6
    );

    // One event by id, with dashes or without; an unknown one is null.
    let event_id = latest["id"].as_str().unwrap().to_owned();
    let dashed = format!(
        "{}-{}-{}-{}-{}",
        &event_id[..8],
        &event_id[8..12],
        &event_id[12..16],
        &event_id[16..20],
        &event_id[20..]
    );
    let lookup =
        "query($p: ID!, $e: ID!) { event(projectId: $p, eventId: $e) { id issueId request } }";
    let found = server
        .graphql(
            lookup,
            json!({ "p": server.project_id.to_string(), "e": dashed }),
        )
        .await;
    assert_eq!(found["event"]["id"], json!(event_id));
    assert_eq!(found["event"]["issueId"], json!(id));
    let missing = server
        .graphql(
            lookup,
            json!({ "p": server.project_id.to_string(), "e": "0".repeat(32) }),
        )
        .await;
    assert_eq!(missing["event"], Value::Null);

    // Project stats: every event and the one new issue, by minute over the last hour.
    let stats = server
        .graphql(
            "query($p: ID!) { projectStats(projectId: $p, granularity: MINUTE) { time events newIssues } }",
            json!({ "p": server.project_id.to_string() }),
        )
        .await["projectStats"]
        .clone();
    assert_eq!(sum(&stats), 6);
    let new_issues: u64 = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["newIssues"].as_u64().unwrap())
        .sum();
    assert_eq!(new_issues, 1);
    let too_long = server
        .graphql_response(
            "query($p: ID!) { projectStats(projectId: $p, granularity: MINUTE, from: \"2020-01-01T00:00:00Z\") { events } }",
            json!({ "p": server.project_id.to_string() }),
        )
        .await;
    assert_eq!(too_long["errors"][0]["extensions"]["code"], "BAD_REQUEST");
}

async fn projects_are_created_and_keys_rotated(backend: Backend) {
    let server = start(&backend).await;
    let created = server
        .graphql(
            "mutation { createProject(name: \"billing\") { id name dsn keys { publicKey dsn active } } }",
            json!({}),
        )
        .await["createProject"]
        .clone();
    assert_eq!(created["name"], "billing");
    assert_eq!(created["keys"].as_array().unwrap().len(), 1);
    assert_eq!(created["dsn"], created["keys"][0]["dsn"]);
    let listed = server.graphql("{ projects { id dsn } }", json!({})).await["projects"].clone();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == created["id"]));

    // Rotate the test project's key: the old DSN is refused, the new one accepted.
    let old_key = server.key.clone();
    let rotated = server
        .graphql(
            "mutation($p: ID!) { rotateProjectKey(projectId: $p) { dsn keys { publicKey active } } }",
            json!({ "p": server.project_id.to_string() }),
        )
        .await["rotateProjectKey"]
        .clone();
    let keys = rotated["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let new_key = keys.iter().find(|k| k["active"] == true).unwrap()["publicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_key, old_key);
    assert!(keys
        .iter()
        .any(|k| k["publicKey"] == json!(old_key) && k["active"] == false));
    assert!(rotated["dsn"].as_str().unwrap().contains(&new_key));
    let body = format!("{}\n", event("KeyError", None));
    let post = |key: String| {
        let server = &server;
        let body = body.clone();
        async move {
            server
                .http
                .post(format!(
                    "{}/api/{}/events?sentry_key={key}",
                    server.base, server.project_id
                ))
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(old_key).await, 403);
    assert_eq!(post(new_key).await, 200);
    let unknown = server
        .graphql_response(
            "mutation { rotateProjectKey(projectId: \"999\") { dsn } }",
            json!({}),
        )
        .await;
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "NOT_FOUND");
}

/// Reads the next `next` message of a subscription (graphql-transport-ws).
async fn next_payload<S>(socket: &mut S) -> Value
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    loop {
        let message = tokio::time::timeout(StdDuration::from_secs(10), socket.next())
            .await
            .expect("a subscription message within 10 s")
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            match value["type"].as_str() {
                Some("next") => return value,
                Some("ping") | Some("pong") | Some("connection_ack") => continue,
                other => panic!("unexpected message {other:?}: {value}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_announce_new_issues_regressions_and_event_counts_over_a_websocket() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let backend = Backend::embedded();
    let server = start(&backend).await;
    let url = format!("{}/graphql/ws", server.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": {}}).to_string(),
        ))
        .await
        .unwrap();
    let project = server.project_id.to_string();
    socket
        .send(Message::text(
            json!({"id": "activity", "type": "subscribe", "payload": {
                "query": "subscription($p: ID!) { issueActivity(projectId: $p) { kind issue { id title status } } }",
                "variables": {"p": project}}})
            .to_string(),
        ))
        .await
        .unwrap();
    socket
        .send(Message::text(
            json!({"id": "counts", "type": "subscribe", "payload": {
                "query": "subscription($p: ID!) { eventCounts(projectId: $p) { time events } }",
                "variables": {"p": project}}})
            .to_string(),
        ))
        .await
        .unwrap();
    // Let the subscriptions start before anything happens.
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    send(
        &server,
        &[event("LiveError", None), event("LiveError", None)],
    )
    .await;

    let mut activity = Vec::new();
    let mut counted = 0;
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(10);
    while (activity.is_empty() || counted < 2) && tokio::time::Instant::now() < deadline {
        let message = next_payload(&mut socket).await;
        match message["id"].as_str() {
            Some("activity") => activity.push(message["payload"]["data"]["issueActivity"].clone()),
            Some("counts") => {
                counted += message["payload"]["data"]["eventCounts"]["events"]
                    .as_u64()
                    .unwrap()
            }
            other => panic!("unexpected id {other:?}"),
        }
    }
    assert_eq!(counted, 2);
    assert_eq!(activity[0]["kind"], "NEW_ISSUE");
    assert!(activity[0]["issue"]["title"]
        .as_str()
        .unwrap()
        .starts_with("LiveError"));
    let id = activity[0]["issue"]["id"].as_str().unwrap().to_owned();

    // Resolve, then a new event: a status change, then a regression.
    server.graphql(RESOLVE, json!({ "ids": [id] })).await;
    send(&server, &[event("LiveError", None)]).await;
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let message = next_payload(&mut socket).await;
        if message["id"] == "activity" {
            let item = &message["payload"]["data"]["issueActivity"];
            assert_eq!(item["issue"]["id"], json!(id));
            kinds.push(item["kind"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(kinds, ["STATUS_CHANGE", "REGRESSION"]);
}

/// Several instances share one store; each holds the fingerprint→issue mapping in memory. An
/// issue another instance opened after this one started is still listed, with its counts.
async fn the_list_shows_issues_another_instance_opened(backend: Backend) {
    let server = start(&backend).await;
    send(&server, &[event("SeenHereError", Some("u1"))]).await;
    // The other instance: its own grouper over the same store.
    let other = Ingest::load(server.engine.as_ref()).await;
    let theirs = [
        event("SeenThereError", Some("u1")),
        event("SeenThereError", Some("u2")),
    ];
    other
        .write(server.engine.as_ref(), server.project_id, &theirs)
        .await;
    let list = server
        .graphql(
            "query($p: ID!, $sort: IssueSort) { issues(projectId: $p, sort: $sort) { \
             totalCount nodes { title count userCount } } }",
            json!({"p": server.project_id.to_string(), "sort": "EVENTS"}),
        )
        .await;
    let issues = &list["issues"];
    assert_eq!(issues["totalCount"], 2, "{list}");
    assert!(
        issues["nodes"][0]["title"]
            .as_str()
            .unwrap()
            .starts_with("SeenThereError"),
        "{list}"
    );
    assert_eq!(issues["nodes"][0]["count"], 2);
    assert_eq!(issues["nodes"][0]["userCount"], 2);
    // Trend sees them as well.
    let trend = server
        .graphql(
            "query($p: ID!) { issues(projectId: $p, sort: TREND) { totalCount } }",
            json!({"p": server.project_id.to_string()}),
        )
        .await;
    assert_eq!(trend["issues"]["totalCount"], 2, "{trend}");
}
