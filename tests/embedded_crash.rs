//! `kill -9` at random moments: the real `stackhouse serve` binary on the embedded engine
//! ingests continuously from several client tasks and is killed with SIGKILL, several times.
//! After every kill the data directory is opened again and must hold every acknowledged event
//! exactly once (no event at all more than once), and the aggregates the issue list is built
//! from must agree with a recount from the raw events. Tiny checkpoint and compaction
//! thresholds make the kills land in the middle of checkpoints and merges too.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimestampSecondType, UInt64Type};
use rand::Rng;
use serde_json::{json, Value};
use stackhouse::engine::embedded::{EmbeddedEngine, EmbeddedOptions};
use stackhouse::engine::{Engine, IssueQuery, IssueSort};

const ROUNDS: usize = 5;
const CLIENTS: usize = 3;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn event(id: &str, n: u64) -> Value {
    let bug = n % 5;
    json!({
        "event_id": id,
        "timestamp": (Utc::now().timestamp() - (n % 7200) as i64) as f64 + 0.5,
        "platform": "python",
        "level": "error",
        "exception": {"values": [{
            "type": format!("Crash{bug}Error"),
            "value": format!("request {n} failed"),
            "stacktrace": {"frames": [
                {"module": "app.views", "function": format!("view_{bug}"), "in_app": true},
                {"module": "app.service", "function": format!("step_{bug}"), "in_app": true},
            ]},
        }]},
        "user": if n.is_multiple_of(4) { Value::Null } else { json!({"id": format!("user-{}", n % 37)}) },
    })
}

fn u64s(batches: &[RecordBatch], index: usize) -> Vec<u64> {
    batches
        .iter()
        .flat_map(|batch| {
            let column = batch.column(index);
            match column.data_type() {
                DataType::Int64 => column
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .map(|v| *v as u64)
                    .collect::<Vec<_>>(),
                _ => column.as_primitive::<UInt64Type>().values().to_vec(),
            }
        })
        .collect()
}

fn seconds(batches: &[RecordBatch], index: usize) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|batch| {
            batch
                .column(index)
                .as_primitive::<TimestampSecondType>()
                .values()
                .to_vec()
        })
        .collect()
}

/// Opens the data directory in-process and checks it against what the clients were told.
async fn verify(
    directory: &std::path::Path,
    acknowledged: &HashSet<String>,
    round: usize,
) -> usize {
    let engine = EmbeddedEngine::open(directory, EmbeddedOptions::default()).unwrap();
    let duplicates = engine
        .sql("SELECT event_id, count(*) FROM events GROUP BY event_id HAVING count(*) > 1")
        .await
        .unwrap();
    assert_eq!(
        duplicates.iter().map(RecordBatch::num_rows).sum::<usize>(),
        0,
        "round {round}: events stored twice"
    );
    let stored: HashSet<String> = engine
        .sql("SELECT event_id FROM events")
        .await
        .unwrap()
        .iter()
        .flat_map(|batch| {
            batch
                .column(0)
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let missing: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "round {round}: {} acknowledged events lost, e.g. {:?}",
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>()
    );

    // The issue list (aggregates) against a recount from raw events.
    let listed = engine
        .issues(&IssueQuery {
            project_id: 1,
            status: None,
            sort: IssueSort::Events,
            limit: 100,
            offset: 0,
        })
        .await
        .unwrap();
    let recount = engine
        .sql(
            "SELECT m.issue_id, count(*) AS events, \
                    count(DISTINCT CASE WHEN e.user_key <> '' THEN e.user_key END) AS users, \
                    min(e.timestamp), max(e.timestamp) \
             FROM events e JOIN issue_fingerprints m \
               ON e.project_id = m.project_id AND e.fingerprint = m.fingerprint \
             GROUP BY m.issue_id ORDER BY events DESC, m.issue_id DESC",
        )
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|s| s.issue.issue_id).collect::<Vec<_>>(),
        u64s(&recount, 0),
        "round {round}: issues"
    );
    assert_eq!(
        listed.iter().map(|s| s.events).collect::<Vec<_>>(),
        u64s(&recount, 1),
        "round {round}: counts"
    );
    assert_eq!(
        listed.iter().map(|s| s.users).collect::<Vec<_>>(),
        u64s(&recount, 2),
        "round {round}: users"
    );
    assert_eq!(
        listed
            .iter()
            .map(|s| s.first_seen.timestamp())
            .collect::<Vec<_>>(),
        seconds(&recount, 3),
        "round {round}: first seen"
    );
    assert_eq!(
        listed
            .iter()
            .map(|s| s.last_seen.timestamp())
            .collect::<Vec<_>>(),
        seconds(&recount, 4),
        "round {round}: last seen"
    );
    // Hourly aggregates against a recount too.
    let hourly = engine
        .sql(
            "SELECT s.issue_id, s.hour, s.events, r.events FROM issue_stats s FULL JOIN ( \
               SELECT m.issue_id, date_trunc('hour', e.timestamp) AS hour, count(*) AS events \
               FROM events e JOIN issue_fingerprints m \
                 ON e.project_id = m.project_id AND e.fingerprint = m.fingerprint \
               GROUP BY m.issue_id, date_trunc('hour', e.timestamp)) r \
             ON s.issue_id = r.issue_id AND s.hour = r.hour \
             WHERE s.events IS NULL OR r.events IS NULL OR s.events <> r.events",
        )
        .await
        .unwrap();
    assert_eq!(
        hourly.iter().map(RecordBatch::num_rows).sum::<usize>(),
        0,
        "round {round}: hourly aggregates differ from a recount"
    );
    let stats = engine.stats();
    eprintln!(
        "round {round}: {} events stored, {} acknowledged, {stats:?}",
        stored.len(),
        acknowledged.len()
    );
    stored.len()
}

#[test]
fn acknowledged_events_survive_sigkill_exactly_once() {
    let started = Instant::now();
    let binary = env!("CARGO_BIN_EXE_stackhouse");
    let directory = tempfile::tempdir().unwrap();
    let data_dir = directory.path().join("data");
    let config = directory.path().join("stackhouse.toml");
    std::fs::write(
        &config,
        "[embedded]\nmemtable_max_events = 150\ncompaction_fan_in = 2\nrow_group_events = 1024\n\
         max_aggregate_deltas = 3\n[writer]\nflush_interval_ms = 10\n",
    )
    .unwrap();
    let created = Command::new(binary)
        .args(["project", "create", "crash"])
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let dsn = String::from_utf8(created.stdout).unwrap();
    let key = dsn
        .trim()
        .split("//")
        .nth(1)
        .unwrap()
        .split('@')
        .next()
        .unwrap()
        .to_owned();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut rng = rand::rng();
    let mut counter = 0u64;
    for round in 0..ROUNDS {
        let port = free_port();
        let child = Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = Server(child);
        let base = format!("http://127.0.0.1:{port}");
        let kill_after = Duration::from_millis(rng.random_range(400..1600));
        let batch_sizes: Vec<u64> = (0..CLIENTS).map(|_| rng.random_range(5..60)).collect();
        let first_id = counter;
        counter += 1_000_000;
        runtime.block_on(async {
            let http = reqwest::Client::new();
            let ready = Instant::now();
            while http.get(format!("{base}/health")).send().await.is_err() {
                assert!(
                    ready.elapsed() < Duration::from_secs(20),
                    "server did not start"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let url = format!("{base}/api/1/events?sentry_key={key}");
            let mut clients = Vec::new();
            for (client, batch_size) in batch_sizes.into_iter().enumerate() {
                let (http, url, acknowledged) = (http.clone(), url.clone(), acknowledged.clone());
                clients.push(tokio::spawn(async move {
                    let mut n = first_id + client as u64 * 100_000;
                    loop {
                        let ids: Vec<String> =
                            (n..n + batch_size).map(|i| format!("{i:032x}")).collect();
                        let body: String = ids
                            .iter()
                            .zip(n..)
                            .map(|(id, i)| format!("{}\n", event(id, i)))
                            .collect();
                        n += batch_size;
                        let Ok(response) = http
                            .post(&url)
                            .header("content-type", "application/x-ndjson")
                            .body(body)
                            .send()
                            .await
                        else {
                            break; // killed
                        };
                        if response.status() == 503 {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                        assert_eq!(response.status(), 200);
                        let Ok(outcome) = response.json::<Value>().await else {
                            break; // killed mid-answer: not acknowledged
                        };
                        let stored: Vec<String> = outcome["ids"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|id| id.as_str().unwrap().to_owned())
                            .collect();
                        assert_eq!(stored, ids);
                        acknowledged.lock().unwrap().extend(stored);
                    }
                }));
            }
            tokio::time::sleep(kill_after).await;
            server.0.kill().unwrap(); // SIGKILL
            server.0.wait().unwrap();
            for client in clients {
                client.await.unwrap();
            }
        });
        drop(server);
        let acknowledged = acknowledged.lock().unwrap().clone();
        let stored = runtime.block_on(verify(&data_dir, &acknowledged, round));
        assert!(stored >= acknowledged.len());
    }
    let total = acknowledged.lock().unwrap().len();
    assert!(total > 0, "nothing was acknowledged");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
