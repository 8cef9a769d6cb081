//! Embedded engine benchmark: ingest events/s through `Engine::write` (write-ahead log synced
//! per batch, aggregates, memtable, background checkpoints and compaction), then issue-list,
//! hourly-trend, latest-events and analyst-SQL latency over everything stored, peak RSS and
//! bytes on disk per million events.
//!
//! Events are realistic (Python stacks of 10-40 frames, variable messages, 60 bugs, 5,000
//! users, spread over 24 hours), parsed and fingerprinted once as templates and then stamped
//! with fresh ids, times and users, so the numbers measure the engine, not JSON parsing.
//!
//! `cargo bench --bench embedded`; knobs: `EMBEDDED_BENCH_EVENTS` (default 1,000,000),
//! `EMBEDDED_BENCH_BATCH` and `EMBEDDED_BENCH_BATCH_BYTES` (at most so many events and bytes of
//! them in memory per write; defaults: the server's batch writer's), `EMBEDDED_BENCH_DIR` (data
//! directory; default a temporary one), `EMBEDDED_BENCH_FAN_IN` (compaction fan-in; default the
//! engine's), `EMBEDDED_BENCH_MAX_SEGMENT_EVENTS` (compaction's bound on a merged segment; default
//! 0, none).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DurationRound, Utc};
use serde_json::{json, Value};
use stackhouse::engine::embedded::{EmbeddedEngine, EmbeddedOptions};
use stackhouse::engine::{Engine, EventRecord, IssueQuery, IssueSort, WriteBatch};
use stackhouse::group::Grouper;

mod support;
use support::{env_or, write_retrying, CpuWindow, Memory};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The same shape as the load benchmark's events.
fn realistic_event(rng: &mut Rng, bug: usize) -> Value {
    let depth = 10 + (bug * 7) % 31;
    let frames: Vec<Value> = (0..depth)
        .map(|i| {
            let in_app = i >= depth / 2;
            json!({
                "module": if in_app { format!("shop.service{}.module{}", bug % 9, i) } else { format!("framework.core.layer{i}") },
                "function": format!("handle_step_{}_{}", bug, i),
                "filename": format!("shop/service{}/module{}.py", bug % 9, i),
                "abs_path": format!("/srv/app/shop/service{}/module{}.py", bug % 9, i),
                "lineno": 10 + (rng.next() % 400),
                "context_line": format!("    result = handle_step_{}_{}(request, payload)", bug, i + 1),
                "in_app": in_app,
            })
        })
        .collect();
    json!({
        "event_id": format!("{:016x}{:016x}", rng.next(), rng.next()),
        "timestamp": Utc::now().timestamp() as f64,
        "platform": "python",
        "level": "error",
        "environment": "production",
        "release": format!("shop@1.{}.0", rng.next() % 5),
        "server_name": format!("web-{}", rng.next() % 8),
        "transaction": format!("/api/orders/{}", rng.next() % 1000),
        "tags": {"region": "eu-west", "customer_tier": "gold"},
        "user": {"id": "template"},
        "exception": {"values": [{
            "type": format!("Bug{bug}Error"),
            "value": format!("order {} failed for customer {} after {}ms", rng.next(), rng.next() % 100_000, rng.next() % 5000),
            "stacktrace": {"frames": frames},
        }]},
        "contexts": {"trace": {"trace_id": format!("{:016x}{:016x}", rng.next(), rng.next()), "span_id": format!("{:016x}", rng.next())}},
        "sdk": {"name": "sentry.python", "version": "2.19.0"},
    })
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "p50 {:.2} ms, p99 {:.2} ms ({} runs)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.len()
    )
}

async fn time<T, F: std::future::Future<Output = T>>(
    runs: usize,
    mut run: impl FnMut() -> F,
) -> (String, T) {
    let mut samples = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        last = Some(run().await);
        samples.push(started.elapsed());
    }
    (percentiles(samples), last.unwrap())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probe
    }
    let total: usize = env_or("EMBEDDED_BENCH_EVENTS", 1_000_000);
    let writer = stackhouse::config::WriterConfig::default();
    let batch_size: usize = env_or("EMBEDDED_BENCH_BATCH", writer.batch_max_events);
    let temporary = tempfile::tempdir().unwrap();
    let directory = std::env::var_os("EMBEDDED_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temporary.path().to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let options = EmbeddedOptions {
            compaction_fan_in: env_or("EMBEDDED_BENCH_FAN_IN", EmbeddedOptions::default().compaction_fan_in),
            compaction_max_segment_events: env_or("EMBEDDED_BENCH_MAX_SEGMENT_EVENTS", 0),
            ..EmbeddedOptions::default()
        };
        let engine = Arc::new(EmbeddedEngine::open(&directory, options.clone()).unwrap());
        let batch_max_bytes: usize = env_or(
            "EMBEDDED_BENCH_BATCH_BYTES",
            stackhouse::writer::batch_max_bytes(&writer, engine.as_ref()),
        );
        let project = engine.create_project("bench", "bench-key").await.unwrap();

        let mut memory = Memory::start();
        // Templates: 2,000 parsed and fingerprinted events over 60 bugs.
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let grouping = stackhouse_grouping::GroupingConfig::default();
        let grouper = Grouper::new(grouping.clone(), Vec::new(), &[]);
        let mut templates: Vec<(EventRecord, WriteBatch)> = Vec::new();
        let mut template_bytes = 0usize;
        for i in 0..2_000 {
            let value = realistic_event(&mut rng, (i * 31) % 60);
            template_bytes += value.to_string().len();
            let event = stackhouse_protocol::parse_event_value(value, Utc::now()).unwrap().event;
            let mut fingerprint = stackhouse_grouping::fingerprint_event(&event, &grouping);
            let mut side = WriteBatch::default();
            grouper.assign(project.id, &event, &mut fingerprint, Utc::now(), &mut side);
            let record = EventRecord::from_event(project.id, &event, Utc::now(), &fingerprint);
            templates.push((record, side));
        }
        let now_hour = Utc::now().duration_trunc(chrono::Duration::hours(1)).unwrap();
        let day_start = now_hour.timestamp() - 23 * 3600;

        memory.phase("templates");

        // Ingest.
        let started = Instant::now();
        // All the storage work for these events: the writes, and every checkpoint and merge
        // up to full compaction (the final flush below).
        let cpu = CpuWindow::start("engine", std::process::id());
        let mut write_latencies = Vec::new();
        let mut written = 0usize;
        while written < total {
            let count = batch_size.min(total - written);
            let mut batch = WriteBatch::default();
            let mut batch_bytes = 0usize;
            // Cut like the server's batch writer: by events or by bytes, whichever comes first.
            while batch.events.len() < count && batch_bytes < batch_max_bytes {
                let (template, side) = &templates[(rng.next() % templates.len() as u64) as usize];
                let mut record = template.clone();
                record.event_id = format!("{:016x}{:016x}", rng.next(), rng.next());
                record.timestamp = chrono::DateTime::from_timestamp(
                    day_start + (rng.next() % (24 * 3600)) as i64,
                    0,
                )
                .unwrap();
                let user = rng.next() % 5_000;
                record.user_key = format!("id:user-{user}");
                record.user_id = format!("user-{user}");
                batch.new_issues.extend(side.new_issues.iter().cloned());
                batch.new_mappings.extend(side.new_mappings.iter().cloned());
                batch_bytes += record.memory_bytes();
                batch.events.push(record);
            }
            let count = batch.events.len();
            // The writer sends each pending issue once per batch.
            batch.new_issues.sort_by_key(|issue| issue.issue_id);
            batch.new_issues.dedup_by_key(|issue| issue.issue_id);
            batch.new_mappings.sort_by_key(|mapping| mapping.fingerprint);
            batch.new_mappings.dedup_by_key(|mapping| mapping.fingerprint);
            let write_started = Instant::now();
            // A checkpoint that falls behind refuses writes for a moment (Unavailable): the
            // server's batch writer retries them, and so does this, inside the timed write.
            write_retrying(engine.as_ref(), &batch).await;
            write_latencies.push(write_started.elapsed());
            written += count;
        }
        let ingest_seconds = started.elapsed().as_secs_f64();
        memory.phase("ingest");
        let flush_started = Instant::now();
        engine.flush().await.unwrap();
        let flush_seconds = flush_started.elapsed().as_secs_f64();
        memory.phase("final checkpoint + compaction");
        let stats = engine.stats();

        println!(
            "embedded engine benchmark: {total} events ({} B average as JSON), at most {batch_size} events or {} MiB per write ({:.0} events on average)",
            template_bytes / templates.len(),
            batch_max_bytes >> 20,
            total as f64 / write_latencies.len() as f64
        );
        println!(
            "  ingest (Engine::write, log synced per write): {:.0} events/s ({total} in {ingest_seconds:.1} s; write {})",
            total as f64 / ingest_seconds,
            percentiles(write_latencies)
        );
        println!("  final checkpoint + compaction: {flush_seconds:.1} s; {stats:?}");
        cpu.report(ingest_seconds + flush_seconds, total as u64);

        let list = |sort| {
            let engine = engine.clone();
            async move {
                engine
                    .issues(&IssueQuery {
                        project_id: project.id,
                        status: None,
                        sort,
                        limit: 25,
                        offset: 0,
                    })
                    .await
                    .unwrap()
            }
        };
        let (latency, issues) = time(200, || list(IssueSort::LastSeen)).await;
        println!("  issue list (25 of {} issues, last seen):  {latency}", 60);
        let (latency, _) = time(200, || list(IssueSort::Users)).await;
        println!("  issue list (25, by distinct users):        {latency}");
        memory.phase("issue lists");
        let ids: Vec<u64> = issues.iter().map(|s| s.issue.issue_id).collect();
        let (latency, hourly) = time(200, || {
            let (engine, ids) = (engine.clone(), ids.clone());
            async move {
                engine
                    .hourly_counts(project.id, &ids, now_hour - chrono::Duration::hours(23), now_hour + chrono::Duration::hours(1))
                    .await
                    .unwrap()
            }
        })
        .await;
        println!(
            "  hourly trend (25 issues x 24 h):           {latency} ({} series)",
            hourly.len()
        );
        let top = ids[0];
        let (latency, events) = time(20, || {
            let engine = engine.clone();
            async move { engine.issue_events(top, 10).await.unwrap() }
        })
        .await;
        println!("  latest 10 events of an issue (DataFusion): {latency} ({} rows)", events.len());
        memory.phase("hourly trend + latest events");
        let (latency, _) = time(5, || {
            let engine = engine.clone();
            async move {
                engine
                    .sql("SELECT release, count(*), count(DISTINCT user_key) FROM events \
                          WHERE environment = 'production' GROUP BY release ORDER BY 2 DESC")
                    .await
                    .unwrap()
            }
        })
        .await;
        println!("  analyst SQL (group by release, all rows): {latency}");
        memory.phase("analyst SQL");
        println!("  peak RSS: {} MiB", memory.peak_mib());
        println!(
            "  on disk: {:.1} MiB of segments ({:.0} MiB per million events), {:.1} MiB data directory (incl. replaced segments awaiting deletion)",
            stats.segment_bytes as f64 / (1 << 20) as f64,
            stats.segment_bytes as f64 / (1 << 20) as f64 / (total as f64 / 1e6),
            stats.disk_bytes as f64 / (1 << 20) as f64,
        );
        drop(engine);
        let reopen = Instant::now();
        let engine = EmbeddedEngine::open(&directory, options).unwrap();
        println!("  reopen: {:.2} s", reopen.elapsed().as_secs_f64());
        drop(engine);
    });
}
