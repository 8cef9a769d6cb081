//! The real Sentry SDKs against a running Stackhouse on ClickHouse: Python `sentry-sdk`,
//! `@sentry/node` and the Rust `sentry` crate each run as a child process (the programs are in
//! `tests/sdk/`), raise real errors from real code paths, flush, and exit; then GraphQL must
//! show every event with its frames, tags, user, release, environment and trace, grouped into
//! exactly one issue per bug.
//!
//! The expected partition comes from what each program raises (listed below per program), never
//! from what the server produced: each program prints which bug every captured event id belongs
//! to, and each bug must be exactly one issue holding exactly its events.
//!
//! `scripts/test.sh` installs the SDKs (`tests/sdk/python/requirements.txt` into the test venv,
//! `npm ci` in `tests/sdk/node`); the Rust program is compiled into this test binary.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "sdk/rust/program.rs"]
mod rust_program;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestServer};
use serde_json::{json, Value};
use stackhouse::config::Config;

/// One bug a program raises.
struct Bug {
    /// The name the program prints beside each event id of this bug.
    name: &'static str,
    /// How many events the program raises for it.
    events: usize,
    exception_type: &'static str,
    /// The `checkout.step` tag the program sets before raising it.
    step: &'static str,
    /// An in-app function the error passes through (or, for a stack attached at capture time,
    /// the function that captured it: it must show in the culprit).
    in_app_function: &'static str,
}

/// What one SDK program sends.
struct Program {
    /// The `sdk.program` tag it sets on every event.
    tag: &'static str,
    release: &'static str,
    user: (&'static str, &'static str, &'static str),
    bugs: &'static [Bug],
    /// Envelope item types the SDK sends besides events, which the server must have counted.
    other_items: &'static [&'static str],
}

const PYTHON: Program = Program {
    tag: "python",
    release: "shop-python@1.2.3",
    user: ("user-42", "ada@example.com", "ada"),
    bugs: &[
        Bug {
            name: "quantity",
            events: 5,
            exception_type: "ValueError",
            step: "quantity",
            in_app_function: "parse_quantity",
        },
        // Same exception type as "quantity", another code path: another issue.
        Bug {
            name: "coupon",
            events: 3,
            exception_type: "ValueError",
            step: "coupon",
            in_app_function: "apply_coupon",
        },
        Bug {
            name: "report",
            events: 1,
            exception_type: "ZeroDivisionError",
            step: "report",
            in_app_function: "average_basket",
        },
    ],
    other_items: &[
        "transaction",
        "check_in",
        "log",
        "attachment",
        "client_report",
    ],
};

const NODE: Program = Program {
    tag: "node",
    release: "shop-node@2.0.0",
    user: ("user-7", "grace@example.com", "grace"),
    bugs: &[
        Bug {
            name: "quantity",
            events: 5,
            exception_type: "RangeError",
            step: "quantity",
            in_app_function: "parseQuantity",
        },
        Bug {
            name: "total",
            events: 3,
            exception_type: "TypeError",
            step: "total",
            in_app_function: "orderTotal",
        },
        // Same exception type as "total", another code path: another issue.
        Bug {
            name: "email",
            events: 2,
            exception_type: "TypeError",
            step: "email",
            in_app_function: "normalizeEmail",
        },
    ],
    other_items: &["session"],
};

const RUST: Program = Program {
    tag: "rust",
    release: "shop-rust@3.0.0",
    user: ("user-9", "linus@example.com", "linus"),
    bugs: &[
        Bug {
            name: "quantity",
            events: 5,
            exception_type: "panic",
            step: "quantity",
            in_app_function: "parse_quantity",
        },
        // Also a panic, from another code path: another issue.
        Bug {
            name: "shipping",
            events: 3,
            exception_type: "panic",
            step: "shipping",
            in_app_function: "pick_shipping",
        },
        // `capture_error` attaches the capturing thread's stack, not the error's origin.
        Bug {
            name: "discount",
            events: 2,
            exception_type: "ParseIntError",
            step: "discount",
            in_app_function: "redeem_discount",
        },
    ],
    other_items: &["transaction"],
};

const ISSUES_WITH_EVENTS: &str = r#"
query($project: ID!) {
  issues(projectId: $project, sort: EVENTS, first: 50) { nodes {
    id title count
    events(limit: 100) {
      id platform release environment culprit traceId spanId
      tags { key value }
      user { id email username }
      exceptions { type value frames { function module filename lineno inApp } }
    }
  } }
}"#;

// Each SDK runs against both engines: the same program, the same assertions.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sentry_sdk_events_arrive_grouped_with_their_context() {
    python_sdk(Backend::clickhouse("sdk_python")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sentry_sdk_on_the_embedded_engine() {
    python_sdk(Backend::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_sentry_sdk_events_arrive_grouped_with_their_context() {
    node_sdk(Backend::clickhouse("sdk_node")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_sentry_sdk_on_the_embedded_engine() {
    node_sdk(Backend::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sentry_crate_events_arrive_grouped_with_their_context() {
    rust_sdk(Backend::clickhouse("sdk_rust")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sentry_crate_on_the_embedded_engine() {
    rust_sdk(Backend::embedded()).await;
}

async fn python_sdk(backend: Backend) {
    let server = start_server(&backend).await;
    let trace_id = new_trace_id();
    let program_dir = sdk_dir("python");
    let mut command = Command::new(python_with_sentry_sdk());
    command.arg("send_errors.py").current_dir(&program_dir);
    let output = run_program(command, &server, &trace_id);
    check_program(&server, &PYTHON, &output, &trace_id).await;
}

async fn node_sdk(backend: Backend) {
    let server = start_server(&backend).await;
    let trace_id = new_trace_id();
    let program_dir = sdk_dir("node");
    assert!(
        program_dir.join("node_modules/@sentry/node").is_dir(),
        "@sentry/node is not installed: run `npm ci --prefix tests/sdk/node` (scripts/test.sh does)"
    );
    let mut command = Command::new("node");
    command.arg("send_errors.js").current_dir(&program_dir);
    let output = run_program(command, &server, &trace_id);
    check_program(&server, &NODE, &output, &trace_id).await;
}

async fn rust_sdk(backend: Backend) {
    let server = start_server(&backend).await;
    let trace_id = new_trace_id();
    // The program is this test binary itself, running only the ignored entry point below.
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        "rust_sdk_program",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    let output = run_program(command, &server, &trace_id);
    check_program(&server, &RUST, &output, &trace_id).await;
}

/// The Rust SDK program's entry point, run in a child process by the test above (does nothing
/// without `SENTRY_DSN`).
#[test]
#[ignore = "the Rust SDK program; run by rust_sentry_crate_events_arrive_grouped_with_their_context"]
fn rust_sdk_program() {
    let (Ok(dsn), Ok(trace_id)) = (
        std::env::var("SENTRY_DSN"),
        std::env::var("STACKHOUSE_TRACE_ID"),
    ) else {
        return;
    };
    rust_program::run(&dsn, &trace_id);
}

/// A server on the backend's engine (the backend, which owns an embedded engine's temporary
/// directory, outlives it).
async fn start_server(backend: &Backend) -> TestServer {
    TestServer::start(backend.open().engine, Config::default()).await
}

fn new_trace_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn sdk_dir(sdk: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(sdk)
}

/// The test venv's Python (`STACKHOUSE_VENV`, default `~/.cache/stackhouse-venv`), which must
/// have sentry-sdk.
fn python_with_sentry_sdk() -> PathBuf {
    let venv = std::env::var_os("STACKHOUSE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/stackhouse-venv")
        });
    let python = venv.join("bin/python");
    let has_sdk = Command::new(&python)
        .args(["-c", "import sentry_sdk"])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        has_sdk,
        "{} has no sentry_sdk: run scripts/test.sh, which installs tests/sdk/python/requirements.txt",
        python.display()
    );
    python
}

/// What a program printed: the event ids of each bug, and its whole output for failure messages.
struct ProgramOutput {
    events_by_bug: BTreeMap<String, BTreeSet<String>>,
    transcript: String,
}

/// Runs an SDK program with the server's DSN and the trace to continue; fails the test if it
/// fails or hangs.
fn run_program(mut command: Command, server: &TestServer, trace_id: &str) -> ProgramOutput {
    let mut child = command
        .env("SENTRY_DSN", &server.dsn)
        .env("STACKHOUSE_TRACE_ID", trace_id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stdout_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout_reader.join().unwrap();
    let stderr = stderr_reader.join().unwrap();
    assert!(
        status.success(),
        "{command:?} failed ({status}):\n{stdout}\n{stderr}"
    );
    let mut events_by_bug: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // libtest prints `test rust_sdk_program ... ` before the Rust program's first line.
    for line in stdout
        .lines()
        .filter_map(|line| line.find("{\"bug\"").map(|at| &line[at..]))
    {
        let printed: Value = serde_json::from_str(line).unwrap();
        let event_id = printed["event_id"].as_str().unwrap().replace('-', "");
        events_by_bug
            .entry(printed["bug"].as_str().unwrap().to_owned())
            .or_default()
            .insert(event_id);
    }
    ProgramOutput {
        events_by_bug,
        transcript: format!("stdout:\n{stdout}\nstderr:\n{stderr}"),
    }
}

async fn check_program(
    server: &TestServer,
    program: &Program,
    output: &ProgramOutput,
    trace_id: &str,
) {
    // The program raised what it was written to raise.
    let raised: BTreeMap<&str, usize> = output
        .events_by_bug
        .iter()
        .map(|(bug, ids)| (bug.as_str(), ids.len()))
        .collect();
    let planned: BTreeMap<&str, usize> = program
        .bugs
        .iter()
        .map(|bug| (bug.name, bug.events))
        .collect();
    assert_eq!(
        raised, planned,
        "the {} program raised other errors; {}",
        program.tag, output.transcript
    );

    // SDKs send in the background; flushing waited for the server's answers, and the server
    // answers once events are durable, but allow a moment for the last in-flight request.
    let total: usize = planned.values().sum();
    let issues = wait_for_events(server, total).await;

    assert_eq!(
        issues.len(),
        program.bugs.len(),
        "{} bugs must make exactly {} issues: {issues:#?}",
        program.tag,
        program.bugs.len()
    );
    let mut matched = BTreeSet::new();
    for issue in &issues {
        let events = issue["events"].as_array().unwrap();
        let ids: BTreeSet<String> = events
            .iter()
            .map(|event| event["id"].as_str().unwrap().to_owned())
            .collect();
        let bug = program
            .bugs
            .iter()
            .find(|bug| output.events_by_bug[bug.name] == ids)
            .unwrap_or_else(|| {
                panic!(
                    "issue {} holds events {ids:?}, which are not exactly one bug's: {:#?}",
                    issue["title"], output.events_by_bug
                )
            });
        assert!(matched.insert(bug.name), "two issues for bug {}", bug.name);
        assert_eq!(issue["count"], bug.events as u64, "{}", issue["title"]);
        for event in events {
            check_event(program, bug, event, trace_id);
        }
    }

    let counters = health(server).await["envelope_items"].clone();
    for item_type in program.other_items {
        assert!(
            counters[*item_type].as_u64().unwrap_or(0) > 0,
            "the {} SDK's {item_type} items were not received: {counters}",
            program.tag
        );
    }
    assert_eq!(counters["rejected"], 0, "{counters}");
}

fn check_event(program: &Program, bug: &Bug, event: &Value, trace_id: &str) {
    let context = format!("{} {} event {event:#}", program.tag, bug.name);
    assert_eq!(event["release"], program.release, "{context}");
    assert_eq!(event["environment"], "e2e", "{context}");
    assert_eq!(event["traceId"], trace_id, "{context}");
    let span_id = event["spanId"].as_str().unwrap_or_default();
    assert!(
        span_id.len() == 16 && span_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{context}"
    );
    let tags: BTreeMap<&str, &str> = event["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| (tag["key"].as_str().unwrap(), tag["value"].as_str().unwrap()))
        .collect();
    assert_eq!(tags.get("sdk.program"), Some(&program.tag), "{context}");
    assert_eq!(tags.get("checkout.step"), Some(&bug.step), "{context}");
    let (id, email, username) = program.user;
    assert_eq!(
        event["user"],
        json!({ "id": id, "email": email, "username": username }),
        "{context}"
    );
    let exceptions = event["exceptions"].as_array().unwrap();
    let raised = exceptions.last().unwrap();
    assert_eq!(raised["type"], bug.exception_type, "{context}");
    let frames = raised["frames"].as_array().unwrap();
    let in_app_functions: Vec<&str> = frames
        .iter()
        .filter(|frame| frame["inApp"] == true)
        .filter_map(|frame| frame["function"].as_str())
        .collect();
    if frames.is_empty() {
        // A stack attached at capture time (Rust `capture_error`): it is the event's own stack,
        // and the culprit comes from its innermost in-app frame.
        let culprit = event["culprit"].as_str().unwrap();
        assert!(culprit.contains(bug.in_app_function), "{context}");
    } else {
        assert!(
            in_app_functions
                .iter()
                .any(|function| function.contains(bug.in_app_function)),
            "{context}"
        );
        assert!(
            frames
                .iter()
                .any(|frame| frame["lineno"].as_u64().is_some()),
            "{context}"
        );
    }
}

/// Polls GraphQL until the project holds `total` events, then returns its issues with events.
async fn wait_for_events(server: &TestServer, total: usize) -> Vec<Value> {
    let variables = json!({ "project": server.project_id.to_string() });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let data = server.graphql(ISSUES_WITH_EVENTS, variables.clone()).await;
        let issues = data["issues"]["nodes"].as_array().unwrap().clone();
        let stored: u64 = issues
            .iter()
            .map(|issue| issue["count"].as_u64().unwrap())
            .sum();
        if stored as usize >= total || Instant::now() > deadline {
            assert_eq!(stored as usize, total, "events stored: {issues:#?}");
            return issues;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn health(server: &TestServer) -> Value {
    server
        .http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
