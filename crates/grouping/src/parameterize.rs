//! Message parameterization: variable data (ids, numbers, emails, dates, ...) → typed placeholders, in one left-to-right scan.
//!
//! # What is replaced
//!
//! Fifteen kinds of variable data (`Kind`), each defined by a pattern, written in regex
//! notation on the function that matches it. Where several kinds could match at the same
//! position the one *listed first* in `Kind` wins, so specific kinds (URL, UUID, date) come
//! before the general ones they contain (hostname, hex, int). What surrounds a match is
//! checked afterwards, in `replacement`, which keeps the text when the check fails
//! (`user42abc` is no id, `std::io` no IPv6) — the match is consumed either way.
//!
//! The checks treat `<` and `>` as word characters, like letters and digits: a placeholder
//! then looks to its neighbours as the value it replaced did, so a second pass finds nothing
//! new (idempotence), which `\b` (for which `<int>` is punctuation) would not give.
//!
//! # How: a hand-written scanner with the semantics of one regex
//!
//! This was one regex-automata multi-pattern regex (the patterns as the alternatives, in
//! order): about 14,000 instructions for a 200-byte message, more than a third of grouping an
//! event; the scanner takes half of that, and half the time again. It keeps that
//! regex's semantics exactly, *leftmost-first*: the match is the one starting earliest; at
//! that position, the first kind whose pattern matches; within a pattern, the first
//! alternative that matches and, for a repetition, as many as the rest of the pattern
//! allows. Most patterns are deterministic (a greedy run is followed by something the run
//! cannot contain); where one is not, its function says how the backtracking resolves. The
//! regex is kept as a test-only oracle (`parameterize/regex_oracle.rs`) and property tests
//! compare the two on generated messages (`parameterize/scanner_equivalence.rs`); the golden
//! test (`tests/golden_outputs.rs`) pins thousands of outputs on top.
//!
//! Where the time goes, and the shortcuts (each exact, each argued where it is taken):
//! - At each position only the kinds whose pattern can start with that byte are tried (most
//!   bytes start none); at a digit, only those the run of digits and the byte after it allow
//!   (`Scanner::starting_with_digit`).
//! - A word followed by a space or punctuation is read once: inside it only a date at a
//!   capital letter or a long hex run can match (`Scanner::plain_word_match`).
//! - Runs are read through one table of byte classes (`CLASSES`).
//! - Four patterns read a run of unbounded length that a failure does not consume (a URL's
//!   scheme, an email's local part, a hostname's labels, the segments of a path with an
//!   extension); each remembers up to where it cannot match, so the scan stays linear.
//!
//! Every pattern is ASCII at its start, so matches start on character boundaries; the few
//! classes that take any character (`[^\s"'<>]` in URLs, names in Windows paths, the zone name
//! of JavaScript dates) are read as characters, with `\s` the Unicode `White_Space` property
//! as in the regex.

/// The kinds of variable data, with their placeholders. The first fifteen are tried in this
/// order; `Sha1` and `Md5` are what a `Hex` match of 40 or 32 digits becomes.
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
pub fn parameterize(message: &str) -> String {
    let head = truncate_at_char_boundary(first_lines(message, LINES_KEPT), MAX_INPUT_BYTES);
    let mut output = String::with_capacity(head.len() + 16);
    let mut last_end = 0;
    for found in Scanner::new(head) {
        let (start, end) = (found.start, found.end);
        let Some(text) = head.get(start..end) else {
            continue; // never: matches start and end on character boundaries
        };
        output.push_str(&head[last_end..start]);
        match replacement(head, start, end, text, found.kind) {
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
    let has_digit = || text.bytes().any(|byte| byte.is_ascii_digit());
    match kind {
        Kind::Ipv6 if text.len() < 3 || !has_digit() => None,
        Kind::Hex if !(text.starts_with("0x") || text.starts_with("0X")) => {
            let has_digit = has_digit();
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

// ---------------------------------------------------------------------------------------------
// The scanner.

/// One match: `text[start..end]` is of `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found {
    start: usize,
    end: usize,
    kind: Kind,
}

/// The matches of a text, left to right, without overlaps (leftmost-first, see the module doc).
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// Where the search for the next match starts.
    position: usize,
    /// The end of the last run of letters followed by a byte that may continue a pattern
    /// (see [`Scanner::next`]).
    mixed_word_end: usize,
    /// No URL starts before this position (see [`Scanner::url`]).
    url_impossible_before: usize,
    /// No email starts before this position (see [`Scanner::email`]).
    email_impossible_before: usize,
    /// No hostname starts before this position (see [`Scanner::hostname`]).
    hostname_impossible_before: usize,
    /// No path with an extension starts before this position (see [`Scanner::path_with_extension`]).
    path_with_extension_impossible_before: usize,
}

impl Iterator for Scanner<'_> {
    type Item = Found;

    fn next(&mut self) -> Option<Found> {
        while self.position < self.bytes.len() {
            let start = self.position;
            if self.bytes[start].is_ascii_alphabetic() && start >= self.mixed_word_end {
                let word = self.word(start);
                if continues_a_letter_pattern(self.byte(word.end)) {
                    // Every position of the word goes through `match_at`.
                    self.mixed_word_end = word.end;
                } else {
                    let found = (word.has_capital || word.has_long_hex_run)
                        .then(|| self.plain_word_match(start, word.end))
                        .flatten();
                    if let Some(found) = found {
                        self.position = found.end;
                        return Some(found);
                    }
                    self.position = word.end;
                    continue;
                }
            }
            if let Some((end, kind)) = self.match_at(start) {
                debug_assert!(end > start, "no pattern matches the empty string");
                self.position = end;
                return Some(Found { start, end, kind });
            }
            self.position += 1;
        }
        None
    }
}

/// A run of ASCII letters: where it ends, and what could match inside it when the byte after it
/// continues no pattern.
struct Word {
    end: usize,
    has_capital: bool,
    has_long_hex_run: bool,
}

/// Whether a byte right after a run of letters can continue a pattern that starts with a
/// letter: a URL scheme (`+.-` digits, then `:`), an email's local part (`._%+-` digits, then
/// `@`), a UUID or IPv6 group (digits, then `-` or `:`), a Windows drive (`:`) or a hostname
/// label (`-` digits, then `.`).
fn continues_a_letter_pattern(byte: u8) -> bool {
    byte.is_ascii_digit() || matches!(byte, b'+' | b'.' | b'-' | b':' | b'_' | b'%' | b'@')
}

/// The directories a rooted path starts with, in the regex's order (`builds?` greedy: `builds`
/// before `build`).
const ROOT_DIRECTORIES: [&[u8]; 28] = [
    b"home",
    b"Users",
    b"var",
    b"usr",
    b"tmp",
    b"etc",
    b"opt",
    b"srv",
    b"app",
    b"data",
    b"mnt",
    b"root",
    b"proc",
    b"sys",
    b"dev",
    b"lib",
    b"bin",
    b"private",
    b"Library",
    b"Applications",
    b"System",
    b"workspace",
    b"builds",
    b"build",
    b"src",
    b"code",
    b"run",
    b"nix",
];
/// Top-level domains and internal suffixes, longest first where one starts another: the first
/// that matches wins, even when a longer one would too (`in` before `internal` would stop at
/// `db.in`).
const HOSTNAME_SUFFIXES: [&[u8]; 36] = [
    b"localdomain",
    b"internal",
    b"example",
    b"cloud",
    b"intra",
    b"local",
    b"info",
    b"tech",
    b"test",
    b"corp",
    b"com",
    b"net",
    b"org",
    b"dev",
    b"app",
    b"biz",
    b"xyz",
    b"lan",
    b"svc",
    b"io",
    b"co",
    b"uk",
    b"de",
    b"fr",
    b"nl",
    b"jp",
    b"cn",
    b"ru",
    b"br",
    b"in",
    b"us",
    b"eu",
    b"ca",
    b"au",
    b"ai",
    b"me",
];
/// Duration words, each with an optional plural `s`; words before the compact units, so that
/// `5min` does not stop at the `m` of the compact form.
const DURATION_WORDS: [&[u8]; 11] = [
    b"nanosecond",
    b"microsecond",
    b"millisecond",
    b"second",
    b"sec",
    b"minute",
    b"min",
    b"hour",
    b"hr",
    b"day",
    b"week",
];
/// Compact duration units, in the regex's order (`ms` before `m`). Days only as the first unit.
const DURATION_UNITS: [&[u8]; 8] = [b"ns", b"us", "µs".as_bytes(), b"ms", b"s", b"m", b"h", b"d"];
const DURATION_UNITS_AFTER_FIRST: &[&[u8]] = DURATION_UNITS.split_at(7).0;

/// The byte classes of the patterns, one bit each in [`CLASSES`], so that reading a run costs
/// one load and one test per byte.
const HEX_DIGIT: u16 = 1 << 0;
const EMAIL_LOCAL: u16 = 1 << 1;
const EMAIL_DOMAIN: u16 = 1 << 2;
const SCHEME: u16 = 1 << 3;
const PATH_SEGMENT: u16 = 1 << 4;
const LABEL_EDGE: u16 = 1 << 5;
const LABEL: u16 = 1 << 6;
const SMALL: u16 = 1 << 7;
const CAPITAL: u16 = 1 << 8;

const CLASSES: [u16; 256] = {
    let mut classes = [0; 256];
    let mut index = 0;
    while index < 256 {
        let byte = index as u8;
        let alphanumeric = byte.is_ascii_alphanumeric();
        let mut class = 0;
        if byte.is_ascii_hexdigit() {
            class |= HEX_DIGIT;
        }
        // [A-Za-z0-9._%+-]: the local part of an email.
        if alphanumeric || matches!(byte, b'.' | b'_' | b'%' | b'+' | b'-') {
            class |= EMAIL_LOCAL;
        }
        // [A-Za-z0-9-]: a label of an email's domain.
        if alphanumeric || byte == b'-' {
            class |= EMAIL_DOMAIN;
        }
        // [a-zA-Z0-9+.-]: a URL scheme after its first letter.
        if alphanumeric || matches!(byte, b'+' | b'.' | b'-') {
            class |= SCHEME;
        }
        // [A-Za-z0-9._@%+~-]: a path segment.
        if alphanumeric || matches!(byte, b'.' | b'_' | b'@' | b'%' | b'+' | b'~' | b'-') {
            class |= PATH_SEGMENT;
        }
        // [a-z0-9]: the first and last character of a hostname label; [a-z0-9-]: a label.
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() {
            class |= LABEL_EDGE | LABEL;
        }
        if byte == b'-' {
            class |= LABEL;
        }
        if byte.is_ascii_lowercase() {
            class |= SMALL;
        }
        if byte.is_ascii_uppercase() {
            class |= CAPITAL;
        }
        classes[index] = class;
        index += 1;
    }
    classes
};

fn has_class(byte: u8, class: u16) -> bool {
    CLASSES[usize::from(byte)] & class != 0
}

fn is_hex_digit(byte: u8) -> bool {
    has_class(byte, HEX_DIGIT)
}

/// `[A-Za-z0-9._%+-]`: the local part of an email.
fn is_email_local(byte: u8) -> bool {
    has_class(byte, EMAIL_LOCAL)
}

/// `[A-Za-z0-9-]`: a label of an email's domain.
fn is_email_domain(byte: u8) -> bool {
    has_class(byte, EMAIL_DOMAIN)
}

/// `[a-zA-Z0-9+.-]`: a URL scheme after its first letter.
fn is_scheme(byte: u8) -> bool {
    has_class(byte, SCHEME)
}

/// `[A-Za-z0-9._@%+~-]`: a path segment.
fn is_path_segment(byte: u8) -> bool {
    has_class(byte, PATH_SEGMENT)
}

/// `[A-Za-z0-9_@%+~-]`: the first character of a segment of a path with an extension.
fn is_path_segment_start(byte: u8) -> bool {
    byte != b'.' && is_path_segment(byte)
}

/// `[a-z0-9]`: the first and last character of a hostname label.
fn is_label_edge(byte: u8) -> bool {
    has_class(byte, LABEL_EDGE)
}

/// `[a-z0-9-]`: a hostname label.
fn is_label(byte: u8) -> bool {
    has_class(byte, LABEL)
}

/// `[^\s"'<>]`: a URL after its scheme (`\s` is Unicode `White_Space`, as `char::is_whitespace`).
fn is_url(character: char) -> bool {
    !(character.is_whitespace() || matches!(character, '"' | '\'' | '<' | '>'))
}

/// `[^\s"'<>.,;:!?)\]]`: the last character of a URL, no trailing punctuation.
fn is_url_end(character: char) -> bool {
    is_url(character) && !matches!(character, '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']')
}

/// `[^\\\s"'<>|:*?]`: a name in a Windows path.
fn is_windows_name(character: char) -> bool {
    !(character.is_whitespace()
        || matches!(
            character,
            '\\' | '"' | '\'' | '<' | '>' | '|' | ':' | '*' | '?'
        ))
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner {
            text,
            bytes: text.as_bytes(),
            position: 0,
            mixed_word_end: 0,
            url_impossible_before: 0,
            email_impossible_before: 0,
            hostname_impossible_before: 0,
            path_with_extension_impossible_before: 0,
        }
    }

    /// The run of letters at `start`, read once.
    fn word(&self, start: usize) -> Word {
        let mut word = Word {
            end: start,
            has_capital: false,
            has_long_hex_run: false,
        };
        while let Some(&byte) = self.bytes.get(word.end) {
            let class = CLASSES[usize::from(byte)];
            if class & (SMALL | CAPITAL) == 0 {
                break;
            }
            word.has_capital |= class & CAPITAL != 0;
            word.end += 1;
        }
        // Most words are shorter than a hex id: read again only the long ones.
        if word.end - start >= 8 {
            let mut hex_run = 0;
            for &byte in &self.bytes[start..word.end] {
                hex_run = if is_hex_digit(byte) { hex_run + 1 } else { 0 };
                if hex_run >= 8 {
                    word.has_long_hex_run = true;
                    break;
                }
            }
        }
        word
    }

    /// The first match in the run of letters `start..word_end`, which is followed by a byte
    /// that continues no pattern starting with a letter ([`continues_a_letter_pattern`]). In
    /// such a word, URL, email, UUID, IPv6, Windows path and hostname cannot match at any
    /// position: the run of their first class reaches the end of the word (or stops at a
    /// letter outside it) without meeting the `://`, `@`, `-`, `:` or `.` they need. What
    /// remains, in [`Kind`] order: a date or date-time at a capital letter (day and month
    /// names), and a run of 8+ hex digits (`deadbeefcafe`, kept by [`replacement`] but
    /// consumed).
    fn plain_word_match(&self, start: usize, word_end: usize) -> Option<Found> {
        let mut hex_run_end = start;
        for position in start..word_end {
            if self.bytes[position].is_ascii_uppercase() {
                if let Some((end, kind)) = self.date_at_capital(position) {
                    return Some(Found {
                        start: position,
                        end,
                        kind,
                    });
                }
            }
            if position >= hex_run_end {
                hex_run_end = self.run_end(position, is_hex_digit);
            }
            if hex_run_end - position >= 8 {
                return Some(Found {
                    start: position,
                    end: hex_run_end,
                    kind: Kind::Hex,
                });
            }
        }
        None
    }

    /// The longest match at `start` of the first kind that matches there, with its end.
    fn match_at(&mut self, start: usize) -> Option<(usize, Kind)> {
        // Each arm tries, in [`Kind`] order, the kinds whose pattern can start with this byte.
        match self.bytes[start] {
            b'=' => self.quoted(start).map(|end| (end, Kind::Quoted)),
            b':' => self.ipv6(start).map(|end| (end, Kind::Ipv6)),
            b'/' | b'~' => self.path(start).map(|end| (end, Kind::Path)),
            b'.' => (self.email(start).map(|end| (end, Kind::Email)))
                .or_else(|| self.path(start).map(|end| (end, Kind::Path))),
            b'_' | b'%' | b'+' | b'-' => self.email(start).map(|end| (end, Kind::Email)),
            b'0'..=b'9' => self.starting_with_digit(start),
            b'A'..=b'Z' | b'a'..=b'z' => self.starting_with_letter(start),
            _ => None,
        }
    }

    /// Each kind is tried only when the run of digits at `start` and the byte after it could
    /// begin it (`[0-9]{4}-` for an ISO date, `[0-9]{1,2}:` for a time, ...): a shortcut that
    /// never skips a kind that could match, as the pattern named in each condition shows.
    fn starting_with_digit(&mut self, start: usize) -> Option<(usize, Kind)> {
        let digits_end = self.digit_run_end(start);
        let digits = digits_end - start;
        let after_digits = self.byte(digits_end);
        let hex_end = self.run_end(digits_end, is_hex_digit);
        let hex_digits = hex_end - start;
        let one_or_two = digits <= 2;
        // `[0-9]{1,2} \ + (?:Jan|…|Dec)`: how both date patterns with a space go on.
        let month_after_spaces = after_digits == b' '
            && self
                .spaces(digits_end)
                .is_some_and(|month| self.month_name(month).is_some());

        if let Some(end) = self.email(start) {
            return Some((end, Kind::Email));
        }
        // [0-9a-fA-F]{8}-
        if hex_digits == 8 && self.byte(hex_end) == b'-' {
            if let Some(end) = self.uuid(start) {
                return Some((end, Kind::Uuid));
            }
        }
        // [0-9]{4}- (ISO), [0-9]{1,2}\ +(?:Jan|…) (RFC 2822), [0-9]{2}/ (common log),
        // [0-9]{1,2}/ (US).
        if (digits == 4 && after_digits == b'-')
            || (one_or_two && (after_digits == b'/' || month_after_spaces))
        {
            if let Some(end) = self.datetime(start) {
                return Some((end, Kind::Datetime));
            }
        }
        // [0-9]{4}[-/], [0-9]{1,2}/, [0-9]{1,2}\., [0-9]{1,2}\ +(?:Jan|…)
        if (digits == 4 && matches!(after_digits, b'-' | b'/'))
            || (one_or_two && (matches!(after_digits, b'/' | b'.') || month_after_spaces))
        {
            if let Some(end) = self.date(start) {
                return Some((end, Kind::Date));
            }
        }
        // [0-9]{1,2}:
        if one_or_two && after_digits == b':' {
            if let Some(end) = self.time(start) {
                return Some((end, Kind::Time));
            }
        }
        // [0-9a-fA-F]{1,4}:
        if hex_digits <= 4 && self.byte(hex_end) == b':' {
            if let Some(end) = self.ipv6(start) {
                return Some((end, Kind::Ipv6));
            }
        }
        // [0-9]{1,3}\.
        if digits <= 3 && after_digits == b'.' {
            if let Some(end) = self.ipv4(start) {
                return Some((end, Kind::Ipv4));
            }
        }
        // [0-9a-fA-F]{8,} or 0[xX]
        if hex_digits >= 8 || (digits == 1 && matches!(after_digits, b'x' | b'X')) {
            if let Some(end) = self.hex(start) {
                return Some((end, Kind::Hex));
            }
        }
        // A label, [a-z0-9-]* then `.`.
        if after_digits == b'.' || after_digits == b'-' || after_digits.is_ascii_lowercase() {
            if let Some(end) = self.hostname(start) {
                return Some((end, Kind::Hostname));
            }
        }
        // [0-9]+ then `.`, a unit (`µ` starts with 0xC2), or a space and a unit word.
        let unit_word_after_space = after_digits == b' '
            && matches!(
                self.byte(digits_end + 1),
                b'n' | b'm' | b's' | b'h' | b'd' | b'w'
            );
        if matches!(after_digits, b'.' | 0xC2)
            || after_digits.is_ascii_lowercase()
            || unit_word_after_space
        {
            if let Some(end) = self.duration(start) {
                return Some((end, Kind::Duration));
            }
        }
        // [0-9]+\. or [0-9]+[eE]
        if matches!(after_digits, b'.' | b'e' | b'E') {
            if let Some(end) = self.float(start) {
                return Some((end, Kind::Float));
            }
        }
        Some((digits_end, Kind::Int))
    }

    fn starting_with_letter(&mut self, start: usize) -> Option<(usize, Kind)> {
        if let Some(end) = self.url(start) {
            return Some((end, Kind::Url));
        }
        if let Some(end) = self.email(start) {
            return Some((end, Kind::Email));
        }
        let first = self.bytes[start];
        if is_hex_digit(first) {
            if let Some(end) = self.uuid(start) {
                return Some((end, Kind::Uuid));
            }
        }
        if first.is_ascii_uppercase() {
            if let Some(found) = self.date_at_capital(start) {
                return Some(found);
            }
        }
        if is_hex_digit(first) {
            if let Some(end) = self.ipv6(start) {
                return Some((end, Kind::Ipv6));
            }
            if let Some(end) = self.hex(start) {
                return Some((end, Kind::Hex));
            }
        }
        if let Some(end) = self.path(start) {
            return Some((end, Kind::Path));
        }
        self.hostname(start).map(|end| (end, Kind::Hostname))
    }

    // -----------------------------------------------------------------------------------------
    // Reading bytes. Past the end reads as NUL, which no ASCII class below contains.

    fn byte(&self, index: usize) -> u8 {
        self.bytes.get(index).copied().unwrap_or(0)
    }

    fn starts_with_at(&self, index: usize, prefix: &[u8]) -> bool {
        // The first byte alone rejects most of the candidates of a list (suffixes, units,
        // directories) without a slice comparison.
        prefix.first() == Some(&self.byte(index))
            && self
                .bytes
                .get(index..)
                .is_some_and(|rest| rest.starts_with(prefix))
    }

    /// `expected` at `index`: the position after it.
    fn byte_is(&self, index: usize, expected: u8) -> Option<usize> {
        (self.byte(index) == expected).then_some(index + 1)
    }

    /// One of `set` at `index`: the position after it.
    fn byte_in(&self, index: usize, set: &[u8]) -> Option<usize> {
        set.contains(&self.byte(index)).then_some(index + 1)
    }

    fn run_end(&self, from: usize, belongs: impl Fn(u8) -> bool) -> usize {
        let mut index = from;
        while index < self.bytes.len() && belongs(self.bytes[index]) {
            index += 1;
        }
        index
    }

    fn digit_run_end(&self, from: usize) -> usize {
        self.run_end(from, |byte| byte.is_ascii_digit())
    }

    /// `[0-9]{count}`: exactly `count` digits at `index`, whatever follows.
    fn digits(&self, index: usize, count: usize) -> Option<usize> {
        let end = index + count;
        (end <= self.bytes.len() && self.bytes[index..end].iter().all(u8::is_ascii_digit))
            .then_some(end)
    }

    /// `[0-9]{min,max}` where what must follow is no digit: the whole run of digits at `index`,
    /// if its length is in range (a longer run leaves a digit where the rest must start).
    fn digit_run(&self, index: usize, min: usize, max: usize) -> Option<usize> {
        let end = self.digit_run_end(index);
        (min..=max).contains(&(end - index)).then_some(end)
    }

    /// `[0-9]{1,max}` where anything may follow: the run of digits, up to `max`.
    fn digits_up_to(&self, index: usize, max: usize) -> Option<usize> {
        let end = self.digit_run_end(index).min(index + max);
        (end > index).then_some(end)
    }

    /// `[0-9]+`: the whole run of digits at `index`, if there is one.
    fn digits_one_or_more(&self, index: usize) -> Option<usize> {
        let end = self.digit_run_end(index);
        (end > index).then_some(end)
    }

    /// `[0-9a-fA-F]{count}`: exactly `count` hex digits at `index`, whatever follows.
    fn hex_digits(&self, index: usize, count: usize) -> Option<usize> {
        let end = index + count;
        (end <= self.bytes.len() && self.bytes[index..end].iter().all(|&b| is_hex_digit(b)))
            .then_some(end)
    }

    /// `[0-9a-fA-F]{1,4}` where what must follow is no hex digit: the whole run, if 1 to 4 long.
    fn hex_group(&self, index: usize) -> Option<usize> {
        let end = self.run_end(index, is_hex_digit);
        (1..=4).contains(&(end - index)).then_some(end)
    }

    /// `[0-9a-fA-F]{1,4}` where anything may follow: the run of hex digits, up to 4.
    fn hex_up_to_four(&self, index: usize) -> Option<usize> {
        let end = self.run_end(index, is_hex_digit).min(index + 4);
        (end > index).then_some(end)
    }

    /// `\ +`: the position after one or more spaces.
    fn spaces(&self, index: usize) -> Option<usize> {
        let end = self.run_end(index, |byte| byte == b' ');
        (end > index).then_some(end)
    }

    /// `(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)` at `index`: the position after it.
    fn day_name(&self, index: usize) -> Option<usize> {
        let name = self.bytes.get(index..index + 3)?;
        matches!(
            name,
            b"Mon" | b"Tue" | b"Wed" | b"Thu" | b"Fri" | b"Sat" | b"Sun"
        )
        .then_some(index + 3)
    }

    /// `(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)` at `index`: the position after it.
    fn month_name(&self, index: usize) -> Option<usize> {
        let name = self.bytes.get(index..index + 3)?;
        matches!(
            name,
            b"Jan"
                | b"Feb"
                | b"Mar"
                | b"Apr"
                | b"May"
                | b"Jun"
                | b"Jul"
                | b"Aug"
                | b"Sep"
                | b"Oct"
                | b"Nov"
                | b"Dec"
        )
        .then_some(index + 3)
    }

    /// The date-time or date at a capital letter: both start with a day or month name there.
    fn date_at_capital(&self, start: usize) -> Option<(usize, Kind)> {
        if self.day_name(start).is_some() {
            if let Some(end) = self.datetime(start) {
                return Some((end, Kind::Datetime));
            }
        }
        if self.month_name(start).is_some() {
            if let Some(end) = self.date(start) {
                return Some((end, Kind::Date));
            }
        }
        None
    }

    // -----------------------------------------------------------------------------------------
    // The kinds, in order.

    /// `= [\ \t]* (?: '[^'\n]*' | "[^"\n]*" | `[^`\n]*` )`: key='value', key="value",
    /// key=`value`: the value is data, the key is not.
    fn quoted(&self, start: usize) -> Option<usize> {
        let open = self.run_end(start + 1, |byte| matches!(byte, b' ' | b'\t'));
        let quote = self.byte(open);
        if !matches!(quote, b'\'' | b'"' | b'`') {
            return None;
        }
        let inside = &self.bytes[open + 1..];
        let close = inside
            .iter()
            .position(|&byte| byte == quote || byte == b'\n')?;
        (inside[close] == quote).then_some(open + 1 + close + 1)
    }

    /// `[a-zA-Z] [a-zA-Z0-9+.-]{1,15} :// [^\s"'<>]* [^\s"'<>.,;:!?)\]]`. Before email and
    /// hostname, which a URL contains.
    ///
    /// `:` is not in the scheme's class, so the scheme runs to the end of its run, which must
    /// be a `://`; a start later in the same run reaches the same end, so a failure rules out
    /// the run, or its part where the scheme would be longer than 16. The tail is greedy and
    /// then gives characters back until one may end a URL: it ends after the last such
    /// character of its run.
    fn url(&mut self, start: usize) -> Option<usize> {
        if start < self.url_impossible_before {
            return None;
        }
        let scheme_end = self.run_end(start + 1, is_scheme);
        if !self.starts_with_at(scheme_end, b"://") {
            self.url_impossible_before = scheme_end;
            return None;
        }
        if scheme_end - start > 16 {
            self.url_impossible_before = scheme_end - 16;
            return None;
        }
        if scheme_end - start < 2 {
            return None;
        }
        let tail_start = scheme_end + 3;
        let mut end = None;
        let mut at = tail_start;
        while let Some(&byte) = self.bytes.get(at) {
            if byte.is_ascii() {
                // `[^\s"'<>]` and `[^\s"'<>.,;:!?)\]]` on ASCII (whose `White_Space` is `\t`
                // to `\r` and the space), without decoding.
                if matches!(byte, b'\t'..=b'\r' | b' ' | b'"' | b'\'' | b'<' | b'>') {
                    break;
                }
                at += 1;
                if !matches!(byte, b'.' | b',' | b';' | b':' | b'!' | b'?' | b')' | b']') {
                    end = Some(at);
                }
            } else {
                let character = self.text[at..].chars().next()?;
                if !is_url(character) {
                    break;
                }
                at += character.len_utf8();
                if is_url_end(character) {
                    end = Some(at);
                }
            }
        }
        end
    }

    /// `[A-Za-z0-9._%+-]+ @ [A-Za-z0-9-]+ (?: \.[A-Za-z0-9-]+ )+`.
    ///
    /// `@` is not in the local part's class, so the local part runs to the end of its run,
    /// which must be an `@`; a start later in the same run reaches the same `@` and the same
    /// domain, so a failure rules out the whole run.
    fn email(&mut self, start: usize) -> Option<usize> {
        if start < self.email_impossible_before {
            return None;
        }
        let at_sign = self.run_end(start, is_email_local);
        let found = self.email_domain(at_sign);
        if found.is_none() {
            self.email_impossible_before = at_sign;
        }
        found
    }

    fn email_domain(&self, at_sign: usize) -> Option<usize> {
        let domain_start = self.byte_is(at_sign, b'@')?;
        let mut end = self.run_end(domain_start, is_email_domain);
        if end == domain_start {
            return None;
        }
        let mut labels_after_dot = 0;
        while self.byte(end) == b'.' && is_email_domain(self.byte(end + 1)) {
            end = self.run_end(end + 1, is_email_domain);
            labels_after_dot += 1;
        }
        (labels_after_dot > 0).then_some(end)
    }

    /// `[0-9a-fA-F]{8} - [0-9a-fA-F]{4} - [0-9a-fA-F]{4} - [0-9a-fA-F]{4} - [0-9a-fA-F]{12}`.
    fn uuid(&self, start: usize) -> Option<usize> {
        let mut at = start;
        for length in [8, 4, 4, 4] {
            at = self.hex_digits(at, length)?;
            at = self.byte_is(at, b'-')?;
        }
        self.hex_digits(at, 12)
    }

    /// Date and time together, in the formats logs and SDKs print; the first format that
    /// matches wins.
    fn datetime(&self, start: usize) -> Option<usize> {
        self.datetime_iso(start)
            .or_else(|| self.datetime_rfc2822(start))
            .or_else(|| self.datetime_javascript(start))
            .or_else(|| self.datetime_unix(start))
            .or_else(|| self.datetime_common_log(start))
            .or_else(|| self.datetime_us(start))
    }

    /// ISO 8601 / RFC 3339 / SQL: 2024-01-15T10:30:00.123Z, 2024-01-15 10:30:00+02:00.
    /// `[0-9]{4}-[0-9]{2}-[0-9]{2} [T\ ] [0-9]{2}:[0-9]{2} (?: :[0-9]{2} )? (?: [.,][0-9]+ )?
    /// (?: \ ?Z | \ ?[+-][0-9]{2}:?[0-9]{2} | \ UTC | \ GMT )?`
    fn datetime_iso(&self, start: usize) -> Option<usize> {
        let mut at = self.digits(start, 4)?;
        at = self.byte_is(at, b'-')?;
        at = self.digits(at, 2)?;
        at = self.byte_is(at, b'-')?;
        at = self.digits(at, 2)?;
        at = self.byte_in(at, b"T ")?;
        at = self.hours_minutes(at)?;
        if let Some(end) = self.colon_seconds(at) {
            at = end;
        }
        if let Some(end) = self.fraction(at) {
            at = end;
        }
        Some(self.iso_zone(at).unwrap_or(at))
    }

    /// `[0-9]{2}:[0-9]{2}`.
    fn hours_minutes(&self, index: usize) -> Option<usize> {
        let at = self.digits(index, 2)?;
        let at = self.byte_is(at, b':')?;
        self.digits(at, 2)
    }

    /// `:[0-9]{2}`.
    fn colon_seconds(&self, index: usize) -> Option<usize> {
        self.byte_is(index, b':').and_then(|at| self.digits(at, 2))
    }

    /// `[.,][0-9]+`.
    fn fraction(&self, index: usize) -> Option<usize> {
        let at = self.byte_in(index, b".,")?;
        self.digits_one_or_more(at)
    }

    /// `\ ?Z | \ ?[+-][0-9]{2}:?[0-9]{2} | \ UTC | \ GMT`. An optional space or colon followed
    /// by something else gives nothing back that could match: both are deterministic.
    fn iso_zone(&self, index: usize) -> Option<usize> {
        let after_space = self.byte_is(index, b' ').unwrap_or(index);
        if let Some(end) = self.byte_is(after_space, b'Z') {
            return Some(end);
        }
        if let Some(at) = self
            .byte_in(after_space, b"+-")
            .and_then(|at| self.digits(at, 2))
        {
            let at = self.byte_is(at, b':').unwrap_or(at);
            if let Some(end) = self.digits(at, 2) {
                return Some(end);
            }
        }
        (self.starts_with_at(index, b" UTC") || self.starts_with_at(index, b" GMT"))
            .then_some(index + 4)
    }

    /// RFC 2822 / HTTP: Mon, 15 Jan 2024 10:30:00 GMT.
    /// `(?: (?:Mon|…|Sun) ,?\ + )? [0-9]{1,2} \ + (?:Jan|…|Dec) \ + [0-9]{4} \ + [0-9]{2}:[0-9]{2}
    /// (?: :[0-9]{2} )? (?: \ + (?: [+-][0-9]{4} | GMT | UTC ) )?`
    ///
    /// With a day name, the optional prefix must match: without it the pattern needs a digit
    /// where the name's letter is.
    fn datetime_rfc2822(&self, start: usize) -> Option<usize> {
        let mut at = start;
        if let Some(after_day) = self.day_name(start) {
            at = self.byte_is(after_day, b',').unwrap_or(after_day);
            at = self.spaces(at)?;
        }
        at = self.digit_run(at, 1, 2)?;
        at = self.spaces(at)?;
        at = self.month_name(at)?;
        at = self.spaces(at)?;
        at = self.digit_run(at, 4, 4)?;
        at = self.spaces(at)?;
        at = self.hours_minutes(at)?;
        if let Some(end) = self.colon_seconds(at) {
            at = end;
        }
        if let Some(zone) = self.spaces(at) {
            if let Some(end) = self
                .byte_in(zone, b"+-")
                .and_then(|sign| self.digits(sign, 4))
            {
                return Some(end);
            }
            if self.starts_with_at(zone, b"GMT") || self.starts_with_at(zone, b"UTC") {
                return Some(zone + 3);
            }
        }
        Some(at)
    }

    /// `(?:Mon|…|Sun) \ + (?:Jan|…|Dec) \ + [0-9]{1,2} \ +`, shared by the JavaScript and Unix
    /// formats.
    fn day_month_day(&self, start: usize) -> Option<usize> {
        let mut at = self.day_name(start)?;
        at = self.spaces(at)?;
        at = self.month_name(at)?;
        at = self.spaces(at)?;
        at = self.digit_run(at, 1, 2)?;
        self.spaces(at)
    }

    /// `[0-9]{2}:[0-9]{2}:[0-9]{2}`.
    fn hours_minutes_seconds(&self, index: usize) -> Option<usize> {
        let at = self.hours_minutes(index)?;
        self.colon_seconds(at)
    }

    /// JavaScript Date: Mon Jan 15 2024 10:30:00 GMT+0000 (Coordinated Universal Time).
    /// `(?:Mon|…) \ + (?:Jan|…) \ + [0-9]{1,2} \ + [0-9]{4} \ + [0-9]{2}:[0-9]{2}:[0-9]{2}
    /// (?: \ + GMT[+-][0-9]{4} )? (?: \ + \( [^)\n]{1,60} \) )?`
    fn datetime_javascript(&self, start: usize) -> Option<usize> {
        let mut at = self.day_month_day(start)?;
        at = self.digit_run(at, 4, 4)?;
        at = self.spaces(at)?;
        at = self.hours_minutes_seconds(at)?;
        if let Some(end) = self.spaces(at).and_then(|zone| {
            let sign = zone + 3;
            (self.starts_with_at(zone, b"GMT") && self.byte_in(sign, b"+-").is_some())
                .then(|| self.digits(sign + 1, 4))
                .flatten()
        }) {
            at = end;
        }
        if let Some(end) = self.spaces(at).and_then(|open| self.zone_name(open)) {
            at = end;
        }
        Some(at)
    }

    /// `\( [^)\n]{1,60} \)`: 1 to 60 *characters* up to the first `)`, with no line break.
    fn zone_name(&self, open: usize) -> Option<usize> {
        self.byte_is(open, b'(')?;
        let inside = open + 1;
        for (count, (offset, character)) in self.text[inside..].char_indices().enumerate() {
            match character {
                ')' => return (count >= 1).then_some(inside + offset + 1),
                '\n' => return None,
                _ if count == 60 => return None,
                _ => {}
            }
        }
        None
    }

    /// Unix date(1): Mon Jan 15 10:30:00 UTC 2024.
    /// `(?:Mon|…) \ + (?:Jan|…) \ + [0-9]{1,2} \ + [0-9]{2}:[0-9]{2}:[0-9]{2}
    /// (?: \ + [A-Z]{3,4} )? \ + [0-9]{4}`
    ///
    /// The zone is tried first; without it the year must follow the spaces directly.
    fn datetime_unix(&self, start: usize) -> Option<usize> {
        let at = self.day_month_day(start)?;
        let at = self.hours_minutes_seconds(at)?;
        let after_spaces = self.spaces(at)?;
        let zone_end = self.run_end(after_spaces, |byte| byte.is_ascii_uppercase());
        if (3..=4).contains(&(zone_end - after_spaces)) {
            if let Some(end) = self.spaces(zone_end).and_then(|year| self.digits(year, 4)) {
                return Some(end);
            }
        }
        self.digits(after_spaces, 4)
    }

    /// Common log format: 15/Jan/2024:10:30:00 +0000.
    /// `[0-9]{2}/(?:Jan|…)/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} (?: \ [+-][0-9]{4} )?`
    fn datetime_common_log(&self, start: usize) -> Option<usize> {
        let mut at = self.digits(start, 2)?;
        at = self.byte_is(at, b'/')?;
        at = self.month_name(at)?;
        at = self.byte_is(at, b'/')?;
        at = self.digits(at, 4)?;
        at = self.byte_is(at, b':')?;
        at = self.hours_minutes_seconds(at)?;
        let zone = self
            .byte_is(at, b' ')
            .and_then(|sign| self.byte_in(sign, b"+-"))
            .and_then(|digits| self.digits(digits, 4));
        Some(zone.unwrap_or(at))
    }

    /// US: 01/15/2024 10:30:00 PM.
    /// `[0-9]{1,2}/[0-9]{1,2}/[0-9]{2,4} [\ T] [0-9]{1,2}:[0-9]{2} (?: :[0-9]{2} )?
    /// (?: \ ?[AaPp][Mm] )?`
    fn datetime_us(&self, start: usize) -> Option<usize> {
        let mut at = self.digit_run(start, 1, 2)?;
        at = self.byte_is(at, b'/')?;
        at = self.digit_run(at, 1, 2)?;
        at = self.byte_is(at, b'/')?;
        at = self.digit_run(at, 2, 4)?;
        at = self.byte_in(at, b" T")?;
        at = self.digit_run(at, 1, 2)?;
        at = self.byte_is(at, b':')?;
        at = self.digits(at, 2)?;
        if let Some(end) = self.colon_seconds(at) {
            at = end;
        }
        Some(self.meridiem(at).unwrap_or(at))
    }

    /// `\ ?[AaPp][Mm]`.
    fn meridiem(&self, index: usize) -> Option<usize> {
        let at = self.byte_is(index, b' ').unwrap_or(index);
        let at = self.byte_in(at, b"AaPp")?;
        self.byte_in(at, b"Mm")
    }

    /// `[0-9]{4} [-/] [0-9]{2} [-/] [0-9]{2} | [0-9]{1,2} / [0-9]{1,2} / [0-9]{4}
    /// | [0-9]{1,2} \. [0-9]{1,2} \. [0-9]{4}
    /// | [0-9]{1,2} \ + (?:Jan|…|Dec)[a-z]* ,? \ + [0-9]{4}
    /// | (?:Jan|…|Dec)[a-z]* \ + [0-9]{1,2} (?:st|nd|rd|th)? ,? \ + [0-9]{4}`
    fn date(&self, start: usize) -> Option<usize> {
        self.date_year_first(start)
            .or_else(|| self.date_numeric_year_last(start, b'/'))
            .or_else(|| self.date_numeric_year_last(start, b'.'))
            .or_else(|| self.date_day_month(start))
            .or_else(|| self.date_month_day(start))
    }

    fn date_year_first(&self, start: usize) -> Option<usize> {
        let mut at = self.digits(start, 4)?;
        at = self.byte_in(at, b"-/")?;
        at = self.digits(at, 2)?;
        at = self.byte_in(at, b"-/")?;
        self.digits(at, 2)
    }

    fn date_numeric_year_last(&self, start: usize, separator: u8) -> Option<usize> {
        let mut at = self.digit_run(start, 1, 2)?;
        at = self.byte_is(at, separator)?;
        at = self.digit_run(at, 1, 2)?;
        at = self.byte_is(at, separator)?;
        self.digits(at, 4)
    }

    /// `(?:Jan|…|Dec)[a-z]*`: the letters after the name run to the end of the word, which the
    /// rest of both patterns needs.
    fn month_word(&self, index: usize) -> Option<usize> {
        let at = self.month_name(index)?;
        Some(self.run_end(at, |byte| byte.is_ascii_lowercase()))
    }

    fn date_day_month(&self, start: usize) -> Option<usize> {
        let mut at = self.digit_run(start, 1, 2)?;
        at = self.spaces(at)?;
        at = self.month_word(at)?;
        at = self.byte_is(at, b',').unwrap_or(at);
        at = self.spaces(at)?;
        self.digits(at, 4)
    }

    fn date_month_day(&self, start: usize) -> Option<usize> {
        let mut at = self.month_word(start)?;
        at = self.spaces(at)?;
        at = self.digit_run(at, 1, 2)?;
        if [b"st", b"nd", b"rd", b"th"]
            .iter()
            .any(|suffix| self.starts_with_at(at, *suffix))
        {
            at += 2;
        }
        at = self.byte_is(at, b',').unwrap_or(at);
        at = self.spaces(at)?;
        self.digits(at, 4)
    }

    /// `[0-9]{1,2} : [0-9]{2} (?: : [0-9]{2} (?: [.,][0-9]+ )? )? \ ?[AaPp][Mm]
    /// | [0-9]{1,2} : [0-9]{2} : [0-9]{2} (?: [.,][0-9]+ )?`
    ///
    /// In the first, giving back the optional seconds or fraction leaves a `:`, `.` or digit
    /// where the meridiem must start: it matches as read greedily or not at all.
    fn time(&self, start: usize) -> Option<usize> {
        let mut at = self.digit_run(start, 1, 2)?;
        at = self.byte_is(at, b':')?;
        let minutes_end = self.digits(at, 2)?;
        let mut at = minutes_end;
        let seconds_end = self.colon_seconds(at);
        if let Some(end) = seconds_end {
            at = self.fraction(end).unwrap_or(end);
        }
        if let Some(end) = self.meridiem(at) {
            return Some(end);
        }
        seconds_end.map(|end| self.fraction(end).unwrap_or(end))
    }

    /// Full, compressed (`fe80::1`, `::1`) and IPv4-mapped (`::ffff:10.0.0.1`) forms:
    /// `(?: H{1,4} : ){7} H{1,4}
    /// | (?: H{1,4} : ){1,6} : (?: H{1,4} (?: : H{1,4} ){0,5} )?
    /// | :: (?: ffff: [0-9]{1,3} (?: \.[0-9]{1,3} ){3} | H{1,4} (?: : H{1,4} ){0,6} )?`
    /// with `H` = `[0-9a-fA-F]`. `::` also separates path segments in Rust, C++ and PHP:
    /// [`replacement`] keeps matches without a digit or glued to a name.
    fn ipv6(&self, start: usize) -> Option<usize> {
        if self.byte(start) == b':' {
            return self.ipv6_leading_compressed(start);
        }
        self.ipv6_full(start)
            .or_else(|| self.ipv6_compressed(start))
    }

    /// `(?: H{1,4} : ){7} H{1,4}`.
    fn ipv6_full(&self, start: usize) -> Option<usize> {
        let mut at = start;
        for _ in 0..7 {
            at = self.hex_group(at)?;
            at = self.byte_is(at, b':')?;
        }
        self.hex_up_to_four(at)
    }

    /// `(?: H{1,4} : ){1,6} : (?: H{1,4} (?: : H{1,4} ){0,5} )?`. The groups stop where no
    /// `H{1,4}:` follows; fewer groups would leave a hex digit where the `:` must be.
    fn ipv6_compressed(&self, start: usize) -> Option<usize> {
        let mut at = start;
        let mut groups = 0;
        while groups < 6 {
            match self.hex_group(at).and_then(|end| self.byte_is(end, b':')) {
                Some(end) => at = end,
                None => break,
            }
            groups += 1;
        }
        if groups == 0 {
            return None;
        }
        let at = self.byte_is(at, b':')?;
        Some(self.ipv6_groups(at, 5).unwrap_or(at))
    }

    /// `:: (?: ffff: [0-9]{1,3} (?: \.[0-9]{1,3} ){3} | H{1,4} (?: : H{1,4} ){0,6} )?`.
    fn ipv6_leading_compressed(&self, start: usize) -> Option<usize> {
        let at = self.byte_is(start, b':')?;
        let at = self.byte_is(at, b':')?;
        if self.starts_with_at(at, b"ffff:") {
            if let Some(end) = self.ipv4(at + 5) {
                return Some(end);
            }
        }
        Some(self.ipv6_groups(at, 6).unwrap_or(at))
    }

    /// `H{1,4} (?: : H{1,4} ){0,more}`.
    fn ipv6_groups(&self, index: usize, more: usize) -> Option<usize> {
        let mut at = self.hex_up_to_four(index)?;
        for _ in 0..more {
            match self
                .byte_is(at, b':')
                .and_then(|group| self.hex_up_to_four(group))
            {
                Some(end) => at = end,
                None => break,
            }
        }
        Some(at)
    }

    /// `[0-9]{1,3} \. [0-9]{1,3} \. [0-9]{1,3} \. [0-9]{1,3}`.
    fn ipv4(&self, start: usize) -> Option<usize> {
        let mut at = start;
        for _ in 0..3 {
            at = self.digit_run(at, 1, 3)?;
            at = self.byte_is(at, b'.')?;
        }
        self.digits_up_to(at, 3)
    }

    /// `0[xX][0-9a-fA-F]+ | [0-9a-fA-F]{8,}`: 0x-prefixed, or a run of 8+ hex digits, named by
    /// length in [`replacement`] (40: SHA-1, 32: MD5). Runs without a digit are words
    /// (`deadbeef`, `facade`) and are kept; runs without a letter are integers.
    fn hex(&self, start: usize) -> Option<usize> {
        if self.byte(start) == b'0' && matches!(self.byte(start + 1), b'x' | b'X') {
            let end = self.run_end(start + 2, is_hex_digit);
            if end > start + 2 {
                return Some(end);
            }
        }
        let end = self.run_end(start, is_hex_digit);
        (end - start >= 8).then_some(end)
    }

    /// File paths: rooted at a well-known directory, relative (`./`, `../`, `~/`), ending in
    /// a file extension, or Windows. Paths like `/users/42` are routes: only their ids are
    /// replaced.
    fn path(&mut self, start: usize) -> Option<usize> {
        match self.byte(start) {
            b'/' => self
                .rooted_path(start)
                .or_else(|| self.path_with_extension(start)),
            b'.' | b'~' => self.relative_path(start),
            _ => self.windows_path(start),
        }
    }

    /// `/ (?: home|Users|…|builds?|src|code|run|nix ) (?: / [A-Za-z0-9._@%+~-]+ )+ /?`.
    fn rooted_path(&self, start: usize) -> Option<usize> {
        ROOT_DIRECTORIES
            .iter()
            .filter(|directory| self.starts_with_at(start + 1, directory))
            .find_map(|directory| self.path_segments(start + 1 + directory.len()))
    }

    /// `(?: \.{1,2} | ~ ) (?: / [A-Za-z0-9._@%+~-]+ )+ /?`. Three dots leave a dot where the
    /// `/` must be.
    fn relative_path(&self, start: usize) -> Option<usize> {
        let at = if self.byte(start) == b'~' {
            start + 1
        } else {
            let dots_end = self.run_end(start, |byte| byte == b'.');
            if dots_end - start > 2 {
                return None;
            }
            dots_end
        };
        self.path_segments(at)
    }

    /// `(?: / [A-Za-z0-9._@%+~-]+ )+ /?`: each segment runs to the end of its run.
    fn path_segments(&self, index: usize) -> Option<usize> {
        let mut end = None;
        let mut at = index;
        while self.byte(at) == b'/' && is_path_segment(self.byte(at + 1)) {
            at = self.run_end(at + 1, is_path_segment);
            end = Some(at);
        }
        let end = end?;
        Some(self.byte_is(end, b'/').unwrap_or(end))
    }

    /// `(?: / [A-Za-z0-9_@%+~-][A-Za-z0-9._@%+~-]* )+ \. [A-Za-z][A-Za-z0-9]{0,7}`.
    ///
    /// The segments are read greedily, then given back one character at a time (the last
    /// segment first, then fewer segments) until `\.[A-Za-z]` follows: the extension is at
    /// the *last* dot-and-letter inside the segments. A start at a later segment of the same
    /// run sees a subset of those dots, so a failure rules out the whole run.
    fn path_with_extension(&mut self, start: usize) -> Option<usize> {
        if start < self.path_with_extension_impossible_before {
            return None;
        }
        let mut last_extension_dot = None;
        let mut at = start;
        while self.byte(at) == b'/' && is_path_segment_start(self.byte(at + 1)) {
            at += 1;
            while is_path_segment(self.byte(at)) {
                if self.byte(at) == b'.' && self.byte(at + 1).is_ascii_alphabetic() {
                    last_extension_dot = Some(at);
                }
                at += 1;
            }
        }
        let Some(dot) = last_extension_dot else {
            self.path_with_extension_impossible_before = at;
            return None;
        };
        let extension = dot + 2;
        Some(
            self.run_end(extension, |byte| byte.is_ascii_alphanumeric())
                .min(extension + 7),
        )
    }

    /// `[A-Za-z] : \\ (?: [^\\\s"'<>|:*?]+ \\ )* [^\\\s"'<>|:*?]*`.
    fn windows_path(&self, start: usize) -> Option<usize> {
        if self.byte(start + 1) != b':' || self.byte(start + 2) != b'\\' {
            return None;
        }
        let mut at = start + 3;
        loop {
            let name_end = self.windows_name_end(at);
            if name_end > at && self.byte(name_end) == b'\\' {
                at = name_end + 1;
            } else {
                return Some(name_end);
            }
        }
    }

    fn windows_name_end(&self, index: usize) -> usize {
        self.text[index..]
            .char_indices()
            .find(|&(_, character)| !is_windows_name(character))
            .map_or(self.bytes.len(), |(offset, _)| index + offset)
    }

    /// Dotted names ending in a well-known TLD or internal suffix:
    /// `(?: [a-z0-9] (?: [a-z0-9-]{0,61} [a-z0-9] )? \. )+ (?: localdomain|internal|…|me )`.
    /// [`replacement`] keeps them when more name follows (`java.io.IOException`).
    ///
    /// A label cannot contain its dot, so each label ends at the end of its run. The labels
    /// are read greedily, then given back one at a time until a suffix starts after the last
    /// dot kept. A start later in the first label's run reaches the same labels (with a
    /// shorter first one), so a failure rules out that run, or its part where the first
    /// label would be longer than 63.
    fn hostname(&mut self, start: usize) -> Option<usize> {
        if start < self.hostname_impossible_before || !is_label_edge(self.byte(start)) {
            return None;
        }
        let first_dot = match self.label(start) {
            Ok(dot) => dot,
            Err(impossible_before) => {
                self.hostname_impossible_before = impossible_before;
                return None;
            }
        };
        let mut last_dot = first_dot;
        while is_label_edge(self.byte(last_dot + 1)) {
            match self.label(last_dot + 1) {
                Ok(dot) => last_dot = dot,
                Err(_) => break,
            }
        }
        let mut dot = last_dot;
        loop {
            let suffix_start = dot + 1;
            if let Some(suffix) = HOSTNAME_SUFFIXES
                .iter()
                .find(|suffix| self.starts_with_at(suffix_start, suffix))
            {
                return Some(suffix_start + suffix.len());
            }
            if dot == first_dot {
                self.hostname_impossible_before = first_dot;
                return None;
            }
            dot = self.bytes[first_dot..dot]
                .iter()
                .rposition(|&byte| byte == b'.')
                .map_or(first_dot, |offset| first_dot + offset);
        }
    }

    /// `[a-z0-9] (?: [a-z0-9-]{0,61} [a-z0-9] )? \.` at `start` (a `[a-z0-9]`): the position of
    /// its dot, or the first start from which a label ending there could match.
    fn label(&self, start: usize) -> Result<usize, usize> {
        let end = self.run_end(start + 1, is_label);
        if self.byte(end) != b'.' || self.byte(end - 1) == b'-' {
            return Err(end);
        }
        if end - start > 63 {
            return Err(end - 63);
        }
        Ok(end)
    }

    /// `[0-9]+ (?: \.[0-9]+ )?`: the number of a duration.
    fn number(&self, start: usize) -> usize {
        let end = self.digit_run_end(start);
        if self.byte(end) == b'.' && self.byte(end + 1).is_ascii_digit() {
            return self.digit_run_end(end + 1);
        }
        end
    }

    /// 1.5s, 300ms, 2h45m0s, 30 seconds, 5 min:
    /// `[0-9]+ (?: \.[0-9]+ )? \ ? (?: nanoseconds?|…|weeks? )
    /// | [0-9]+ (?: \.[0-9]+ )? (?: ns|us|µs|ms|s|m|h|d ) (?: [0-9]+ (?: \.[0-9]+ )? (?: ns|us|µs|ms|s|m|h ) )*`
    ///
    /// A number gives back nothing that could match: fewer digits leave a digit, no fraction
    /// leaves a `.`, where the unit must start.
    fn duration(&self, start: usize) -> Option<usize> {
        let number_end = self.number(start);
        let word_start = self.byte_is(number_end, b' ').unwrap_or(number_end);
        if let Some(word) = DURATION_WORDS
            .iter()
            .find(|word| self.starts_with_at(word_start, word))
        {
            let end = word_start + word.len();
            return Some(self.byte_is(end, b's').unwrap_or(end));
        }
        let mut end = self.duration_unit(number_end, &DURATION_UNITS)?;
        while self.byte(end).is_ascii_digit() {
            match self.duration_unit(self.number(end), DURATION_UNITS_AFTER_FIRST) {
                Some(unit_end) => end = unit_end,
                None => break,
            }
        }
        Some(end)
    }

    fn duration_unit(&self, index: usize, units: &[&[u8]]) -> Option<usize> {
        units
            .iter()
            .find(|unit| self.starts_with_at(index, unit))
            .map(|unit| index + unit.len())
    }

    /// `[0-9]+ \. [0-9]+ (?: [eE][+-]?[0-9]+ )? | [0-9]+ [eE] [+-]? [0-9]+`.
    fn float(&self, start: usize) -> Option<usize> {
        let integer_end = self.digit_run_end(start);
        if self.byte(integer_end) == b'.' && self.byte(integer_end + 1).is_ascii_digit() {
            let end = self.digit_run_end(integer_end + 1);
            return Some(self.exponent(end).unwrap_or(end));
        }
        self.exponent(integer_end)
    }

    /// `[eE][+-]?[0-9]+`.
    fn exponent(&self, index: usize) -> Option<usize> {
        let at = self.byte_in(index, b"eE")?;
        let at = self.byte_in(at, b"+-").unwrap_or(at);
        self.digits_one_or_more(at)
    }
}

#[cfg(test)]
mod regex_oracle;
#[cfg(test)]
mod scanner_equivalence;

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: &str) {
        let output = parameterize(input);
        assert_eq!(output, expected, "input: {input}");
        assert_eq!(parameterize(&output), output, "not idempotent: {input}");
    }

    #[test]
    fn identifiers() {
        check(
            "user bob.smith+tag@example.co.uk not found",
            "user <email> not found",
        );
        check(
            "order 3fa85f64-5717-4562-b3fc-2c963f66afa6 missing",
            "order <uuid> missing",
        );
        check(
            "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 / etag d41d8cd98f00b204e9800998ecf8427e",
            "commit <sha1> / etag <md5>",
        );
        check(
            "object 507f1f77bcf86cd799439011 at 0x7ffd5e8c9a10, deadbeef is a word",
            "object <hex> at <hex>, deadbeef is a word",
        );
        check(
            "cache key user_42 and order123 for ipv4 utf8",
            "cache key user_<int> and order<int> for ipv4 utf8",
        );
        check("1234567890 rows", "<int> rows");
        check(
            "stripe: card_declined (request req_8f3a2c1b9d0e4f)",
            "stripe: card_declined (request req_<hex>)",
        );
        check(
            "digest e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 bad",
            "digest <hex> bad",
        );
    }

    #[test]
    fn network() {
        check(
            "GET https://api.example.com/v1/users/42?x=1 failed",
            "GET <url> failed",
        );
        check(
            "could not connect to db-3.prod.internal (10.0.12.7:5432)",
            "could not connect to <hostname> (<ip>:<int>)",
        );
        check(
            "from 2001:db8:85a3::8a2e:370:7334 and fe80::1 and ::1 and ::ffff:192.168.0.1",
            "from <ip> and <ip> and <ip> and <ip>",
        );
        check(
            "no such method std::io::Error::new, java.io.IOException raised",
            "no such method std::io::Error::new, java.io.IOException raised",
        );
    }

    #[test]
    fn dates_times_durations() {
        check(
            "retry in 5min or 2 hours",
            "retry in <duration> or <duration>",
        );
        check("at 2024-01-15T10:30:00.123Z", "at <datetime>");
        check("at 2024-01-15 10:30:00+02:00", "at <datetime>");
        check(
            "expires Mon, 15 Jan 2024 10:30:00 GMT",
            "expires <datetime>",
        );
        check(
            "at Mon Jan 15 2024 10:30:00 GMT+0000 (Coordinated Universal Time) x",
            "at <datetime> x",
        );
        check("[15/Jan/2024:10:30:00 +0000] x", "[<datetime>] x");
        check(
            "due 2024-01-15, 01/15/2024, 15.01.2024, Jan 15th, 2024",
            "due <date>, <date>, <date>, <date>",
        );
        check("at 10:30:00.5 or 9:15 PM", "at <time> or <time>");
        check(
            "timeout after 30s (1.5s, 300ms, 2h45m0s, 30 seconds, 5 min)",
            "timeout after <duration> (<duration>, <duration>, <duration>, <duration>, <duration>)",
        );
    }

    #[test]
    fn numbers_paths_quotes() {
        check(
            "balance -12.50 below 1e3 or 3.2e-4",
            "balance -<float> below <float> or <float>",
        );
        check(
            "cannot open /var/lib/app/uploads/a1.tmp or ./config/settings.yaml or C:\\Users\\bob\\x.txt",
            "cannot open <path> or <path> or <path>",
        );
        check(
            "GET /users/123/orders/9 returned 404",
            "GET /users/<int>/orders/<int> returned <int>",
        );
        check(
            "failed to load /static/js/main.3f2a1b9c.chunk.js",
            "failed to load <path>",
        );
        check(
            "invalid input: name='Robert' role=\"admin user\" id=42",
            "invalid input: name=<quoted> role=<quoted> id=<int>",
        );
    }

    #[test]
    fn keeps_two_lines_and_is_bounded() {
        check("a 1\n b 2 \nc 3", "a <int>\n b <int>");
        let long = "x".repeat(10_000);
        assert_eq!(parameterize(&long).len(), MAX_OUTPUT_BYTES);
        assert_eq!(parameterize(""), "");
    }
}
