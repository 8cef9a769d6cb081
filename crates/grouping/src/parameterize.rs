//! Message parameterization: variable data (ids, numbers, emails, ...) → typed placeholders, in one regex pass.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Every kind of variable data, one named group each, in one alternation so a message is
/// scanned once. Order matters where alternatives overlap at the same position: the leftmost
/// alternative that matches wins, so specific kinds come before general ones.
static VARIABLES: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // a constant pattern, checked by every test
    Regex::new(
        r"(?x)
          (?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)
        | (?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)
        | (?P<ip>\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b)
        | (?P<hex>\b(?:0x[0-9a-fA-F]+|[0-9a-fA-F]{8,})\b)
        | (?P<float>-?\b\d+\.\d+\b)
        | (?P<int>-?\b\d+\b)
        ",
    )
    .expect("parameterization regex compiles")
});

const KINDS: [&str; 6] = ["email", "uuid", "ip", "hex", "float", "int"];

/// Replaces variable data in a message with typed placeholders (`<int>`, `<uuid>`, ...).
///
/// Only the first two lines are kept: later lines are usually dumps (SQL, payloads, tracebacks)
/// that vary more than they identify. Idempotent: placeholders are never replaced again.
pub fn parameterize(message: &str) -> String {
    let head = first_lines(message, 2);
    VARIABLES
        .replace_all(head, |captures: &Captures<'_>| replacement(captures))
        .into_owned()
}

fn first_lines(text: &str, count: usize) -> &str {
    let mut end = text.len();
    let mut newlines = 0;
    for (index, byte) in text.bytes().enumerate() {
        if byte == b'\n' {
            newlines += 1;
            if newlines == count {
                end = index;
                break;
            }
        }
    }
    text[..end].trim()
}

fn replacement(captures: &Captures<'_>) -> String {
    let whole = captures.get(0).map_or("", |found| found.as_str());
    for kind in KINDS {
        if captures.name(kind).is_some() {
            if kind == "hex"
                && !whole.starts_with("0x")
                && !whole.bytes().any(|b| b.is_ascii_digit())
            {
                return whole.to_owned();
            }
            return format!("<{kind}>");
        }
    }
    whole.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_common_variables() {
        assert_eq!(
            parameterize("user 42 (bob@example.com) from 10.0.0.1 took 1.5 seconds"),
            "user <int> (<email>) from <ip> took <float> seconds"
        );
    }

    #[test]
    fn keeps_two_lines() {
        assert_eq!(parameterize("a 1\nb 2\nc 3"), "a <int>\nb <int>");
    }
}
