//! End-to-end load benchmark: the real `stackhouse serve` binary on a real ClickHouse (or on the
//! embedded engine), driven over HTTP with realistic events (1-5 KB, 10-40 frames), either as gzip
//! NDJSON batches to the native endpoint or as gzip Sentry envelopes of one event each, the way
//! SDKs send them.
//!
//! Reports sustained events/s, p50/p99 time from request to visible in GraphQL, and the server's
//! peak RSS. Run it with `bash scripts/bench.sh` (starts ClickHouse, builds release); knobs:
//! `LOAD_MODE` (`native`, the default, or `envelope`), `LOAD_SECONDS` (default 20),
//! `LOAD_CONNECTIONS` (4 native, 32 envelope), `LOAD_BATCH` (events per native request, 1000),
//! `LOAD_ENGINE` (`clickhouse`, the default when `STACKHOUSE_BENCH_CLICKHOUSE_URL` is set, or
//! `embedded`: a fresh data directory, no server).
//!
//! It also reports the CPU the server used during the load (user and system time, in cores and
//! per accepted event), and ClickHouse's when `STACKHOUSE_BENCH_CLICKHOUSE_PID` names its process
//! (`scripts/bench.sh` does): on two shared cores the split between the two processes says more
//! than the rate alone, and ClickHouse's system time shows what its many small parts cost.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;
use support::{env_or, process_status_kib, CpuWindow};

/// A realistic event: a Python/Java-ish stack of 10-40 frames, a message with variable ids.
fn realistic_event(rng: &mut u64, bug: usize, timestamp: f64) -> Value {
    let mut next = || {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    let depth = 10 + (bug * 7) % 31;
    let frames: Vec<Value> = (0..depth)
        .map(|i| {
            let in_app = i >= depth / 2;
            json!({
                "module": if in_app { format!("shop.service{}.module{}", bug % 9, i) } else { format!("framework.core.layer{i}") },
                "function": format!("handle_step_{}_{}", bug, i),
                "filename": format!("shop/service{}/module{}.py", bug % 9, i),
                "abs_path": format!("/srv/app/shop/service{}/module{}.py", bug % 9, i),
                "lineno": 10 + (next() % 400),
                "context_line": format!("    result = handle_step_{}_{}(request, payload)", bug, i + 1),
                "in_app": in_app,
            })
        })
        .collect();
    json!({
        "event_id": format!("{:016x}{:016x}", next(), next()),
        "timestamp": timestamp,
        "platform": "python",
        "level": "error",
        "environment": "production",
        "release": format!("shop@1.{}.0", next() % 5),
        "server_name": format!("web-{}", next() % 8),
        "transaction": format!("/api/orders/{}", next() % 1000),
        "tags": {"region": "eu-west", "customer_tier": "gold"},
        "user": {"id": format!("user-{}", next() % 5000)},
        "exception": {"values": [{
            "type": format!("Bug{bug}Error"),
            "value": format!("order {} failed for customer {} after {}ms", next(), next() % 100_000, next() % 5000),
            "stacktrace": {"frames": frames},
        }]},
        "contexts": {"trace": {"trace_id": format!("{:016x}{:016x}", next(), next()), "span_id": format!("{:016x}", next())}},
        "sdk": {"name": "sentry.python", "version": "2.19.0"},
    })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probe
    }
    let clickhouse = std::env::var("STACKHOUSE_BENCH_CLICKHOUSE_URL").ok();
    let engine = std::env::var("LOAD_ENGINE").unwrap_or_else(|_| {
        if clickhouse.is_some() {
            "clickhouse"
        } else {
            "embedded"
        }
        .to_owned()
    });
    let data_dir = tempfile::tempdir().unwrap();
    let database = format!("stackhouse_bench_{}", std::process::id());
    let storage: Vec<(&str, String)> = match (engine.as_str(), &clickhouse) {
        ("clickhouse", Some(url)) => vec![
            ("STACKHOUSE_CLICKHOUSE_URL", url.clone()),
            ("STACKHOUSE_CLICKHOUSE_DATABASE", database),
        ],
        ("clickhouse", None) => {
            eprintln!("set STACKHOUSE_BENCH_CLICKHOUSE_URL (scripts/bench.sh does it) or LOAD_ENGINE=embedded; skipping load benchmark");
            return;
        }
        _ => vec![("STACKHOUSE_DATA_DIR", data_dir.path().display().to_string())],
    };
    let envelope_mode = std::env::var("LOAD_MODE").is_ok_and(|mode| mode == "envelope");
    let seconds: u64 = env_or("LOAD_SECONDS", 20);
    let connections: usize = env_or("LOAD_CONNECTIONS", if envelope_mode { 32 } else { 4 });
    let batch_size: usize = env_or("LOAD_BATCH", 1000);
    let binary = env!("CARGO_BIN_EXE_stackhouse");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");

    let created = Command::new(binary)
        .args(["project", "create", "bench", "--listen", &listen])
        .envs(storage.iter().cloned())
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let dsn = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let key = dsn
        .split("//")
        .nth(1)
        .unwrap()
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    let project = dsn.rsplit('/').next().unwrap().to_owned();

    let child = Command::new(binary)
        .args(["serve", "--dev", "--listen", &listen])
        .envs(storage.iter().cloned())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let pid = server.0.id();
    let base = format!("http://{listen}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http.get(format!("{base}/health")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Pre-build request bodies so the generator measures the server, not JSON encoding.
        let now = chrono::Utc::now().timestamp() as f64;
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut bodies = Vec::new();
        let mut raw_bytes = 0usize;
        let envelope_count = if envelope_mode { 4096 } else { 0 };
        for e in 0..envelope_count {
            let event = realistic_event(&mut rng, e % 60, now - (e % 3600) as f64);
            let payload = serde_json::to_vec(&event).unwrap();
            raw_bytes += payload.len();
            let mut envelope = serde_json::to_vec(&json!({
                "event_id": event["event_id"],
                "sent_at": chrono::Utc::now().to_rfc3339(),
                "sdk": {"name": "sentry.python", "version": "2.19.0"},
            }))
            .unwrap();
            envelope.push(b'\n');
            envelope.extend_from_slice(
                format!("{{\"type\":\"event\",\"length\":{}}}\n", payload.len()).as_bytes(),
            );
            envelope.extend_from_slice(&payload);
            envelope.push(b'\n');
            bodies.push(bytes::Bytes::from(gzip(&envelope)));
        }
        for b in 0..(if envelope_mode { 0 } else { 32 }) {
            let mut ndjson = Vec::new();
            for i in 0..batch_size {
                let event = realistic_event(&mut rng, (b * 31 + i) % 60, now - (i % 3600) as f64);
                let line = serde_json::to_vec(&event).unwrap();
                raw_bytes += line.len();
                ndjson.extend_from_slice(&line);
                ndjson.push(b'\n');
            }
            bodies.push(bytes::Bytes::from(gzip(&ndjson)));
        }
        let average_event = raw_bytes / bodies.len().max(1) / if envelope_mode { 1 } else { batch_size };
        let url = format!("{base}/api/{project}/events?sentry_key={key}");
        let envelope_url = format!("{base}/api/{project}/envelope/");
        let sentry_auth = format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=stackhouse-load/1.0");

        let accepted = Arc::new(AtomicU64::new(0));
        let overloaded = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut workers = Vec::new();
        for worker in 0..connections {
            let (http, url, bodies) = (http.clone(), url.clone(), bodies.clone());
            let (envelope_url, sentry_auth) = (envelope_url.clone(), sentry_auth.clone());
            let (accepted, overloaded) = (accepted.clone(), overloaded.clone());
            workers.push(tokio::spawn(async move {
                let mut index = worker;
                while Instant::now() < deadline {
                    let body = bodies[index % bodies.len()].clone();
                    index += connections;
                    let request = if envelope_mode {
                        http.post(&envelope_url)
                            .header("x-sentry-auth", &sentry_auth)
                            .header("content-type", "application/x-sentry-envelope")
                    } else {
                        http.post(&url).header("content-type", "application/x-ndjson")
                    };
                    let response = request
                        .header("content-encoding", "gzip")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    match response.status().as_u16() {
                        200 => {
                            let outcome: Value = response.json().await.unwrap();
                            let stored = if envelope_mode {
                                outcome["accepted"]["event"].as_u64().unwrap_or(0)
                            } else {
                                outcome["accepted"].as_u64().unwrap()
                            };
                            accepted.fetch_add(stored, Ordering::Relaxed);
                        }
                        503 => {
                            overloaded.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        status => panic!("unexpected status {status}: {}", response.text().await.unwrap()),
                    }
                }
            }));
        }

        // Request-to-visible probes: a one-event request with a fresh bug, then poll GraphQL.
        let mut latencies = Vec::new();
        let mut probe = 0u64;
        let started = Instant::now();
        let mut cpu = vec![CpuWindow::start("server", pid)];
        let clickhouse_pid = std::env::var("STACKHOUSE_BENCH_CLICKHOUSE_PID")
            .ok()
            .and_then(|pid| pid.trim().parse().ok());
        if let (true, Some(clickhouse_pid)) = (engine == "clickhouse", clickhouse_pid) {
            cpu.push(CpuWindow::start("ClickHouse", clickhouse_pid));
        }
        while Instant::now() + Duration::from_secs(2) < deadline {
            probe += 1;
            let marker = format!("ProbeError{probe}");
            let mut event = realistic_event(&mut rng, 0, chrono::Utc::now().timestamp() as f64);
            event["exception"]["values"][0]["type"] = json!(marker);
            let sent = Instant::now();
            let response = http.post(&url).json(&event).send().await.unwrap();
            if response.status() != 200 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            loop {
                let data: Value = http
                    .post(format!("{base}/graphql"))
                    .json(&json!({"query": format!("{{ issues(projectId: \"{project}\", sort: FIRST_SEEN, first: 5) {{ nodes {{ title }} }} }}")}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let visible = data["data"]["issues"]["nodes"]
                    .as_array()
                    .is_some_and(|issues| issues.iter().any(|i| i["title"].as_str().is_some_and(|t| t.starts_with(&marker))));
                if visible {
                    latencies.push(sent.elapsed());
                    break;
                }
                if sent.elapsed() > Duration::from_secs(30) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        for worker in workers {
            worker.await.unwrap();
        }
        let elapsed = started.elapsed().as_secs_f64().max(seconds as f64);
        latencies.sort();
        let total = accepted.load(Ordering::Relaxed);
        if envelope_mode {
            println!("load benchmark ({engine} engine, Sentry envelopes, gzip, 1 event each, {connections} connections, avg event {average_event} bytes)");
        } else {
            println!("load benchmark ({engine} engine, native NDJSON gzip, {connections} connections, {batch_size} events/request, avg event {average_event} bytes)");
        }
        println!("  sustained ingest:        {:.0} events/s ({total} events in {elapsed:.1} s)", total as f64 / elapsed);
        println!("  503 answers (queue full): {}", overloaded.load(Ordering::Relaxed));
        println!(
            "  request → visible in GraphQL: p50 {:?}, p99 {:?} ({} probes)",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.len()
        );
        println!("  server peak RSS:         {} MiB", process_status_kib(&pid.to_string(), "VmHWM:").unwrap_or(0) / 1024);
        for window in &cpu {
            window.report(elapsed, total);
        }
    });
    drop(server);
}
