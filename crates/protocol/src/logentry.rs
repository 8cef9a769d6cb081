//! Applying Sentry `logentry.params` to a message template (`%s`, `%(name)s`, `{}`, `{0}`, `{name}`).

use serde_json::Value;

/// The parameters of a `logentry`: positional (a JSON list) or named (a JSON object).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Params {
    Positional(Vec<Value>),
    Named(serde_json::Map<String, Value>),
}

impl Params {
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Params::Positional(values) => values.is_empty(),
            Params::Named(values) => values.is_empty(),
        }
    }

    fn positional(&self, index: usize) -> Option<&Value> {
        match self {
            Params::Positional(values) => values.get(index),
            Params::Named(_) => None,
        }
    }

    fn named(&self, name: &str) -> Option<&Value> {
        match self {
            Params::Positional(_) => None,
            Params::Named(values) => values.get(name),
        }
    }
}

/// Formats `template` with `params` the way the SDK's logging library would have.
///
/// Understands the three placeholder families SDKs send:
/// - printf / Python `%`-style: `%s`, `%d`, `%05.2f`, `%r` (positional), `%(name)s` (named), `%%`;
/// - SLF4J / JavaScript style: `{}` (positional, in order);
/// - .NET / `str.format` style: `{0}` (by index) and `{name}` (named).
///
/// A placeholder with no matching parameter is left as written, so a template never loses text.
pub(crate) fn format_params(template: &str, params: &Params) -> String {
    let mut output = String::with_capacity(template.len() + 16);
    let mut next_positional = 0usize;
    let mut rest = template;
    while let Some(offset) = rest.find(['%', '{']) {
        output.push_str(&rest[..offset]);
        let at_placeholder = &rest[offset..];
        let (replacement, consumed) = if at_placeholder.starts_with('%') {
            percent_placeholder(at_placeholder, params, &mut next_positional)
        } else {
            brace_placeholder(at_placeholder, params, &mut next_positional)
        };
        match replacement {
            Some(text) => output.push_str(&text),
            None => output.push_str(&at_placeholder[..consumed]),
        }
        rest = &at_placeholder[consumed..];
    }
    output.push_str(rest);
    output
}

/// `text` starts with `%`. Returns the replacement (None: keep the text as is) and how many
/// bytes of `text` the placeholder spans (at least 1).
fn percent_placeholder(
    text: &str,
    params: &Params,
    next_positional: &mut usize,
) -> (Option<String>, usize) {
    let bytes = text.as_bytes();
    if bytes.get(1) == Some(&b'%') {
        return (Some("%".to_owned()), 2);
    }
    let mut position = 1;
    let mut name = None;
    if bytes.get(1) == Some(&b'(') {
        let Some(close) = text[2..].find(')') else {
            return (None, 1);
        };
        name = Some(&text[2..2 + close]);
        position = 2 + close + 1;
    }
    // Flags (a space is deliberately not one: "100% sure" is prose, not a conversion), width,
    // precision, then the conversion letter.
    while matches!(bytes.get(position), Some(b'#' | b'0' | b'-' | b'+')) {
        position += 1;
    }
    while matches!(bytes.get(position), Some(b'0'..=b'9')) {
        position += 1;
    }
    if bytes.get(position) == Some(&b'.') {
        position += 1;
        while matches!(bytes.get(position), Some(b'0'..=b'9')) {
            position += 1;
        }
    }
    let is_conversion = matches!(
        bytes.get(position),
        Some(
            b's' | b'd'
                | b'i'
                | b'u'
                | b'f'
                | b'F'
                | b'r'
                | b'x'
                | b'X'
                | b'o'
                | b'e'
                | b'E'
                | b'g'
                | b'G'
                | b'c'
                | b'a'
        )
    );
    if !is_conversion {
        return (None, 1);
    }
    let consumed = position + 1;
    let value = match name {
        Some(name) => params.named(name),
        None => {
            let value = params.positional(*next_positional);
            *next_positional += 1;
            value
        }
    };
    (value.map(param_to_string), consumed)
}

/// `text` starts with `{`. Same contract as [`percent_placeholder`].
fn brace_placeholder(
    text: &str,
    params: &Params,
    next_positional: &mut usize,
) -> (Option<String>, usize) {
    let Some(close) = text.find('}') else {
        return (None, 1);
    };
    let inside = &text[1..close];
    let consumed = close + 1;
    if inside.is_empty() {
        let value = params.positional(*next_positional);
        *next_positional += 1;
        return (value.map(param_to_string), consumed);
    }
    if inside.bytes().all(|byte| byte.is_ascii_digit()) {
        let value = inside
            .parse::<usize>()
            .ok()
            .and_then(|index| params.positional(index));
        return (value.map(param_to_string), consumed);
    }
    let is_identifier = inside
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'.');
    if is_identifier {
        return (params.named(inside).map(param_to_string), consumed);
    }
    (None, 1)
}

/// Strings as they are, everything else as JSON (`null`, `42`, `true`, `{"a":1}`).
fn param_to_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn positional(values: Value) -> Params {
        match values {
            Value::Array(values) => Params::Positional(values),
            _ => Params::Positional(Vec::new()),
        }
    }

    fn named(values: Value) -> Params {
        match values {
            Value::Object(values) => Params::Named(values),
            _ => Params::Named(serde_json::Map::new()),
        }
    }

    #[test]
    fn percent_positional_and_literal_percent() {
        let params = positional(json!(["alice", 42, 1.5]));
        assert_eq!(
            format_params("user %s has %d items (%r) at 100%%", &params),
            "user alice has 42 items (1.5) at 100%"
        );
    }

    #[test]
    fn percent_with_width_and_precision() {
        let params = positional(json!([3.25, 7]));
        assert_eq!(format_params("%.1f and %05d", &params), "3.25 and 7");
    }

    #[test]
    fn percent_named() {
        let params = named(json!({"user": "bob", "n": 3}));
        assert_eq!(
            format_params("%(user)s did %(n)d things, %(missing)s", &params),
            "bob did 3 things, %(missing)s"
        );
    }

    #[test]
    fn braces_positional_indexed_and_named() {
        let params = positional(json!(["a", "b"]));
        assert_eq!(format_params("{} then {}", &params), "a then b");
        assert_eq!(format_params("{1} before {0}", &params), "b before a");
        let params = named(json!({"id": 7}));
        assert_eq!(
            format_params("order {id} of {total}", &params),
            "order 7 of {total}"
        );
    }

    #[test]
    fn missing_params_and_prose_are_left_alone() {
        let params = positional(json!(["x"]));
        assert_eq!(
            format_params("%s and %s, 100% sure, {not a placeholder", &params),
            "x and %s, 100% sure, {not a placeholder"
        );
        assert_eq!(format_params("trailing %", &params), "trailing %");
        assert_eq!(format_params("%(unclosed", &params), "%(unclosed");
    }

    #[test]
    fn multibyte_text_is_preserved() {
        let params = positional(json!(["ü"]));
        assert_eq!(format_params("größe %s — {}", &params), "größe ü — {}");
    }
}
