//! Every example query in `sql/README.md` runs on both engines, through `POST /sql` with a
//! project-scoped token, over the sample data the README describes, and returns exactly the
//! result printed under it.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{Duration, Utc};
use common::{python_event, Backend, TestServer};
use serde_json::{json, Value};
use stackhouse::config::Config;
use stackhouse::engine::IssueStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_examples_on_clickhouse() {
    readme_examples(Backend::clickhouse("readme_examples")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_examples_on_embedded() {
    readme_examples(Backend::embedded()).await;
}

/// One example: its heading, its SQL, and the documented result (header, then rows).
struct Example {
    heading: String,
    sql: String,
    expected: Vec<Vec<String>>,
}

fn examples(readme: &str) -> Vec<Example> {
    let section = readme
        .split("\n## Examples\n")
        .nth(1)
        .expect("sql/README.md has an Examples section");
    let mut examples = Vec::new();
    for part in section.split("\n### ").skip(1) {
        let heading = part.lines().next().unwrap().trim().to_owned();
        let block = |fence: &str| {
            let start = part
                .find(fence)
                .unwrap_or_else(|| panic!("{heading}: no {fence} block"))
                + fence.len();
            let end = start + part[start..].find("\n```").unwrap();
            part[start..end].trim().to_owned()
        };
        let expected = block("```text\n")
            .lines()
            .map(|line| line.split('|').map(|cell| cell.trim().to_owned()).collect())
            .collect();
        examples.push(Example {
            sql: block("```sql\n"),
            heading,
            expected,
        });
    }
    examples
}

async fn readme_examples(backend: Backend) {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/README.md")).unwrap();
    let examples = examples(&readme);
    assert_eq!(examples.len(), 4, "the README's examples");

    let handle = backend.open();
    let server = TestServer::start_secured(handle.engine.clone(), Config::default()).await;
    let now = Utc::now();
    let recent = (now - Duration::minutes(5)).timestamp() as f64;
    let mut events = Vec::new();
    for user in ["ada", "bob", "cy", "ada"] {
        events.push(python_event(
            "KeyError",
            "'basket'",
            &["checkout_view", "load_basket"],
            Some(user),
            recent,
        ));
    }
    for _ in 0..2 {
        let mut event = python_event(
            "ZeroDivisionError",
            "division by zero",
            &["report_view", "average"],
            Some("ada"),
            recent,
        );
        event["release"] = json!("shop@1.5.0");
        events.push(event);
    }
    let mut old = python_event(
        "TimeoutError",
        "upstream timed out",
        &["sync_job"],
        None,
        (now - Duration::days(10)).timestamp() as f64,
    );
    old["release"] = json!("shop@1.5.0");
    events.push(old);
    let (status, answer) = server.send_ndjson(&events).await;
    assert_eq!(status, 200, "{answer}");

    // A token for the project, and an unrelated project whose rows must never show.
    let token = server.create_token(&[server.project_id]).await;
    let other = server
        .engine
        .create_project("other", &stackhouse::projects::generate_public_key())
        .await
        .unwrap();
    let mut issue_ids = std::collections::HashMap::new();
    for _ in 0..100 {
        let (_, answer) = sql(&server, &token, "SELECT title, issue_id FROM issues").await;
        if answer["rows"]
            .as_array()
            .is_some_and(|rows| rows.len() == 3)
        {
            for row in answer["rows"].as_array().unwrap() {
                issue_ids.insert(
                    row[0].as_str().unwrap().to_owned(),
                    row[1].as_u64().unwrap(),
                );
            }
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(issue_ids.len(), 3, "issues visible");
    let key_error = issue_ids["KeyError: 'basket'"];
    let zero = issue_ids["ZeroDivisionError: division by zero"];
    let yesterday = now - Duration::days(1);
    for (issue, at) in [(key_error, yesterday), (key_error, now), (zero, now)] {
        handle
            .record_transition(
                server.project_id,
                issue,
                IssueStatus::Regressed,
                IssueStatus::Resolved,
                at - Duration::minutes(1),
            )
            .await;
        handle
            .record_transition(
                server.project_id,
                issue,
                IssueStatus::Resolved,
                IssueStatus::Regressed,
                at,
            )
            .await;
    }
    // Noise in the other project: a regression no scoped query may count.
    handle
        .record_transition(
            other.id,
            1,
            IssueStatus::Resolved,
            IssueStatus::Regressed,
            now,
        )
        .await;

    let today = now.format("%Y-%m-%d").to_string();
    let yesterday = yesterday.format("%Y-%m-%d").to_string();
    for example in &examples {
        let (status, answer) = sql(&server, &token, &example.sql).await;
        assert_eq!(status, 200, "{}: {answer}", example.heading);
        let names: Vec<String> = answer["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|column| column["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, example.expected[0], "{}: columns", example.heading);
        let rows: Vec<Vec<String>> = answer["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(stackhouse::sql::cell_text)
                    .collect()
            })
            .collect();
        let expected: Vec<Vec<String>> = example.expected[1..]
            .iter()
            .map(|row| {
                row.iter()
                    .map(|cell| {
                        cell.replace("{today}", &today)
                            .replace("{yesterday}", &yesterday)
                    })
                    .collect()
            })
            .collect();
        assert_eq!(rows, expected, "{}: {answer}", example.heading);
    }
}

async fn sql(server: &TestServer, token: &str, query: &str) -> (u16, Value) {
    let response = server
        .http
        .post(format!("{}/sql", server.base))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
