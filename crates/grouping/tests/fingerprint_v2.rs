//! Behaviour of fingerprint `v2`: normalization, chains, recursion, client fingerprints, rules.
#![allow(clippy::unwrap_used)]

mod common;

use common::{base_event, exception_event, frame};
use stackhouse_grouping::{
    fingerprint_event, Basis, FingerprintRules, FingerprintVersion, GroupingConfig,
};
use stackhouse_protocol::{Exception, Mechanism, Stacktrace};

fn hash(event: &stackhouse_protocol::ErrorEvent) -> u64 {
    fingerprint_event(event, &GroupingConfig::default()).hash
}

#[test]
fn v2_is_latest_and_differs_from_v1() {
    assert_eq!(FingerprintVersion::LATEST, FingerprintVersion::V2);
    let event = exception_event("python", "E", "x", vec![frame("app", "f", 1, true)]);
    let v1 = fingerprint_event(
        &event,
        &GroupingConfig {
            version: FingerprintVersion::V1,
            ..GroupingConfig::default()
        },
    );
    let v2 = fingerprint_event(&event, &GroupingConfig::default());
    assert_ne!(v1.hash, v2.hash);
    assert_eq!(v2.version, FingerprintVersion::V2);
}

#[test]
fn generated_names_do_not_split_groups() {
    let java = |proxy: &str, lambda: &str, line| {
        exception_event(
            "java",
            "java.lang.IllegalStateException",
            "order 991 in wrong state",
            vec![
                frame(
                    "org.springframework.web.servlet.DispatcherServlet",
                    "doDispatch",
                    1067,
                    false,
                ),
                frame(
                    &format!("com.acme.OrderService$$EnhancerBySpringCGLIB$${proxy}"),
                    "place",
                    line,
                    true,
                ),
                frame("com.acme.OrderService", lambda, line + 10, true),
            ],
        )
    };
    assert_eq!(
        hash(&java("1a2b3c4d", "lambda$place$0", 10)),
        hash(&java("9f8e7d6c", "lambda$place$7", 55))
    );
}

#[test]
fn recursion_is_collapsed() {
    let recursive = |depth: usize| {
        let mut frames = vec![frame("app.tree", "walk_root", 3, true)];
        for _ in 0..depth {
            frames.push(frame("app.tree", "walk", 10, true));
        }
        exception_event(
            "python",
            "RecursionError",
            "maximum recursion depth exceeded",
            frames,
        )
    };
    assert_eq!(hash(&recursive(3)), hash(&recursive(40)));
    let explanation = fingerprint_event(&recursive(3), &GroupingConfig::default()).explanation;
    assert!(
        explanation
            .summary()
            .contains("frames 2-3 (repeats the frame before it (recursion))"),
        "{}",
        explanation.summary()
    );
}

#[test]
fn every_exception_of_a_chain_contributes_its_type() {
    let chain = |root: &str| {
        let mut event = exception_event(
            "python",
            "app.errors.CheckoutFailed",
            "checkout failed",
            vec![frame("app.checkout", "run", 1, true)],
        );
        event.exceptions.insert(
            0,
            Exception {
                ty: root.to_owned(),
                value: Some("boom".into()),
                stacktrace: Some(Stacktrace {
                    frames: vec![frame("app.payments", "charge", 5, true)],
                }),
                ..Exception::default()
            },
        );
        event
    };
    assert_ne!(
        hash(&chain("ConnectionError")),
        hash(&chain("CardDeclined"))
    );
    let explanation =
        fingerprint_event(&chain("CardDeclined"), &GroupingConfig::default()).explanation;
    assert_eq!(
        explanation.summary(),
        "stack trace: type CardDeclined, type app.errors.CheckoutFailed, 2 frames (innermost app.checkout in run); \
         ignored: message (stack trace contributes)"
    );
}

#[test]
fn synthetic_types_are_ignored() {
    let synthetic = |ty: &str| {
        let mut event = exception_event("native", ty, "", vec![frame("app", "crash", 1, true)]);
        event.exceptions[0].mechanism = Some(Mechanism {
            ty: "signalhandler".into(),
            synthetic: Some(true),
            ..Mechanism::default()
        });
        event
    };
    assert_eq!(
        hash(&synthetic("SIGSEGV")),
        hash(&synthetic("EXC_BAD_ACCESS"))
    );
}

#[test]
fn client_fingerprint_with_default_extends_it() {
    let event = exception_event("python", "E", "x", vec![frame("app", "f", 1, true)]);
    let mut extended = event.clone();
    extended.fingerprint = Some(vec!["{{ default }}".into(), "tenant-a".into()]);
    let mut replaced = event.clone();
    replaced.fingerprint = Some(vec!["payment-timeouts".into()]);
    let mut replaced_other = exception_event("go", "F", "y", vec![]);
    replaced_other.fingerprint = Some(vec!["payment-timeouts".into()]);

    assert_ne!(hash(&event), hash(&extended));
    assert_eq!(hash(&replaced), hash(&replaced_other));
    let explanation = fingerprint_event(&extended, &GroupingConfig::default()).explanation;
    assert_eq!(explanation.basis, Basis::ClientFingerprint);
    assert_eq!(
        explanation.summary(),
        "client fingerprint: type E, client fingerprint tenant-a, 1 frame (innermost app in f); \
         ignored: message (stack trace contributes)"
    );
}

#[test]
fn rules_apply_first_match_and_are_explained() {
    let rules = FingerprintRules::parse(
        "type:ChunkLoadError -> chunk-load-error\n\
         message:\"*timeout*\" module:db.* -> db-timeouts {{ transaction }}",
    )
    .unwrap();
    let config = GroupingConfig {
        rules,
        ..GroupingConfig::default()
    };
    let chunk = |chunk: u32| {
        exception_event(
            "javascript",
            "ChunkLoadError",
            &format!("Loading chunk {chunk} failed."),
            vec![frame("webpack/runtime", "requireEnsure", 1, false)],
        )
    };
    let first = fingerprint_event(&chunk(12), &config);
    assert_eq!(first.hash, fingerprint_event(&chunk(873), &config).hash);
    assert_eq!(first.explanation.basis, Basis::Rule);
    assert_eq!(
        first.explanation.summary(),
        "fingerprint rule: rule chunk-load-error [rule `type:ChunkLoadError -> chunk-load-error`]; \
         ignored: automatic fingerprint (replaced by the matching rule)"
    );

    let mut timeout = exception_event(
        "python",
        "OperationalError",
        "query timeout after 30000ms",
        vec![
            frame("db.pool", "execute", 1, false),
            frame("app.reports", "build", 2, true),
        ],
    );
    timeout.transaction = Some("/reports/{id}".into());
    let explanation = fingerprint_event(&timeout, &config).explanation;
    assert_eq!(
        explanation
            .contributing
            .iter()
            .map(|c| c.value.as_str())
            .collect::<Vec<_>>(),
        vec!["db-timeouts", "{{ transaction }}=/reports/{id}"]
    );
}

#[test]
fn message_events_group_by_template() {
    let message = |user: &str| {
        let mut event = base_event("python");
        event.message = Some(format!("user {user} not found"));
        event.message_template = Some("user %s not found".into());
        event
    };
    assert_eq!(hash(&message("alice")), hash(&message("bob")));
}
