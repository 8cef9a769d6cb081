//! Access control and analyst SQL, on both engines: GraphQL and `/sql` refuse requests without
//! a valid token, a token never sees another project's data, analyst SQL cannot write or
//! escape the documented tables, and GraphQL refuses queries over its depth and complexity
//! limits — every refusal with a clear status and machine-readable code.
#![allow(clippy::unwrap_used)]

mod common;

use common::{python_event, Backend, TestServer};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use stackhouse::config::Config;
use stackhouse::projects::generate_public_key;

macro_rules! both_engines {
    ($($test:ident),* $(,)?) => {
        mod clickhouse {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::clickhouse(stringify!($test))).await;
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::embedded()).await;
                }
            )*
        }
    };
}

both_engines!(
    graphql_needs_a_token_and_a_token_sees_only_its_projects,
    sql_is_scoped_to_the_token_and_refuses_writes_and_escapes,
    sql_results_are_capped_and_come_as_json_or_csv,
    websocket_connections_authenticate_in_connection_init,
);

/// A secured server with two projects: `a` (the server's own, 3 events from 2 users, one
/// issue) and `b` (2 events, a different issue).
struct TwoProjects {
    server: TestServer,
    a: u64,
    b: u64,
}

async fn two_projects(backend: &Backend, config: Config) -> TwoProjects {
    let server = TestServer::start_secured(backend.open().engine, config).await;
    let now = chrono::Utc::now().timestamp() as f64;
    let a_events: Vec<Value> = (0..3)
        .map(|i| {
            python_event(
                "KeyError",
                "'basket'",
                &["checkout_view", "load_basket"],
                Some(if i == 0 { "ada" } else { "bob" }),
                now - f64::from(i),
            )
        })
        .collect();
    let (status, _) = server.send_ndjson(&a_events).await;
    assert_eq!(status, 200);
    let key_b = generate_public_key();
    let b = server
        .engine
        .create_project("other", &key_b)
        .await
        .unwrap()
        .id;
    // The registry refreshes on unknown keys at most once a second; ask it now.
    server.state.projects.refresh().await.unwrap();
    let b_events: Vec<Value> = (0..2)
        .map(|i| {
            python_event(
                "SecretLeak",
                "in project b",
                &["payroll_run"],
                Some("eve"),
                now - f64::from(i),
            )
        })
        .collect();
    let body: String = b_events.iter().map(|e| format!("{e}\n")).collect();
    let response = server
        .http
        .post(format!("{}/api/{b}/events?sentry_key={key_b}", server.base))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let a = server.project_id;
    // Wait until both projects' issues are visible (the batch writer flushes asynchronously).
    let admin = server.create_token(&[]).await;
    for _ in 0..100 {
        let answer = sql(&server, Some(&admin), "SELECT count(*) AS n FROM events").await;
        if answer.1["rows"][0][0] == json!(5) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    TwoProjects { server, a, b }
}

async fn graphql_as(server: &TestServer, token: Option<&str>, query: &str) -> (u16, Value) {
    let mut request = server
        .http
        .post(format!("{}/graphql", server.base))
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn sql(server: &TestServer, token: Option<&str>, query: &str) -> (u16, Value) {
    let mut request = server
        .http
        .post(format!("{}/sql", server.base))
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn error_code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {answer:#}"))
}

async fn graphql_needs_a_token_and_a_token_sees_only_its_projects(backend: Backend) {
    let TwoProjects { server, a, b } = two_projects(&backend, Config::default()).await;
    let projects = "{ projects { id name } }";

    // No token, a wrong token, a malformed header, a revoked token: 401 `unauthenticated`.
    let (status, answer) = graphql_as(&server, None, projects).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("unauthenticated")),
        "{answer}"
    );
    let (status, answer) = graphql_as(&server, Some("sh_not_a_token"), projects).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("unauthenticated")),
        "{answer}"
    );
    let response = server
        .http
        .post(format!("{}/graphql", server.base))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .json(&json!({ "query": projects }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let (secret, mut record) = stackhouse::tokens::new_token("revoked", &[a]);
    record.revoked = true;
    server.engine.store_api_token(&record).await.unwrap();
    let (status, answer) = graphql_as(&server, Some(&secret), projects).await;
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("revoked"),
        "{answer}"
    );
    let get = server
        .http
        .get(format!("{}/graphql?query={{projects{{id}}}}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 401);

    // A token for project a: sees a, is refused b with FORBIDDEN.
    let token_a = server.create_token(&[a]).await;
    let (status, answer) = graphql_as(&server, Some(&token_a), projects).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["data"]["projects"],
        json!([{"id": a.to_string(), "name": "test"}]),
        "{answer}"
    );
    let issues_of = |project: u64| {
        format!("{{ issues(projectId: \"{project}\") {{ nodes {{ id title projectId }} }} }}")
    };
    let (_, answer) = graphql_as(&server, Some(&token_a), &issues_of(a)).await;
    let issue_a = answer["data"]["issues"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        answer["data"]["issues"]["nodes"][0]["title"],
        "KeyError: 'basket'"
    );
    let (_, answer) = graphql_as(&server, Some(&token_a), &issues_of(b)).await;
    assert_eq!(error_code(&answer), "FORBIDDEN", "{answer}");
    assert!(answer["data"].is_null(), "{answer}");

    let admin = server.create_token(&[]).await;
    let (_, answer) = graphql_as(&server, Some(&admin), &issues_of(b)).await;
    let issue_b = answer["data"]["issues"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        answer["data"]["issues"]["nodes"][0]["title"],
        "SecretLeak: in project b"
    );
    let (_, answer) = graphql_as(&server, Some(&admin), projects).await;
    assert_eq!(
        answer["data"]["projects"].as_array().unwrap().len(),
        2,
        "{answer}"
    );

    let issue = |id: &str| {
        format!("{{ issue(id: \"{id}\") {{ id title events(limit: 5) {{ message }} }} }}")
    };
    let (_, answer) = graphql_as(&server, Some(&token_a), &issue(&issue_a)).await;
    assert_eq!(answer["data"]["issue"]["id"], issue_a.as_str(), "{answer}");
    let (_, answer) = graphql_as(&server, Some(&token_a), &issue(&issue_b)).await;
    assert_eq!(error_code(&answer), "FORBIDDEN", "{answer}");
    assert!(!answer.to_string().contains("in project b"), "{answer}");
    let merge = format!(
        "mutation {{ mergeIssues(projectId: \"{b}\", into: \"{issue_b}\", from: [\"{issue_a}\"]) {{ id }} }}"
    );
    let (_, answer) = graphql_as(&server, Some(&token_a), &merge).await;
    assert_eq!(error_code(&answer), "FORBIDDEN", "{answer}");

    // Too deep (introspection nests without end) and too complex (thousands of fields).
    let mut deep = String::from("name");
    for _ in 0..14 {
        deep = format!("ofType {{ {deep} }}");
    }
    let (status, answer) = graphql_as(
        &server,
        Some(&admin),
        &format!("{{ __schema {{ types {{ fields {{ type {{ {deep} }} }} }} }} }}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&answer), "TOO_COMPLEX", "{answer}");
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("too deep"));
    let wide: String = (0..2600)
        .map(|i| format!("p{i}: projects {{ id }} "))
        .collect();
    let (_, answer) = graphql_as(&server, Some(&admin), &format!("{{ {wide} }}")).await;
    assert_eq!(error_code(&answer), "TOO_COMPLEX", "{answer}");
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("too complex"));
    let (_, answer) = graphql_as(&server, Some(&admin), "{ nosuchfield }").await;
    assert_eq!(error_code(&answer), "BAD_REQUEST", "{answer}");

    // Dev mode admits loopback requests without a token.
    let dev = TestServer::start(server.engine.clone(), Config::default()).await;
    let (status, answer) = graphql_as(&dev, None, projects).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["data"]["projects"].as_array().unwrap().len() >= 2,
        "{answer}"
    );
}

async fn sql_is_scoped_to_the_token_and_refuses_writes_and_escapes(backend: Backend) {
    let TwoProjects { server, a, b } = two_projects(&backend, Config::default()).await;
    let token_a = server.create_token(&[a]).await;
    let admin = server.create_token(&[]).await;

    let (status, answer) = sql(&server, None, "SELECT 1").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("unauthenticated")),
        "{answer}"
    );

    // Every documented table shows project a only, whatever the SQL.
    for (query, expected) in [
        ("SELECT count(*) AS n FROM events", json!([[3]])),
        ("SELECT count(*) AS n FROM events WHERE project_id = 2 OR 1 = 1", json!([[3]])),
        ("SELECT DISTINCT project_id FROM issues", json!([[a]])),
        ("SELECT id FROM projects", json!([[a]])),
        ("SELECT DISTINCT project_id FROM issue_fingerprints", json!([[a]])),
        ("SELECT sum(events) AS n FROM issue_stats", json!([[3]])),
        (
            "SELECT count(*) AS n FROM events WHERE fingerprint IN (SELECT fingerprint FROM issue_fingerprints)",
            json!([[3]]),
        ),
        (
            "SELECT count(*) AS n FROM (SELECT project_id FROM events UNION ALL SELECT project_id FROM events) AS twice",
            json!([[6]]),
        ),
    ] {
        let (status, answer) = sql(&server, Some(&token_a), query).await;
        assert_eq!(status, 200, "{query}: {answer}");
        assert_eq!(answer["rows"], expected, "{query}: {answer}");
    }
    let (_, answer) = sql(&server, Some(&admin), "SELECT count(*) AS n FROM events").await;
    assert_eq!(answer["rows"], json!([[5]]), "{answer}");
    let (_, answer) = sql(&server, Some(&admin), "SELECT count(*) AS n FROM issues").await;
    assert_eq!(answer["rows"], json!([[2]]), "{answer}");
    let token_b = server.create_token(&[b]).await;
    let (_, answer) = sql(
        &server,
        Some(&token_b),
        "SELECT DISTINCT user_id FROM events",
    )
    .await;
    assert_eq!(answer["rows"], json!([["eve"]]), "{answer}");

    // Writes, other tables and databases, table functions, second statements: 400 sql_rejected.
    for query in [
        "INSERT INTO events (project_id) VALUES (2)",
        "ALTER TABLE events DELETE WHERE 1 = 1",
        "DROP TABLE events",
        "CREATE TABLE stolen AS SELECT * FROM events",
        "DELETE FROM events",
        "SELECT * FROM system.tables",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM default.events",
        "SELECT * FROM fingerprint_hour",
        "SELECT * FROM project_keys",
        "SELECT secret_hash FROM api_tokens",
        "SELECT * FROM url('http://127.0.0.1:1/', CSV, 'a String')",
        "SELECT * FROM file('/etc/passwd')",
        "SELECT * FROM remote('127.0.0.1', system.one)",
        "SELECT * FROM numbers(10)",
        "SELECT 1; DROP TABLE events",
        "SELECT project_id FROM events UNION ALL SELECT project_id FROM issue_fingerprints_raw",
        "SELECT project_id FROM events UNION ALL SELECT project_id FROM project_keys",
        "SELECT count(*) FROM events WHERE 0 IN (system.one)",
        "WITH events AS (SELECT 1 AS project_id) SELECT * FROM events",
        "SELECT joinGet('api_tokens', 'secret_hash', '')",
    ] {
        let (status, answer) = sql(&server, Some(&token_a), query).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("sql_rejected")),
            "{query}: {answer}"
        );
        assert!(!answer["detail"].as_str().unwrap().is_empty());
    }
    // Nonsense and unknown columns: 400 sql_invalid with the reason.
    let (status, answer) = sql(&server, Some(&token_a), "SELEKT 1").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("sql_invalid")),
        "{answer}"
    );
    let (status, answer) = sql(&server, Some(&token_a), "SELECT no_such_column FROM events").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("sql_invalid")),
        "{answer}"
    );
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("no_such_column"),
        "{answer}"
    );
}

async fn sql_results_are_capped_and_come_as_json_or_csv(backend: Backend) {
    let mut config = Config::default();
    config.sql.max_rows = 2;
    let TwoProjects { server, a, .. } = two_projects(&backend, config).await;
    let token_a = server.create_token(&[a]).await;
    let (status, answer) = sql(
        &server,
        Some(&token_a),
        "SELECT user_id, project_id FROM events ORDER BY user_id",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"], json!([["ada", a], ["bob", a]]), "{answer}");
    assert_eq!(answer["rowCount"], 2);
    assert_eq!(answer["truncated"], true);
    assert_eq!(answer["columns"][0]["name"], "user_id");
    assert!(
        answer["columns"][1]["type"]
            .as_str()
            .unwrap()
            .contains("UInt64"),
        "{answer}"
    );
    assert!(answer["elapsedMs"].is_u64());
    let (_, answer) = sql(&server, Some(&token_a), "SELECT count(*) AS n FROM events").await;
    assert_eq!(answer["truncated"], false);

    let csv = server
        .http
        .post(format!("{}/sql", server.base))
        .bearer_auth(&token_a)
        .json(&json!({"query": "SELECT title, count(*) AS n FROM events GROUP BY title", "format": "csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(
        csv.text().await.unwrap(),
        "title,n\r\nKeyError: 'basket',3\r\n"
    );
    // The CLI client of /sql.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_stackhouse"))
        .args([
            "sql",
            "SELECT title, count(*) AS n FROM events GROUP BY title",
            "--url",
            &server.base,
            "--token",
            &token_a,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "title              | n\n-------------------+--\nKeyError: 'basket' | 3\n(1 row)\n"
    );
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_stackhouse"))
        .args([
            "sql",
            "DROP TABLE events",
            "--url",
            &server.base,
            "--token",
            &token_a,
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("400") && stderr.contains("read-only"),
        "{stderr}"
    );

    let plain = server
        .http
        .post(format!("{}/sql", server.base))
        .bearer_auth(&token_a)
        .header("content-type", "text/plain")
        .body("SELECT max(timestamp) >= min(timestamp) AS ordered FROM events")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    let answer: Value = plain.json().await.unwrap();
    assert!(
        matches!(answer["rows"][0][0], Value::Bool(true) | Value::Number(_)),
        "{answer}"
    );
}

async fn websocket_connections_authenticate_in_connection_init(backend: Backend) {
    let TwoProjects { server, a, .. } = two_projects(&backend, Config::default()).await;
    let token_a = server.create_token(&[a]).await;
    let url = format!("{}/graphql/ws", server.base.replace("http://", "ws://"));
    let connect = || async {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                url.as_str(),
            )
            .unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request).await.unwrap().0
    };
    let text = |value: Value| tokio_tungstenite::tungstenite::Message::text(value.to_string());

    // Without a token the connection is refused.
    let mut socket = connect().await;
    socket
        .send(text(json!({"type": "connection_init", "payload": {}})))
        .await
        .unwrap();
    let refusal = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
        .await
        .unwrap();
    match refusal {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => {
            assert!(frame.reason.contains("API token"), "{frame:?}");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }

    // With the token in the payload, operations run with its access.
    let mut socket = connect().await;
    socket
        .send(text(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token_a}")}})))
        .await
        .unwrap();
    let ack: Value =
        serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
        .send(text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": "{ projects { id } }"}}),
        ))
        .await
        .unwrap();
    let next: Value =
        serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(
        next["payload"]["data"]["projects"],
        json!([{"id": a.to_string()}]),
        "{next}"
    );
}

/// `stackhouse token create|list|revoke` on an embedded data directory.
#[tokio::test]
async fn token_commands_create_list_and_revoke() {
    let directory = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_stackhouse"))
            .arg("--data-dir")
            .arg(directory.path())
            .args(args)
            .env_remove("STACKHOUSE_CLICKHOUSE_URL")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (ok, _, stderr) = run(&["token", "create", "--project", "1"]);
    assert!(!ok && stderr.contains("no project 1"), "{stderr}");
    assert!(run(&["project", "create", "shop"]).0);
    let (ok, secret, stderr) = run(&["token", "create", "--project", "1", "--name", "ci"]);
    assert!(ok, "{stderr}");
    let secret = secret.trim();
    assert!(secret.starts_with("sh_") && secret.len() == 43, "{secret}");
    let (_, list, _) = run(&["token", "list"]);
    let line = list.lines().nth(1).unwrap();
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(&fields[1..3], ["ci", "1"], "{list}");
    assert_eq!(fields[4], "false", "{list}");
    assert!(
        !list.contains(secret),
        "the secret is never stored or shown again"
    );
    let (ok, _, stderr) = run(&["token", "revoke", fields[0]]);
    assert!(ok, "{stderr}");
    let (_, list, _) = run(&["token", "list"]);
    assert!(list.lines().nth(1).unwrap().ends_with("true"), "{list}");
}
