//! Span ingest and service-map benchmark (not run in CI): an in-process Stackhouse server on
//! the embedded engine (or ClickHouse when `STACKHOUSE_BENCH_CLICKHOUSE_URL` is set), driven
//! over HTTP with OTLP/HTTP protobuf batches of realistic spans (five services calling each
//! other, 8 spans per trace, some failing), then the service-map query over everything stored.
//!
//! Reports spans/s accepted (each request answered only once its spans are durable) and the
//! service map's latency (engine read + correlation). Knobs: `SPANS_SECONDS` (default 10),
//! `SPANS_CONNECTIONS` (4), `SPANS_BATCH` (spans per request, 2000), `SPANS_MAP_RUNS` (3),
//! `SPANS_MAP_SPANS` (distinct spans the service map is built over, 1,000,000),
//! `SPANS_UNCAPPED_RUNS` (reads of every span of the map's range, unsampled: 1).
//! Run: `cargo bench --bench spans` (add `STACKHOUSE_BENCH_CLICKHOUSE_URL=http://...`).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use stackhouse::access::Access;
use stackhouse::config::Config;
use stackhouse::engine::SpanRange;
use stackhouse::graphql::{build_schema, GraphqlContext};
use stackhouse::ingest::otlp::{convert, encode_request, proto};
use stackhouse::server::{router, AppState};

mod support;
use support::{bench_engine, env_or};

const SERVICES: [&str; 5] = [
    "gateway",
    "orders",
    "payments",
    "inventory",
    "postgres-proxy",
];

fn text(key: &str, value: &str) -> proto::KeyValue {
    proto::KeyValue {
        key: key.to_owned(),
        value: Some(proto::AnyValue {
            value: Some(proto::any_value::Value::StringValue(value.to_owned())),
        }),
    }
}

/// `traces` traces of 8 spans, grouped by service as exporters send them.
fn batch(seed: &mut u64, traces: usize) -> proto::ExportTraceServiceRequest {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    let now = u64::try_from(Utc::now().timestamp_nanos_opt().unwrap()).unwrap();
    let mut by_service: Vec<Vec<proto::Span>> = vec![Vec::new(); SERVICES.len()];
    for _ in 0..traces {
        let trace_id: Vec<u8> = [next().to_le_bytes(), next().to_le_bytes()].concat();
        let failing = next() % 10 == 0;
        // (service, parent index) of each span of the trace.
        let shape: [(usize, Option<usize>); 8] = [
            (0, None),
            (0, Some(0)),
            (1, Some(1)),
            (1, Some(2)),
            (2, Some(3)),
            (1, Some(2)),
            (3, Some(5)),
            (4, Some(6)),
        ];
        let ids: Vec<Vec<u8>> = shape
            .iter()
            .map(|_| next().to_le_bytes().to_vec())
            .collect();
        for (index, (service, parent)) in shape.iter().enumerate() {
            let start = now + index as u64 * 1_000_000;
            let error = failing && (index == 7 || index == 6 || index == 5 || index <= 2);
            by_service[*service].push(proto::Span {
                trace_id: trace_id.clone(),
                span_id: ids[index].clone(),
                parent_span_id: parent.map(|p| ids[p].clone()).unwrap_or_default(),
                name: format!("{} op{}", SERVICES[*service], index),
                kind: if index % 2 == 0 { 2 } else { 3 },
                start_time_unix_nano: start,
                end_time_unix_nano: start + 1_000_000 + next() % 50_000_000,
                attributes: vec![
                    text("http.request.method", "GET"),
                    text("http.route", "/api/orders/{id}"),
                    text("net.peer.name", "10.0.0.1"),
                ],
                events: Vec::new(),
                status: Some(proto::Status {
                    message: String::new(),
                    code: if error { 2 } else { 0 },
                }),
            });
        }
    }
    proto::ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .enumerate()
            .map(|(service, spans)| proto::ResourceSpans {
                resource: Some(proto::Resource {
                    attributes: vec![text("service.name", SERVICES[service])],
                }),
                scope_spans: vec![proto::ScopeSpans { spans }],
            })
            .collect(),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds: u64 = env_or("SPANS_SECONDS", 10);
    let connections: usize = env_or("SPANS_CONNECTIONS", 4);
    let batch_spans: usize = env_or("SPANS_BATCH", 2000);
    let map_runs: usize = env_or("SPANS_MAP_RUNS", 3);
    let map_spans: usize = env_or("SPANS_MAP_SPANS", 1_000_000);
    let uncapped_runs: usize = env_or("SPANS_UNCAPPED_RUNS", 1);
    let _directory = tempfile::tempdir().unwrap();
    let (engine, _) = bench_engine("spans", _directory.path()).await;
    let key = stackhouse::projects::generate_public_key();
    engine.create_project("bench", &key).await.unwrap(); // the key the ingest phase sends with
    let mut config = Config {
        dev: true,
        ..Config::default()
    };
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let state = AppState::start(config, engine.clone()).await.unwrap();
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Pre-encoded bodies, so the client costs little CPU on the shared machine.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let bodies: Arc<Vec<bytes::Bytes>> = Arc::new(
        (0..16)
            .map(|_| encode_request(&batch(&mut seed, batch_spans / 8)))
            .collect(),
    );
    let accepted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for worker in 0..connections {
        let (url, key, bodies, accepted) =
            (url.clone(), key.clone(), bodies.clone(), accepted.clone());
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut round = worker;
            while Instant::now() < deadline {
                let response = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .header("x-stackhouse-key", &key)
                    .body(bodies[round % bodies.len()].clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                accepted.fetch_add((batch_spans / 8 * 8) as u64, Ordering::Relaxed);
                round += 1;
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let spans = accepted.load(Ordering::Relaxed);
    println!(
        "engine={} ingest: {spans} spans in {elapsed:.1}s = {:.0} spans/s ({connections} connections, {} spans/request)",
        engine.name(),
        spans as f64 / elapsed,
        batch_spans / 8 * 8
    );

    println!(
        "  (the ingest phase cycles 16 pre-encoded bodies, so its traces repeat; the service map \
         below is built over distinct traces of another project)"
    );

    // The service map over `SPANS_MAP_SPANS` distinct spans, written straight to the engine.
    let map_project = engine
        .create_project("bench-map", &stackhouse::projects::generate_public_key())
        .await
        .unwrap();
    let started = Instant::now();
    let mut written = 0usize;
    while written < map_spans {
        let request = batch(&mut seed, 2_500.min((map_spans - written).div_ceil(8)));
        let intake = convert(map_project.id, &request, Utc::now());
        engine.write_spans(&intake.spans).await.unwrap();
        written += intake.spans.len();
    }
    println!(
        "wrote {written} distinct spans ({} traces) straight to the engine in {:.1} s = {:.0} spans/s",
        written / 8,
        started.elapsed().as_secs_f64(),
        written as f64 / started.elapsed().as_secs_f64()
    );
    let schema = build_schema(GraphqlContext {
        engine: state.engine.clone(),
        projects: state.projects.clone(),
        pipeline: state.pipeline.clone(),
        public_url: "http://localhost:8000".into(),
    });
    let query = format!(
        "{{ serviceMap(projectId: \"{}\") {{ traces spans sampleRate truncated edges {{ from to calls errors p95Ms }} }} }}",
        map_project.id
    );
    for run in 0..map_runs {
        let started = Instant::now();
        let response = schema
            .execute(async_graphql::Request::new(query.clone()).data(Access::All))
            .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().unwrap();
        let map = &data["serviceMap"];
        println!(
            "GraphQL serviceMap run {run}: {:.0} ms ({} spans, {} traces, {} edges, sample rate {}, truncated {})",
            started.elapsed().as_secs_f64() * 1000.0,
            map["spans"],
            map["traces"],
            map["edges"].as_array().map_or(0, Vec::len),
            map["sampleRate"],
            map["truncated"]
        );
    }
    let from = Utc::now() - chrono::Duration::hours(1);
    let to = Utc::now() + chrono::Duration::hours(1);
    for run in 0..uncapped_runs {
        let started = Instant::now();
        let rows = engine
            .spans_between(&SpanRange::all(map_project.id, from, to), 20_000_000)
            .await
            .unwrap();
        let read = started.elapsed();
        let map = stackhouse::traces::service_map(&rows);
        println!(
            "uncapped map run {run}: {} spans, {} traces, {} edges: read {:.0} ms + correlate {:.0} ms",
            map.spans,
            map.traces,
            map.edges.len(),
            read.as_secs_f64() * 1000.0,
            (started.elapsed() - read).as_secs_f64() * 1000.0
        );
    }
}
