//! What the benchmarks share: knobs from the environment and a parsed, fingerprinted event to
//! stamp copies from (so a benchmark measures the engine, not JSON parsing).
#![allow(dead_code)] // each benchmark uses its part

use chrono::Utc;

/// The binary's allocator (`src/main.rs`), so engine benchmarks measure the memory it uses.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use serde_json::json;
use stackhouse::alerting::rules::{Comparison, Condition, RuleSpec};
use stackhouse::engine::{EventRecord, FingerprintMapping, IssueRecord, WriteBatch};
use stackhouse::group::new_issue_id;
use std::time::Instant;

/// The environment variable `name` parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One Python error event (two in-app frames, tags, a user) of project 1, parsed and
/// fingerprinted once; benchmarks clone it and stamp ids, times, users and fingerprints.
pub fn template() -> EventRecord {
    let value = json!({
        "event_id": uuid::Uuid::new_v4().simple().to_string(),
        "timestamp": Utc::now().timestamp() as f64,
        "platform": "python",
        "level": "error",
        "environment": "production",
        "release": "shop@1.0.0",
        "tags": {"region": "eu-west", "customer_tier": "gold"},
        "user": {"id": "template"},
        "exception": {"values": [{
            "type": "ValueError",
            "value": "order failed",
            "stacktrace": {"frames": [
                {"module": "shop.orders", "function": "checkout", "filename": "shop/orders.py", "lineno": 12, "in_app": true},
                {"module": "shop.payment", "function": "charge", "filename": "shop/payment.py", "lineno": 40, "in_app": true}
            ]},
        }]},
    });
    let received = Utc::now();
    let event = stackhouse_protocol::parse_event_value(value, received)
        .expect("the template event parses")
        .event;
    let fingerprint = stackhouse_grouping::fingerprint_event(&event, &Default::default());
    EventRecord::from_event(1, &event, received, &fingerprint)
}

/// `Engine::write`, waiting and retrying while the engine pushes back (the embedded engine does
/// while a checkpoint catches up).
pub async fn write_retrying(
    engine: &dyn stackhouse::engine::Engine,
    batch: &stackhouse::engine::WriteBatch,
) {
    loop {
        match engine.write(batch).await {
            Ok(()) => return,
            Err(error) if error.is_retryable() => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(error) => panic!("write failed: {error}"),
        }
    }
}

/// Logs to stderr as `RUST_LOG` asks (nothing when it is unset).
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// The engine a benchmark runs on: ClickHouse when `STACKHOUSE_BENCH_CLICKHOUSE_URL` is set (a
/// fresh, migrated database `stackhouse_{name}_bench_{pid}`), else the embedded engine in
/// `directory` (also returned as itself, for what only it has, such as `flush`).
/// `STACKHOUSE_BENCH_DATABASE` names the ClickHouse database instead, so a benchmark that finds
/// its data already there (see `benches/issues.rs`) can skip writing it again.
pub async fn bench_engine(
    name: &str,
    directory: &std::path::Path,
) -> (
    std::sync::Arc<dyn stackhouse::engine::Engine>,
    Option<std::sync::Arc<stackhouse::engine::embedded::EmbeddedEngine>>,
) {
    init_logging();
    use stackhouse::engine::clickhouse::{ClickHouseEngine, ClickHouseSettings};
    use stackhouse::engine::embedded::EmbeddedEngine;
    use stackhouse::engine::Engine;
    let (engine, embedded): (std::sync::Arc<dyn Engine>, _) =
        match std::env::var("STACKHOUSE_BENCH_CLICKHOUSE_URL") {
            Ok(url) => {
                let database = bench_database(name);
                let engine = ClickHouseEngine::new(ClickHouseSettings::new(url, database));
                (std::sync::Arc::new(engine), None)
            }
            Err(_) => {
                let engine = std::sync::Arc::new(
                    EmbeddedEngine::open(directory, bench_options())
                        .expect("the embedded engine opens"),
                );
                (engine.clone(), Some(engine))
            }
        };
    engine.migrate().await.expect("the engine migrates");
    match std::env::var("STACKHOUSE_BENCH_DATABASE") {
        Ok(database) if embedded.is_none() => {
            println!("engine: {} (database {database})", engine.name())
        }
        _ => println!("engine: {}", engine.name()),
    }
    (engine, embedded)
}

/// The ClickHouse database a benchmark named `name` uses: `STACKHOUSE_BENCH_DATABASE`, else a
/// fresh one named after the benchmark and this process.
pub fn bench_database(name: &str) -> String {
    std::env::var("STACKHOUSE_BENCH_DATABASE")
        .unwrap_or_else(|_| format!("stackhouse_{name}_bench_{}", std::process::id()))
}

/// The embedded engine's options: the defaults, but for the memtable's byte limit when
/// `STACKHOUSE_BENCH_MEMTABLE_MIB` gives one (to see what it costs in memory and speed).
fn bench_options() -> stackhouse::engine::embedded::EmbeddedOptions {
    let mut options = stackhouse::engine::embedded::EmbeddedOptions::default();
    if let Some(mib) = std::env::var("STACKHOUSE_BENCH_MEMTABLE_MIB")
        .ok()
        .and_then(|mib| mib.parse::<usize>().ok())
    {
        options.memtable_max_bytes = mib << 20;
    }
    options
}

/// Resident memory of this process by phase: each [`Memory::phase`] prints the resident set
/// now and its peak since the previous call (Linux: `VmRSS`, `VmHWM`, and `clear_refs` to
/// restart the peak), so a benchmark shows which step needed the memory. Next to them it
/// prints what the allocator (jemalloc) counts as live allocations, now and at its highest
/// (sampled every 20 ms), so a peak of the resident set reads as either data the engine held
/// or pages the allocator had not given back yet.
pub struct Memory {
    overall_peak_kib: u64,
    live_peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Memory {
    /// Starts the first phase (the peak so far still counts towards [`Memory::peak_mib`]).
    pub fn start() -> Memory {
        let overall_peak_kib = status_kib("VmHWM:");
        reset_peak();
        let live_peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sampled = std::sync::Arc::downgrade(&live_peak);
        // `STACKHOUSE_BENCH_MEMORY_TRACE=1`: also a line a second with both (beside the
        // engine's own `RUST_LOG=stackhouse=debug` lines, which say when it checkpoints and
        // merges).
        let trace = std::env::var_os("STACKHOUSE_BENCH_MEMORY_TRACE").is_some();
        std::thread::spawn(move || {
            let mut samples = 0u64;
            while let Some(peak) = sampled.upgrade() {
                let live = live_bytes();
                peak.fetch_max(live, std::sync::atomic::Ordering::Relaxed);
                drop(peak);
                samples += 1;
                if trace && samples.is_multiple_of(50) {
                    eprintln!(
                        "{} memory: {} MiB resident, {} MiB live ({})",
                        Utc::now().format("%H:%M:%S%.3f"),
                        status_kib("VmRSS:") / 1024,
                        live >> 20,
                        allocator_pages()
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        Memory {
            overall_peak_kib,
            live_peak,
        }
    }

    /// Prints `label`'s current and peak resident set (and live allocations), and starts the
    /// next phase.
    pub fn phase(&mut self, label: &str) {
        let (now, peak) = (status_kib("VmRSS:"), status_kib("VmHWM:"));
        self.overall_peak_kib = self.overall_peak_kib.max(peak);
        let live = live_bytes();
        let live_peak = self
            .live_peak
            .swap(live, std::sync::atomic::Ordering::Relaxed)
            .max(live);
        println!(
            "    memory after {label}: {} MiB resident, peak during it {} MiB; live allocations {} MiB, at most {} MiB",
            now / 1024,
            peak / 1024,
            live >> 20,
            live_peak >> 20
        );
        reset_peak();
    }

    /// The highest resident set seen over every phase, in MiB.
    pub fn peak_mib(&self) -> u64 {
        self.overall_peak_kib.max(status_kib("VmHWM:")) / 1024
    }
}

/// Bytes the allocator has handed out and not had back (0 where jemalloc is not the
/// allocator).
#[cfg(not(target_env = "msvc"))]
fn live_bytes() -> u64 {
    // The statistics are a snapshot refreshed by advancing the epoch.
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().map_or(0, |bytes| bytes as u64)
}

#[cfg(target_env = "msvc")]
fn live_bytes() -> u64 {
    0
}

/// What the allocator holds beyond the live allocations, for the trace: pages in active use
/// (live plus the unused parts of partly used pages), resident (also dirty pages not yet given
/// back, and metadata), and its own metadata.
#[cfg(not(target_env = "msvc"))]
fn allocator_pages() -> String {
    use tikv_jemalloc_ctl::stats;
    let mib = |read: Result<usize, tikv_jemalloc_ctl::Error>| read.map_or(0, |bytes| bytes >> 20);
    format!(
        "allocator: {} MiB active, {} MiB resident, {} MiB metadata",
        mib(stats::active::read()),
        mib(stats::resident::read()),
        mib(stats::metadata::read())
    )
}

#[cfg(target_env = "msvc")]
fn allocator_pages() -> String {
    String::new()
}

fn status_kib(field: &str) -> u64 {
    process_status_kib("self", field).unwrap_or(0)
}

/// A field of `/proc/PROCESS/status` in KiB (`VmRSS:`, `VmHWM:`); `process` is a pid or
/// `self`.
pub fn process_status_kib(process: &str, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()?
        .lines()
        .find(|line| line.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn reset_peak() {
    // "5" resets VmHWM to the current resident set (Linux ≥ 4.0); harmless where unsupported.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU seconds (user, system) a process has used so far, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    // Times in /proc are in clock ticks of USER_HZ, which is 100 on Linux whatever the kernel's
    // own tick rate.
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis
    // start at field 3, so utime (14) and stime (15) are the 12th and 13th of them.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user / TICKS_PER_SECOND, system / TICKS_PER_SECOND))
}

/// One process's CPU over a measured phase: where it started, to be compared at the end.
pub struct CpuWindow {
    label: &'static str,
    pid: u32,
    start: Option<(f64, f64)>,
}

impl CpuWindow {
    pub fn start(label: &'static str, pid: u32) -> CpuWindow {
        CpuWindow {
            label,
            pid,
            start: cpu_seconds(pid),
        }
    }

    /// `label CPU: N cores (user U, system S), M µs per event`, or nothing when the process
    /// could not be read.
    pub fn report(&self, seconds: f64, events: u64) {
        let (Some((user_start, system_start)), Some((user_end, system_end))) =
            (self.start, cpu_seconds(self.pid))
        else {
            return;
        };
        let (user, system) = (user_end - user_start, system_end - system_start);
        println!(
            "  {} CPU: {:.2} cores (user {:.2}, system {:.2}), {:.0} µs per event",
            self.label,
            (user + system) / seconds,
            user / seconds,
            system / seconds,
            (user + system) * 1e6 / events.max(1) as f64
        );
    }
}

/// Writes `count` events starting at number `first`; returns the seconds it took. The first
/// `history` events (the preload) are received over the hour before the preload began, in the
/// order they are written, as a live server receives them; later ones as they are written.
#[allow(clippy::too_many_arguments)]
pub async fn write_events(
    engine: &dyn stackhouse::engine::Engine,
    project_id: u64,
    first: u64,
    count: u64,
    history: u64,
    issues: u64,
    seen: &mut [bool],
) -> f64 {
    let template = template();
    let now = Utc::now().timestamp();
    let received = |n: u64| {
        if n < history {
            now - 3600 + (n * 3600 / history) as i64
        } else {
            Utc::now().timestamp()
        }
    };
    let started = Instant::now();
    let mut written = 0u64;
    while written < count {
        let mut batch = WriteBatch::default();
        for n in (first + written)..(first + (written + 20_000).min(count)) {
            let issue = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) % issues;
            let fingerprint = 0x1000_0000 + issue;
            let issue_id = new_issue_id(project_id, fingerprint);
            if !seen[issue as usize] {
                seen[issue as usize] = true;
                batch.new_issues.push(IssueRecord {
                    project_id,
                    issue_id,
                    title: format!("Bug{issue}Error: order failed"),
                    culprit: "shop.orders in checkout".into(),
                    level: "error".into(),
                    platform: "python".into(),
                    features: String::new(),
                    created_at: Utc::now(),
                });
                batch.new_mappings.push(FingerprintMapping {
                    project_id,
                    fingerprint,
                    issue_id,
                    updated_at: Utc::now(),
                });
            }
            let mut record = template.clone();
            record.project_id = project_id;
            record.event_id = format!("{:032x}", u128::from(n) * 0x9E37_79B9 + 1);
            record.fingerprint = fingerprint;
            let at = chrono::DateTime::from_timestamp(received(n), 0).unwrap();
            record.timestamp = at;
            record.received = at;
            record.user_key = format!("id:{}", n % 5_000);
            record.release = format!("shop@1.{}.0", n % 7);
            batch.events.push(record);
        }
        written += batch.events.len() as u64;
        write_retrying(engine, &batch).await;
    }
    started.elapsed().as_secs_f64()
}

/// Rule `n` of the mix. With `distinct_sql`, every SQL rule's text differs (a condition that
/// is always true, numbered), so no two SQL rules share a query: the worst case for grouping.
pub fn alert_rule(project_id: u64, n: usize, distinct_sql: bool) -> RuleSpec {
    let tail = if distinct_sql {
        format!(" AND {n} >= 0")
    } else {
        String::new()
    };
    let condition = match n % 8 {
        0 => Condition::Sql {
            query: format!("SELECT count(*) FROM events WHERE received >= {{window_start}} AND received < {{window_end}}{tail}"),
            comparison: Comparison::Gt,
            threshold: 1e12 + n as f64,
        },
        1 => Condition::Sql {
            query: format!("SELECT release, count(*) FROM events WHERE received >= {{window_start}} AND received < {{window_end}}{tail} GROUP BY release"),
            comparison: Comparison::Gt,
            threshold: 1e12 + n as f64,
        },
        2 | 3 => Condition::Frequency { threshold: 1_000_000 + n as u64 },
        4 => Condition::UserImpact { threshold: 1_000_000 + n as u64 },
        5 => Condition::Spike { factor: 1000.0, baseline_secs: 3000, floor: 1_000_000 },
        6 => Condition::NewIssue,
        _ => Condition::Regression,
    };
    RuleSpec {
        project_id,
        name: format!("rule {n}"),
        window_secs: if condition.is_occurrence() { 120 } else { 300 },
        condition,
        interval_secs: 60,
        cooldown_secs: 300,
        max_notifications_per_hour: 20,
        notify_on_resolve: true,
        webhook: None,
        enabled: true,
    }
}
