//! Property tests: parameterization is idempotent; fingerprints ignore line numbers, ids in messages and non-in-app frames.
#![allow(clippy::unwrap_used)]

mod common;

use common::{exception_event, frame};
use proptest::prelude::*;
use stackhouse_grouping::{fingerprint_event, parameterize, FingerprintVersion, GroupingConfig};
use stackhouse_protocol::Frame;

/// Fragments that exercise every placeholder kind and the boundaries between them.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_]{1,8}",
        "[0-9]{1,12}",
        "[0-9a-f]{6,40}",
        "[ .,:;=/'\"@()\\[\\]<>-]{1,3}",
        Just("2024-01-15T10:30:00Z".to_owned()),
        Just("bob@example.com".to_owned()),
        Just("https://x.io/a?b=1".to_owned()),
        Just("10.0.0.1".to_owned()),
        Just("fe80::1".to_owned()),
        Just("3fa85f64-5717-4562-b3fc-2c963f66afa6".to_owned()),
        Just("/var/log/app.log".to_owned()),
        Just("1.5s".to_owned()),
        Just("key='v a l'".to_owned()),
        Just("db.internal".to_owned()),
        Just("\n".to_owned()),
        Just("é".to_owned()),
    ]
}

fn message() -> impl Strategy<Value = String> {
    proptest::collection::vec(fragment(), 0..24).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parameterize_is_idempotent(message in message()) {
        let once = parameterize(&message);
        prop_assert_eq!(parameterize(&once), once);
    }

    #[test]
    fn parameterize_is_idempotent_on_arbitrary_text(message in "\\PC{0,200}") {
        let once = parameterize(&message);
        prop_assert_eq!(parameterize(&once), once);
    }
}

/// A stack of in-app and library frames with the given line numbers.
fn stack(lines: &[u32], library_frames: &[(String, String)]) -> Vec<Frame> {
    let in_app = [
        ("app.api.views", "create_order"),
        ("app.services.orders", "place"),
        ("app.services.pricing", "total"),
    ];
    let mut frames: Vec<Frame> = library_frames
        .iter()
        .map(|(module, function)| frame(module, function, 1, false))
        .collect();
    for (index, (module, function)) in in_app.iter().enumerate() {
        frames.push(frame(module, function, lines[index % lines.len()], true));
    }
    frames
}

fn library_frames() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("[a-z]{2,8}(\\.[a-z]{2,8}){0,2}", "[a-z_]{2,12}"), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn fingerprints_ignore_line_numbers_ids_and_library_frames(
        lines_a in proptest::collection::vec(1u32..5000, 1..4),
        lines_b in proptest::collection::vec(1u32..5000, 1..4),
        library_a in library_frames(),
        library_b in library_frames(),
        id_a in 0u64..u64::MAX,
        id_b in 0u64..u64::MAX,
    ) {
        for version in FingerprintVersion::ALL {
            let config = GroupingConfig { version, ..GroupingConfig::default() };
            let a = exception_event("python", "ValueError", &format!("invalid order {id_a}"), stack(&lines_a, &library_a));
            let b = exception_event("python", "ValueError", &format!("invalid order {id_b}"), stack(&lines_b, &library_b));
            prop_assert_eq!(fingerprint_event(&a, &config).hash, fingerprint_event(&b, &config).hash);
        }
    }

    #[test]
    fn message_fingerprints_ignore_ids(
        id_a in 0u64..u64::MAX,
        id_b in 0u64..u64::MAX,
        uuid_a in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        uuid_b in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    ) {
        for version in FingerprintVersion::ALL {
            let config = GroupingConfig { version, ..GroupingConfig::default() };
            let a = exception_event("go", "*errors.errorString", &format!("tenant {uuid_a}: invoice {id_a} not found"), vec![]);
            let b = exception_event("go", "*errors.errorString", &format!("tenant {uuid_b}: invoice {id_b} not found"), vec![]);
            prop_assert_eq!(fingerprint_event(&a, &config).hash, fingerprint_event(&b, &config).hash);
        }
    }
}

fn any_frame() -> impl Strategy<Value = Frame> {
    (
        proptest::option::of("\\PC{0,40}"),
        proptest::option::of("\\PC{0,40}"),
        proptest::option::of("\\PC{0,60}"),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(function, module, filename, in_app)| Frame {
            function,
            module,
            filename,
            in_app,
            ..Frame::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever SDKs send, grouping never panics.
    #[test]
    fn grouping_never_panics_on_arbitrary_input(
        platform in prop_oneof![
            Just("python"), Just("javascript"), Just("node"), Just("java"), Just("go"),
            Just("rust"), Just("ruby"), Just("php"), Just("csharp"), Just("other"),
        ],
        ty in "\\PC{0,30}",
        value in "\\PC{0,120}",
        frames in proptest::collection::vec(any_frame(), 0..12),
        rules in "\\PC{0,80}",
    ) {
        let event = exception_event(platform, &ty, &value, frames);
        let config = GroupingConfig {
            rules: stackhouse_grouping::FingerprintRules::parse(&rules).unwrap_or_default(),
            ..GroupingConfig::default()
        };
        for version in FingerprintVersion::ALL {
            let config = GroupingConfig { version, ..config.clone() };
            let fingerprint = fingerprint_event(&event, &config);
            let _ = fingerprint.explanation.summary();
        }
        // An event with a stack or a message always finds its own issue again.
        let features = stackhouse_grouping::GroupingFeatures::from_event(&event);
        let mut index = stackhouse_grouping::SimilarityIndex::new();
        index.insert(1, &features);
        let found = index.best_match(&features, &config.similarity).map(|found| found.issue_id);
        if !features.frames.is_empty() || features.message_skeleton != 0 {
            prop_assert_eq!(found, Some(1));
        }
    }
}
