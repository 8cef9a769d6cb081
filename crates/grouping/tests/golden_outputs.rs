//! Byte-for-byte pins of everything the grouping engine persists or hashes, over a broad input
//! set: fingerprint hashes and explanations (`v1`, `v2`, `v2` with rules), similarity features,
//! per-platform frame normalization and message parameterization.
//!
//! Where `fingerprint_golden.rs` keeps readable insta snapshots of a few dozen events, this test
//! covers thousands of inputs compactly: `golden/outputs.txt` holds one line per input, its
//! name and a digest (XxHash64) of everything computed from it, rendered as text. It exists so
//! that performance work can prove it changed nothing: any difference in any hash, explanation
//! JSON, summary, feature, frame key or parameterized message fails the test, and the failure
//! prints the full current output of the first inputs that differ.
//!
//! Inputs: the labelled corpus (`tests/corpus`), the frozen events of `golden/events.json`, and
//! inputs generated here from a fixed seed: adversarial events (unicode, empty and blank
//! fields, very long names, odd separators, generated names of every platform, deep recursion,
//! exception chains, client fingerprints) and adversarial messages (every placeholder kind
//! glued to every separator, multibyte characters at the truncation limits).
//!
//! A diff here is a DATA MIGRATION (see `fingerprint_golden.rs`), never something to re-bless.
//! The only legitimate reason to rewrite the file is a change of the *inputs* (new corpus
//! events, a new generator case): then regenerate it with `STACKHOUSE_BLESS_GOLDEN=1` from a
//! commit whose outputs are known good, and commit the input change and the file together.
#![allow(clippy::unwrap_used)]

mod common;
mod corpus;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use stackhouse_grouping::stack::{normalize_frame, FramePlatform};
use stackhouse_grouping::{
    fingerprint_event, parameterize, FingerprintRules, FingerprintVersion, GroupingConfig,
    GroupingFeatures,
};
use stackhouse_protocol::{ErrorEvent, Exception, Frame, Level, Mechanism, Stacktrace};
use twox_hash::XxHash64;

const GOLDEN_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/outputs.txt");
const BLESS_VARIABLE: &str = "STACKHOUSE_BLESS_GOLDEN";

const RULES: &str = "type:ChunkLoadError -> chunk-load-error\n\
                     message:\"*timeout*\" module:db.* -> db-timeouts {{ transaction }}\n\
                     type:*Integrity* !tags.region:eu-* -> {{ default }} integrity\n\
                     function:*charge* app:yes -> billing {{ function }} {{ module }}\n\
                     platform:go message:\"*refused*\" -> {{ type }} {{ message }} {{ tags.region }}";

const PLATFORMS: [FramePlatform; 9] = [
    FramePlatform::Python,
    FramePlatform::JavaScript,
    FramePlatform::Java,
    FramePlatform::Go,
    FramePlatform::Native,
    FramePlatform::Ruby,
    FramePlatform::Php,
    FramePlatform::DotNet,
    FramePlatform::Other,
];

// ---------------------------------------------------------------------------------------------
// Rendering: everything computed from one input, as text.

fn render_event(event: &ErrorEvent, configs: &[(&str, GroupingConfig)]) -> String {
    let mut rendered = String::new();
    for (name, config) in configs {
        let fingerprint = fingerprint_event(event, config);
        writeln!(
            rendered,
            "{name} {:016x} similarity_applies={}",
            fingerprint.hash,
            fingerprint.similarity_applies()
        )
        .unwrap();
        writeln!(
            rendered,
            "  json {}",
            serde_json::to_string(&fingerprint.explanation).unwrap()
        )
        .unwrap();
        writeln!(rendered, "  summary {}", fingerprint.explanation.summary()).unwrap();
    }
    let features = GroupingFeatures::from_event(event);
    writeln!(
        rendered,
        "features {}",
        serde_json::to_string(&features).unwrap()
    )
    .unwrap();
    let stacks = event
        .exceptions
        .iter()
        .filter_map(|exception| exception.stacktrace.as_ref())
        .chain(event.stacktrace.as_ref());
    for (stack_index, stacktrace) in stacks.enumerate() {
        for (frame_index, frame) in stacktrace.frames.iter().enumerate() {
            write!(rendered, "frame {stack_index}.{frame_index}").unwrap();
            for platform in PLATFORMS {
                match normalize_frame(frame, platform) {
                    Ok(normalized) => write!(
                        rendered,
                        " | {:?} {:?} {:?}",
                        normalized.module,
                        normalized.function,
                        normalized.key()
                    ),
                    Err(skip) => write!(rendered, " | skip {}", skip.as_str()),
                }
                .unwrap();
            }
            rendered.push('\n');
        }
    }
    rendered
}

fn render_message(message: &str) -> String {
    format!("{:?}", parameterize(message))
}

fn digest(rendered: &str) -> String {
    format!("{:016x}", XxHash64::oneshot(0, rendered.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Inputs.

/// A named input and its rendered outputs.
struct Entry {
    name: String,
    rendered: String,
}

fn entries() -> Vec<Entry> {
    let rules = FingerprintRules::parse(RULES).unwrap();
    let configs = [
        (
            "v1",
            GroupingConfig {
                version: FingerprintVersion::V1,
                ..GroupingConfig::default()
            },
        ),
        ("v2", GroupingConfig::default()),
        (
            "v2+rules",
            GroupingConfig {
                rules,
                ..GroupingConfig::default()
            },
        ),
    ];

    let mut events: Vec<(String, ErrorEvent)> = Vec::new();
    for (index, labelled) in corpus::corpus().into_iter().enumerate() {
        events.push((
            format!("corpus/{index:04}/{}", labelled.label),
            labelled.event,
        ));
    }
    #[derive(serde::Deserialize)]
    struct GoldenEvent {
        name: String,
        event: ErrorEvent,
    }
    let golden: Vec<GoldenEvent> =
        serde_json::from_str(include_str!("golden/events.json")).unwrap();
    for golden in golden {
        events.push((format!("golden/{}", golden.name), golden.event));
    }
    let mut random = Random(0x0006_01de_40a7_5eed);
    for index in 0..1500 {
        events.push((
            format!("generated-event/{index:04}"),
            generated_event(&mut random),
        ));
    }

    let mut messages: Vec<(String, String)> = Vec::new();
    for (name, event) in &events {
        let texts = event
            .exceptions
            .iter()
            .filter_map(|exception| exception.value.clone())
            .chain(event.message.clone())
            .chain(event.message_template.clone());
        for (index, text) in texts.enumerate() {
            messages.push((format!("{name}/message {index}"), text));
        }
    }
    for index in 0..2500 {
        messages.push((
            format!("generated-message/{index:04}"),
            generated_message(&mut random, 0..24),
        ));
    }
    for index in 0..500 {
        messages.push((
            format!("generated-characters/{index:04}"),
            generated_characters(&mut random),
        ));
    }
    for (index, message) in messages_at_limits().into_iter().enumerate() {
        messages.push((format!("limits/{index:04}"), message));
    }

    let mut entries: Vec<Entry> = events
        .iter()
        .map(|(name, event)| Entry {
            name: format!("event {name}"),
            rendered: render_event(event, &configs),
        })
        .collect();
    entries.extend(messages.iter().map(|(name, message)| Entry {
        name: format!("message {name}"),
        rendered: render_message(message),
    }));
    entries
}

/// SplitMix64: reproducible on every machine, independent of any crate's version.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, limit: usize) -> usize {
        (self.next() % limit as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// One to `most` pieces of `vocabulary`, glued with separators that matter to normalizers.
    fn glued(&mut self, vocabulary: &[&str], most: usize) -> String {
        let mut text = self.pick(vocabulary).to_owned();
        for _ in 1..1 + self.below(most) {
            text.push_str(self.pick(&["", ".", "::", "/", "\\", "$", "+", " ", "-", "_", "#"]));
            text.push_str(self.pick(vocabulary));
        }
        text
    }
}

/// Pieces of every placeholder kind, near-misses of each, and the characters between them.
const MESSAGE_PIECES: &[&str] = &[
    "42",
    "007",
    "-12.50",
    "1e3",
    "3.2e-4",
    "1.",
    ".5",
    "1.2.3",
    "0x7ffd5e8c9a10",
    "0XABC",
    "0x",
    "deadbeef",
    "deadbeef1",
    "DEADBEEF12",
    "507f1f77bcf86cd799439011",
    "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "d41d8cd98f00b204e9800998ecf8427e",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "3FA85F64-5717-4562-B3FC-2C963F66AFA6",
    "3fa85f64-5717-4562-b3fc",
    "10.0.12.7",
    "256.1.1.1",
    "1.2.3.4.5",
    "10.0.0.1:5432",
    "fe80::1",
    "::1",
    "::",
    "::ffff:192.168.0.1",
    "2001:db8:85a3::8a2e:370:7334",
    "2001:0db8:0000:0000:0000:ff00:0042:8329",
    "std::io::Error",
    "a::b",
    "bob@example.com",
    "bob.smith+tag@example.co.uk",
    "x@y",
    "@",
    "a@b.c",
    "https://api.example.com/v1/users/42?x=1",
    "ftp://a",
    "http://",
    "HTTP://X.IO/",
    "svn+ssh://h/p.",
    "db-3.prod.internal",
    "java.io.IOException",
    "example.com.",
    "api.example.com",
    "x.io",
    "a.b.c.in",
    "db.internal.svc",
    "2024-01-15T10:30:00.123Z",
    "2024-01-15 10:30:00+02:00",
    "2024-01-15T10:30",
    "Mon, 15 Jan 2024 10:30:00 GMT",
    "Mon Jan 15 2024 10:30:00 GMT+0000 (Coordinated Universal Time)",
    "Mon Jan 15 10:30:00 UTC 2024",
    "15/Jan/2024:10:30:00 +0000",
    "01/15/2024 10:30:00 PM",
    "1/2/24 9:05",
    "2024/01/15",
    "2024-01-15",
    "15.01.2024",
    "Jan 15th, 2024",
    "15 January 2024",
    "September 3, 2023",
    "10:30",
    "9:15 PM",
    "9:15pm",
    "10:30:00.5",
    "25:99:99",
    "5min",
    "2 hours",
    "300ms",
    "2h45m0s",
    "1.5µs",
    "30 seconds",
    "1s",
    "7d",
    "3 weeks",
    "12hrs",
    "/var/lib/app/a1.tmp",
    "./config/x.yaml",
    "../a/b",
    "~/x",
    "~",
    "C:\\Users\\bob\\x.txt",
    "D:\\",
    "/users/123/orders/9",
    "/static/js/main.3f2a1b9c.chunk.js",
    "/home/u/.cache/",
    "/a.b",
    "/.x",
    "name='Robert'",
    "role=\"admin user\"",
    "k=`v`",
    "= 'x'",
    "=''",
    "='unterminated",
    "=\"a\nb\"",
    "user_42",
    "order123",
    "utf8",
    "ipv4",
    "S3",
    "x86_64",
    "req_8f3a2c1b9d0e4f",
    "<int>",
    "<hex>",
    "<uuid>",
    "=<quoted>",
    "<",
    ">",
    "<<>>",
    "é",
    "ünïcödé",
    "日本語",
    "🦀",
    "\u{200b}",
    "Ω42",
    "٣٤",
    "Ⅻ",
    "ß",
    "\u{301}",
    "\n",
    "\r\n",
    "\t",
    "  ",
    "",
    "_",
    "-",
    ".",
    ",",
    ";",
    ":",
    "::",
    "/",
    "\\",
    "'",
    "\"",
    "`",
    "(",
    ")",
    "[",
    "]",
    "=",
    "@",
    "#",
    "%",
    "+",
    "?",
    "!",
    "*",
    "|",
    "a",
    "Z",
    "the",
    "Timeout",
    "NULL",
    "x=1",
];

fn generated_message(random: &mut Random, pieces: std::ops::Range<usize>) -> String {
    let count = pieces.start + random.below(pieces.end - pieces.start);
    let mut message = String::new();
    for _ in 0..count {
        message.push_str(random.pick(MESSAGE_PIECES));
        if random.chance(60) {
            message.push_str(random.pick(&[" ", " ", "", ", ", ": ", "=", "/", "\n", "_"]));
        }
    }
    message
}

/// Random text over a small alphabet whose characters all mean something to a scanner.
fn generated_characters(random: &mut Random) -> String {
    const ALPHABET: &[char] = &[
        'a', 'f', 'F', 'x', 'Z', 'm', 's', 'h', '0', '1', '9', '.', ':', '-', '/', '\\', '_', '@',
        ' ', '\n', '\'', '"', '`', '=', '<', '>', 'é', '日', 'µ', '🦀', '+', '?', '~', 'T',
    ];
    let length = random.below(300);
    (0..length)
        .map(|_| ALPHABET[random.below(ALPHABET.len())])
        .collect()
}

/// Messages around the input (2048 bytes) and output (1024 bytes) cuts, with multibyte
/// characters straddling them.
fn messages_at_limits() -> Vec<String> {
    let mut messages = Vec::new();
    for filler in ["x", "é", "日", "🦀", "1 ", "a1 ", "id=42 ", "é1"] {
        for target in [
            1020usize, 1023, 1024, 1025, 1030, 2040, 2046, 2047, 2048, 2049, 2055,
        ] {
            let mut message = String::new();
            while message.len() < target {
                message.push_str(filler);
            }
            messages.push(message.clone());
            message.push_str(" 42 bob@example.com\nsecond 7\nthird 9");
            messages.push(message);
        }
    }
    messages.push("x".repeat(10_000));
    messages.push("42 ".repeat(2_000));
    messages.push("\n\n\n".to_owned());
    messages.push("   \n  a 1  \n  ".to_owned());
    messages.push(format!("{}1", " ".repeat(3000)));
    messages
}

const PLATFORM_NAMES: &[&str] = &[
    "python",
    "javascript",
    "node",
    "java",
    "kotlin",
    "android",
    "go",
    "rust",
    "native",
    "cocoa",
    "ruby",
    "php",
    "csharp",
    "dotnet",
    "unity",
    "other",
    "",
    "PYTHON",
    "🦀",
];

const MODULE_PIECES: &[&str] = &[
    "app.services.billing",
    "com.acme.OrderService",
    "com.acme.OrderService$$EnhancerBySpringCGLIB$$8f3b2c1a",
    "com.acme.Dao_$$_jvst4a1_7",
    "com.acme.Web$$Lambda$1234/0x0000000800c02040",
    "jdk.proxy2.$Proxy145",
    "jdk.internal.reflect.GeneratedMethodAccessor87",
    "com.acme.Outer$2",
    "com.acme.Entity$HibernateProxy$abc",
    "$Proxy12",
    "github.com/acme/shop/v2/cache",
    "github.com/go-chi/chi/v5@v1.8.0",
    "net/http",
    "main",
    "Shop.Orders.OrderService+<PlaceOrderAsync>d__5",
    "Shop.Orders.OrderService+<>c__DisplayClass3_0",
    "Shop.Orders+<>c",
    "MyApp, Version=1.2.3.4, Culture=neutral",
    "app.handlers:user",
    "src/handlers/user.js",
    "rack-2.2.8",
    "pq@v1.10.9",
    "tokio-1.35.0",
    "a1b2c3d4e5f6",
    "12345",
    "v1.2.3",
    "index-BfK3x9aZ",
    "",
    " ",
    "ünïcode.mödule",
    "日本.語",
    "🦀::crab",
    "a..b",
    "::",
    ".",
    "$",
    "+",
    "<",
    ">",
    "(",
    ")",
    "[",
    "]",
    "#",
    "@",
    "-",
    "/",
    "\\",
    "db.pool",
];

const FUNCTION_PIECES: &[&str] = &[
    "charge",
    "PaymentService.charge_step_3",
    "lambda$placeOrder$3",
    "access$000",
    "run$1",
    "(*Service).Place.func2.1",
    "glob..func1",
    "Map[...].Get",
    "Map[go.shape.int]",
    "Handle-fm",
    "(*pkg.T).M",
    "func7",
    "shop::orders::place::h0123456789abcdef",
    "x::hzzzz",
    "shop::run::{closure#1}",
    "{async_fn_env#0}",
    "a#b",
    "0x7ffd1234abcd",
    "deadbeef12",
    "block (2 levels) in process",
    "rescue in save",
    "ensure in x",
    "block in y",
    "_app_views_orders_show_html_erb__3528840932_78340",
    "class@anonymous/var/www/releases/42/src/Handler.php:12$0::handle",
    "App\\Http\\Controllers\\OrderController::show",
    "{closure}",
    "MoveNext",
    "<Handle>b__0",
    "<Main>g__Local|0_0(String[] args)",
    "<PlaceOrderAsync>d__5",
    "Shop.Program.<Main>g__Local|0_0",
    "Shop.Svc.Run(Int32 id)",
    "async CheckoutForm.submit [as onSubmit]",
    "new Foo",
    "Object.<anonymous>",
    "Module.<anonymous>",
    "<anonymous>",
    "?",
    "<unknown>",
    "unknown",
    "t.n",
    "e",
    "Xe",
    "t.handleSubmit",
    "a.b.c",
    "SetStateMachine",
    "",
    " ",
    "ünïcode_fn",
    "日本語",
    "🦀",
    "$",
    "$$",
    "#",
    "(",
    ")",
    "[",
    "]",
    "::h",
    "func",
    "func1",
    "1",
    "<",
    ">",
    "|",
    "__",
    "d__",
];

const PATH_PIECES: &[&str] = &[
    "app/models/order.rb",
    "/srv/releases/20240102101010/app/views/orders/show.html.erb",
    "/usr/local/bundle/gems/activerecord-7.1.2/lib/active_record/base.rb",
    "https://cdn.acme.com/static/js/main.3f2a1b9c.chunk.js?v=2",
    "app:///assets/index-BfK3x9aZ.js",
    "https://acme.com/_next/static/chunks/532.a1b2c3d4e5.js",
    "/app/node_modules/.pnpm/react-dom@18.2.0/node_modules/react-dom/cjs/react-dom.development.js",
    "/var/www/releases/42/src/Handler.php",
    "C:\\src\\Shop\\Orders.cs",
    "server.go",
    "/go/pkg/mod/github.com/go-chi/chi/v5@v1.8.0/mux.go",
    "views.py",
    "532.js",
    "x.min.js",
    "a.b.c.d.e",
    "#frag",
    "?q",
    "://",
    "",
    " ",
    "/",
    ".",
    "..",
    "~",
    "ünï/cödé.py",
    "日本/語.js",
    "🦀.rs",
    "a-1.2.3/b",
    "x@1.0.0/y",
    "webpack:///./src/x.tsx",
    "a\\b/c.map",
    "1234/5678",
];

const PACKAGE_PIECES: &[&str] = &[
    "/usr/lib/libc-2.31.so",
    "MyApp, Version=1.0.0.0",
    "libfoo.dylib",
    "a\\b\\c.dll",
    "tokio-1.35.0",
    "",
    "🦀",
    "app",
    "12.3",
];

const TYPE_PIECES: &[&str] = &[
    "ValueError",
    " ValueError ",
    "#<Class:0x000055d5c0a1b2c8>",
    "com.acme.Err$$EnhancerBySpringCGLIB$$1a2b",
    "",
    " ",
    "*errors.errorString",
    "0x0x12",
    "日本Error",
    "IntegrityError",
    "ChunkLoadError",
    "OperationalError",
    "java.lang.NullPointerException",
    "Error",
    "$$",
    "0x",
    "🦀",
];

const FINGERPRINT_VALUES: &[&str] = &[
    "{{ default }}",
    "{{default}}",
    "{{ Default }}",
    "tenant-a",
    "",
    "  ",
    "{{ type }}",
    "{{ error.type }}",
    "{{ message }}",
    "{{ error.value }}",
    "{{ transaction }}",
    "{{ level }}",
    "{{ logger }}",
    "{{ platform }}",
    "{{ function }}",
    "{{ module }}",
    "{{ tags.region }}",
    "{{ tags.missing }}",
    "{{ nope }}",
    "{{",
    "}}",
    "ünï",
    "{{}}",
];

fn optional(random: &mut Random, vocabulary: &[&str], most: usize) -> Option<String> {
    if random.chance(25) {
        None
    } else if random.chance(3) {
        Some(format!("{}{}", random.pick(vocabulary), "x".repeat(3000)))
    } else {
        Some(random.glued(vocabulary, most))
    }
}

fn generated_frame(random: &mut Random) -> Frame {
    Frame {
        function: optional(random, FUNCTION_PIECES, 3),
        module: optional(random, MODULE_PIECES, 3),
        package: random
            .chance(20)
            .then(|| random.pick(PACKAGE_PIECES).to_owned()),
        filename: optional(random, PATH_PIECES, 2),
        abs_path: optional(random, PATH_PIECES, 2),
        lineno: random.chance(80).then(|| random.below(5000) as u32),
        colno: random.chance(30).then(|| random.below(200) as u32),
        in_app: match random.below(3) {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        },
        platform: random
            .chance(10)
            .then(|| random.pick(PLATFORM_NAMES).to_owned()),
        ..Frame::default()
    }
}

fn generated_frames(random: &mut Random) -> Vec<Frame> {
    let count = match random.below(10) {
        0 => 0,
        1 => 60 + random.below(60),
        _ => random.below(30),
    };
    let mut frames: Vec<Frame> = Vec::with_capacity(count);
    while frames.len() < count {
        let frame = match frames.last() {
            // Recursion: the same frame again, sometimes with another line number.
            Some(previous) if random.chance(20) => {
                let mut repeated = previous.clone();
                if random.chance(50) {
                    repeated.lineno = Some(random.below(5000) as u32);
                }
                repeated
            }
            _ => generated_frame(random),
        };
        frames.push(frame);
    }
    frames
}

fn generated_event(random: &mut Random) -> ErrorEvent {
    let mut event = common::base_event(random.pick(PLATFORM_NAMES));
    event.level = [
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Fatal,
    ][random.below(5)];
    for _ in 0..random.below(4) {
        let frames = generated_frames(random);
        event.exceptions.push(Exception {
            ty: random.glued(TYPE_PIECES, 2),
            value: random.chance(80).then(|| generated_message(random, 0..12)),
            module: None,
            mechanism: random.chance(50).then(|| Mechanism {
                ty: "generic".into(),
                synthetic: match random.below(3) {
                    0 => None,
                    1 => Some(true),
                    _ => Some(false),
                },
                ..Mechanism::default()
            }),
            stacktrace: random.chance(90).then_some(Stacktrace { frames }),
        });
    }
    if random.chance(30) {
        event.stacktrace = Some(Stacktrace {
            frames: generated_frames(random),
        });
    }
    if random.chance(40) {
        event.message = Some(generated_message(random, 0..12));
    }
    if random.chance(20) {
        event.message_template = Some(generated_message(random, 0..6));
    }
    if random.chance(15) {
        let count = random.below(4);
        event.fingerprint = Some(
            (0..count)
                .map(|_| random.pick(FINGERPRINT_VALUES).to_owned())
                .collect(),
        );
    }
    if random.chance(40) {
        event.transaction = Some(random.glued(PATH_PIECES, 2));
    }
    if random.chance(30) {
        event.logger = Some(random.glued(MODULE_PIECES, 2));
    }
    if random.chance(50) {
        let region = random
            .pick(&["us-east-1", "eu-west-1", "", "ünï"])
            .to_owned();
        event.tags.push(("region".to_owned(), region));
    }
    event
}

// ---------------------------------------------------------------------------------------------
// The test.

#[test]
fn every_output_matches_the_golden_file() {
    let entries = entries();
    let current: Vec<String> = entries
        .iter()
        .map(|entry| format!("{} {}", entry.name, digest(&entry.rendered)))
        .collect();

    if std::env::var_os(BLESS_VARIABLE).is_some() {
        let mut file = String::from(
            "# Digests of every grouping output for the inputs of tests/golden_outputs.rs.\n\
             # A changed line is a data migration: see that file before touching this one.\n",
        );
        for line in &current {
            file.push_str(line);
            file.push('\n');
        }
        std::fs::write(GOLDEN_PATH, file).unwrap();
        eprintln!("wrote {} entries to {GOLDEN_PATH}", current.len());
        return;
    }

    let golden_file = std::fs::read_to_string(GOLDEN_PATH).unwrap();
    let golden: BTreeMap<&str, &str> = golden_file
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.rsplit_once(' '))
        .collect();
    assert_eq!(
        golden.len(),
        entries.len(),
        "the inputs changed (golden file has {} entries, the test {}): see the module docs",
        golden.len(),
        entries.len()
    );

    let mut differences = Vec::new();
    for (entry, line) in entries.iter().zip(&current) {
        let (_, digest) = line.rsplit_once(' ').unwrap();
        match golden.get(entry.name.as_str()) {
            Some(pinned) if *pinned == digest => {}
            Some(_) => differences.push(entry),
            None => panic!("input {} is not in the golden file", entry.name),
        }
    }
    for entry in differences.iter().take(5) {
        eprintln!(
            "--- {} differs; it now renders as:\n{}",
            entry.name, entry.rendered
        );
    }
    assert!(
        differences.is_empty(),
        "{} of {} outputs differ from {GOLDEN_PATH}",
        differences.len(),
        entries.len()
    );
}
