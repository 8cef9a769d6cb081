//! Criterion bench: parsing a ~3 KB sentry-python event with 30 frames (alone, from a decoded value, inside an envelope), a recorded-shape Django event and a transaction with 20 spans.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use stackhouse_protocol::{parse_event_json, parse_event_value, parse_transaction_json, Envelope};

/// A Django-style exception event as sentry-python sends it (about 3 KB): 30 frames (library
/// frames around a few in-app ones), tags, user, request, trace context, two breadcrumbs.
fn python_event(frame_count: usize) -> Value {
    let frames: Vec<Value> = (0..frame_count)
        .map(|index| {
            let in_app = index % 5 == 4;
            let module = if in_app {
                format!("shop.v{index}")
            } else {
                format!("django.h{index}")
            };
            let mut frame = json!({
                "function": format!("run{index}"),
                "module": module,
                "lineno": 10 + index,
                "in_app": in_app,
            });
            if in_app {
                frame["filename"] = json!(format!("{}.py", module.replace('.', "/")));
            }
            frame
        })
        .collect();
    json!({
        "event_id": "b0d24ab0c86a4ca3b2c5c0b8a7a5f3e1",
        "timestamp": "2024-11-05T09:14:27.482913Z",
        "platform": "python",
        "level": "error",
        "release": "shop@2.14.0",
        "environment": "production",
        "server_name": "web-7f9c",
        "transaction": "/api/checkout/{order_id}",
        "exception": {"values": [{
            "type": "CheckoutError",
            "value": "could not reserve sku-4411 for order 90211",
            "module": "shop.errors",
            "mechanism": {"type": "django", "handled": false},
            "stacktrace": {"frames": frames},
        }]},
        "tags": {"shop.region": "eu-west", "customer.tier": "gold"},
        "user": {"id": "1042", "ip_address": "{{auto}}"},
        "request": {
            "url": "https://shop.example.com/api/checkout/90211",
            "method": "POST",
            "headers": {"Host": "shop.example.com", "User-Agent": "python-requests/2.32.3"},
        },
        "contexts": {
            "trace": {"trace_id": "771a43a4192642f0b136d5159a501700", "span_id": "9c2a6db8c79068a2", "op": "http.server"},
            "runtime": {"name": "CPython", "version": "3.12.1"},
        },
        "sdk": {"name": "sentry.python.django", "version": "2.18.0"},
        "breadcrumbs": {"values": [
            {"timestamp": "2024-11-05T09:14:25.101002Z", "category": "django.server", "level": "info", "message": "GET /api/cart 200"},
            {"timestamp": "2024-11-05T09:14:27.401877Z", "category": "query", "message": "SELECT id FROM shop_order WHERE id = %s"},
        ]},
    })
}

/// A sentry-python transaction: a request span with `span_count` database / cache spans.
fn python_transaction(span_count: usize) -> Value {
    let spans: Vec<Value> = (0..span_count)
        .map(|index| {
            json!({
                "span_id": format!("{:016x}", 0x9c2a_6db8_c790_0000_u64 + index as u64),
                "parent_span_id": "9c2a6db8c79068a2",
                "trace_id": "771a43a4192642f0b136d5159a501700",
                "op": if index % 2 == 0 { "db.query" } else { "cache.get" },
                "description": format!("SELECT id, sku FROM shop_item WHERE id = %s -- {index}"),
                "start_timestamp": 1_730_800_000.0 + index as f64 * 0.001,
                "timestamp": 1_730_800_000.000_5 + index as f64 * 0.001,
                "status": "ok",
                "same_process_as_parent": true,
                "data": {"db.system": "postgresql", "thread.id": 140_132},
            })
        })
        .collect();
    json!({
        "type": "transaction",
        "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
        "transaction": "/api/checkout/{order_id}",
        "start_timestamp": 1_730_799_999.9,
        "timestamp": 1_730_800_000.2,
        "platform": "python",
        "release": "shop@2.14.0",
        "environment": "production",
        "tags": {"shop.region": "eu-west"},
        "contexts": {"trace": {"trace_id": "771a43a4192642f0b136d5159a501700", "span_id": "9c2a6db8c79068a2", "op": "http.server", "status": "ok"}},
        "spans": spans,
    })
}

fn bench_parse(criterion: &mut Criterion) {
    let received: DateTime<Utc> = DateTime::from_timestamp(1_730_800_000, 0).unwrap();
    let event = python_event(30);
    let bytes = serde_json::to_vec(&event).unwrap();
    let mut envelope = br#"{"event_id":"b0d24ab0c86a4ca3b2c5c0b8a7a5f3e1","sent_at":"2024-11-05T09:14:27.511026Z"}"#.to_vec();
    envelope.extend_from_slice(
        format!("\n{{\"type\":\"event\",\"length\":{}}}\n", bytes.len()).as_bytes(),
    );
    envelope.extend_from_slice(&bytes);
    envelope.push(b'\n');
    let envelope = bytes::Bytes::from(envelope);
    eprintln!("python event: {} bytes, 30 frames", bytes.len());
    assert!((2_500..=3_500).contains(&bytes.len()));

    let mut group = criterion.benchmark_group("python_event_30_frames");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_event_json", |bench| {
        bench.iter(|| parse_event_json(black_box(&bytes), received).unwrap())
    });
    group.bench_function("parse_event_value (JSON already decoded)", |bench| {
        bench.iter_batched(
            || event.clone(),
            |value| parse_event_value(black_box(value), received).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("serde_json decode only", |bench| {
        bench.iter(|| serde_json::from_slice::<Value>(black_box(&bytes)).unwrap())
    });
    group.bench_function("envelope + parse_event_json", |bench| {
        bench.iter(|| {
            let envelope = Envelope::parse(black_box(envelope.clone())).unwrap();
            parse_event_json(&envelope.items[0].payload, received).unwrap()
        })
    });
    group.finish();

    // A recorded-shape sentry-python Django event (frame `vars`, `modules`, request body):
    // shows what skipping unused subtrees while decoding buys on real payloads.
    let django = include_bytes!("../tests/fixtures/python_django_exception.json");
    let mut group = criterion.benchmark_group("python_django_fixture");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_event_json", |bench| {
        bench.iter(|| parse_event_json(black_box(django), received).unwrap())
    });
    group.bench_function("full decode + parse_event_value", |bench| {
        bench.iter(|| {
            let value: Value = serde_json::from_slice(black_box(django)).unwrap();
            parse_event_value(value, received).unwrap()
        })
    });
    group.finish();
}

fn bench_transaction(criterion: &mut Criterion) {
    let bytes = serde_json::to_vec(&python_transaction(20)).unwrap();
    let mut group = criterion.benchmark_group("python_transaction_20_spans");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_transaction_json", |bench| {
        bench.iter(|| parse_transaction_json(black_box(&bytes)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_parse, bench_transaction);
criterion_main!(benches);
