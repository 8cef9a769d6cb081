//! Benchmarks: fingerprint + parameterization per event, and similarity lookups as the number of issues grows.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stackhouse_grouping::{
    fingerprint_event, parameterize, FingerprintVersion, GroupingConfig, GroupingFeatures,
    SimilarityConfig, SimilarityIndex,
};
use stackhouse_protocol::{ErrorEvent, Exception, Frame, Stacktrace};

/// A 200-byte message with the usual variable data.
const MESSAGE: &str = "Failed to charge order 48213 for bob.smith@example.com (customer 3fa85f64-5717-4562-b3fc-2c963f66afa6) via https://payments.example.com/v1/charges after 1532ms: upstream 10.0.12.7 returned 502";

/// A Django request that failed 30 frames deep: 18 framework frames, 12 in-app.
fn thirty_frame_event() -> ErrorEvent {
    let mut event: ErrorEvent = serde_json::from_value(serde_json::json!({
        "event_id": "00000000-0000-0000-0000-000000000000",
        "timestamp": "2024-01-01T00:00:00Z",
        "platform": "python", "level": "error", "exceptions": [], "tags": [],
        "contexts": { "other": {} }, "breadcrumbs": [], "extra": {}
    }))
    .unwrap();
    let mut frames = Vec::new();
    for index in 0..18 {
        frames.push(Frame {
            module: Some(format!("django.core.handlers.layer{index}")),
            function: Some("inner".into()),
            filename: Some(format!("django/core/handlers/layer{index}.py")),
            abs_path: Some(format!(
                "/usr/local/lib/python3.12/site-packages/django/core/handlers/layer{index}.py"
            )),
            lineno: Some(55 + index),
            in_app: Some(false),
            ..Frame::default()
        });
    }
    for index in 0..12 {
        frames.push(Frame {
            module: Some(format!("app.services.billing.step{index}")),
            function: Some(format!("PaymentService.charge_step_{index}")),
            filename: Some(format!("app/services/billing/step{index}.py")),
            abs_path: Some(format!("/srv/app/app/services/billing/step{index}.py")),
            lineno: Some(100 + index),
            in_app: Some(true),
            ..Frame::default()
        });
    }
    event.exceptions.push(Exception {
        ty: "app.errors.PaymentFailed".into(),
        value: Some(MESSAGE.into()),
        stacktrace: Some(Stacktrace { frames }),
        ..Exception::default()
    });
    event
}

fn fingerprinting(c: &mut Criterion) {
    let event = thirty_frame_event();
    let mut group = c.benchmark_group("fingerprint");
    group.throughput(Throughput::Elements(1));
    for version in FingerprintVersion::ALL {
        let config = GroupingConfig {
            version,
            ..GroupingConfig::default()
        };
        group.bench_function(
            BenchmarkId::new("30-frame event + 200-byte message", version.as_str()),
            |bench| bench.iter(|| fingerprint_event(black_box(&event), black_box(&config))),
        );
    }
    // The stack decides, so fingerprinting skips the message: parameterizing it is measured
    // on its own, and with the fingerprint as the worst case an event can cost.
    group.bench_function("parameterize 200-byte message", |bench| {
        bench.iter(|| parameterize(black_box(MESSAGE)))
    });
    let latest = GroupingConfig::default();
    group.bench_function(
        "v2 fingerprint + parameterize (30 frames, 200 bytes)",
        |bench| {
            bench.iter(|| {
                let fingerprint = fingerprint_event(black_box(&event), black_box(&latest));
                (fingerprint, parameterize(black_box(MESSAGE)))
            })
        },
    );
    group.bench_function("features for similarity (30 frames)", |bench| {
        bench.iter(|| GroupingFeatures::from_event(black_box(&event)))
    });
    group.finish();
}

/// SplitMix64, for reproducible synthetic issues.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Skewed towards small values, like real frame popularity: a few helpers appear in many
    /// issues, most functions in one or two.
    fn skewed(&mut self, limit: u64) -> u64 {
        let uniform = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((uniform * uniform * uniform) * limit as f64) as u64
    }
}

/// An issue's features: one of 40 exception types, 3 to 16 frames from a skewed vocabulary that
/// grows with the project, a dozen message tokens, a few context features.
fn synthetic_issue(random: &mut Random, vocabulary: u64) -> GroupingFeatures {
    let type_hash = (random.skewed(40) + 1) as u32;
    let frame_count = 3 + random.next() % 14;
    let frames = (0..frame_count)
        .map(|_| random.skewed(vocabulary) as u32)
        .collect();
    let mut message_tokens: Vec<u32> = (0..12).map(|_| random.skewed(vocabulary) as u32).collect();
    message_tokens.sort_unstable();
    message_tokens.dedup();
    let mut context: Vec<u32> = (0..5).map(|_| (random.next() % 64) as u32).collect();
    context.sort_unstable();
    context.dedup();
    GroupingFeatures {
        type_hash,
        frames,
        message_tokens,
        context,
        message_skeleton: random.next() as u32,
    }
}

fn similarity_lookup(c: &mut Criterion) {
    let config = SimilarityConfig::default();
    let mut group = c.benchmark_group("similarity lookup");
    group.throughput(Throughput::Elements(1));
    group.sample_size(50);
    for issues in [10_000u64, 100_000, 1_000_000] {
        let mut random = Random(issues);
        let vocabulary = issues * 4;
        let mut index = SimilarityIndex::new();
        let mut kept = Vec::new();
        for issue_id in 0..issues {
            let features = synthetic_issue(&mut random, vocabulary);
            index.insert(issue_id, &features);
            if issue_id % (issues / 1000) == 0 {
                kept.push(features);
            }
        }
        // Queries: a new fingerprint of a known issue (one frame changed), or a new bug.
        let queries: Vec<GroupingFeatures> = kept
            .into_iter()
            .enumerate()
            .map(|(position, mut features)| {
                if position % 2 == 0 {
                    let last = features.frames.len() - 1;
                    features.frames[last] = random.next() as u32;
                    features
                } else {
                    synthetic_issue(&mut random, vocabulary)
                }
            })
            .collect();
        let mut next_query = 0;
        group.bench_with_input(
            BenchmarkId::new("best_match", issues),
            &index,
            |bench, index| {
                bench.iter(|| {
                    next_query = (next_query + 1) % queries.len();
                    index.best_match(black_box(&queries[next_query]), black_box(&config))
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, fingerprinting, similarity_lookup);
criterion_main!(benches);
