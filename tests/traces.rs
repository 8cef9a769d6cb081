//! Trace correlation end to end, on every engine (the `conformance!` pattern): spans from the
//! real OpenTelemetry Python SDK (three services calling each other over HTTP) and from the
//! real Python sentry-sdk with tracing on, malformed OTLP, and the GraphQL answers built on
//! them (waterfall, service map, issue impact). The Python programs are in `tests/sdk/python`;
//! `scripts/test.sh` installs their pinned packages into the test venv.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Backend, TestServer};
use prost::Message;
use serde_json::{json, Value};
use stackhouse::config::Config;
use stackhouse::ingest::otlp::proto;

conformance!(
    opentelemetry_services_make_a_waterfall_a_service_map_and_grouped_errors,
    sentry_transactions_become_spans_linked_to_their_errors,
    malformed_otlp_gets_the_right_answer_and_never_breaks_ingest,
);

/// The test venv's Python (`STACKHOUSE_VENV`, default `~/.cache/stackhouse-venv`) with the
/// packages of `tests/sdk/python/requirements.txt`.
fn venv_python(module: &str) -> PathBuf {
    let venv = std::env::var_os("STACKHOUSE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/stackhouse-venv")
        });
    let python = venv.join("bin/python");
    let has_module = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        has_module,
        "{} cannot import {module}: run scripts/test.sh, which installs tests/sdk/python/requirements.txt",
        python.display()
    );
    python
}

/// Runs a program of `tests/sdk/python` off the async workers; returns its JSON output line.
async fn run_python(module: &str, program: &str, args: Vec<String>) -> Value {
    let python = venv_python(module);
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk/python")
        .join(program);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args(args)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{program} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|error| panic!("{program} printed no JSON ({error}): {stdout}"))
}

const TRACE_FIELDS: &str = "traceId durationMs spanCount services missingParentSpanIds \
    spans { spanId parentSpanId service name kind status depth parentMissing failing errorEventIds httpMethod httpRoute httpStatusCode dbSystem source } \
    errors { eventId issueId title spanId service focused }";

async fn opentelemetry_services_make_a_waterfall_a_service_map_and_grouped_errors(
    backend: Backend,
) {
    let handle = backend.open();
    let server = TestServer::start(handle.engine.clone(), Config::default()).await;
    let requests = 12;
    let output = run_python(
        "opentelemetry.exporter.otlp.proto.http",
        "otel_services.py",
        vec![
            server.base.clone(),
            server.key.clone(),
            requests.to_string(),
        ],
    )
    .await;
    let failing = output["failing_items"].as_array().unwrap().len() as i64;
    assert_eq!(failing, 3, "{output}");
    let failed_requests = output["traces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|trace| trace["failed"] == json!(true))
        .count() as i64;
    assert_eq!(failed_requests, failing);
    let project = server.project_id.to_string();

    // The service map: frontend → orders → inventory, every request once per edge, the
    // failures counted on each edge, and inventory as where the errors start.
    let data = server
        .graphql(
            "query($p: ID!) { serviceMap(projectId: $p) { traces spans sampleRate truncated \
               edges { from to calls errors p95Ms } \
               services { service spans errorSpans entryTraces failedEntryTraces originatedErrors originatedDownstream propagatedErrors } } }",
            json!({"p": project}),
        )
        .await;
    let map = &data["serviceMap"];
    assert_eq!(map["traces"], json!(requests), "{map:#}");
    assert_eq!(map["spans"], json!(requests * 6), "{map:#}");
    assert_eq!(map["truncated"], json!(false));
    assert_eq!(map["sampleRate"], json!(1.0), "a small range is read whole");
    let edges: Vec<(String, String, i64, i64)> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            (
                edge["from"].as_str().unwrap().to_owned(),
                edge["to"].as_str().unwrap().to_owned(),
                edge["calls"].as_i64().unwrap(),
                edge["errors"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        edges,
        [
            ("frontend".into(), "orders".into(), requests, failing),
            ("orders".into(), "inventory".into(), requests, failing),
        ]
    );
    assert!(map["edges"][0]["p95Ms"].as_f64().unwrap() > 0.0);
    let services = map["services"].as_array().unwrap();
    assert_eq!(services[0]["service"], json!("inventory"), "{map:#}");
    assert_eq!(services[0]["originatedErrors"], json!(failing));
    assert_eq!(services[0]["originatedDownstream"], json!(failing));
    let frontend = services
        .iter()
        .find(|node| node["service"] == json!("frontend"))
        .unwrap();
    assert_eq!(frontend["entryTraces"], json!(requests));
    assert_eq!(frontend["failedEntryTraces"], json!(failing));
    assert_eq!(frontend["originatedErrors"], json!(0));
    assert_eq!(frontend["propagatedErrors"], json!(failing * 2));

    // The exception span events became error events, grouped into one issue.
    let data = server
        .graphql(
            "query($p: ID!) { issues(projectId: $p) { totalCount nodes { id title count \
               latestEvent { id platform } } } }",
            json!({"p": project}),
        )
        .await;
    let issues = &data["issues"];
    assert_eq!(issues["totalCount"], json!(1), "{issues:#}");
    let issue = &issues["nodes"][0];
    assert_eq!(issue["count"], json!(failing));
    // The SDK names the type with its module (`__main__.OutOfStock`).
    assert!(
        issue["title"]
            .as_str()
            .unwrap()
            .contains("OutOfStock: item "),
        "{issue}"
    );
    assert_eq!(issue["latestEvent"]["platform"], json!("python"));
    let event_id = issue["latestEvent"]["id"].as_str().unwrap().to_owned();
    let issue_id = issue["id"].as_str().unwrap().to_owned();

    // The event's trace as a waterfall, the failing span marked.
    let data = server
        .graphql(
            &format!("query($p: ID!, $e: ID!) {{ eventTrace(projectId: $p, eventId: $e) {{ {TRACE_FIELDS} }} }}"),
            json!({"p": project, "e": event_id}),
        )
        .await;
    let trace = &data["eventTrace"];
    assert_eq!(trace["spanCount"], json!(6), "{trace:#}");
    assert_eq!(
        trace["services"],
        json!(["frontend", "orders", "inventory"])
    );
    assert_eq!(trace["missingParentSpanIds"], json!([]));
    let drawn: Vec<(String, i64, String)> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|span| {
            (
                span["name"].as_str().unwrap().to_owned(),
                span["depth"].as_i64().unwrap(),
                span["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        drawn,
        [
            ("GET /checkout".to_owned(), 0, "error".to_owned()),
            ("GET orders".to_owned(), 1, "error".to_owned()),
            ("GET /orders".to_owned(), 2, "error".to_owned()),
            ("SELECT orders".to_owned(), 3, "unset".to_owned()),
            ("GET inventory".to_owned(), 3, "error".to_owned()),
            ("GET /reserve".to_owned(), 4, "error".to_owned()),
        ]
    );
    let spans = trace["spans"].as_array().unwrap();
    let failing_spans: Vec<&Value> = spans
        .iter()
        .filter(|s| s["failing"] == json!(true))
        .collect();
    assert_eq!(failing_spans.len(), 1);
    assert_eq!(failing_spans[0]["service"], json!("inventory"));
    assert_eq!(failing_spans[0]["kind"], json!("server"));
    assert_eq!(failing_spans[0]["httpRoute"], json!("/reserve"));
    assert_eq!(failing_spans[0]["errorEventIds"], json!([event_id]));
    assert_eq!(spans[0]["parentSpanId"], json!(null));
    assert_eq!(spans[0]["httpStatusCode"], json!(502));
    assert_eq!(spans[3]["dbSystem"], json!("sqlite"));
    assert_eq!(spans[0]["source"], json!("otlp"));
    let errors = trace["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["focused"], json!(true));
    assert_eq!(errors[0]["issueId"], json!(issue_id));
    assert_eq!(errors[0]["service"], json!("inventory"));

    // The same trace by id.
    let trace_id = trace["traceId"].as_str().unwrap().to_owned();
    let data = server
        .graphql(
            "query($p: ID!, $t: String!) { trace(projectId: $p, traceId: $t) { spanCount errors { focused } } }",
            json!({"p": project, "t": trace_id.to_uppercase()}),
        )
        .await;
    assert_eq!(data["trace"]["spanCount"], json!(6));
    assert_eq!(data["trace"]["errors"][0]["focused"], json!(false));

    // The issue's footprint: where it happens, and the traces of the same root operation
    // with and without it.
    let data = server
        .graphql(
            "query($i: ID!) { issueTraceImpact(issueId: $i) { events eventsWithTrace eventsWithSpan \
               sources { service operation events } \
               operations { operation p95SlowdownMs withIssue { traces p95Ms } withoutIssue { traces p95Ms } } } }",
            json!({"i": issue_id}),
        )
        .await;
    let impact = &data["issueTraceImpact"];
    assert_eq!(impact["events"], json!(failing), "{impact:#}");
    assert_eq!(impact["eventsWithSpan"], json!(failing));
    assert_eq!(
        impact["sources"],
        json!([{"service": "inventory", "operation": "GET /reserve", "events": failing}])
    );
    let operation = &impact["operations"][0];
    assert_eq!(operation["operation"], json!("GET /checkout"));
    assert_eq!(operation["withIssue"]["traces"], json!(failing));
    assert_eq!(
        operation["withoutIssue"]["traces"],
        json!(requests - failing)
    );
    assert!(operation["p95SlowdownMs"].is_number());

    // Analysts see the same spans in SQL.
    let answer: Value = server
        .http
        .post(format!("{}/sql", server.base))
        .json(&json!({"query": "SELECT service, count(*) AS n FROM spans GROUP BY service ORDER BY service"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["rows"],
        json!([["frontend", 24], ["inventory", 12], ["orders", 36]]),
        "{answer}"
    );
}

async fn sentry_transactions_become_spans_linked_to_their_errors(backend: Backend) {
    let handle = backend.open();
    let server = TestServer::start(handle.engine.clone(), Config::default()).await;
    let output = run_python(
        "sentry_sdk",
        "sentry_traces.py",
        vec![server.dsn.clone(), "3".to_owned()],
    )
    .await;
    let project = server.project_id.to_string();
    let event_id = output["event_id"].as_str().unwrap().to_owned();
    let failing_span = output["failing_span"].as_str().unwrap().to_owned();

    let data = server
        .graphql(
            &format!("query($p: ID!, $e: ID!) {{ eventTrace(projectId: $p, eventId: $e) {{ {TRACE_FIELDS} }} }}"),
            json!({"p": project, "e": event_id}),
        )
        .await;
    let trace = &data["eventTrace"];
    assert_eq!(trace["traceId"], output["failing_trace"], "{trace:#}");
    // The transaction's root span and its three child spans.
    assert_eq!(trace["spanCount"], json!(4), "{trace:#}");
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans[0]["name"], json!("GET /cart"));
    assert_eq!(spans[0]["kind"], json!("server"));
    assert_eq!(spans[0]["status"], json!("error"));
    assert_eq!(spans[0]["service"], json!("cart"));
    assert_eq!(spans[0]["source"], json!("sentry"));
    let names: Vec<&str> = spans[1..]
        .iter()
        .map(|span| span["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "SELECT * FROM carts",
            "GET http://pricing/quote",
            "compute total"
        ]
    );
    assert!(spans[1..].iter().all(|span| span["depth"] == json!(1)));
    assert_eq!(spans[1]["dbSystem"], json!("postgresql"));
    assert_eq!(spans[1]["kind"], json!("client"));
    let failing: Vec<&Value> = spans
        .iter()
        .filter(|s| s["failing"] == json!(true))
        .collect();
    assert_eq!(failing.len(), 1, "{trace:#}");
    assert_eq!(failing[0]["spanId"], json!(failing_span));
    assert_eq!(failing[0]["status"], json!("error"));
    assert_eq!(
        trace["errors"][0]["title"],
        json!("ZeroDivisionError: division by zero")
    );

    // Every transaction is a trace of the map (one service: no edges).
    let data = server
        .graphql(
            "query($p: ID!) { serviceMap(projectId: $p) { traces spans edges { from } services { service entryTraces failedEntryTraces originatedErrors } } }",
            json!({"p": project}),
        )
        .await;
    let map = &data["serviceMap"];
    assert_eq!(map["traces"], json!(3), "{map:#}");
    assert_eq!(map["spans"], json!(3 * 3 + 1), "{map:#}");
    assert_eq!(map["edges"], json!([]));
    assert_eq!(
        map["services"],
        json!([{"service": "cart", "entryTraces": 3, "failedEntryTraces": 1, "originatedErrors": 1}])
    );

    // The issue's impact: the failing transaction against the two good ones.
    let data = server
        .graphql(
            "query($p: ID!) { issues(projectId: $p) { nodes { id } } }",
            json!({"p": project}),
        )
        .await;
    let issue_id = data["issues"]["nodes"][0]["id"].clone();
    let data = server
        .graphql(
            "query($i: ID!) { issueTraceImpact(issueId: $i) { sources { service operation } \
               operations { operation withIssue { traces } withoutIssue { traces } } } }",
            json!({"i": issue_id}),
        )
        .await;
    let impact = &data["issueTraceImpact"];
    assert_eq!(
        impact["sources"],
        json!([{"service": "cart", "operation": "compute total"}])
    );
    assert_eq!(
        impact["operations"],
        json!([{"operation": "GET /cart", "withIssue": {"traces": 1}, "withoutIssue": {"traces": 2}}])
    );
}

fn otlp_span(trace: u8, span: u8, parent: Option<u8>, name: &str) -> proto::Span {
    let now = u64::try_from(chrono::Utc::now().timestamp_nanos_opt().unwrap()).unwrap();
    proto::Span {
        trace_id: vec![trace; 16],
        span_id: vec![span; 8],
        parent_span_id: parent.map(|parent| vec![parent; 8]).unwrap_or_default(),
        name: name.to_owned(),
        kind: 2,
        start_time_unix_nano: now,
        end_time_unix_nano: now + 5_000_000,
        ..proto::Span::default()
    }
}

fn otlp_request(service: &str, spans: Vec<proto::Span>) -> proto::ExportTraceServiceRequest {
    proto::ExportTraceServiceRequest {
        resource_spans: vec![proto::ResourceSpans {
            resource: Some(proto::Resource {
                attributes: vec![proto::KeyValue {
                    key: "service.name".to_owned(),
                    value: Some(proto::AnyValue {
                        value: Some(proto::any_value::Value::StringValue(service.to_owned())),
                    }),
                }],
            }),
            scope_spans: vec![proto::ScopeSpans { spans }],
        }],
    }
}

async fn post_otlp(
    server: &TestServer,
    content_type: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Option<String>, Vec<u8>) {
    let mut request = server
        .http
        .post(format!("{}/v1/traces", server.base))
        .header("content-type", content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let answer_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned());
    (
        status,
        answer_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn malformed_otlp_gets_the_right_answer_and_never_breaks_ingest(backend: Backend) {
    let handle = backend.open();
    let server = TestServer::start(handle.engine.clone(), Config::default()).await;
    let key = server.key.clone();
    let keyed = [("x-stackhouse-key", key.as_str())];
    let protobuf = "application/x-protobuf";

    // Not protobuf: 400 with a google.rpc.Status, in protobuf.
    let (status, answer_type, body) =
        post_otlp(&server, protobuf, &keyed, b"\xff\xff\xff\xff\x0f".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(answer_type.as_deref(), Some(protobuf));
    let rpc_status = proto::RpcStatus::decode(&body[..]).unwrap();
    assert_eq!(rpc_status.code, 3);
    assert!(rpc_status.message.contains("protobuf"), "{rpc_status:?}");

    // Not JSON: 400, in JSON.
    let (status, _, body) = post_otlp(&server, "application/json", &keyed, b"{oops".to_vec()).await;
    assert_eq!(status, 400);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        answer["message"].as_str().unwrap().contains("JSON"),
        "{answer}"
    );

    // Another content type: 415. No key or an unknown one: 403.
    let (status, _, _) = post_otlp(&server, "text/plain", &keyed, b"hello".to_vec()).await;
    assert_eq!(status, 415);
    let good = otlp_request("edge", vec![otlp_span(1, 1, None, "GET /")]).encode_to_vec();
    let (status, _, _) = post_otlp(&server, protobuf, &[], good.clone()).await;
    assert_eq!(status, 403);
    let (status, _, _) = post_otlp(
        &server,
        protobuf,
        &[("authorization", "Bearer not-a-key")],
        good.clone(),
    )
    .await;
    assert_eq!(status, 403);

    // Spans without ids are refused and counted, the rest of the request is kept; a span whose
    // parent never arrives is kept and drawn as a root with its parent marked missing.
    let mut no_trace_id = otlp_span(2, 5, None, "no trace id");
    no_trace_id.trace_id.clear();
    let mut no_span_id = otlp_span(2, 6, None, "no span id");
    no_span_id.span_id = vec![0; 8];
    let request = otlp_request(
        "edge",
        vec![
            otlp_span(2, 1, None, "GET /root"),
            otlp_span(2, 2, Some(1), "child"),
            otlp_span(2, 3, Some(9), "orphan"),
            no_trace_id,
            no_span_id,
        ],
    );
    let bearer = format!("Bearer {key}");
    let (status, answer_type, body) = post_otlp(
        &server,
        protobuf,
        &[("authorization", bearer.as_str())],
        request.encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer_type.as_deref(), Some(protobuf));
    let answer = proto::ExportTraceServiceResponse::decode(&body[..]).unwrap();
    let partial = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert!(partial.error_message.contains("trace_id"), "{partial:?}");
    assert!(partial.error_message.contains("span_id"), "{partial:?}");

    let trace_id = "02".repeat(16);
    let data = server
        .graphql(
            &format!("query($p: ID!, $t: String!) {{ trace(projectId: $p, traceId: $t) {{ {TRACE_FIELDS} }} }}"),
            json!({"p": server.project_id.to_string(), "t": trace_id}),
        )
        .await;
    let trace = &data["trace"];
    assert_eq!(trace["spanCount"], json!(3), "{trace:#}");
    assert_eq!(trace["missingParentSpanIds"], json!(["09".repeat(8)]));
    let orphan = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|span| span["name"] == json!("orphan"))
        .unwrap();
    assert_eq!(orphan["depth"], json!(0));
    assert_eq!(orphan["parentMissing"], json!(true));
    let response = server
        .graphql_response(
            "query($p: ID!) { trace(projectId: $p, traceId: \"nope\") { traceId } }",
            json!({"p": server.project_id.to_string()}),
        )
        .await;
    assert_eq!(
        response["errors"][0]["extensions"]["code"],
        json!("BAD_REQUEST")
    );

    // OTLP JSON, gzip-compressed, key in x-sentry-auth; a fully accepted request answers `{}`.
    let json_body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "edge"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "03".repeat(16), "spanId": "03".repeat(8), "name": "GET /json",
            "kind": "SPAN_KIND_SERVER",
            "startTimeUnixNano": (chrono::Utc::now().timestamp_nanos_opt().unwrap()).to_string(),
            "endTimeUnixNano": (chrono::Utc::now().timestamp_nanos_opt().unwrap() + 1_000_000).to_string(),
            "events": [{"name": "exception", "timeUnixNano": (chrono::Utc::now().timestamp_nanos_opt().unwrap()).to_string(), "attributes": [
                {"key": "exception.type", "value": {"stringValue": "KeyError"}},
                {"key": "exception.message", "value": {"stringValue": "'basket'"}}]}],
            "status": {"code": 2, "message": "boom"}
        }]}]
    }]});
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(json_body.to_string().as_bytes()).unwrap();
    let sentry_auth = server.sentry_auth();
    let (status, answer_type, body) = post_otlp(
        &server,
        "application/json",
        &[
            ("content-encoding", "gzip"),
            ("x-sentry-auth", sentry_auth.as_str()),
        ],
        gzip.finish().unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(answer_type.as_deref(), Some("application/json"));
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({}));

    // Ingest still works: the good protobuf request from before, and the JSON exception event
    // became an issue linked to its trace.
    let (status, _, _) = post_otlp(&server, protobuf, &keyed, good).await;
    assert_eq!(status, 200);
    let data = server
        .graphql(
            "query($p: ID!) { issues(projectId: $p) { nodes { title latestEvent { id } } } }",
            json!({"p": server.project_id.to_string()}),
        )
        .await;
    let issue = &data["issues"]["nodes"][0];
    assert_eq!(issue["title"], json!("KeyError: 'basket'"));
    let data = server
        .graphql(
            "query($p: ID!, $e: ID!) { eventTrace(projectId: $p, eventId: $e) { traceId spans { failing status statusMessage } } }",
            json!({"p": server.project_id.to_string(), "e": issue["latestEvent"]["id"]}),
        )
        .await;
    assert_eq!(data["eventTrace"]["traceId"], json!("03".repeat(16)));
    assert_eq!(
        data["eventTrace"]["spans"],
        json!([{"failing": true, "status": "error", "statusMessage": "boom"}])
    );
}
