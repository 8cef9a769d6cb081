//! Server-side fingerprint rules: a small line-based language, parsed once per project, first match wins.
//!
//! # The language
//!
//! One rule per line; blank lines and lines starting with `#` are ignored.
//!
//! ```text
//! # matchers (all must hold)        ->  fingerprint (one or more values)
//! type:ChunkLoadError                -> chunk-load-error
//! message:"*timeout*" module:db.*    -> db-timeouts
//! type:*IntegrityError !tags.env:dev -> {{ default }} integrity
//! ```
//!
//! A matcher is `key:pattern`, optionally negated with a leading `!`. Patterns are globs (`*` any
//! run of characters, `?` one character), matched case-insensitively against the whole value;
//! quote a pattern with `"..."` when it contains spaces (`\"` and `\\` escape inside quotes).
//!
//! | key           | matches when                                                           |
//! |---------------|------------------------------------------------------------------------|
//! | `type`        | any exception type of the chain                                        |
//! | `message`     | any exception value of the chain, or the event message (or its template) |
//! | `module`      | the module of any frame                                                |
//! | `function`    | the function of any frame                                              |
//! | `path`        | the filename or absolute path of any frame                             |
//! | `package`     | the package of any frame                                               |
//! | `app`         | `yes`/`no`: any frame is (not) in-app — combine with frame matchers    |
//! | `platform`    | the event platform                                                     |
//! | `level`       | the event level (`error`, `warning`, ...)                              |
//! | `logger`      | the logger name                                                        |
//! | `transaction` | the transaction name                                                   |
//! | `release`     | the release                                                            |
//! | `tags.NAME`   | the value of tag `NAME`                                                |
//!
//! The right-hand side is a list of values, as in a client-supplied `fingerprint`: literals,
//! or variables `{{ default }}` (the automatic fingerprint), `{{ type }}`, `{{ message }}`
//! (parameterized), `{{ transaction }}`, `{{ function }}`, `{{ module }}` (innermost in-app
//! frame, normalized), `{{ level }}`, `{{ logger }}`, `{{ platform }}`, `{{ tags.NAME }}`.

use std::fmt;

use stackhouse_protocol::{ErrorEvent, Frame};

/// A project's parsed fingerprint rules, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FingerprintRules {
    rules: Vec<FingerprintRule>,
}

/// One rule: all matchers hold → the event's fingerprint is `fingerprint`.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerprintRule {
    /// The rule as written (trimmed), recorded in explanations.
    pub text: String,
    /// 1-based line in the rules source.
    pub line: usize,
    pub matchers: Vec<Matcher>,
    /// The fingerprint values, as in a client-supplied `fingerprint`.
    pub fingerprint: Vec<String>,
}

/// One `key:pattern` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub key: MatcherKey,
    pub pattern: Glob,
    pub negated: bool,
}

/// What a matcher looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatcherKey {
    Type,
    Message,
    Module,
    Function,
    Path,
    Package,
    App,
    Platform,
    Level,
    Logger,
    Transaction,
    Release,
    Tag(String),
}

const MATCHER_KEYS: &str = "type, message, module, function, path, package, app, platform, \
                            level, logger, transaction, release, tags.NAME";

impl MatcherKey {
    fn parse(key: &str) -> Option<MatcherKey> {
        Some(match key {
            "type" | "error.type" => MatcherKey::Type,
            "message" | "value" | "error.value" => MatcherKey::Message,
            "module" => MatcherKey::Module,
            "function" => MatcherKey::Function,
            "path" => MatcherKey::Path,
            "package" => MatcherKey::Package,
            "app" => MatcherKey::App,
            "platform" => MatcherKey::Platform,
            "level" => MatcherKey::Level,
            "logger" => MatcherKey::Logger,
            "transaction" => MatcherKey::Transaction,
            "release" => MatcherKey::Release,
            _ => {
                let tag = key.strip_prefix("tags.")?;
                if tag.is_empty() {
                    return None;
                }
                MatcherKey::Tag(tag.to_owned())
            }
        })
    }
}

/// A rules source that does not parse: which line, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fingerprint rules, line {line}: {message}")]
pub struct RuleParseError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl FingerprintRules {
    /// Parses a rules source (see the module docs for the language).
    pub fn parse(source: &str) -> Result<FingerprintRules, RuleParseError> {
        let mut rules = Vec::new();
        for (index, line) in source.lines().enumerate() {
            let line_number = index + 1;
            let text = line.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let rule = parse_rule(text, line_number).map_err(|message| RuleParseError {
                line: line_number,
                message,
            })?;
            rules.push(rule);
        }
        Ok(FingerprintRules { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[FingerprintRule] {
        &self.rules
    }

    /// The first rule whose matchers all hold for `event`.
    pub fn first_match(&self, event: &ErrorEvent) -> Option<&FingerprintRule> {
        self.rules.iter().find(|rule| rule.matches(event))
    }
}

impl FingerprintRule {
    pub fn matches(&self, event: &ErrorEvent) -> bool {
        self.matchers.iter().all(|matcher| matcher.matches(event))
    }
}

impl Matcher {
    pub fn matches(&self, event: &ErrorEvent) -> bool {
        let glob = &self.pattern;
        let found = match &self.key {
            MatcherKey::Type => event
                .exceptions
                .iter()
                .any(|exception| glob.matches(&exception.ty)),
            MatcherKey::Message => {
                let in_chain = event
                    .exceptions
                    .iter()
                    .filter_map(|exception| exception.value.as_deref())
                    .any(|value| glob.matches(value));
                in_chain
                    || [event.message.as_deref(), event.message_template.as_deref()]
                        .into_iter()
                        .flatten()
                        .any(|message| glob.matches(message))
            }
            MatcherKey::Module => any_frame(event, |frame| optional_matches(glob, &frame.module)),
            MatcherKey::Function => {
                any_frame(event, |frame| optional_matches(glob, &frame.function))
            }
            MatcherKey::Path => any_frame(event, |frame| {
                optional_matches(glob, &frame.filename) || optional_matches(glob, &frame.abs_path)
            }),
            MatcherKey::Package => any_frame(event, |frame| optional_matches(glob, &frame.package)),
            MatcherKey::App => any_frame(event, |frame| {
                let in_app = if frame.in_app == Some(true) {
                    "yes"
                } else {
                    "no"
                };
                glob.matches(in_app)
            }),
            MatcherKey::Platform => glob.matches(&event.platform),
            MatcherKey::Level => glob.matches(event.level.as_str()),
            MatcherKey::Logger => optional_matches(glob, &event.logger),
            MatcherKey::Transaction => optional_matches(glob, &event.transaction),
            MatcherKey::Release => optional_matches(glob, &event.release),
            MatcherKey::Tag(tag) => event.tag(tag).is_some_and(|value| glob.matches(value)),
        };
        found != self.negated
    }
}

fn optional_matches(glob: &Glob, value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|value| glob.matches(value))
}

fn any_frame(event: &ErrorEvent, predicate: impl Fn(&Frame) -> bool) -> bool {
    let exception_frames = event
        .exceptions
        .iter()
        .filter_map(|exception| exception.stacktrace.as_ref())
        .flat_map(|stacktrace| stacktrace.frames.iter());
    let event_frames = event
        .stacktrace
        .iter()
        .flat_map(|stacktrace| stacktrace.frames.iter());
    exception_frames.chain(event_frames).any(predicate)
}

// ---------------------------------------------------------------------------------------------
// Parsing

fn parse_rule(text: &str, line: usize) -> Result<FingerprintRule, String> {
    let tokens = tokenize(text)?;
    let arrow = tokens
        .iter()
        .position(|token| token.text == "->" && !token.quoted)
        .ok_or_else(|| "missing `->` between matchers and fingerprint".to_owned())?;
    let (matcher_tokens, fingerprint_tokens) = (&tokens[..arrow], &tokens[arrow + 1..]);
    if matcher_tokens.is_empty() {
        return Err(
            "no matcher before `->` (e.g. `type:ChunkLoadError -> chunk-load-error`)".into(),
        );
    }
    if fingerprint_tokens.is_empty() {
        return Err("no fingerprint after `->`".into());
    }
    let matchers = matcher_tokens
        .iter()
        .map(parse_matcher)
        .collect::<Result<Vec<_>, _>>()?;
    let fingerprint = fingerprint_tokens
        .iter()
        .map(|token| token.text.clone())
        .collect();
    Ok(FingerprintRule {
        text: text.to_owned(),
        line,
        matchers,
        fingerprint,
    })
}

fn parse_matcher(token: &Token) -> Result<Matcher, String> {
    if token.quoted {
        return Err(format!(
            "expected `key:pattern`, found the quoted text \"{}\"",
            token.text
        ));
    }
    let (negated, body) = match token.text.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, token.text.as_str()),
    };
    let (key, pattern) = body
        .split_once(':')
        .ok_or_else(|| format!("expected `key:pattern`, found `{}`", token.text))?;
    let key_parsed = MatcherKey::parse(key)
        .ok_or_else(|| format!("unknown matcher key `{key}` (expected one of: {MATCHER_KEYS})"))?;
    let pattern = match &token.value {
        Some(quoted) => quoted.clone(),
        None => pattern.to_owned(),
    };
    if pattern.is_empty() {
        return Err(format!("empty pattern for `{key}`"));
    }
    if key_parsed == MatcherKey::App && !matches!(pattern.as_str(), "yes" | "no") {
        return Err(format!("`app` takes `yes` or `no`, found `{pattern}`"));
    }
    Ok(Matcher {
        key: key_parsed,
        pattern: Glob::new(&pattern),
        negated,
    })
}

struct Token {
    /// The token as written, quotes removed for a fully quoted token.
    text: String,
    /// The whole token was a quoted string.
    quoted: bool,
    /// For `key:"quoted pattern"`: the unquoted pattern.
    value: Option<String>,
}

/// Splits a rule into whitespace-separated tokens; `"..."` (whole token or after `key:`) and
/// `{{ ... }}` may contain spaces.
fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, character)) = chars.peek() {
        if character.is_whitespace() {
            chars.next();
            continue;
        }
        if character == '#' {
            break; // trailing comment
        }
        if text[start..].starts_with("{{") {
            let end = text[start..]
                .find("}}")
                .ok_or_else(|| format!("unclosed `{{{{` at column {}", start + 1))?;
            let variable = &text[start + 2..start + end];
            tokens.push(Token {
                text: format!("{{{{ {} }}}}", variable.trim()),
                quoted: false,
                value: None,
            });
            while chars
                .peek()
                .is_some_and(|&(index, _)| index < start + end + 2)
            {
                chars.next();
            }
            continue;
        }
        if character == '"' {
            chars.next();
            let value = read_quoted(&mut chars, start)?;
            tokens.push(Token {
                text: value,
                quoted: true,
                value: None,
            });
            continue;
        }
        let mut word = String::new();
        let mut value = None;
        while let Some(&(index, character)) = chars.peek() {
            if character.is_whitespace() {
                break;
            }
            chars.next();
            if character == '"' && word.ends_with(':') {
                value = Some(read_quoted(&mut chars, index)?);
                break;
            }
            word.push(character);
        }
        tokens.push(Token {
            text: word,
            quoted: false,
            value,
        });
    }
    Ok(tokens)
}

fn read_quoted(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    start: usize,
) -> Result<String, String> {
    let mut value = String::new();
    while let Some((_, character)) = chars.next() {
        match character {
            '"' => return Ok(value),
            '\\' => match chars.next() {
                Some((_, escaped)) => value.push(escaped),
                None => break,
            },
            _ => value.push(character),
        }
    }
    Err(format!("unclosed quote starting at column {}", start + 1))
}

// ---------------------------------------------------------------------------------------------
// Globs

/// A case-insensitive glob: `*` matches any run of characters, `?` exactly one.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
}

impl fmt::Debug for Glob {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: String = self.pattern.iter().collect();
        write!(formatter, "Glob({text:?})")
    }
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob {
            pattern: pattern.chars().flat_map(char::to_lowercase).collect(),
        }
    }

    /// Whether the whole of `text` matches. Linear backtracking on the last `*` only, so
    /// `O(pattern × text)` at worst, never exponential.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        let pattern = &self.pattern;
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
                p += 1;
                t += 1;
            } else if p < pattern.len() && pattern[p] == '*' {
                star = Some((p, t));
                p += 1;
            } else if let Some((star_p, star_t)) = star {
                p = star_p + 1;
                t = star_t + 1;
                star = Some((star_p, star_t + 1));
            } else {
                return false;
            }
        }
        pattern[p..].iter().all(|&character| character == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackhouse_protocol::{Exception, Stacktrace};

    fn event(ty: &str, value: &str, module: &str) -> ErrorEvent {
        let mut event: ErrorEvent = serde_json::from_value(serde_json::json!({
            "event_id": "00000000-0000-0000-0000-000000000000",
            "timestamp": "2024-01-01T00:00:00Z",
            "platform": "python", "level": "error", "exceptions": [], "tags": [],
            "contexts": { "other": {} }, "breadcrumbs": [], "extra": {}
        }))
        .unwrap_or_else(|error| panic!("template event: {error}"));
        event.exceptions.push(Exception {
            ty: ty.into(),
            value: Some(value.into()),
            stacktrace: Some(Stacktrace {
                frames: vec![Frame {
                    module: Some(module.into()),
                    function: Some("execute".into()),
                    ..Frame::default()
                }],
            }),
            ..Exception::default()
        });
        event
    }

    fn parse(source: &str) -> FingerprintRules {
        FingerprintRules::parse(source).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn glob_matching() {
        assert!(Glob::new("*timeout*").matches("Read TIMEOUT after 30s"));
        assert!(Glob::new("db.*").matches("db.pool"));
        assert!(!Glob::new("db.*").matches("app.db"));
        assert!(Glob::new("a?c").matches("abc"));
        assert!(!Glob::new("a?c").matches("ac"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("*a*b*c").matches("xxaxxbxxcxxc"));
    }

    #[test]
    fn first_match_wins() {
        let rules = parse(
            "# comment\n\
             type:ChunkLoadError -> chunk-load-error\n\
             \n\
             message:\"*timeout*\" module:db.* -> db-timeouts\n\
             type:* -> everything-else",
        );
        let timeout = event("OperationalError", "read timeout after 30s", "db.pool");
        assert_eq!(
            rules
                .first_match(&timeout)
                .map(|rule| rule.fingerprint.clone()),
            Some(vec!["db-timeouts".to_owned()])
        );
        let other_module = event("OperationalError", "read timeout", "app.views");
        assert_eq!(
            rules.first_match(&other_module).map(|rule| rule.line),
            Some(5)
        );
        let chunk = event("ChunkLoadError", "Loading chunk 3 failed", "webpack");
        assert_eq!(rules.first_match(&chunk).map(|rule| rule.line), Some(2));
    }

    #[test]
    fn negation_variables_and_quotes() {
        let rules = parse(r#"type:*Error !module:"app views" -> {{ default }} "not app views""#);
        let rule = &rules.rules()[0];
        assert_eq!(rule.fingerprint, vec!["{{ default }}", "not app views"]);
        assert!(rule.matches(&event("ValueError", "x", "db")));
        assert!(!rule.matches(&event("ValueError", "x", "app views")));
    }

    #[test]
    fn parse_errors_say_what_and_where() {
        let error = FingerprintRules::parse("type:A -> a\ntyp:B -> b").err();
        assert_eq!(
            error.map(|error| error.to_string()),
            Some(format!(
                "fingerprint rules, line 2: unknown matcher key `typ` (expected one of: {MATCHER_KEYS})"
            ))
        );
        let cases = [
            ("type:A", "missing `->` between matchers and fingerprint"),
            ("-> a", "no matcher before `->`"),
            ("type:A ->", "no fingerprint after `->`"),
            ("message:\"abc -> a", "unclosed quote starting at column"),
            ("type:A -> {{ default", "unclosed `{{`"),
            ("typeA -> a", "expected `key:pattern`, found `typeA`"),
            ("app:maybe -> a", "`app` takes `yes` or `no`"),
        ];
        for (source, expected) in cases {
            let message = FingerprintRules::parse(source)
                .err()
                .map(|error| error.message)
                .unwrap_or_default();
            assert!(message.starts_with(expected), "{source}: {message}");
        }
    }
}
