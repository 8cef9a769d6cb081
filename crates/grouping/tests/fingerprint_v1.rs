//! Behaviour of fingerprint `v1`: type + in-app frames, else type + parameterized message.
#![allow(clippy::unwrap_used)]

mod common;

use common::{exception_event, frame};
use stackhouse_grouping::{fingerprint_event, Basis, FingerprintVersion, GroupingConfig};

fn v1() -> GroupingConfig {
    GroupingConfig {
        version: FingerprintVersion::V1,
        ..GroupingConfig::default()
    }
}

#[test]
fn line_numbers_and_library_frames_do_not_matter() {
    let first = exception_event(
        "python",
        "ValueError",
        "bad 1",
        vec![
            frame("django.core", "dispatch", 10, false),
            frame("app.views", "handle", 20, true),
        ],
    );
    let second = exception_event(
        "python",
        "ValueError",
        "bad 2",
        vec![
            frame("django.core", "other", 11, false),
            frame("app.views", "handle", 99, true),
        ],
    );
    let first = fingerprint_event(&first, &v1());
    let second = fingerprint_event(&second, &v1());
    assert_eq!(first.hash, second.hash);
    assert_eq!(first.version, FingerprintVersion::V1);
    assert_eq!(first.explanation.basis, Basis::Stack);
    assert_eq!(
        first.explanation.summary(),
        "stack trace: type ValueError, 1 frame (innermost app.views in handle); \
         ignored: frame 0 (not in-app), message (stack trace contributes)"
    );
}

#[test]
fn falls_back_to_parameterized_message() {
    let first = exception_event("go", "*errors.errorString", "user 42 not found", vec![]);
    let second = exception_event("go", "*errors.errorString", "user 7 not found", vec![]);
    let third = exception_event("go", "*errors.errorString", "disk full", vec![]);
    let [first, second, third] =
        [first, second, third].map(|event| fingerprint_event(&event, &v1()));
    assert_eq!(first.hash, second.hash);
    assert_ne!(first.hash, third.hash);
    assert_eq!(first.explanation.basis, Basis::Message);
    assert_eq!(
        first.explanation.summary(),
        "message: type *errors.errorString, message user <int> not found"
    );
}
