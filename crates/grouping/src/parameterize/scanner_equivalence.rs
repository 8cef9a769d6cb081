//! Property tests: the scanner finds exactly the matches of the regex it replaced (same
//! positions, same kinds) and [`parameterize`] gives exactly the regex implementation's
//! output, on messages built from realistic fragments of every kind, their near misses, the
//! separators between them, unicode and random bytes.

use proptest::prelude::*;

use super::regex_oracle::{matches_with_regex, parameterize_with_regex};
use super::{
    first_lines, parameterize, truncate_at_char_boundary, Scanner, LINES_KEPT, MAX_INPUT_BYTES,
};

/// The scanner's matches as the oracle reports them: `(start, end, group name)`.
fn matches_with_scanner(head: &str) -> Vec<(usize, usize, String)> {
    Scanner::new(head)
        .map(|found| {
            let name = format!("{:?}", found.kind).to_lowercase();
            (found.start, found.end, name)
        })
        .collect()
}

#[track_caller]
fn assert_same_as_regex(message: &str) {
    let head = truncate_at_char_boundary(first_lines(message, LINES_KEPT), MAX_INPUT_BYTES);
    let expected: Vec<(usize, usize, String)> = matches_with_regex(head)
        .into_iter()
        .map(|(start, end, name)| (start, end, name.to_owned()))
        .collect();
    assert_eq!(
        matches_with_scanner(head),
        expected,
        "matches of {message:?}"
    );
    assert_eq!(
        parameterize(message),
        parameterize_with_regex(message),
        "output for {message:?}"
    );
}

/// Values of every kind, in the formats the patterns know and just outside them.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        // Emails, URLs, hostnames.
        "[a-zA-Z0-9._%+-]{1,10}@[a-zA-Z0-9-]{0,8}(\\.[a-zA-Z0-9-]{0,5}){0,3}",
        "[a-z0-9.]{1,4}@[a-z0-9.-]{0,4}@[a-z0-9-]{1,4}\\.[a-z]{1,3}",
        "[a-zA-Z][a-zA-Z0-9+.-]{0,17}://[a-zA-Z0-9./?=&%:#@!,;)(\\]\\[~_-]{0,30}",
        "(https?|ftp|s3|postgres\\+ssl)://[a-z0-9.-]{1,12}(:[0-9]{2,5})?(/[a-z0-9._-]{0,8}){0,3}[.,;:!?)]?",
        "([a-z0-9][a-z0-9-]{0,10}\\.){1,4}(com|internal|io|co|in|info|local|localdomain|dev|de|example|me|foo)[a-zA-Z.]{0,3}",
        // IPv4, IPv6.
        "[0-9]{1,4}(\\.[0-9]{1,4}){2,4}",
        "[0-9a-fA-F]{0,5}(::?[0-9a-fA-F]{0,5}){1,8}",
        "::(ffff:)?[0-9]{1,3}(\\.[0-9]{1,4}){0,4}",
        // UUIDs, hex, SHA-1, MD5.
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[0-9a-fA-F]{7,9}-[0-9a-f]{3,5}-[0-9a-f]{4}-[0-9A-F]{4}-[0-9a-f]{11,13}",
        "[0-9a-f]{6,42}",
        "[0-9a-f]{40}|[0-9a-f]{32}",
        "0[xX][0-9a-fA-F]{0,12}",
        // Dates and times in every supported format, with variations.
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?([.,][0-9]{1,6})?( ?Z| ?[+-][0-9]{2}:?[0-9]{2}| UTC| GMT)?",
        "((Mon|Tue|Sun),? {1,2})?[0-9]{1,3} {1,2}(Jan|Feb|Dec) {1,2}[0-9]{4} {1,2}[0-9]{2}:[0-9]{2}(:[0-9]{2})?( {1,2}([+-][0-9]{4}|GMT|UTC))?",
        "(Mon|Fri) {1,2}(Jan|Dec) [0-9]{1,3} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}( GMT[+-][0-9]{4})?( {1,2}\\([A-Za-zé )\n]{0,64}\\)?)?",
        "(Mon|Wed) +(Jan|Oct) +[0-9]{1,3} +[0-9]{2}:[0-9]{2}:[0-9]{2}( +[A-Z]{2,5})? +[0-9]{3,5}",
        "[0-9]{2,3}/(Jan|Feb)/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2}( [+-][0-9]{3,4})?",
        "[0-9]{1,3}/[0-9]{1,3}/[0-9]{1,5}[ T][0-9]{1,3}:[0-9]{2}(:[0-9]{2})?( ?[AaPpX][Mm])?",
        "[0-9]{4}[-/][0-9]{2}[-/][0-9]{2,3}",
        "[0-9]{1,3}[/.][0-9]{1,3}[/.][0-9]{2,5}",
        "[0-9]{1,3} {1,2}(Jan|Feb|Dec)[a-z]{0,6},? {0,2}[0-9]{3,5}",
        "(Jan|March|Sept|Dec)[a-z]{0,5} {1,2}[0-9]{1,3}(st|nd|rd|th|xx)?,? {0,2}[0-9]{3,5}",
        "[0-9]{1,3}:[0-9]{1,2}(:[0-9]{2}([.,][0-9]{0,4})?)? ?([AaPp][Mm])?",
        // Durations, floats, integers.
        "[0-9]{1,4}(\\.[0-9]{1,3})? ?(ns|us|µs|ms|s|m|h|d|sec|secs|second|seconds|min|mins|minute|minutes|hours?|hrs?|days?|weeks?|nanoseconds?|microseconds?|milliseconds?|x)",
        "([0-9]{1,2}(\\.[0-9])?(h|m|s|ms|us|µs|ns|d)){1,4}",
        "[0-9]{1,5}\\.[0-9]{0,5}([eE][+-]?[0-9]{0,3})?",
        "[0-9]{1,3}[eE][+-]?[0-9]{0,3}",
        "-?[0-9]{1,12}",
        // Quoted values after `=`.
        "[a-z]{0,6}= {0,2}[\"'`][a-zA-Z 0-9=\"'`\t]{0,12}[\"'`\n]?",
        // File paths and things that look like them.
        "/(home|var|usr|tmp|Users|builds?|lib|Library|app|foo)(/[A-Za-z0-9._@%+~-]{0,8}){0,4}/?",
        "(\\.{1,3}|~)(/[a-z0-9._-]{0,8}){1,3}/?",
        "(/[a-zA-Z0-9._-]{1,10}){1,4}\\.[a-zA-Z0-9][a-zA-Z0-9]{0,9}",
        "[A-Za-z]:\\\\([A-Za-z0-9 ._é-]{0,8}\\\\){0,3}[A-Za-z0-9._-]{0,8}",
        "/[a-z]{1,8}/[0-9]{1,5}(/[a-z]{1,8})?",
        // Names that contain the separators of the kinds above.
        "[a-z]{2,6}(::[A-Za-z]{1,6}){1,3}",
        "(java|com|org)(\\.[a-z]{1,4}){1,3}\\.[A-Z][a-zA-Z]{1,8}",
        "[A-Za-z_]{1,6}[0-9]{1,4}[A-Za-z_]{0,4}",
        // Placeholders, as a second pass sees them.
        "(=)?<(int|hex|ip|uuid|quoted|path|url)>",
    ]
}

/// What sits between values: words, separators, whitespace, unicode, arbitrary characters.
fn filler() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_]{1,8}",
        "[a-z]{1,10}",
        "[A-Z][a-z]{2,5}",
        "[ .,:;=/'\"@()\\[\\]<>_\\\\~%+*?!|#`-]{1,3}",
        " {1,3}",
        "[\t\n\r]",
        "(é|µ|ü|日本|👍|\u{a0}|\u{2003}|\u{3000}|\u{85})",
        "\\PC{1,6}",
        "[\\x00-\\x7f]{1,4}",
    ]
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![3 => value(), 2 => filler()]
}

fn message() -> impl Strategy<Value = String> {
    proptest::collection::vec(fragment(), 0..30).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn same_as_regex_on_realistic_messages(message in message()) {
        assert_same_as_regex(&message);
    }

    #[test]
    fn same_as_regex_glued_without_separators(parts in proptest::collection::vec(value(), 1..6)) {
        assert_same_as_regex(&parts.concat());
    }

    #[test]
    fn same_as_regex_on_arbitrary_text(message in "\\PC{0,300}") {
        assert_same_as_regex(&message);
    }

    #[test]
    fn same_as_regex_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        assert_same_as_regex(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn same_as_regex_on_second_pass(message in message()) {
        assert_same_as_regex(&parameterize_with_regex(&message));
    }
}

/// Long inputs: the cut at 2,048 bytes through multibyte characters, and long runs that the
/// scanner's memos skip (words, labels, path segments without an extension).
#[test]
fn same_as_regex_on_long_inputs() {
    let cases = [
        "é".repeat(1500),
        format!("{}{}", "a".repeat(2047), "é"),
        "abcdefghij".repeat(300),
        "a.b-c.".repeat(400),
        format!("{}.com", "a".repeat(70)),
        format!("{}.com", "a".repeat(63)),
        format!("x{}.internal", "b".repeat(62)),
        format!("{}.com", "a".repeat(64)),
        format!("a.{}.com", "b".repeat(64)),
        format!("{}.a.com", "b".repeat(64)),
        format!("at Mon Jan 15 2024 10:30:00 ({})", "é".repeat(60)),
        format!("at Mon Jan 15 2024 10:30:00 ({})", "é".repeat(61)),
        format!("at Mon Jan 15 2024 10:30:00 ({})", "Z".repeat(61)),
        "/seg".repeat(600),
        format!("{}.txt", "/seg".repeat(400)),
        "x@y".repeat(700),
        "1.2.3.4.5.6.7.8.9".repeat(100),
        "::".repeat(1000),
        "f:".repeat(1000),
        "='".repeat(1000),
        "http://".repeat(300),
        format!("{}://x", "a".repeat(20)),
        "2024-01-15T10:30:00Z ".repeat(100),
    ];
    for case in cases {
        assert_same_as_regex(&case);
    }
}

/// Near misses of every pattern, one by one, so that a divergence names its case.
#[test]
fn same_as_regex_on_edge_cases() {
    let cases = [
        "a://x",
        "ab://x.",
        "abcdefghijklmnop://x",
        "abcdefghijklmnopq://x",
        "x1+2.3-4://a.b,c)",
        "http://a:b.c! done",
        "http://é.fr/ü?x=1)",
        "mailto:bob@example",
        "bob@example.",
        "a@b@c.com",
        "a.b@c-d@e.io x@y@z",
        "bob@-.-",
        ".@a.b",
        "3fa85f64-5717-4562-b3fc-2c963f66afa6x",
        "3fa85f645-5717-4562-b3fc-2c963f66afa6",
        "2024-01-15T10:30",
        "2024-01-15T10:30:00 +0200",
        "2024-01-15T10:30:00+02",
        "2024-01-15 10:30:00,5 GMT",
        "2024-01-15 10:30:00  UTC",
        "Mon, 15 Jan 2024 10:30",
        "Mon,15 Jan 2024 10:30:00 +01000",
        "Mon 15 Jan 2024 10:30",
        "Mon Jan 15 2024 10:30:00 (Central European Summer Time)",
        "Mon Jan 15 2024 10:30:00 ()",
        "Mon Jan 15 10:30:00 UTC 2024",
        "Mon Jan 15 10:30:00 CEST 20245",
        "Mon Jan 15 10:30:00 CESTX 2024",
        "Mon Jan 15 10:30:00  2024",
        "15/Jan/2024:10:30:00 +00000",
        "1/2/24 3:04 pm",
        "1/2/2024T3:04:05PM",
        "123/4/2024 10:30",
        "2024/01/155",
        "1.2.2024",
        "15 January, 2024",
        "15 Janx 2024",
        "Jan 15th, 2024",
        "Jan 1st 2024",
        "Jan 155 2024",
        "10:30:00.5PM",
        "10:30:00. PM",
        "10:3",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "1:2:3:4:5:6::7",
        "abcde::1",
        "::ffff:1.2.3",
        "::ffff:1.2.3.4567",
        "Error::new",
        "a::b::c",
        "1.2.3.4567",
        "0x",
        "0xg",
        "0Xdead",
        "deadbeef1",
        "/var/",
        "/var/x/",
        "/variable/x",
        "/builds/x",
        "/buildsx/y",
        "../../x",
        ".../x",
        "~/x/y/",
        "/a/.hidden.txt",
        "/a.b/c",
        "/a/b.c1/d",
        "/x.verylongextension",
        "C:\\",
        "C:\\\\x",
        "C:\\a b\\c",
        "c:\\x|y",
        "db.in",
        "db.internalx",
        "db.internal.x",
        "a-.com",
        "-a.com",
        "A.com",
        "a..com",
        "5min",
        "5 mins",
        "5 secure",
        "1.5.3s",
        "2h45m0s1d",
        "3µs",
        "1e",
        "1e+",
        "1.e5",
        "1.5e-x",
        "id= 'x",
        "id=\t\"a b\"",
        "id=`a\nb`",
        "a=<quoted>",
        "user_<int>",
        "\u{a0}http://x\u{a0}y",
        "http://x\u{2003}y",
    ];
    for case in cases {
        assert_same_as_regex(case);
    }
}
