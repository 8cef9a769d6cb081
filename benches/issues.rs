//! Issue list and issue detail latency through the GraphQL schema, on the embedded engine or on
//! ClickHouse, with many events across many issues: first page (last seen), a filtered page (an event-level
//! filter: environment), the trend sort, and the issue detail (counts, status, history, tags,
//! hourly trend, latest event). The list cases select every field the dashboard's list shows
//! (users and sparklines included).
//!
//! Events are stamped from one parsed template (fresh ids, fingerprints, times, users and
//! environments), so the numbers measure the query path, not parsing.
//!
//! `cargo bench --bench issues`; knobs: `ISSUES_BENCH_EVENTS` (default 1,000,000),
//! `ISSUES_BENCH_ISSUES` (default 100,000), `ISSUES_BENCH_RUNS` (default 30),
//! `ISSUES_BENCH_CASES` (comma-separated words: only the cases whose names hold one, say
//! `trend`, for profiling one of them), and
//! `STACKHOUSE_BENCH_CLICKHOUSE_URL` (then the events go to a fresh database on that server
//! instead of the embedded engine; `scripts/bench.sh` sets it). With `STACKHOUSE_BENCH_DATABASE`
//! naming a database that an earlier run filled, its `bench` project is queried as it is and
//! nothing is written (the first run prints the database's name).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use chrono::Utc;
use stackhouse::access::Access;
use stackhouse::config::Config;
use stackhouse::engine::{FingerprintMapping, IssueRecord, WriteBatch};
use stackhouse::graphql::{build_schema, GraphqlContext};
use stackhouse::group::new_issue_id;
use stackhouse::server::AppState;

mod support;
use support::{bench_engine, env_or, template, write_retrying, Memory};

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index].as_secs_f64() * 1000.0
}

fn main() {
    let events: u64 = env_or("ISSUES_BENCH_EVENTS", 1_000_000);
    let issues: u64 = env_or("ISSUES_BENCH_ISSUES", 100_000).max(1);
    let runs: usize = env_or("ISSUES_BENCH_RUNS", 30);
    let only: Vec<String> = std::env::var("ISSUES_BENCH_CASES")
        .map(|cases| cases.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let directory = tempfile::tempdir().unwrap();
        let (engine, embedded) = bench_engine("issues", directory.path()).await;
        let existing = engine.projects().await.unwrap().into_iter().find(|p| p.name == "bench");
        let reused = existing.is_some();
        let project = match existing {
            Some(project) => project,
            None => engine.create_project("bench", "0123456789abcdef0123456789abcdef").await.unwrap(),
        };
        let template = template();
        let mut memory = Memory::start();
        let now = Utc::now().timestamp();
        let started = Instant::now();
        // Writes as large as the server's batch writer makes them: at most so many events and
        // about so many bytes of them.
        let writer = stackhouse::config::WriterConfig::default();
        let batch_max_bytes = stackhouse::writer::batch_max_bytes(&writer, engine.as_ref());
        let mut written = if reused { events } else { 0u64 };
        let mut seen_issue = vec![false; issues as usize];
        while written < events {
            let mut batch = WriteBatch::default();
            let mut batch_bytes = 0usize;
            let mut n = written;
            while n < events && batch.events.len() < writer.batch_max_events && batch_bytes < batch_max_bytes {
                // Skewed: low issue numbers get most events.
                let issue = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) % issues;
                let issue = if n % 3 == 0 { issue % (issues / 100).max(1) } else { issue };
                let fingerprint = 0x1000_0000 + issue;
                let issue_id = new_issue_id(project.id, fingerprint);
                if !seen_issue[issue as usize] {
                    seen_issue[issue as usize] = true;
                    batch.new_issues.push(IssueRecord {
                        project_id: project.id,
                        issue_id,
                        title: format!("Bug{issue}Error: order failed"),
                        culprit: "shop.payment in charge".into(),
                        level: "error".into(),
                        platform: "python".into(),
                        features: String::new(),
                        created_at: Utc::now(),
                    });
                    batch.new_mappings.push(FingerprintMapping {
                        project_id: project.id,
                        fingerprint,
                        issue_id,
                        updated_at: Utc::now(),
                    });
                }
                let mut record = template.clone();
                record.project_id = project.id;
                record.event_id = format!("{:032x}", u128::from(n) * 0x9E37_79B9 + 1);
                record.fingerprint = fingerprint;
                record.timestamp = chrono::DateTime::from_timestamp(now - (n % 86_400) as i64, 0).unwrap();
                record.user_key = format!("id:{}", n % 5_000);
                record.environment = if issue % 10 == 0 { "staging".into() } else { "production".into() };
                batch_bytes += record.memory_bytes();
                batch.events.push(record);
                n += 1;
            }
            written += batch.events.len() as u64;
            write_retrying(engine.as_ref(), &batch).await;
        }
        if reused {
            println!("reusing the stored bench project {}: nothing written", project.id);
        } else {
            println!(
                "wrote {events} events across {issues} issues in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        memory.phase("writing the events");
        if let Some(embedded) = &embedded {
            // What is left in memory goes to disk and every merge due runs, so the queries
            // below find the engine settled (a server does the same in the background).
            let flushing = Instant::now();
            embedded.flush().await.unwrap();
            println!("final checkpoint + compaction: {:.1} s", flushing.elapsed().as_secs_f64());
            memory.phase("final checkpoint + compaction");
        }
        let state = AppState::start(Config::default(), engine.clone()).await.unwrap();
        let schema = build_schema(GraphqlContext {
            engine: state.engine.clone(),
            projects: state.projects.clone(),
            pipeline: state.pipeline.clone(),
            public_url: "http://localhost:8000".into(),
        });
        let project_id = project.id.to_string();
        let top = schema
            .execute(
                async_graphql::Request::new(format!(
                    "{{ issues(projectId: \"{project_id}\", sort: EVENTS, first: 1) {{ nodes {{ id }} }} }}"
                ))
                .data(Access::All),
            )
            .await;
        assert!(top.errors.is_empty(), "the top issue: {:?}", top.errors);
        let top_id = top.data.into_json().unwrap()["issues"]["nodes"][0]["id"].as_str().unwrap().to_owned();
        // Every list case selects what the dashboard's list shows (dashboard/src/api/queries.ts).
        let nodes = "nodes { id projectId title culprit level platform status count userCount firstSeen lastSeen sparkline }";
        let cases = [
            ("issue list, first page (last seen)", format!("{{ issues(projectId: \"{project_id}\") {{ totalCount {nodes} }} }}")),
            ("issue list, filtered (environment)", format!("{{ issues(projectId: \"{project_id}\", filter: {{environment: \"staging\"}}) {{ totalCount {nodes} }} }}")),
            ("issue list, sorted by trend", format!("{{ issues(projectId: \"{project_id}\", sort: TREND) {{ totalCount {nodes} }} }}")),
            ("issue detail", format!("{{ issue(id: \"{top_id}\") {{ title count userCount status history {{ to }} tags {{ key total }} trend(granularity: HOUR) {{ events }} latestEvent {{ id }} }} }}")),
        ];
        for (name, query) in cases {
            if !only.is_empty() && !only.iter().any(|word| name.contains(word.as_str())) {
                continue;
            }
            let mut samples = Vec::with_capacity(runs);
            for _ in 0..runs {
                let started = Instant::now();
                let response = schema.execute(async_graphql::Request::new(query.clone()).data(Access::All)).await;
                assert!(response.errors.is_empty(), "{name}: {:?}", response.errors);
                samples.push(started.elapsed());
            }
            println!(
                "{name:40} p50 {:8.1} ms   p95 {:8.1} ms",
                percentile(&mut samples, 0.5),
                percentile(&mut samples, 0.95)
            );
        }
        memory.phase("server start + queries");
        // On ClickHouse this is the bench process alone (the client and the server's in-memory
        // state, not the database).
        println!("peak RSS: {} MiB", memory.peak_mib());
    });
}
