//! Fingerprint `v1` (frozen): outermost exception type + in-app frames as sent, else type + message.
//!
//! Frames contribute `module|package|filename` + `function` exactly as the SDK sent them (no
//! per-platform normalization: that is `v2`). When no frame is marked in-app, all frames
//! contribute. With no usable frame, the message (exception value, else event message) is
//! parameterized by this module's own frozen parameterizer and contributes instead.

use std::sync::LazyLock;

use regex::Regex;
use stackhouse_protocol::{ErrorEvent, Frame};

use super::{HashInput, IgnoredFrames};
use crate::explanation::{Basis, ComponentKind, Explanation, Ignored};
use crate::FingerprintVersion;

pub(super) fn fingerprint(event: &ErrorEvent) -> (u64, Explanation) {
    let mut input = HashInput::new(FingerprintVersion::V1);
    let mut ignored = Vec::new();

    let main_exception = event.main_exception();
    if let Some(exception) = main_exception {
        input.push(ComponentKind::ExceptionType, exception.ty.clone());
    }

    let frames = event
        .primary_stacktrace()
        .map(|stacktrace| stacktrace.frames.as_slice())
        .unwrap_or_default();
    let any_in_app = frames.iter().any(|frame| frame.in_app == Some(true));
    let mut ignored_frames = IgnoredFrames::default();
    let mut frame_count = 0;
    for (index, frame) in frames.iter().enumerate() {
        if any_in_app && frame.in_app != Some(true) {
            ignored_frames.add(index, "not in-app");
            continue;
        }
        match frame_key(frame) {
            Some(key) => {
                input.push(ComponentKind::Frame, key);
                frame_count += 1;
            }
            None => ignored_frames.add(index, "no module or function"),
        }
    }
    ignored_frames.into_explanation(&mut ignored);

    let message = main_exception
        .and_then(|exception| exception.value.as_deref())
        .or(event.message.as_deref())
        .filter(|message| !message.trim().is_empty());
    let basis = if frame_count > 0 {
        if message.is_some() {
            ignored.push(Ignored::new("message", "stack trace contributes"));
        }
        Basis::Stack
    } else if let Some(message) = message {
        input.push(ComponentKind::Message, parameterize_v1(message));
        Basis::Message
    } else if main_exception.is_some() {
        Basis::ExceptionType
    } else {
        Basis::Nothing
    };

    let (hash, contributing) = input.finish();
    let explanation = Explanation {
        basis,
        contributing,
        ignored,
        rule: None,
        similarity: None,
    };
    (hash, explanation)
}

fn frame_key(frame: &Frame) -> Option<String> {
    let module = frame
        .module
        .as_deref()
        .or(frame.package.as_deref())
        .or(frame.filename.as_deref())
        .unwrap_or("");
    let function = frame.function.as_deref().unwrap_or("");
    if module.is_empty() && function.is_empty() {
        return None;
    }
    Some(format!("{module} in {function}"))
}

/// `v1`'s message parameterizer, frozen with it: the crate's [`crate::parameterize`] evolves
/// for newer versions, this one never changes.
static V1_VARIABLES: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // a constant pattern, checked by every test
    Regex::new(
        r"(?x)
          (?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)
        | (?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)
        | (?P<ip>\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b)
        | (?P<hex>\b(?:0x[0-9a-fA-F]+|[0-9a-fA-F]{8,})\b)
        | (?P<int>-?\b\d+\b)
        ",
    )
    .expect("v1 parameterization regex compiles")
});

fn parameterize_v1(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or("").trim();
    V1_VARIABLES
        .replace_all(first_line, |captures: &regex::Captures<'_>| {
            let whole = captures.get(0).map_or("", |found| found.as_str());
            for name in ["email", "uuid", "ip", "hex", "int"] {
                if captures.name(name).is_some() {
                    // A run of hex letters with no digit is a word (`deadbeef` aside), keep it.
                    if name == "hex"
                        && !whole.starts_with("0x")
                        && !whole.bytes().any(|b| b.is_ascii_digit())
                    {
                        return whole.to_owned();
                    }
                    return format!("<{name}>");
                }
            }
            whole.to_owned()
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_parameterizer_replaces_common_variables() {
        assert_eq!(
            parameterize_v1("user 42 (bob@example.com) from 10.0.0.1 id 0x1f deadbeef1"),
            "user <int> (<email>) from <ip> id <hex> <hex>"
        );
        assert_eq!(
            parameterize_v1("order 3fa85f64-5717-4562-b3fc-2c963f66afa6 missing\nsecond"),
            "order <uuid> missing"
        );
    }
}
