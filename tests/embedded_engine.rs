//! What only the embedded engine has: analyst SQL over its DataFusion tables (read-only), and
//! its storage machinery: checkpoints, compaction, log truncation, torn log records, debris
//! from crashes at every step of a checkpoint, and the one-engine-per-directory lock.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use chrono::{Duration, DurationRound, Utc};
use common::{python_event, Backend, Ingest};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimestampSecondType, UInt64Type};
use serde_json::Value;
use stackhouse::engine::embedded::{EmbeddedEngine, EmbeddedOptions};
use stackhouse::engine::{Engine, EngineError, IssueQuery, IssueSort, IssueStatus};

fn events_for(round: usize, base: i64) -> Vec<Value> {
    let bugs: [(&str, &[&str]); 4] = [
        ("ValueError", &["checkout_view", "parse_quantity"]),
        ("KeyError", &["cart_view", "load_session"]),
        ("TimeoutError", &["payment_view", "charge_card"]),
        ("ZeroDivisionError", &["report_view", "average_basket"]),
    ];
    (0..25)
        .map(|i| {
            let n = round * 25 + i;
            let (kind, functions) = bugs[n % 7 % 4];
            let user = (!n.is_multiple_of(5)).then(|| format!("user-{}", n % 11));
            python_event(
                kind,
                &format!("failure {n}"),
                functions,
                user.as_deref(),
                (base + (n as i64 * 97) % 20_000) as f64,
            )
        })
        .collect()
}

fn base_hour() -> i64 {
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    (hour - Duration::hours(10)).timestamp()
}

fn embedded(handle: &common::Handle) -> &EmbeddedEngine {
    handle.embedded.as_deref().unwrap()
}

async fn sql(engine: &EmbeddedEngine, query: &str) -> Vec<RecordBatch> {
    engine
        .sql(query)
        .await
        .unwrap_or_else(|error| panic!("{query}: {error}"))
}

/// A single-row, single-u64-column (or i64 count) answer.
async fn scalar(engine: &EmbeddedEngine, query: &str) -> u64 {
    let batches = sql(engine, query).await;
    let column = batches[0].column(0);
    match column.data_type() {
        DataType::Int64 => column.as_primitive::<Int64Type>().value(0) as u64,
        _ => column.as_primitive::<UInt64Type>().value(0),
    }
}

fn u64_column(batches: &[RecordBatch], index: usize) -> Vec<u64> {
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

fn seconds_column(batches: &[RecordBatch], index: usize) -> Vec<i64> {
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

async fn ingest_rounds(
    engine: &dyn Engine,
    project_id: u64,
    rounds: std::ops::Range<usize>,
    base: i64,
) {
    let ingest = Ingest::load(engine).await;
    for round in rounds {
        ingest
            .write(engine, project_id, &events_for(round, base))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_sql_sees_the_documented_tables_and_agrees_with_the_engine() {
    let backend = Backend::embedded_segments();
    let handle = backend.open();
    let engine = embedded(&handle);
    let project = engine.create_project("sql", "key-sql").await.unwrap();
    let base = base_hour();
    ingest_rounds(engine, project.id, 0..20, base).await;
    let issues = engine
        .issues(&IssueQuery {
            project_id: project.id,
            status: None,
            sort: IssueSort::Events,
            limit: 100,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(issues.len(), 4);
    handle
        .set_status(project.id, issues[0].issue.issue_id, IssueStatus::Resolved)
        .await;

    // `events` has exactly the columns of sql/0001_events.sql, in order, with matching types.
    let ddl = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/0001_events.sql"))
        .unwrap();
    let create = &ddl[ddl.find("CREATE TABLE").unwrap()..];
    let body = &create[create.find('(').unwrap() + 1..create.find("ENGINE").unwrap()];
    let documented: Vec<(String, String)> = body
        .lines()
        .map(|line| line.trim().trim_end_matches(','))
        .filter(|line| !line.is_empty() && !line.starts_with(')'))
        .map(|line| {
            let (name, ty) = line.split_once(' ').unwrap();
            (name.trim_matches('`').to_owned(), ty.trim().to_owned())
        })
        .collect();
    let schema = sql(engine, "SELECT * FROM events LIMIT 1").await[0].schema();
    assert_eq!(schema.fields().len(), documented.len());
    for (field, (name, ty)) in schema.fields().iter().zip(&documented) {
        assert_eq!(field.name(), name);
        let want = match ty.as_str() {
            "UInt64" => "UInt64",
            "String" => "Utf8",
            "DateTime" => "Timestamp(s, \"UTC\")",
            "Array(String)" => "List(Utf8)",
            "Array(UInt32)" => "List(UInt32)",
            "Array(UInt8)" => "List(UInt8)",
            other => panic!("unmapped type {other}"),
        };
        let got = match field.data_type() {
            DataType::List(item) => format!("List({})", item.data_type()),
            DataType::Timestamp(_, Some(zone)) => format!("Timestamp(s, \"{zone}\")"),
            other => other.to_string(),
        };
        assert_eq!(got, want, "column {name}");
    }

    assert_eq!(scalar(engine, "SELECT count(*) FROM events").await, 500);
    assert_eq!(
        scalar(engine, "SELECT count(DISTINCT event_id) FROM events").await,
        500
    );

    // `issues` agrees with the issue list, and both with a recount from raw events.
    let table = sql(
        engine,
        "SELECT issue_id, events, users, first_seen, last_seen, status FROM issues \
         WHERE project_id = 1 ORDER BY events DESC, issue_id DESC",
    )
    .await;
    let recount = sql(
        engine,
        "SELECT m.issue_id, count(*) AS events, \
                count(DISTINCT CASE WHEN e.user_key <> '' THEN e.user_key END) AS users, \
                min(e.timestamp) AS first_seen, max(e.timestamp) AS last_seen \
         FROM events e JOIN issue_fingerprints m \
           ON e.project_id = m.project_id AND e.fingerprint = m.fingerprint \
         WHERE e.project_id = 1 GROUP BY m.issue_id ORDER BY events DESC, m.issue_id DESC",
    )
    .await;
    let ids = u64_column(&table, 0);
    assert_eq!(
        ids,
        issues.iter().map(|s| s.issue.issue_id).collect::<Vec<_>>()
    );
    assert_eq!(u64_column(&recount, 0), ids);
    assert_eq!(u64_column(&table, 1), u64_column(&recount, 1));
    assert_eq!(
        u64_column(&table, 1),
        issues.iter().map(|s| s.events).collect::<Vec<_>>()
    );
    assert_eq!(u64_column(&table, 2), u64_column(&recount, 2));
    assert_eq!(
        u64_column(&table, 2),
        issues.iter().map(|s| s.users).collect::<Vec<_>>()
    );
    assert_eq!(seconds_column(&table, 3), seconds_column(&recount, 3));
    assert_eq!(seconds_column(&table, 4), seconds_column(&recount, 4));
    let statuses: Vec<&str> = table[0]
        .column(5)
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(statuses[0], "resolved");
    assert!(statuses[1..].iter().all(|s| *s == "new"));

    // `issue_stats` is the hourly view of the same, and matches hourly_counts.
    let stats = sql(
        engine,
        "SELECT s.issue_id, s.hour, s.events, s.users, r.events, r.users FROM issue_stats s \
         JOIN (SELECT m.issue_id, date_trunc('hour', e.timestamp) AS hour, count(*) AS events, \
                      count(DISTINCT CASE WHEN e.user_key <> '' THEN e.user_key END) AS users \
               FROM events e JOIN issue_fingerprints m \
                 ON e.project_id = m.project_id AND e.fingerprint = m.fingerprint \
               GROUP BY m.issue_id, date_trunc('hour', e.timestamp)) r \
           ON s.issue_id = r.issue_id AND s.hour = r.hour \
         ORDER BY s.issue_id, s.hour",
    )
    .await;
    assert_eq!(u64_column(&stats, 2), u64_column(&stats, 4));
    assert_eq!(u64_column(&stats, 3), u64_column(&stats, 5));
    assert_eq!(u64_column(&stats, 2).iter().sum::<u64>(), 500);
    let hourly = engine
        .hourly_counts(
            project.id,
            &ids,
            Utc::now() - Duration::days(2),
            Utc::now() + Duration::days(1),
        )
        .await
        .unwrap();
    let mut from_engine: BTreeMap<(u64, i64), u64> = BTreeMap::new();
    for (issue, hours) in hourly {
        for hour in hours {
            from_engine.insert((issue, hour.hour.timestamp()), hour.events);
        }
    }
    let from_sql: BTreeMap<(u64, i64), u64> = u64_column(&stats, 0)
        .into_iter()
        .zip(seconds_column(&stats, 1))
        .zip(u64_column(&stats, 2))
        .collect();
    assert_eq!(from_engine, from_sql);

    // Lifecycle, mapping, buckets and projects are tables too.
    assert_eq!(
        scalar(
            engine,
            "SELECT count(*) FROM issue_state WHERE status = 'resolved'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(engine, "SELECT count(*) FROM issue_history WHERE from_status = 'new' AND to_status = 'resolved'").await,
        1
    );
    assert_eq!(
        scalar(engine, "SELECT count(*) FROM issue_fingerprints").await,
        4
    );
    assert_eq!(
        scalar(engine, "SELECT sum(events) FROM fingerprint_minute").await,
        500
    );
    assert_eq!(
        scalar(engine, "SELECT sum(events) FROM fingerprint_hour").await,
        500
    );
    assert_eq!(scalar(engine, "SELECT count(*) FROM projects").await, 1);
    // Filters on the sort key prune segments and still return exact answers.
    let fingerprint = scalar(engine, "SELECT min(fingerprint) FROM issue_fingerprints").await;
    assert_eq!(
        scalar(
            engine,
            &format!(
                "SELECT count(*) FROM events WHERE project_id = 1 AND fingerprint = {fingerprint}"
            )
        )
        .await,
        scalar(
            engine,
            &format!("SELECT sum(events) FROM fingerprint_hour WHERE fingerprint = {fingerprint}")
        )
        .await
    );
    let tables = sql(engine, "SHOW TABLES").await;
    let names: BTreeSet<&str> = tables
        .iter()
        .flat_map(|batch| batch.column(2).as_string::<i32>().iter().flatten())
        .collect();
    for table in [
        "events",
        "issues",
        "issue_stats",
        "issue_state",
        "issue_history",
    ] {
        assert!(names.contains(table), "{names:?}");
    }
}

/// The bucket tables are streamed a batch at a time (whole series, about 8k rows each): a scan
/// over several batches sees every bucket once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_tables_stream_every_bucket_once() {
    let backend = Backend::embedded_segments();
    let handle = backend.open();
    let engine = embedded(&handle);
    let project = engine
        .create_project("buckets", "key-buckets")
        .await
        .unwrap();
    let start = base_hour() - 10 * 3_600;
    let ingest = Ingest::load(engine).await;
    // 10 fingerprints with 1,000 minutes each: 10,000 minute buckets, more than one batch.
    for bug in 0..10 {
        let events: Vec<Value> = (0..1_000)
            .map(|minute| {
                python_event(
                    &format!("Bug{bug}Error"),
                    "failed",
                    &["checkout_view"],
                    None,
                    (start + minute * 60 + bug) as f64,
                )
            })
            .collect();
        ingest.write(engine, project.id, &events).await;
    }
    let minutes = sql(
        engine,
        "SELECT count(*), sum(events), count(DISTINCT fingerprint) FROM fingerprint_minute",
    )
    .await;
    assert_eq!(
        (0..3)
            .map(|column| u64_column(&minutes, column)[0])
            .collect::<Vec<_>>(),
        [10_000, 10_000, 10]
    );
    assert_eq!(
        scalar(
            engine,
            "SELECT count(*) FROM (SELECT DISTINCT fingerprint, minute FROM fingerprint_minute)"
        )
        .await,
        10_000
    );
    assert_eq!(
        scalar(engine, "SELECT sum(events) FROM fingerprint_hour").await,
        10_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_sql_is_read_only() {
    let backend = Backend::embedded();
    let handle = backend.open();
    let engine = embedded(&handle);
    let project = engine.create_project("ro", "key-ro").await.unwrap();
    ingest_rounds(engine, project.id, 0..2, base_hour()).await;
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("copy.parquet");
    for statement in [
        "CREATE TABLE t AS SELECT * FROM events".to_owned(),
        "CREATE TABLE t (x INT)".to_owned(),
        "CREATE VIEW v AS SELECT 1".to_owned(),
        "DROP TABLE events".to_owned(),
        "INSERT INTO events SELECT * FROM events".to_owned(),
        "DELETE FROM events".to_owned(),
        "UPDATE events SET title = 'x'".to_owned(),
        format!("COPY (SELECT * FROM events) TO '{}'", outside.display()),
        format!(
            "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '{}'",
            outside.display()
        ),
        "SET datafusion.execution.batch_size = 1".to_owned(),
        "EXPLAIN ANALYZE INSERT INTO events SELECT * FROM events".to_owned(),
    ] {
        match engine.sql(&statement).await {
            Err(EngineError::Rejected(message)) => {
                assert!(
                    message.contains("read-only") || message.contains("not supported"),
                    "{statement}: {message}"
                );
            }
            other => panic!("{statement} was not refused: {other:?}"),
        }
    }
    assert!(!outside.exists());
    assert_eq!(scalar(engine, "SELECT count(*) FROM events").await, 50);
    // Reads of every kind are fine.
    sql(engine, "EXPLAIN SELECT count(*) FROM events").await;
    sql(
        engine,
        "WITH x AS (SELECT title FROM events) SELECT count(*) FROM x",
    )
    .await;
    sql(engine, "DESCRIBE events").await;
    assert!(matches!(
        engine.sql("SELECT * FROM no_such_table").await,
        Err(EngineError::Rejected(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_and_compaction_bound_the_files_and_truncate_the_log() {
    let backend = Backend::embedded_with(EmbeddedOptions {
        memtable_max_events: 100,
        compaction_fan_in: 3,
        row_group_events: 1024,
        max_aggregate_deltas: 2,
        ..EmbeddedOptions::default()
    });
    let base = base_hour();
    let before = {
        let handle = backend.open();
        let engine = embedded(&handle);
        let project = engine
            .create_project("compact", "key-compact")
            .await
            .unwrap();
        ingest_rounds(engine, project.id, 0..60, base).await;
        engine.flush().await.unwrap();
        let stats = engine.stats();
        assert_eq!(stats.memtable_events, 0);
        assert_eq!(stats.segment_events, 1500);
        assert_eq!(stats.checkpoint_seq, stats.last_seq);
        // Every file before the checkpoint is gone: only the current (empty) log remains.
        assert_eq!(stats.wal_files, 1, "{stats:?}");
        // Fan-in 3: at most two segments wait per size tier.
        assert!(stats.segments <= 6, "{stats:?}");
        let checkpoints = fs::read_dir(engine.data_directory().join("checkpoints"))
            .unwrap()
            .count();
        assert!(
            checkpoints <= 4,
            "aggregate deltas are folded into a base: {checkpoints} files"
        );
        let segment_files = fs::read_dir(engine.data_directory().join("segments"))
            .unwrap()
            .count();
        assert!(
            segment_files <= 6 + 15,
            "replaced segments wait out their grace period"
        );
        (
            project.id,
            engine
                .issues(&IssueQuery {
                    project_id: 1,
                    status: None,
                    sort: IssueSort::Users,
                    limit: 10,
                    offset: 0,
                })
                .await
                .unwrap(),
            scalar(engine, "SELECT count(DISTINCT event_id) FROM events").await,
        )
    };
    assert_eq!(before.2, 1500);
    let handle = backend.open();
    let engine = embedded(&handle);
    let stats = engine.stats();
    assert_eq!(stats.memtable_events, 0, "nothing to replay");
    assert!(stats.segments <= 6);
    let after = engine
        .issues(&IssueQuery {
            project_id: before.0,
            status: None,
            sort: IssueSort::Users,
            limit: 10,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(after, before.1);
    assert_eq!(scalar(engine, "SELECT count(*) FROM events").await, 1500);
}

fn wal_files(directory: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = fs::read_dir(directory.join("wal"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_log_tail_is_dropped_and_start_up_goes_on() {
    let backend = Backend::embedded();
    let directory = match &backend {
        Backend::Embedded { directory, .. } => directory.path().to_owned(),
        _ => unreachable!(),
    };
    let base = base_hour();
    {
        let handle = backend.open();
        let engine = handle.engine.as_ref();
        let project = engine.create_project("torn", "key-torn").await.unwrap();
        ingest_rounds(engine, project.id, 0..2, base).await;
    }
    let last = wal_files(&directory).pop().unwrap();
    let full = fs::read(&last).unwrap();
    // The second batch's record is the file's tail: cut into it, as a crash mid-append would.
    fs::write(&last, &full[..full.len() - 100]).unwrap();
    {
        let handle = backend.open();
        let engine = embedded(&handle);
        assert_eq!(scalar(engine, "SELECT count(*) FROM events").await, 25);
        assert_eq!(engine.projects().await.unwrap().len(), 1);
        // Writing goes on after the dropped record.
        ingest_rounds(engine, 1, 2..3, base).await;
        assert_eq!(scalar(engine, "SELECT count(*) FROM events").await, 50);
    }
    // Garbage after the last good record (a torn header) is dropped the same way.
    let last = wal_files(&directory).pop().unwrap();
    let mut bytes = fs::read(&last).unwrap();
    bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x01]);
    fs::write(&last, bytes).unwrap();
    let handle = backend.open();
    let engine = embedded(&handle);
    assert_eq!(scalar(engine, "SELECT count(*) FROM events").await, 50);
    assert_eq!(
        engine
            .issues(&IssueQuery {
                project_id: 1,
                status: None,
                sort: IssueSort::Events,
                limit: 10,
                offset: 0,
            })
            .await
            .unwrap()
            .iter()
            .map(|s| s.events)
            .sum::<u64>(),
        50
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_step_of_a_checkpoint_neither_loses_nor_duplicates() {
    let backend = Backend::embedded();
    let directory = match &backend {
        Backend::Embedded { directory, .. } => directory.path().to_owned(),
        _ => unreachable!(),
    };
    let base = base_hour();
    // Crash after the manifest was replaced but before the log was deleted: the old log
    // files are still there. Replay must skip what the checkpoint covers.
    let saved_wal = tempfile::tempdir().unwrap();
    {
        let handle = backend.open();
        let engine = embedded(&handle);
        let project = engine.create_project("crash", "key-crash").await.unwrap();
        ingest_rounds(engine, project.id, 0..4, base).await;
        for file in wal_files(&directory) {
            fs::copy(&file, saved_wal.path().join(file.file_name().unwrap())).unwrap();
        }
        engine.flush().await.unwrap();
        assert_eq!(engine.stats().segment_events, 100);
        ingest_rounds(engine, project.id, 4..5, base).await;
    }
    for file in fs::read_dir(saved_wal.path()).unwrap() {
        let file = file.unwrap().path();
        fs::copy(&file, directory.join("wal").join(file.file_name().unwrap())).unwrap();
    }
    // Crash during a checkpoint or compaction before its manifest: files nobody names.
    let a_segment = fs::read_dir(directory.join("segments"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::copy(
        &a_segment,
        directory.join("segments/seg-9999999999.parquet"),
    )
    .unwrap();
    fs::write(
        directory.join("segments/seg-9999999998.parquet.tmp"),
        b"half a file",
    )
    .unwrap();
    fs::write(directory.join("checkpoints/agg-9999999997.bin"), b"junk").unwrap();
    fs::write(directory.join("MANIFEST.tmp"), b"junk").unwrap();

    let handle = backend.open();
    let engine = embedded(&handle);
    assert_eq!(scalar(engine, "SELECT count(*) FROM events").await, 125);
    assert_eq!(
        scalar(engine, "SELECT count(DISTINCT event_id) FROM events").await,
        125
    );
    let listed = engine
        .issues(&IssueQuery {
            project_id: 1,
            status: None,
            sort: IssueSort::Events,
            limit: 10,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|s| s.events).sum::<u64>(), 125);
    assert!(!directory.join("segments/seg-9999999999.parquet").exists());
    assert!(!directory
        .join("segments/seg-9999999998.parquet.tmp")
        .exists());
    assert!(!directory.join("checkpoints/agg-9999999997.bin").exists());
    assert!(!directory.join("MANIFEST.tmp").exists());
    drop(handle);

    // An unreadable aggregate checkpoint is rebuilt from the raw events.
    for file in fs::read_dir(directory.join("checkpoints")).unwrap() {
        let file = file.unwrap().path();
        if file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("agg-")
        {
            fs::write(&file, b"bit rot").unwrap();
        }
    }
    let handle = backend.open();
    let engine = embedded(&handle);
    let rebuilt = engine
        .issues(&IssueQuery {
            project_id: 1,
            status: None,
            sort: IssueSort::Events,
            limit: 10,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(rebuilt, listed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_admits_one_engine_at_a_time() {
    let directory = tempfile::tempdir().unwrap();
    let first = EmbeddedEngine::open(directory.path(), EmbeddedOptions::default()).unwrap();
    match EmbeddedEngine::open(directory.path(), EmbeddedOptions::default()) {
        Err(error) => assert!(error.to_string().contains("in use"), "{error}"),
        Ok(_) => panic!("a second engine opened the same directory"),
    }
    drop(first);
    EmbeddedEngine::open(directory.path(), EmbeddedOptions::default()).unwrap();
}
