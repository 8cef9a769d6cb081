//! Alert evaluation cost and its effect on ingest, on the embedded engine, or on ClickHouse when
//! `STACKHOUSE_BENCH_CLICKHOUSE_URL` is set (not run in CI).
//!
//! 1. Writes `ALERTS_BENCH_EVENTS` events (default 1,000,000) over `ALERTS_BENCH_ISSUES` issues
//!    (default 10,000), received over the last hour (in the order written, as a live server
//!    receives them: each write covers the next slice of the hour).
//! 2. Creates `ALERTS_BENCH_RULES` rules (default 1,000): a mix of SQL thresholds (one number and
//!    per-release groups) and the built-in frequency / user-impact / spike / new-issue /
//!    regression rules, with thresholds that differ rule by rule, and evaluates every one once
//!    as one scheduler interval does: a task per evaluation group (rules that run the same query
//!    over the same window), with the scheduler's concurrency. Reports the wall time of the
//!    round and per group. `ALERTS_BENCH_DISTINCT_SQL=1` makes every SQL rule's text distinct
//!    (no two share a query), the worst case.
//! 3. Ingest throughput (events written per second through `Engine::write`) over
//!    `ALERTS_BENCH_INGEST_SECONDS` (default 60) without, then with the scheduler running those
//!    rules on a 60-second interval (after its first minute, reported apart), in
//!    `ALERTS_BENCH_PAIRS` (default 2) alternating pairs. `ALERTS_BENCH_RATE` offers a fixed
//!    number of events per second instead (say 20000, the ingest rate the product aims at):
//!    at full speed each rule's window holds what several times that rate writes, so the
//!    windows, and the cost of evaluating them, grow with the very ingest being measured. Each
//!    phase also reports the CPU this process and ClickHouse (`STACKHOUSE_BENCH_CLICKHOUSE_PID`,
//!    which `scripts/bench.sh` sets) used per event.
//!
//! `cargo bench --bench alerts`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use stackhouse::alerting::{self, AlertsConfig};
use stackhouse::engine::Engine;

mod support;
use support::{alert_rule, bench_engine, env_or, write_events, CpuWindow};

/// How ingest is driven in the measured phases.
#[derive(Clone, Copy)]
struct Load {
    /// Events offered per second; 0: as fast as `Engine::write` takes them.
    rate: u64,
    /// ClickHouse's process, whose CPU is reported beside this one's.
    clickhouse_pid: Option<u32>,
}

/// Writes events for `seconds` (batches of 20,000 as fast as they are taken, or, with a rate,
/// a tenth of a second's worth every tenth of a second); returns events/s and prints the CPU
/// this process (the engine's client side and the scheduler) and ClickHouse used per event.
/// `next` is the number of the next event.
#[allow(clippy::too_many_arguments)]
async fn ingest_for(
    engine: &dyn Engine,
    project_id: u64,
    next: &mut u64,
    seconds: f64,
    issues: u64,
    seen: &mut [bool],
    load: Load,
    label: &str,
) -> f64 {
    let mut cpu = vec![CpuWindow::start("  bench process", std::process::id())];
    if let Some(pid) = load.clickhouse_pid {
        cpu.push(CpuWindow::start("  ClickHouse", pid));
    }
    let batch = if load.rate == 0 {
        20_000
    } else {
        (load.rate / 10).max(1)
    };
    let started = Instant::now();
    let first = *next;
    let mut batches = 0u32;
    while started.elapsed().as_secs_f64() < seconds {
        if load.rate > 0 {
            // Behind schedule (a slow write), the next batches go at once until it catches up.
            tokio::time::sleep_until((started + Duration::from_millis(100) * batches).into()).await;
        }
        write_events(engine, project_id, *next, batch, 0, issues, seen).await;
        *next += batch;
        batches += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let events = *next - first;
    println!("{label}: {:.0} events/s", events as f64 / elapsed);
    for window in &cpu {
        window.report(elapsed, events);
    }
    events as f64 / elapsed
}

fn main() {
    let events: u64 = env_or("ALERTS_BENCH_EVENTS", 1_000_000);
    let issues: u64 = env_or("ALERTS_BENCH_ISSUES", 10_000).max(1);
    let rules: usize = env_or("ALERTS_BENCH_RULES", 1_000);
    let ingest_seconds: f64 = env_or("ALERTS_BENCH_INGEST_SECONDS", 60.0);
    let distinct_sql = env_or("ALERTS_BENCH_DISTINCT_SQL", 0u8) == 1;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let directory = tempfile::tempdir().unwrap();
        let (engine, _) = bench_engine("alerts", directory.path()).await;
        let project = engine
            .create_project("bench", "0123456789abcdef0123456789abcdef")
            .await
            .unwrap();
        let mut seen = vec![false; issues as usize];
        let seconds = write_events(engine.as_ref(), project.id, 0, events, events, issues, &mut seen).await;
        println!("wrote {events} events over {issues} issues in {seconds:.1} s");

        let mut records = Vec::new();
        for n in 0..rules {
            records.push(alerting::create_rule(engine.as_ref(), &alert_rule(project.id, n, distinct_sql), None).await.unwrap());
        }
        // One round as the scheduler runs it: one task per evaluation group (rules that run the
        // same query over the same window), with the scheduler's concurrency.
        let (groups, _) = alerting::evaluate::group_rules(records.clone());
        let group_count = groups.len();
        let config = AlertsConfig::default();
        let semaphore = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_evaluations));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for group in groups {
            let engine = engine.clone();
            let semaphore = semaphore.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = semaphore.acquire_owned().await.unwrap();
                let begun = Instant::now();
                let write = alerting::evaluate::evaluate_group(engine.as_ref(), &group, Utc::now()).await.unwrap();
                engine.record_alert_evaluation(&write).await.unwrap();
                begun.elapsed()
            }));
        }
        let mut per_group: Vec<Duration> = Vec::new();
        for task in tasks {
            per_group.push(task.await.unwrap());
        }
        per_group.sort();
        let round = started.elapsed().as_secs_f64();
        println!(
            "evaluated {rules} rules ({group_count} evaluation groups, {}) over {events} events in {round:.2} s \
             (p50 {:.1} ms, max {:.1} ms per group; budget: one 60 s interval)",
            if distinct_sql { "every SQL rule distinct" } else { "SQL rules share two queries" },
            per_group[per_group.len() / 2].as_secs_f64() * 1000.0,
            per_group[per_group.len() - 1].as_secs_f64() * 1000.0,
        );

        // Ingest over whole minutes, alternately without and with the scheduler (the machine
        // is noisy: a single pair can be off by ±10%). The first start's first minute, when
        // every rule is due at once, is reported apart; a later start finds its current slots
        // claimed by the runtime before it, as a restarted server does.
        let pairs: usize = env_or("ALERTS_BENCH_PAIRS", 2).max(1);
        let load = Load {
            rate: env_or("ALERTS_BENCH_RATE", 0),
            clickhouse_pid: std::env::var("STACKHOUSE_BENCH_CLICKHOUSE_PID").ok().and_then(|pid| pid.parse().ok()),
        };
        if load.rate > 0 {
            println!("ingest offered at {} events/s", load.rate);
        }
        let mut next = events;
        let (mut total_without, mut total_with) = (0.0, 0.0);
        for pair in 1..=pairs {
            let without = ingest_for(engine.as_ref(), project.id, &mut next, ingest_seconds, issues, &mut seen, load, "without the scheduler").await;
            let runtime = alerting::scheduler::start(engine.clone(), AlertsConfig { tick_ms: 200, ..config.clone() });
            let startup = ingest_for(engine.as_ref(), project.id, &mut next, 60.0, issues, &mut seen, load, "the scheduler's first minute").await;
            let with = ingest_for(engine.as_ref(), project.id, &mut next, ingest_seconds, issues, &mut seen, load, "with the scheduler").await;
            drop(runtime);
            total_without += without;
            total_with += with;
            println!(
                "pair {pair}: ingest over {ingest_seconds:.0} s: {without:.0} events/s without the scheduler, \
                 {with:.0} events/s with it evaluating {rules} rules per minute ({:+.1}%); its first minute: \
                 {startup:.0} events/s ({:+.1}%{})",
                (with / without - 1.0) * 100.0,
                (startup / without - 1.0) * 100.0,
                if pair == 1 { ", every rule due at once" } else { "" },
            );
        }
        println!(
            "ingest, mean of {pairs} pairs: {:.0} events/s without the scheduler, {:.0} with it ({:+.1}%)",
            total_without / pairs as f64,
            total_with / pairs as f64,
            (total_with / total_without - 1.0) * 100.0,
        );
    });
}
