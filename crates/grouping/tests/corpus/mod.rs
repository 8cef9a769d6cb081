//! The labelled grouping corpus: realistic events for 8 platforms, each labelled with the bug it comes from.
//!
//! Events are built in code from per-bug templates plus deterministic variation (a seeded
//! PRNG): what changes between two events of one bug is what changes in production — ids,
//! timestamps, users and URLs in messages, line numbers and build hashes across deploys,
//! framework frames (middleware present or not, library versions), recursion depth, browser
//! wording of the same error, runtime upgrades, stacks truncated by the browser, functions
//! renamed by a refactor. Different bugs often share an exception type and even a message,
//! as they do in production (`'NoneType' object has no attribute 'email'` in two places).
//!
//! One module per platform; each adds its bugs with [`Corpus::bug`].
#![allow(dead_code, clippy::unwrap_used)]

mod dotnet;
mod go;
mod java;
mod javascript;
mod php;
mod python;
mod ruby;
mod rust;

use stackhouse_protocol::{
    ErrorEvent, Exception, Frame, Mechanism, NamedVersion, Request, Stacktrace, User,
};

/// One corpus event and the bug it belongs to.
pub struct Labelled {
    pub label: &'static str,
    pub event: ErrorEvent,
}

/// The whole corpus, in a deterministic shuffled order (so a bug's first event is any of its
/// variants, not always the first generated).
pub fn corpus() -> Vec<Labelled> {
    let mut corpus = Corpus {
        events: Vec::new(),
        seed: 0x05ee_d0f5_ac44_015e,
    };
    python::bugs(&mut corpus);
    javascript::bugs(&mut corpus);
    java::bugs(&mut corpus);
    go::bugs(&mut corpus);
    rust::bugs(&mut corpus);
    ruby::bugs(&mut corpus);
    php::bugs(&mut corpus);
    dotnet::bugs(&mut corpus);
    let mut shuffle = V::new(0xdec0de, 0);
    let mut events = corpus.events;
    for index in (1..events.len()).rev() {
        let other = shuffle.int(0, index as u64) as usize;
        events.swap(index, other);
    }
    events
}

pub struct Corpus {
    events: Vec<Labelled>,
    seed: u64,
}

impl Corpus {
    /// Adds `count` events of one bug, each built by `build` from its own variation source.
    pub fn bug(&mut self, label: &'static str, count: usize, build: impl Fn(&mut V) -> ErrorEvent) {
        for index in 0..count {
            self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut variation = V::new(self.seed, index);
            let event = build(&mut variation);
            self.events.push(Labelled { label, event });
        }
    }
}

/// Variation: a seeded PRNG plus the deploy the event came from.
pub struct V {
    state: u64,
    /// Which of 6 deploys produced the event: drives line offsets and build hashes.
    pub deploy: u32,
    pub index: usize,
}

impl V {
    fn new(seed: u64, index: usize) -> V {
        let mut variation = V {
            state: seed,
            deploy: 0,
            index,
        };
        variation.deploy = variation.int(0, 5) as u32;
        variation
    }

    pub fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn int(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    pub fn chance(&mut self, probability: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < probability
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.int(0, items.len() as u64 - 1) as usize]
    }

    pub fn hex(&mut self, length: usize) -> String {
        (0..length)
            .map(|_| char::from_digit(self.int(0, 15) as u32, 16).unwrap())
            .collect()
    }

    pub fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-{}{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.pick(&["8", "9", "a", "b"]),
            self.hex(3),
            self.hex(12)
        )
    }

    pub fn email(&mut self) -> String {
        let name = self
            .pick(&[
                "alice", "bob", "carol", "dmitri", "eve", "fatima", "gus", "hana",
            ])
            .to_string();
        let domain = self
            .pick(&[
                "example.com",
                "mail.example.org",
                "corp.example.net",
                "gmail.com",
            ])
            .to_string();
        format!("{name}.{}@{domain}", self.int(1, 999))
    }

    pub fn ip(&mut self) -> String {
        format!(
            "10.{}.{}.{}",
            self.int(0, 255),
            self.int(0, 255),
            self.int(1, 254)
        )
    }

    pub fn id(&mut self) -> u64 {
        self.int(1, 9_999_999)
    }

    /// A line number around `base`: code above it moves a little with each deploy.
    pub fn line(&mut self, base: u32) -> u32 {
        base + self.deploy * 3 + self.int(0, 1) as u32
    }

    /// Hex that is stable within a deploy and changes across deploys (build hashes).
    pub fn build_hex(&self, salt: &str, length: usize) -> String {
        let mut state = u64::from(self.deploy).wrapping_mul(0x2545_F491_4F6C_DD1D);
        for byte in salt.bytes() {
            state = (state ^ u64::from(byte)).wrapping_mul(0x100_0000_01B3);
        }
        let mut generator = V {
            state,
            deploy: 0,
            index: 0,
        };
        generator.hex(length)
    }

    /// Base62 that is stable within a deploy (Vite/Rollup file hashes).
    pub fn build_base62(&self, salt: &str, length: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let hex = self.build_hex(salt, length * 2);
        hex.as_bytes()
            .chunks(2)
            .map(|pair| {
                let value = u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap();
                ALPHABET[value as usize % ALPHABET.len()] as char
            })
            .collect()
    }

    pub fn release(&self, app: &str) -> String {
        format!("{app}@1.{}.{}", 4 + self.deploy / 3, self.deploy * 7 % 10)
    }

    pub fn timestamp(&mut self) -> String {
        format!(
            "2024-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.int(1, 12),
            self.int(1, 28),
            self.int(0, 23),
            self.int(0, 59),
            self.int(0, 59)
        )
    }
}

/// An event with the fields every SDK sends, varied: id, timestamp, release, host, user.
pub fn base(platform: &str, app: &str, v: &mut V) -> ErrorEvent {
    let mut event: ErrorEvent = serde_json::from_value(serde_json::json!({
        "event_id": v.uuid(),
        "timestamp": v.timestamp(),
        "platform": platform,
        "level": "error",
        "exceptions": [],
        "tags": [],
        "contexts": { "other": {} },
        "breadcrumbs": [],
        "extra": {}
    }))
    .unwrap();
    event.release = Some(v.release(app));
    event.environment = Some(
        if v.chance(0.85) {
            "production"
        } else {
            "staging"
        }
        .to_owned(),
    );
    event.server_name = Some(format!("{app}-{}-{}", v.hex(5), v.hex(4)));
    event.user = Some(User {
        id: Some(v.id().to_string()),
        email: Some(v.email()),
        ip_address: Some(v.ip()),
        username: None,
    });
    let region = v
        .pick(&["us-east-1", "us-east-2", "eu-west-1", "eu-central-1"])
        .to_string();
    event.tags.push(("region".to_owned(), region));
    event
}

/// Sets the request (URL with ids) and a user agent.
pub fn request(event: &mut ErrorEvent, method: &str, url: String, user_agent: &str) {
    event.request = Some(Request {
        url: Some(url),
        method: Some(method.to_owned()),
        query_string: None,
        headers: vec![("User-Agent".to_owned(), user_agent.to_owned())],
    });
}

pub fn runtime(event: &mut ErrorEvent, name: &str, version: &str) {
    event.contexts.runtime = Some(NamedVersion {
        name: Some(name.to_owned()),
        version: Some(version.to_owned()),
    });
}

pub fn os(event: &mut ErrorEvent, name: &str) {
    event.contexts.os = Some(NamedVersion {
        name: Some(name.to_owned()),
        version: None,
    });
}

/// An exception with frames (outermost first), or no stack when `frames` is empty.
pub fn exception(ty: &str, value: Option<String>, frames: Vec<Frame>) -> Exception {
    Exception {
        ty: ty.to_owned(),
        value,
        module: None,
        mechanism: Some(Mechanism {
            ty: "generic".to_owned(),
            handled: Some(false),
            synthetic: None,
            description: None,
        }),
        stacktrace: if frames.is_empty() {
            None
        } else {
            Some(Stacktrace { frames })
        },
    }
}

/// A frame with every field SDKs commonly send.
pub fn frame(
    module: Option<&str>,
    function: &str,
    filename: &str,
    abs_path: Option<String>,
    lineno: u32,
    in_app: bool,
) -> Frame {
    Frame {
        function: Some(function.to_owned()),
        module: module.map(str::to_owned),
        package: None,
        filename: Some(filename.to_owned()),
        abs_path,
        lineno: Some(lineno),
        colno: None,
        in_app: Some(in_app),
        context_line: None,
        pre_context: Vec::new(),
        post_context: Vec::new(),
        instruction_addr: None,
        platform: None,
    }
}

pub const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36";
pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0";
pub const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1";
pub const EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.2277.83";
