//! The regex implementation of [`super::parameterize`] that the scanner replaced, kept
//! verbatim as the oracle of the property tests (`super::scanner_equivalence`): one
//! regex-automata multi-pattern regex, one pattern per kind, leftmost-first.
//!
//! FROZEN: this file is the definition the scanner must reproduce byte for byte. It has its
//! own copies of `Kind`, `replacement` and the line/length cuts so that a change to the
//! scanner's versions cannot change the oracle with it. Do not edit it to make a test pass.
//! The one addition is [`matches_with_regex`] at the end, which exposes the raw matches.

use std::sync::LazyLock;

use regex_automata::meta::Regex;
use regex_automata::PatternID;

/// The kinds of variable data, with their placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Quoted,
    Url,
    Email,
    Uuid,
    Datetime,
    Date,
    Time,
    Ipv6,
    Ipv4,
    Sha1,
    Md5,
    Hex,
    Path,
    Hostname,
    Duration,
    Float,
    Int,
}

impl Kind {
    fn from_group_name(name: &str) -> Option<Kind> {
        Some(match name {
            "quoted" => Kind::Quoted,
            "url" => Kind::Url,
            "email" => Kind::Email,
            "uuid" => Kind::Uuid,
            "datetime" => Kind::Datetime,
            "date" => Kind::Date,
            "time" => Kind::Time,
            "ipv6" => Kind::Ipv6,
            "ipv4" => Kind::Ipv4,
            "hex" => Kind::Hex,
            "path" => Kind::Path,
            "hostname" => Kind::Hostname,
            "duration" => Kind::Duration,
            "float" => Kind::Float,
            "int" => Kind::Int,
            _ => return None,
        })
    }

    fn placeholder(self) -> &'static str {
        match self {
            Kind::Quoted => "=<quoted>",
            Kind::Url => "<url>",
            Kind::Email => "<email>",
            Kind::Uuid => "<uuid>",
            Kind::Datetime => "<datetime>",
            Kind::Date => "<date>",
            Kind::Time => "<time>",
            Kind::Ipv6 | Kind::Ipv4 => "<ip>",
            Kind::Sha1 => "<sha1>",
            Kind::Md5 => "<md5>",
            Kind::Hex => "<hex>",
            Kind::Path => "<path>",
            Kind::Hostname => "<hostname>",
            Kind::Duration => "<duration>",
            Kind::Float => "<float>",
            Kind::Int => "<int>",
        }
    }
}

/// One pattern per kind of variable data, each a named group in verbose mode, compiled together
/// into one automaton ([`VARIABLES`]). Where several could match at the same position the one
/// *listed first* wins (leftmost-first), so specific kinds (URL, UUID, date) come before the
/// general ones they contain (hostname, hex, int).
const PATTERNS: [&str; 15] = [
    r#"(?x)
    # key='value', key="value", key=`value`: the value is data, the key is not.
    (?P<quoted> = [\ \t]* (?: '[^'\n]*' | "[^"\n]*" | `[^`\n]*` ) )
    "#,
    r#"(?x)
    # Before email and hostname, which a URL contains.
    (?P<url> [a-zA-Z][a-zA-Z0-9+.-]{1,15} :// [^\s"'<>]* [^\s"'<>.,;:!?)\]] )
    "#,
    r#"(?x)
    (?P<email> [A-Za-z0-9._%+-]+ @ [A-Za-z0-9-]+ (?: \.[A-Za-z0-9-]+ )+ )
    "#,
    r#"(?x)
    (?P<uuid> [0-9a-fA-F]{8} - [0-9a-fA-F]{4} - [0-9a-fA-F]{4} - [0-9a-fA-F]{4}
                - [0-9a-fA-F]{12} )
    "#,
    r#"(?x)
    # Date and time together, in the formats logs and SDKs print.
    (?P<datetime>
          # ISO 8601 / RFC 3339 / SQL: 2024-01-15T10:30:00.123Z, 2024-01-15 10:30:00+02:00
          [0-9]{4}-[0-9]{2}-[0-9]{2} [T\ ] [0-9]{2}:[0-9]{2} (?: :[0-9]{2} )? (?: [.,][0-9]+ )?
          (?: \ ?Z | \ ?[+-][0-9]{2}:?[0-9]{2} | \ UTC | \ GMT )?
          # RFC 2822 / HTTP: Mon, 15 Jan 2024 10:30:00 GMT
        | (?: (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ,?\ + )? [0-9]{1,2} \ + (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)
          \ + [0-9]{4} \ + [0-9]{2}:[0-9]{2} (?: :[0-9]{2} )? (?: \ + (?: [+-][0-9]{4} | GMT | UTC ) )?
          # JavaScript Date: Mon Jan 15 2024 10:30:00 GMT+0000 (Coordinated Universal Time)
        | (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \ + (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)
          \ + [0-9]{1,2} \ + [0-9]{4} \ + [0-9]{2}:[0-9]{2}:[0-9]{2}
          (?: \ + GMT[+-][0-9]{4} )? (?: \ + \( [^)\n]{1,60} \) )?
          # Unix date(1): Mon Jan 15 10:30:00 UTC 2024
        | (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \ + (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)
          \ + [0-9]{1,2} \ + [0-9]{2}:[0-9]{2}:[0-9]{2} (?: \ + [A-Z]{3,4} )? \ + [0-9]{4}
          # Common log format: 15/Jan/2024:10:30:00 +0000
        | [0-9]{2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2}
          (?: \ [+-][0-9]{4} )?
          # US: 01/15/2024 10:30:00 PM
        | [0-9]{1,2}/[0-9]{1,2}/[0-9]{2,4} [\ T] [0-9]{1,2}:[0-9]{2} (?: :[0-9]{2} )? (?: \ ?[AaPp][Mm] )?
      )
    "#,
    r#"(?x)
    (?P<date>
          [0-9]{4} [-/] [0-9]{2} [-/] [0-9]{2}
        | [0-9]{1,2} / [0-9]{1,2} / [0-9]{4}
        | [0-9]{1,2} \. [0-9]{1,2} \. [0-9]{4}
        | [0-9]{1,2} \ + (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* ,? \ + [0-9]{4}
        | (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \ + [0-9]{1,2} (?:st|nd|rd|th)? ,? \ + [0-9]{4}
      )
    "#,
    r#"(?x)
    (?P<time> [0-9]{1,2} : [0-9]{2} (?: : [0-9]{2} (?: [.,][0-9]+ )? )? \ ?[AaPp][Mm]
              | [0-9]{1,2} : [0-9]{2} : [0-9]{2} (?: [.,][0-9]+ )? )
    "#,
    r#"(?x)
    # Full, compressed (`fe80::1`, `::1`) and IPv4-mapped (`::ffff:10.0.0.1`) forms. `::`
    # also separates path segments in Rust, C++ and PHP: `replacement` keeps matches
    # without a digit or glued to a name.
    (?P<ipv6>
          (?: [0-9a-fA-F]{1,4} : ){7} [0-9a-fA-F]{1,4}
        | (?: [0-9a-fA-F]{1,4} : ){1,6} : (?: [0-9a-fA-F]{1,4} (?: : [0-9a-fA-F]{1,4} ){0,5} )?
        | :: (?: ffff: [0-9]{1,3} (?: \.[0-9]{1,3} ){3} | [0-9a-fA-F]{1,4} (?: : [0-9a-fA-F]{1,4} ){0,6} )?
      )
    "#,
    r#"(?x)
    (?P<ipv4> [0-9]{1,3} \. [0-9]{1,3} \. [0-9]{1,3} \. [0-9]{1,3} )
    "#,
    r#"(?x)
    # 0x-prefixed, or a run of 8+ hex digits, named by length in `replacement` (40: SHA-1,
    # 32: MD5). Runs without a digit are words (`deadbeef`, `facade`) and are kept; runs
    # without a letter are integers.
    (?P<hex> 0[xX][0-9a-fA-F]+ | [0-9a-fA-F]{8,} )
    "#,
    r#"(?x)
    # File paths: rooted at a well-known directory, relative (`./`, `../`, `~/`), ending
    # in a file extension, or Windows. Paths like `/users/42` are routes: only their ids
    # are replaced.
    (?P<path>
          / (?: home|Users|var|usr|tmp|etc|opt|srv|app|data|mnt|root|proc|sys|dev|lib|bin
                        |private|Library|Applications|System|workspace|builds?|src|code|run|nix )
          (?: / [A-Za-z0-9._@%+~-]+ )+ /?
        | (?: \.{1,2} | ~ ) (?: / [A-Za-z0-9._@%+~-]+ )+ /?
        | (?: / [A-Za-z0-9_@%+~-][A-Za-z0-9._@%+~-]* )+ \. [A-Za-z][A-Za-z0-9]{0,7}
        | [A-Za-z] : \\ (?: [^\\\s"'<>|:*?]+ \\ )* [^\\\s"'<>|:*?]*
      )
    "#,
    r#"(?x)
    # Dotted names ending in a well-known TLD or internal suffix. `replacement` keeps them
    # when more name follows (`java.io.IOException`).
    (?P<hostname> (?: [a-z0-9] (?: [a-z0-9-]{0,61} [a-z0-9] )? \. )+
          # Longest first: the first alternative that matches wins, even when a longer
          # one would too (`in` before `internal` would stop at `db.in`).
          (?: localdomain|internal|example|cloud|intra|local|info|tech|test|corp
            | com|net|org|dev|app|biz|xyz|lan|svc
            | io|co|uk|de|fr|nl|jp|cn|ru|br|in|us|eu|ca|au|ai|me )
          )
    "#,
    r#"(?x)
    # 1.5s, 300ms, 2h45m0s, 30 seconds, 5 min.
    (?P<duration>
          # Words first: `5min` must not stop at the `m` of the compact form.
          [0-9]+ (?: \.[0-9]+ )? \ ?
          (?: nanoseconds?|microseconds?|milliseconds?|seconds?|secs?|minutes?|mins?|hours?|hrs?
            | days?|weeks? )
        | [0-9]+ (?: \.[0-9]+ )? (?: ns|us|µs|ms|s|m|h|d )
          (?: [0-9]+ (?: \.[0-9]+ )? (?: ns|us|µs|ms|s|m|h ) )*
      )
    "#,
    r#"(?x)
    (?P<float> [0-9]+ \. [0-9]+ (?: [eE][+-]?[0-9]+ )? | [0-9]+ [eE] [+-]? [0-9]+ )
    "#,
    r#"(?x)
    # A whole run of digits, even glued to a word (`order_42`, `user123`); `replacement`
    # keeps one or two digits right after a letter (`utf8`, `ipv4`, `S3`), which name
    # things rather than count them.
    (?P<int> [0-9]+ )
    "#,
];

/// All [`PATTERNS`] in one multi-pattern regex: one scan of the message finds every match and
/// which pattern it belongs to, straight from the DFA, with no capture engine to run (which
/// would cost more than the scan itself).
static VARIABLES: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // constant patterns, compiled by every test
    Regex::new_many(&PATTERNS).expect("parameterization patterns compile")
});

/// The [`Kind`] of each pattern, from the name of its group.
static PATTERN_KINDS: LazyLock<Vec<Option<Kind>>> = LazyLock::new(|| {
    let group_info = VARIABLES.group_info();
    (0..VARIABLES.pattern_len())
        .map(|pattern| {
            let pattern = PatternID::new(pattern).ok()?;
            group_info
                .to_name(pattern, 1)
                .and_then(Kind::from_group_name)
        })
        .collect()
});

/// Lines beyond the first two are usually dumps (SQL, payloads, tracebacks) that vary more than
/// they identify.
const LINES_KEPT: usize = 2;
/// Bounds the cost on huge messages. Input is cut to this many bytes, output to half of it, so
/// parameterizing an output again never cuts it (idempotence).
const MAX_INPUT_BYTES: usize = 2048;
const MAX_OUTPUT_BYTES: usize = MAX_INPUT_BYTES / 2;

/// Replaces variable data in a message with typed placeholders, in one pass: `<email>`,
/// `<url>`, `<hostname>`, `<ip>` (v4 and v6), `<uuid>`, `<sha1>`, `<md5>`, `<hex>`,
/// `<datetime>`, `<date>`, `<time>`, `<duration>`, `<float>`, `<int>`, `<path>`, and
/// `=<quoted>` for quoted values after `=`.
///
/// Keeps the first two lines, trimmed. Idempotent: placeholders contain nothing that matches.
pub(super) fn parameterize_with_regex(message: &str) -> String {
    let head = truncate_at_char_boundary(first_lines(message, LINES_KEPT), MAX_INPUT_BYTES);
    let mut output = String::with_capacity(head.len() + 16);
    let mut last_end = 0;
    for found in VARIABLES.find_iter(head) {
        let (start, end) = (found.start(), found.end());
        let Some(text) = head.get(start..end) else {
            continue; // never: matches of these patterns are whole characters
        };
        output.push_str(&head[last_end..start]);
        let kind = PATTERN_KINDS
            .get(found.pattern().as_usize())
            .copied()
            .flatten();
        match kind.and_then(|kind| replacement(head, start, end, text, kind)) {
            Some(placeholder) => output.push_str(placeholder),
            None => output.push_str(text),
        }
        last_end = end;
    }
    output.push_str(&head[last_end..]);
    // Trimmed again after the cut, so that a second pass (which trims) sees the same text.
    let kept = truncate_at_char_boundary(&output, MAX_OUTPUT_BYTES)
        .trim_end()
        .len();
    output.truncate(kept);
    output
}

/// Characters that make a neighbouring match part of a bigger token. `<` and `>` count: they
/// are the edges of placeholders, which stand for values made of such characters.
fn is_token_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || matches!(character, '_' | '<' | '>')
}

impl Kind {
    /// Whether the match must not be glued to a token on its left / right.
    fn needs_clean_edges(self) -> (bool, bool) {
        match self {
            Kind::Quoted | Kind::Url | Kind::Email | Kind::Float | Kind::Int => (false, false),
            Kind::Duration => (false, true),
            _ => (true, true),
        }
    }
}

/// The placeholder for one match (`text` = `haystack[start..end]`), or `None` to keep it.
fn replacement(
    haystack: &str,
    start: usize,
    end: usize,
    text: &str,
    kind: Kind,
) -> Option<&'static str> {
    let before = haystack[..start].chars().next_back();
    let after = haystack[end..].chars().next();

    let (clean_left, clean_right) = kind.needs_clean_edges();
    // An id may follow an underscore (`req_8f3a2c1b9d0e`, `user_42`): prefixes name the kind of
    // id. No placeholder ends with `_`, so this keeps a second pass's decisions the same.
    let glued_left = before.is_some_and(|previous| previous != '_' && is_token_char(previous));
    if (clean_left && glued_left) || (clean_right && after.is_some_and(is_token_char)) {
        return None;
    }
    let has_digit = text.bytes().any(|byte| byte.is_ascii_digit());
    match kind {
        Kind::Ipv6 if !has_digit || text.len() < 3 => None,
        Kind::Hex if !(text.starts_with("0x") || text.starts_with("0X")) => {
            let has_hex_letter = text.bytes().any(|byte| byte.is_ascii_alphabetic());
            match (has_digit, has_hex_letter, text.len()) {
                (false, _, _) => None,
                (true, false, _) => Some(Kind::Int.placeholder()),
                (true, true, 40) => Some(Kind::Sha1.placeholder()),
                (true, true, 32) => Some(Kind::Md5.placeholder()),
                (true, true, _) => Some(Kind::Hex.placeholder()),
            }
        }
        Kind::Hostname => {
            let rest = &haystack[end..];
            let more_name_follows = rest.starts_with('.')
                && rest[1..].starts_with(|character: char| is_token_char(character));
            (!more_name_follows).then_some(Kind::Hostname.placeholder())
        }
        Kind::Int => {
            let after_letter = before.is_some_and(|previous| previous.is_ascii_alphabetic());
            (!(after_letter && text.len() <= 2)).then_some(Kind::Int.placeholder())
        }
        _ => Some(kind.placeholder()),
    }
}

/// The first `count` lines, trimmed.
fn first_lines(text: &str, count: usize) -> &str {
    let end = text
        .match_indices('\n')
        .nth(count.saturating_sub(1))
        .map_or(text.len(), |(index, _)| index);
    text[..end].trim()
}

fn truncate_at_char_boundary(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The raw matches of the regex in `head` (already cut to its first lines), as
/// `(start, end, group name)`, before [`replacement`] decides what to keep.
pub(super) fn matches_with_regex(head: &str) -> Vec<(usize, usize, &'static str)> {
    VARIABLES
        .find_iter(head)
        .map(|found| {
            let name = VARIABLES
                .group_info()
                .to_name(found.pattern(), 1)
                .unwrap_or("?");
            let name = PATTERNS_BY_NAME
                .iter()
                .find(|known| **known == name)
                .copied()
                .unwrap_or("?");
            (found.start(), found.end(), name)
        })
        .collect()
}

const PATTERNS_BY_NAME: [&str; 15] = [
    "quoted", "url", "email", "uuid", "datetime", "date", "time", "ipv6", "ipv4", "hex", "path",
    "hostname", "duration", "float", "int",
];
