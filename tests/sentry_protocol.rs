//! The Sentry endpoints (`/api/{project}/envelope/`, `/api/{project}/store/`) on a real
//! ClickHouse: envelopes recorded from the real SDKs (`tests/fixtures/sentry/`) in every
//! compression, every item type and every auth form; malformed and hostile input; the rate limit;
//! CORS for browser SDKs.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;

use common::{clickhouse_engine, fresh_database, TestServer};
use reqwest::header::HeaderMap;
use serde_json::{json, Map, Value};
use stackhouse::config::Config;

/// The recorded envelopes, with the item types each holds.
const RECORDED: &[(&str, &[&str])] = &[
    ("python_event.envelope", &["event"]),
    (
        "python_event_with_attachment.envelope",
        &["event", "attachment"],
    ),
    ("python_transaction.envelope", &["transaction"]),
    ("python_check_in.envelope", &["check_in", "attachment"]),
    ("python_log.envelope", &["log"]),
    ("python_client_report.envelope", &["client_report"]),
    ("node_event.envelope", &["event"]),
    ("node_session.envelope", &["session"]),
    ("node_span.envelope", &["span"]),
    ("spec_user_report.envelope", &["user_report"]),
    ("spec_sessions.envelope", &["sessions"]),
    ("spec_unknown_type.envelope", &["profile_chunk"]),
];

const COUNT_QUERY: &str = r#"
query($project: ID!) {
  issues(projectId: $project, first: 100) { nodes { title count events(limit: 100) { id platform } } }
}"#;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sentry")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The fixture with every occurrence of its event id replaced by a fresh one (same length, so
/// item lengths stay right), so each send is a new event. Returns the body and the new id.
fn fresh_copy(name: &str) -> (Vec<u8>, String) {
    let body = String::from_utf8(fixture(name)).unwrap();
    let header: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    let old_id = header["event_id"].as_str().unwrap();
    let new_id = uuid::Uuid::new_v4().simple().to_string();
    (body.replace(old_id, &new_id).into_bytes(), new_id)
}

/// Rewrites the envelope header line.
fn with_header(envelope: &[u8], edit: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
    let newline = envelope.iter().position(|byte| *byte == b'\n').unwrap();
    let mut header: Map<String, Value> = serde_json::from_slice(&envelope[..newline]).unwrap();
    edit(&mut header);
    let mut out = serde_json::to_vec(&header).unwrap();
    out.extend_from_slice(&envelope[newline..]);
    out
}

fn compress(encoding: &str, data: &[u8]) -> Vec<u8> {
    match encoding {
        "identity" => data.to_vec(),
        "gzip" => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        "deflate-zlib" => {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        "deflate-raw" => {
            let mut encoder =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                writer.write_all(data).unwrap();
            }
            out
        }
        "zstd" => zstd::encode_all(data, 3).unwrap(),
        other => panic!("unknown encoding {other}"),
    }
}

/// The `Content-Encoding` header an encoding is sent with.
fn content_encoding(encoding: &str) -> Option<&'static str> {
    match encoding {
        "gzip" => Some("gzip"),
        "deflate-zlib" | "deflate-raw" => Some("deflate"),
        "br" => Some("br"),
        "zstd" => Some("zstd"),
        _ => None,
    }
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn post(server: &TestServer, url: &str, body: Vec<u8>, headers: &[(&str, String)]) -> Answer {
    let mut request = server
        .http
        .post(url)
        .header("content-type", "application/x-sentry-envelope")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

/// Writes raw bytes to the server (write errors ignored: the server may close early) and
/// returns whatever it answered before closing or going quiet for a second.
async fn raw_http(server: &TestServer, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(1), stream.read(&mut buffer)).await;
        match read {
            Ok(Ok(read)) if read > 0 => answer.extend_from_slice(&buffer[..read]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// POSTs an envelope with the server's key in `X-Sentry-Auth`.
async fn send_envelope(server: &TestServer, body: Vec<u8>, encoding: &str) -> Answer {
    let mut headers = vec![("x-sentry-auth", server.sentry_auth())];
    if let Some(content_encoding) = content_encoding(encoding) {
        headers.push(("content-encoding", content_encoding.to_owned()));
    }
    post(
        server,
        &server.envelope_url(),
        compress(encoding, &body),
        &headers,
    )
    .await
}

async fn stored_event_ids(server: &TestServer) -> Vec<String> {
    let data = server
        .graphql(
            COUNT_QUERY,
            json!({ "project": server.project_id.to_string() }),
        )
        .await;
    let mut ids: Vec<String> = data["issues"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|issue| issue["events"].as_array().unwrap().clone())
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn start(name: &str, config: Config) -> TestServer {
    TestServer::start(clickhouse_engine(&fresh_database(name)), config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_envelopes_of_every_item_type_are_accepted() {
    let server = start("envelope_items", Config::default()).await;
    let mut event_ids = Vec::new();
    for (name, item_types) in RECORDED {
        let answer = send_envelope(&server, fixture(name), "identity").await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
        let accepted = answer.body["accepted"].as_object().unwrap();
        for item_type in *item_types {
            assert!(
                accepted.get(*item_type).and_then(Value::as_u64) >= Some(1),
                "{name}: {item_type} not accepted: {}",
                answer.body
            );
        }
        assert_eq!(answer.body["rejected"], json!([]), "{name}");
        if item_types.contains(&"event") {
            // SDKs read the id: it is the envelope's event id.
            let header: Value =
                serde_json::from_slice(fixture(name).split(|b| *b == b'\n').next().unwrap())
                    .unwrap();
            assert_eq!(answer.body["id"], header["event_id"], "{name}");
            event_ids.push(header["event_id"].as_str().unwrap().to_owned());
        }
    }
    event_ids.sort();
    assert_eq!(stored_event_ids(&server).await, event_ids);

    let health: Value = server
        .http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let counters = &health["envelope_items"];
    for item_type in [
        "event",
        "transaction",
        "session",
        "sessions",
        "client_report",
        "attachment",
        "user_report",
        "check_in",
        "log",
        "span",
        "other",
    ] {
        assert!(
            counters[item_type].as_u64() >= Some(1),
            "{item_type}: {counters}"
        );
    }
    assert_eq!(counters["rejected"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compression_is_understood() {
    let server = start("envelope_compression", Config::default()).await;
    let mut sent = Vec::new();
    for encoding in [
        "identity",
        "gzip",
        "deflate-zlib",
        "deflate-raw",
        "br",
        "zstd",
    ] {
        for fixture_name in ["python_event.envelope", "node_event.envelope"] {
            let (body, id) = fresh_copy(fixture_name);
            let answer = send_envelope(&server, body, encoding).await;
            assert_eq!(
                answer.status, 200,
                "{encoding} {fixture_name}: {}",
                answer.body
            );
            assert_eq!(answer.body["id"], id.as_str(), "{encoding}");
            sent.push(id);
        }
    }
    // gzip without a Content-Encoding header is recognised by its magic bytes.
    let (body, id) = fresh_copy("python_event.envelope");
    let answer = post(
        &server,
        &server.envelope_url(),
        compress("gzip", &body),
        &[("x-sentry-auth", server.sentry_auth())],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    sent.push(id);
    // An encoding nobody speaks is refused clearly.
    let answer = post(
        &server,
        &server.envelope_url(),
        body.clone(),
        &[
            ("x-sentry-auth", server.sentry_auth()),
            ("content-encoding", "compress".to_owned()),
        ],
    )
    .await;
    assert_eq!(answer.status, 415, "{}", answer.body);
    assert!(answer.body["detail"].as_str().unwrap().contains("compress"));

    sent.sort();
    assert_eq!(stored_event_ids(&server).await, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_auth_form_is_accepted_and_a_wrong_key_is_refused() {
    let server = start("envelope_auth", Config::default()).await;
    let other_key = stackhouse::projects::generate_public_key();
    let other = server
        .engine
        .create_project("other", &other_key)
        .await
        .unwrap();
    server.state.projects.refresh().await.unwrap();
    let other_dsn = stackhouse::projects::format_dsn(&server.base, &other_key, other.id);
    let mut accepted = Vec::new();

    // X-Sentry-Auth (Python, Rust), Authorization: Sentry, ?sentry_key= (Node, browsers).
    let (body, id) = fresh_copy("python_event.envelope");
    let answer = post(
        &server,
        &server.envelope_url(),
        body,
        &[("x-sentry-auth", server.sentry_auth())],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    accepted.push(id);
    let (body, id) = fresh_copy("python_event.envelope");
    let answer = post(
        &server,
        &server.envelope_url(),
        body,
        &[("authorization", server.sentry_auth())],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    accepted.push(id);
    let (body, id) = fresh_copy("node_event.envelope");
    let url = format!(
        "{}?sentry_version=7&sentry_key={}&sentry_client=sentry.javascript.node%2F11.12.0",
        server.envelope_url(),
        server.key
    );
    let answer = post(&server, &url, body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    accepted.push(id);
    // The envelope header's `dsn` (browser tunnels, relays), nothing else.
    let (body, id) = fresh_copy("node_event.envelope");
    let body = with_header(&body, |header| {
        header.insert("dsn".to_owned(), json!(server.dsn));
    });
    let answer = post(&server, &server.envelope_url(), body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    accepted.push(id);

    // Refusals (403), each with its reason: (case, envelope, headers, message).
    type Refusal<'a> = (&'a str, Vec<u8>, Vec<(&'a str, String)>, &'a str);
    let refusals: Vec<Refusal> = vec![
        (
            "no key anywhere",
            with_header(&fresh_copy("node_event.envelope").0, |header| {
                header.remove("trace");
            }),
            vec![],
            "missing DSN key",
        ),
        (
            "an unknown key",
            fresh_copy("python_event.envelope").0,
            vec![(
                "x-sentry-auth",
                "Sentry sentry_key=00000000000000000000000000000000, sentry_version=7".to_owned(),
            )],
            "unknown DSN key",
        ),
        (
            "another project's key in the header",
            fresh_copy("python_event.envelope").0,
            vec![(
                "x-sentry-auth",
                format!("Sentry sentry_key={other_key}, sentry_version=7"),
            )],
            "does not belong to project",
        ),
        (
            "another project's DSN in the envelope",
            with_header(&fresh_copy("node_event.envelope").0, |header| {
                header.insert("dsn".to_owned(), json!(other_dsn));
            }),
            vec![],
            "does not belong to project",
        ),
        (
            "an auth header without a key",
            with_header(&fresh_copy("python_event.envelope").0, |header| {
                header.remove("trace");
            }),
            vec![("x-sentry-auth", "Sentry sentry_version=7".to_owned())],
            "missing DSN key",
        ),
    ];
    for (case, body, headers, message) in refusals {
        let answer = post(&server, &server.envelope_url(), body, &headers).await;
        assert_eq!(answer.status, 403, "{case}: {}", answer.body);
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains(message), "{case}: {detail}");
    }
    let answer = post(
        &server,
        &format!("{}/api/999999/envelope/", server.base),
        fresh_copy("python_event.envelope").0,
        &[("x-sentry-auth", server.sentry_auth())],
    )
    .await;
    assert!(
        [403, 404].contains(&answer.status),
        "unknown project: {}",
        answer.body
    );

    accepted.sort();
    assert_eq!(stored_event_ids(&server).await, accepted);
}

/// The payload of a recorded envelope's first item.
fn first_item_payload(name: &str) -> Vec<u8> {
    let envelope = stackhouse_protocol::Envelope::parse(fixture(name)).unwrap();
    envelope.items[0].payload.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_endpoint_takes_one_event_within_its_limits() {
    let server = start("store", Config::default()).await;
    let event = first_item_payload("python_event.envelope");
    let auth = [("x-sentry-auth", server.sentry_auth())];
    let mut stored = Vec::new();
    for encoding in ["identity", "gzip", "deflate-zlib", "br", "zstd"] {
        let mut value: Value = serde_json::from_slice(&event).unwrap();
        let id = uuid::Uuid::new_v4().simple().to_string();
        value["event_id"] = json!(id);
        let mut headers = auth.to_vec();
        if let Some(content_encoding) = content_encoding(encoding) {
            headers.push(("content-encoding", content_encoding.to_owned()));
        }
        let body = compress(encoding, &serde_json::to_vec(&value).unwrap());
        let answer = post(&server, &server.store_url(), body, &headers).await;
        assert_eq!(answer.status, 200, "{encoding}: {}", answer.body);
        assert_eq!(answer.body, json!({ "id": id }));
        stored.push(id);
    }
    // `{{auto}}` as the user's IP (what SDKs send with send_default_pii) becomes the address
    // the request came from.
    let mut with_auto_ip: Value = serde_json::from_slice(&event).unwrap();
    let auto_ip_id = uuid::Uuid::new_v4().simple().to_string();
    with_auto_ip["event_id"] = json!(auto_ip_id);
    with_auto_ip["user"] = json!({ "id": "user-1", "ip_address": "{{auto}}" });
    let body = serde_json::to_vec(&with_auto_ip).unwrap();
    let answer = post(&server, &server.store_url(), body, &auth).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    stored.push(auto_ip_id.clone());
    // The key in the query string works too.
    let url = format!(
        "{}?sentry_key={}&sentry_version=7",
        server.store_url(),
        server.key
    );
    let answer = post(&server, &url, event.clone(), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    stored.push(answer.body["id"].as_str().unwrap().to_owned());

    // Over 200 KiB as sent → 413.
    let mut big: Value = serde_json::from_slice(&event).unwrap();
    big["extra"] = json!({ "blob": "x".repeat(300 * 1024) });
    let answer = post(
        &server,
        &server.store_url(),
        serde_json::to_vec(&big).unwrap(),
        &auth,
    )
    .await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(answer.body["detail"].as_str().unwrap().contains("204800"));
    // Small when compressed, over 1 MiB expanded → 413, without being expanded.
    big["extra"] = json!({ "blob": "x".repeat(2 << 20) });
    let bomb = compress("gzip", &serde_json::to_vec(&big).unwrap());
    assert!(bomb.len() < 200 * 1024);
    let mut headers = auth.to_vec();
    headers.push(("content-encoding", "gzip".to_owned()));
    let answer = post(&server, &server.store_url(), bomb, &headers).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(answer.body["detail"].as_str().unwrap().contains("1048576"));
    // Not JSON → 400 with the reason; no key → 403.
    let answer = post(
        &server,
        &server.store_url(),
        b"{\"event_id\": ".to_vec(),
        &auth,
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("invalid event"));
    let answer = post(&server, &server.store_url(), event.clone(), &[]).await;
    assert_eq!(answer.status, 403, "{}", answer.body);

    stored.sort();
    assert_eq!(stored_event_ids(&server).await, stored);
    let data = server
        .graphql(
            "query($project: ID!) { issues(projectId: $project) { nodes { events(limit: 100) { id user { ipAddress } } } } }",
            json!({ "project": server.project_id.to_string() }),
        )
        .await;
    let auto_ip_event = data["issues"]["nodes"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["id"] == auto_ip_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(auto_ip_event["user"]["ipAddress"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_envelopes_get_clear_errors_and_good_items_are_kept() {
    let mut config = Config::default();
    // Small limits so bombs and oversized items stay cheap to build.
    config.ingest.max_envelope_bytes = 2 << 20;
    config.ingest.max_event_bytes = 64 * 1024;
    let server = start("envelope_malformed", config).await;
    let mut kept = Vec::new();

    // Truncated inside the attachment after a good event: the event is kept.
    let (body, id) = fresh_copy("python_event_with_attachment.envelope");
    let truncated = body[..body.len() - 8].to_vec();
    let answer = send_envelope(&server, truncated, "gzip").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["accepted"], json!({ "event": 1 }));
    let rejected = &answer.body["rejected"][0];
    assert_eq!(rejected["item"], 1);
    assert!(
        rejected["error"]
            .as_str()
            .unwrap()
            .contains("shorter than its declared length"),
        "{rejected}"
    );
    kept.push(id);

    // Truncated inside its only event: nothing to keep → 400 saying why.
    let (body, _) = fresh_copy("python_event.envelope");
    let answer = send_envelope(&server, body[..body.len() / 2].to_vec(), "identity").await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("item 0") && detail.contains("shorter"),
        "{detail}"
    );

    // A length shorter than the payload: the rest of the payload is read as the next item
    // header, which is refused; the good item before it is kept.
    let (event, id) = fresh_copy("node_event.envelope");
    let event_items = &event[event.iter().position(|b| *b == b'\n').unwrap() + 1..];
    // The Node SDK ends its envelopes without a newline.
    let mut body = fixture("node_session.envelope");
    body.push(b'\n');
    body.extend_from_slice(event_items);
    body.push(b'\n');
    body.extend_from_slice(b"{\"type\":\"event\",\"length\":5}\n{\"message\":\"cut short\"}\n");
    let answer = send_envelope(&server, body, "identity").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["accepted"], json!({ "event": 1, "session": 1 }));
    assert_eq!(
        answer.body["rejected"].as_array().unwrap().len(),
        2,
        "{}",
        answer.body
    );
    kept.push(id);

    // Invalid JSON in one event item; the other event and a session are kept.
    let (event, id) = fresh_copy("python_event.envelope");
    let mut body = event.clone();
    body.extend_from_slice(b"{\"type\":\"event\"}\n{\"exception\": [oops}\n");
    body.extend_from_slice(b"{\"type\":\"session\"}\n{\"sid\":\"abc\",\"status\":\"ok\"}\n");
    let answer = send_envelope(&server, body, "br").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["id"], id.as_str());
    assert_eq!(answer.body["accepted"], json!({ "event": 1, "session": 1 }));
    assert_eq!(answer.body["rejected"][0]["item"], 1);
    assert!(answer.body["rejected"][0]["error"]
        .as_str()
        .unwrap()
        .contains("invalid event: invalid JSON"));
    kept.push(id);

    // Only an invalid event → 400 with the item's reason.
    let answer = send_envelope(
        &server,
        b"{}\n{\"type\":\"event\"}\n[1, 2\n".to_vec(),
        "identity",
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("invalid event"));

    // The envelope itself is unusable.
    for (case, body, message) in [
        ("empty", Vec::new(), "empty envelope"),
        (
            "header not JSON",
            b"not json\n{}\n".to_vec(),
            "invalid envelope header",
        ),
        (
            "header not an object",
            b"[1]\n".to_vec(),
            "must be a JSON object",
        ),
    ] {
        let answer = send_envelope(&server, body, "identity").await;
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains(message), "{case}: {detail}");
    }

    // A huge envelope header line, and a huge item header line.
    let huge_header = format!("{{\"padding\":\"{}\"}}\n", "x".repeat(100 * 1024));
    let answer = send_envelope(&server, huge_header.into_bytes(), "gzip").await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("header line"));
    let mut body = fresh_copy("python_event.envelope").0;
    let kept_id = String::from_utf8(body.clone())
        .unwrap()
        .lines()
        .next()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["event_id"].clone())
        .unwrap();
    body.extend_from_slice(
        format!(
            "{{\"type\":\"attachment\",\"x\":\"{}\"}}\n",
            "y".repeat(100 * 1024)
        )
        .as_bytes(),
    );
    let answer = send_envelope(&server, body, "zstd").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body["rejected"][0]["error"]
        .as_str()
        .unwrap()
        .contains("header line"));
    kept.push(kept_id.as_str().unwrap().to_owned());

    // A huge HTTP header is refused by the HTTP layer itself (431), never buffered whole.
    let head = format!(
        "POST /api/{}/envelope/ HTTP/1.1\r\nhost: x\r\nx-sentry-auth: {}\r\nx-padding: {}\r\ncontent-length: 2\r\n\r\n{{}}",
        server.project_id,
        server.sentry_auth(),
        "z".repeat(1 << 20)
    );
    let answer = raw_http(&server, head.as_bytes()).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "huge HTTP header: {answer}"
    );

    // A bomb: a few KiB of gzip expanding past the envelope limit → 413, not expanded.
    let bomb = compress("gzip", &vec![b'\n'; 50 << 20]);
    assert!(bomb.len() < 100 * 1024);
    let answer = post(
        &server,
        &server.envelope_url(),
        bomb,
        &[
            ("x-sentry-auth", server.sentry_auth()),
            ("content-encoding", "gzip".to_owned()),
        ],
    )
    .await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("decompressed"));
    // Declared over the envelope limit as sent → 413 at once, before the body is read (the
    // client here sends only the head and waits).
    let head = format!(
        "POST /api/{}/envelope/ HTTP/1.1\r\nhost: x\r\nx-sentry-auth: {}\r\ncontent-length: {}\r\n\r\n",
        server.project_id,
        server.sentry_auth(),
        3 << 20
    );
    let answer = raw_http(&server, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("2097152 byte limit"), "{answer}");

    // An event over the event limit: 413 alone, listed when other items are kept.
    let mut big =
        serde_json::from_slice::<Value>(&first_item_payload("python_event.envelope")).unwrap();
    big["extra"] = json!({ "blob": "x".repeat(100 * 1024) });
    let big = serde_json::to_string(&big).unwrap();
    let answer = send_envelope(
        &server,
        format!("{{}}\n{{\"type\":\"event\"}}\n{big}\n").into_bytes(),
        "gzip",
    )
    .await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(answer.body["detail"].as_str().unwrap().contains("65536"));
    let answer = send_envelope(
        &server,
        format!("{{}}\n{{\"type\":\"event\"}}\n{big}\n{{\"type\":\"client_report\"}}\n{{}}\n")
            .into_bytes(),
        "gzip",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["accepted"], json!({ "client_report": 1 }));
    assert_eq!(answer.body["rejected"][0]["type"], "event");

    // The server kept serving through all of it, and stored exactly the good events.
    let (body, id) = fresh_copy("python_event.envelope");
    let answer = send_envelope(&server, body, "gzip").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    kept.push(id);
    kept.sort();
    assert_eq!(stored_event_ids(&server).await, kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_limit_answers_429_with_retry_after_and_sentry_rate_limits() {
    let mut config = Config::default();
    config.ingest.rate_limit_events_per_minute = Some(3);
    let server = start("rate_limit", config).await;
    for _ in 0..3 {
        let (body, _) = fresh_copy("python_event.envelope");
        let answer = send_envelope(&server, body, "gzip").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.headers.get("x-sentry-rate-limits").is_none());
    }
    let check_limited = |answer: &Answer| {
        let retry_after: u64 = answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(
            answer.headers["x-sentry-rate-limits"].to_str().unwrap(),
            format!("{retry_after}:error;default:project:project_quota")
        );
    };

    // Envelope with only an event → 429.
    let answer = send_envelope(&server, fresh_copy("node_event.envelope").0, "identity").await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("rate limit of 3 events per minute"));
    check_limited(&answer);
    // An event beside a session: the session is kept, the event refused, and the SDK is told.
    let mut body = fresh_copy("python_event.envelope").0;
    body.extend_from_slice(b"{\"type\":\"session\"}\n{\"sid\":\"abc\"}\n");
    let answer = send_envelope(&server, body, "identity").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["accepted"], json!({ "session": 1 }));
    assert!(answer.body["rejected"][0]["error"]
        .as_str()
        .unwrap()
        .contains("rate limit"));
    check_limited(&answer);
    // Sessions alone are not limited.
    let answer = send_envelope(&server, fixture("node_session.envelope"), "identity").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // The store and native doors share the project's limit.
    let event = first_item_payload("python_event.envelope");
    let answer = post(
        &server,
        &server.store_url(),
        event.clone(),
        &[("x-sentry-auth", server.sentry_auth())],
    )
    .await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    check_limited(&answer);
    let answer = post(&server, &server.events_url(), event, &[]).await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    check_limited(&answer);

    assert_eq!(stored_event_ids(&server).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_allows_what_browser_sdks_send() {
    let server = start("cors", Config::default()).await;
    let response = server
        .http
        .request(reqwest::Method::OPTIONS, server.envelope_url())
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-sentry-auth, authorization, content-encoding",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in [
        "content-type",
        "x-sentry-auth",
        "authorization",
        "content-encoding",
    ] {
        assert!(allowed.contains(header), "{allowed}");
    }
    assert!(headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));

    // The actual request: readable by the page, rate-limit headers exposed.
    let (body, _) = fresh_copy("python_event.envelope");
    let url = format!(
        "{}?sentry_key={}&sentry_version=7",
        server.envelope_url(),
        server.key
    );
    let response = server
        .http
        .post(url)
        .header("origin", "https://shop.example.com")
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let exposed = headers["access-control-expose-headers"].to_str().unwrap();
    assert!(
        exposed.contains("x-sentry-rate-limits") && exposed.contains("retry-after"),
        "{exposed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_answers_envelopes_503_with_retry_after() {
    let mut config = Config::default();
    config.writer.queue_capacity_events = 1;
    a_full_queue_answers_503("envelope_queue", config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_queue_full_of_bytes_answers_envelopes_503_too() {
    let mut config = Config::default();
    // Room for a thousand events, but for one kibibyte of them: one event fills it.
    config.writer.queue_capacity_events = 1_000;
    config.writer.queue_capacity_bytes = 1024;
    a_full_queue_answers_503("envelope_queue_bytes", config).await;
}

/// With `config`'s queue, one envelope fills it until its flush: a second is refused with
/// 503 and `Retry-After`, and accepted once the queue drained.
async fn a_full_queue_answers_503(name: &str, mut config: Config) {
    config.writer.flush_interval_ms = 1_500;
    let server = start(name, config).await;
    // The first envelope holds the only slot until its flush, 1.5 s later.
    let first = {
        let (http, url, auth) = (
            server.http.clone(),
            server.envelope_url(),
            server.sentry_auth(),
        );
        let body = fresh_copy("python_event.envelope").0;
        tokio::spawn(async move {
            let response = http.post(url).header("x-sentry-auth", auth).body(body);
            response.send().await.unwrap().status().as_u16()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let answer = send_envelope(&server, fresh_copy("node_event.envelope").0, "gzip").await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.headers["retry-after"], "1");
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("queue is full"));
    assert_eq!(first.await.unwrap(), 200);
    // Drained: the SDK's retry is accepted.
    let answer = send_envelope(&server, fresh_copy("node_event.envelope").0, "gzip").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}
