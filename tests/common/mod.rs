//! Shared harness for integration tests: the engines under test ([`Backend`]: a fresh
//! ClickHouse database per test on the server `scripts/test.sh` starts, or an embedded engine
//! in a temporary directory), a Stackhouse server in-process on a free port, and small
//! ingest, HTTP and GraphQL helpers.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use stackhouse::config::Config;
use stackhouse::engine::clickhouse::{ClickHouseEngine, ClickHouseSettings, SpoolSettings};
use stackhouse::engine::embedded::{EmbeddedEngine, EmbeddedOptions};
use stackhouse::engine::{
    AlertDeliveryRecord, AlertEventRecord, Engine, EventRecord, IssueStatus, StatusChangeRecord,
    WriteBatch,
};
use stackhouse::group::Grouper;
use stackhouse::projects::{format_dsn, generate_public_key};
use stackhouse::server::{router, AppState};

/// The ClickHouse server to test against, from `STACKHOUSE_TEST_CLICKHOUSE_URL`
/// (`scripts/test.sh` starts one and sets it).
pub fn clickhouse_url() -> String {
    std::env::var("STACKHOUSE_TEST_CLICKHOUSE_URL").expect(
        "STACKHOUSE_TEST_CLICKHOUSE_URL is not set: run the suite with `bash scripts/test.sh`, \
         which starts a private ClickHouse server for it",
    )
}

pub fn clickhouse_engine(database: &str) -> Arc<dyn Engine> {
    Arc::new(ClickHouseEngine::new(ClickHouseSettings::new(
        clickhouse_url(),
        database,
    )))
}

/// A ClickHouse engine that acknowledges writes once they are in a spool in `spool` (opened
/// by `migrate`).
pub fn spooled_clickhouse_engine(database: &str, spool: &std::path::Path) -> Arc<dyn Engine> {
    Arc::new(ClickHouseEngine::new(ClickHouseSettings {
        spool: Some(SpoolSettings::new(spool)),
        ..ClickHouseSettings::new(clickhouse_url(), database)
    }))
}

/// A unique database name for one test.
pub fn fresh_database(test: &str) -> String {
    format!(
        "stackhouse_test_{}_{}",
        test,
        uuid::Uuid::new_v4().simple().to_string().split_at(8).0
    )
}

/// Where an engine under test keeps its data, so a test can open it again over the same data.
pub enum Backend {
    ClickHouse {
        database: String,
    },
    /// ClickHouse behind its spool: writes are acknowledged from the local log, and reads
    /// must still see every acknowledged write.
    ClickHouseSpooled {
        database: String,
        spool: tempfile::TempDir,
    },
    Embedded {
        directory: tempfile::TempDir,
        options: EmbeddedOptions,
    },
}

impl Backend {
    /// A fresh ClickHouse database for one test.
    pub fn clickhouse(test: &str) -> Backend {
        Backend::ClickHouse {
            database: fresh_database(test),
        }
    }

    /// A fresh ClickHouse database for one test, written through a spool in a fresh
    /// temporary directory.
    pub fn clickhouse_spooled(test: &str) -> Backend {
        Backend::ClickHouseSpooled {
            database: fresh_database(test),
            spool: tempfile::tempdir().unwrap(),
        }
    }

    /// An embedded engine in a fresh temporary directory, with default options (everything
    /// recent stays in the memtable and the write-ahead log).
    pub fn embedded() -> Backend {
        Backend::embedded_with(EmbeddedOptions::default())
    }

    /// An embedded engine that checkpoints every few dozen events and merges segments two at
    /// a time, so reads cross the memtable, many Parquet segments and compactions.
    pub fn embedded_segments() -> Backend {
        Backend::embedded_with(EmbeddedOptions {
            memtable_max_events: 40,
            compaction_fan_in: 2,
            row_group_events: 1024,
            max_aggregate_deltas: 3,
            ..EmbeddedOptions::default()
        })
    }

    pub fn embedded_with(options: EmbeddedOptions) -> Backend {
        Backend::Embedded {
            directory: tempfile::tempdir().unwrap(),
            options,
        }
    }

    /// Opens the engine. An embedded engine must have been dropped (every handle) before it
    /// is opened again: the data directory admits one process, one engine.
    pub fn open(&self) -> Handle {
        match self {
            Backend::ClickHouse { database } => Handle {
                engine: clickhouse_engine(database),
                embedded: None,
                clickhouse_database: Some(database.clone()),
            },
            Backend::ClickHouseSpooled { database, spool } => Handle {
                engine: spooled_clickhouse_engine(database, spool.path()),
                embedded: None,
                clickhouse_database: Some(database.clone()),
            },
            Backend::Embedded { directory, options } => {
                let engine =
                    Arc::new(EmbeddedEngine::open(directory.path(), options.clone()).unwrap());
                Handle {
                    engine: engine.clone(),
                    embedded: Some(engine),
                    clickhouse_database: None,
                }
            }
        }
    }
}

/// An open engine under test.
pub struct Handle {
    pub engine: Arc<dyn Engine>,
    /// The same engine, for embedded-only calls.
    pub embedded: Option<Arc<EmbeddedEngine>>,
    clickhouse_database: Option<String>,
}

impl Handle {
    /// Records a lifecycle transition directly (no transition rules: the server's tracker
    /// checks those), as a write batch carrying it.
    pub async fn set_status(&self, project_id: u64, issue_id: u64, status: IssueStatus) {
        let version = u64::try_from(Utc::now().timestamp_nanos_opt().unwrap()).unwrap();
        let batch = WriteBatch {
            status_changes: vec![StatusChangeRecord {
                project_id,
                issue_id,
                from_status: IssueStatus::New,
                to_status: status,
                actor: "test".into(),
                comment: String::new(),
                changed_at: Utc::now(),
                resolved_in_release: String::new(),
                ignore_condition: String::new(),
                version,
            }],
            ..WriteBatch::default()
        };
        self.engine.write(&batch).await.unwrap();
    }
}

impl Handle {
    /// Records a lifecycle transition at a chosen time (in `issue_state` and `issue_history`),
    /// as a write batch carrying it.
    pub async fn record_transition(
        &self,
        project_id: u64,
        issue_id: u64,
        from: IssueStatus,
        to: IssueStatus,
        at: chrono::DateTime<Utc>,
    ) {
        let version = u64::try_from(Utc::now().timestamp_nanos_opt().unwrap()).unwrap();
        let batch = WriteBatch {
            status_changes: vec![StatusChangeRecord {
                project_id,
                issue_id,
                from_status: from,
                to_status: to,
                actor: "test".into(),
                comment: String::new(),
                changed_at: at,
                resolved_in_release: String::new(),
                ignore_condition: String::new(),
                version,
            }],
            ..WriteBatch::default()
        };
        self.engine.write(&batch).await.unwrap();
    }
}

/// Fingerprints, groups and writes events as the ingest pipeline does (without the batch
/// writer, so tests control batches and can drop the engine afterwards).
pub struct Ingest {
    grouper: Grouper,
    grouping: stackhouse_grouping::GroupingConfig,
}

impl Ingest {
    /// Loads the engine's fingerprint→issue mapping, as a starting server does.
    pub async fn load(engine: &dyn Engine) -> Ingest {
        Ingest {
            grouper: Grouper::new(
                stackhouse_grouping::GroupingConfig::default(),
                engine.fingerprint_mappings().await.unwrap(),
                &engine.issue_records().await.unwrap(),
            ),
            grouping: stackhouse_grouping::GroupingConfig::default(),
        }
    }

    /// The batch the pipeline would store for these events (Sentry JSON).
    pub fn prepare(&self, project_id: u64, events: &[Value]) -> WriteBatch {
        let received = Utc::now();
        let mut batch = WriteBatch::default();
        for value in events {
            let event = stackhouse_protocol::parse_event_value(value.clone(), received)
                .unwrap()
                .event;
            let mut fingerprint = stackhouse_grouping::fingerprint_event(&event, &self.grouping);
            self.grouper
                .assign(project_id, &event, &mut fingerprint, received, &mut batch);
            batch.events.push(EventRecord::from_event(
                project_id,
                &event,
                received,
                &fingerprint,
            ));
        }
        batch
    }

    /// Prepares, writes (durably) and confirms a batch; returns it.
    pub async fn write(
        &self,
        engine: &dyn Engine,
        project_id: u64,
        events: &[Value],
    ) -> WriteBatch {
        let batch = self.prepare(project_id, events);
        engine.write(&batch).await.unwrap();
        self.grouper.confirm(&batch);
        batch
    }
}

/// A running server with one project.
pub struct TestServer {
    pub base: String,
    pub project_id: u64,
    pub key: String,
    pub dsn: String,
    pub http: reqwest::Client,
    pub engine: Arc<dyn Engine>,
    pub state: AppState,
}

impl TestServer {
    /// A server in dev mode: the tests' loopback requests need no API token (tests of access
    /// control use [`TestServer::start_secured`]).
    pub async fn start(engine: Arc<dyn Engine>, mut config: Config) -> TestServer {
        config.dev = true;
        TestServer::start_with(engine, config).await
    }

    /// A server that requires an API token for GraphQL and SQL, even from loopback.
    pub async fn start_secured(engine: Arc<dyn Engine>, mut config: Config) -> TestServer {
        config.dev = false;
        TestServer::start_with(engine, config).await
    }

    /// Creates an API token for `projects` (empty: every project); returns its secret.
    pub async fn create_token(&self, projects: &[u64]) -> String {
        let (secret, record) = stackhouse::tokens::new_token("test", projects);
        self.engine.store_api_token(&record).await.unwrap();
        secret
    }

    async fn start_with(engine: Arc<dyn Engine>, mut config: Config) -> TestServer {
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        config.public_url = Some(format!("http://{addr}"));
        let key = generate_public_key();
        engine.migrate().await.unwrap();
        let project = engine.create_project("test", &key).await.unwrap();
        let state = AppState::start(config, engine.clone()).await.unwrap();
        // With connection info, as `stackhouse serve` runs it (ingest resolves `{{auto}}` IPs).
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let base = format!("http://{addr}");
        TestServer {
            dsn: format_dsn(&base, &key, project.id),
            base,
            project_id: project.id,
            key,
            http: reqwest::Client::new(),
            engine,
            state,
        }
    }

    pub fn events_url(&self) -> String {
        format!(
            "{}/api/{}/events?sentry_key={}",
            self.base, self.project_id, self.key
        )
    }

    /// `/api/{project}/envelope/` without any key in the URL.
    pub fn envelope_url(&self) -> String {
        format!("{}/api/{}/envelope/", self.base, self.project_id)
    }

    /// `/api/{project}/store/` without any key in the URL.
    pub fn store_url(&self) -> String {
        format!("{}/api/{}/store/", self.base, self.project_id)
    }

    /// The `X-Sentry-Auth` header value an SDK would send for this server's key.
    pub fn sentry_auth(&self) -> String {
        format!(
            "Sentry sentry_key={}, sentry_version=7, sentry_client=stackhouse-tests/1.0",
            self.key
        )
    }

    /// POSTs NDJSON lines; returns status and JSON body.
    pub async fn send_ndjson(&self, events: &[Value]) -> (u16, Value) {
        let body: String = events.iter().map(|e| format!("{e}\n")).collect();
        let response = self
            .http
            .post(self.events_url())
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Runs a GraphQL query; returns the whole response (data and errors).
    pub async fn graphql_response(&self, query: &str, variables: Value) -> Value {
        self.http
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Runs a GraphQL query; panics on GraphQL errors.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response: Value = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            response.get("errors").is_none(),
            "GraphQL errors: {response:#}"
        );
        response["data"].clone()
    }
}

/// A Python-SDK-shaped event raising `exception_type` from the in-app call chain `functions`
/// (outermost first) under framework frames, with `message` as the exception value.
pub fn python_event(
    exception_type: &str,
    message: &str,
    functions: &[&str],
    user: Option<&str>,
    timestamp: f64,
) -> Value {
    let mut frames = vec![
        json!({"module": "django.core.handlers.base", "function": "_get_response", "filename": "django/core/handlers/base.py", "lineno": 181, "in_app": false}),
    ];
    for (depth, function) in functions.iter().enumerate() {
        frames.push(json!({
            "module": format!("shop.{}", function.split('_').next().unwrap_or("app")),
            "function": function,
            "filename": format!("shop/{function}.py"),
            "abs_path": format!("/srv/shop/{function}.py"),
            "lineno": 10 + depth * 7,
            "context_line": format!("    {function}(request)"),
            "in_app": true,
        }));
    }
    let mut event = json!({
        "event_id": uuid::Uuid::new_v4().simple().to_string(),
        "timestamp": timestamp,
        "platform": "python",
        "level": "error",
        "environment": "production",
        "release": "shop@1.4.2",
        "server_name": "web-1",
        "transaction": "/checkout",
        "tags": {"region": "eu"},
        "exception": {"values": [{
            "type": exception_type,
            "value": message,
            "module": "builtins",
            "mechanism": {"type": "django", "handled": false},
            "stacktrace": {"frames": frames},
        }]},
        "sdk": {"name": "sentry.python", "version": "2.19.0"},
    });
    if let Some(user) = user {
        event["user"] = json!({"id": user});
    }
    event
}

/// Runs each listed test body (an `async fn(Backend)` of the including file) on every engine:
/// ClickHouse, the embedded engine, and the embedded engine spread over Parquet segments.
#[allow(unused_macros)]
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod clickhouse {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::clickhouse(stringify!($test))).await;
                }
            )*
        }
        mod clickhouse_spooled {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::clickhouse_spooled(stringify!($test))).await;
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
        mod embedded_segments {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::embedded_segments()).await;
                }
            )*
        }
    };
}

/// An `alert_events` row of project 1 (alert history tests).
pub fn alert_event(id: &str, rule_id: u64, at: DateTime<Utc>) -> AlertEventRecord {
    AlertEventRecord {
        event_id: id.to_owned(),
        rule_id,
        project_id: 1,
        group_key: String::new(),
        outcome: "firing".into(),
        value: 1.0,
        notification: "sent".into(),
        message: format!("event {id}"),
        at,
    }
}

/// A delivery of rule 7 of project 1, created a day before its last update.
pub fn alert_delivery(id: &str, status: &str, updated_at: DateTime<Utc>) -> AlertDeliveryRecord {
    AlertDeliveryRecord {
        delivery_id: id.to_owned(),
        rule_id: 7,
        project_id: 1,
        alert_event_id: format!("event-of-{id}"),
        url: "http://127.0.0.1:9/hook".into(),
        payload: "{}".into(),
        status: status.into(),
        attempts: u32::from(status != "pending"),
        next_attempt_at: updated_at,
        last_error: String::new(),
        last_status_code: 0,
        created_at: updated_at - chrono::Duration::days(1),
        updated_at,
    }
}

/// The `alert_events` ids and the (id, status) of rule 7's deliveries, sorted (alert
/// history tests).
pub async fn alert_history(engine: &dyn Engine) -> (Vec<String>, Vec<(String, String)>) {
    let mut events: Vec<String> = engine
        .alert_events(&stackhouse::engine::AlertEventQuery {
            limit: 100,
            ..stackhouse::engine::AlertEventQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.event_id)
        .collect();
    events.sort();
    let mut deliveries: Vec<(String, String)> = engine
        .alert_deliveries(&stackhouse::engine::AlertDeliveryQuery::OfRule {
            rule_id: 7,
            limit: 100,
            offset: 0,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|delivery| (delivery.delivery_id, delivery.status))
        .collect();
    deliveries.sort();
    (events, deliveries)
}
