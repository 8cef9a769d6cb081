//! OTLP/HTTP traces: `POST /v1/traces`, as OpenTelemetry exporters send them.
//!
//! - Bodies: `application/x-protobuf` (an `ExportTraceServiceRequest`) or `application/json`
//!   (OTLP JSON: lowerCamelCase fields, hex trace/span ids, 64-bit integers as strings or
//!   numbers), gzip (or any encoding [`super::body`] knows) or not.
//! - Authentication: the project's DSN public key in `x-stackhouse-key: KEY`,
//!   `Authorization: Bearer KEY`, `x-sentry-auth: Sentry sentry_key=KEY`, or `?sentry_key=KEY`.
//!   The key names the project (OTLP paths carry none).
//! - Each span becomes a row of `spans`; each span event named `exception` (attributes
//!   `exception.type`, `exception.message`, `exception.stacktrace`) also becomes an error event,
//!   fingerprinted and grouped like any other, carrying the span's trace and span ids.
//! - Answers as the OTLP spec says: 200 with an `ExportTraceServiceResponse` in the request's
//!   encoding, whose `partial_success` counts the spans refused (no trace id, no span id, bad
//!   parent id) and says why; 400 with a `google.rpc.Status` for a body that is not valid
//!   protobuf/JSON; 415 for another content type; 403 for a bad key.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use prost::Message;
use serde_json::Value;
use stackhouse_protocol::{ErrorEvent, Exception, Frame, Level, Stacktrace, TraceContext};

use super::{admit_and_prepare, auth, body, decode_and_run};
use crate::engine::SpanRecord;
use crate::error::ApiError;
use crate::server::AppState;

/// At most this many attributes of a span are kept in its key/value list.
pub const MAX_SPAN_ATTRIBUTES: usize = 32;
/// Attribute values are cut to this many characters.
const MAX_ATTRIBUTE_CHARS: usize = 512;

/// The OTLP messages ingest reads (field numbers from opentelemetry-proto's `trace/v1`,
/// `common/v1`, `resource/v1` and `collector/trace/v1`), written by hand: only what is needed.
pub mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportTraceServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub resource_spans: Vec<ResourceSpans>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportTraceServiceResponse {
        #[prost(message, optional, tag = "1")]
        pub partial_success: Option<ExportTracePartialSuccess>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportTracePartialSuccess {
        #[prost(int64, tag = "1")]
        pub rejected_spans: i64,
        #[prost(string, tag = "2")]
        pub error_message: String,
    }

    /// `google.rpc.Status`, the body of an OTLP error answer.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RpcStatus {
        #[prost(int32, tag = "1")]
        pub code: i32,
        #[prost(string, tag = "2")]
        pub message: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceSpans {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(message, repeated, tag = "2")]
        pub scope_spans: Vec<ScopeSpans>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeSpans {
        #[prost(message, repeated, tag = "2")]
        pub spans: Vec<Span>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Span {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "4")]
        pub parent_span_id: Vec<u8>,
        #[prost(string, tag = "5")]
        pub name: String,
        #[prost(int32, tag = "6")]
        pub kind: i32,
        #[prost(fixed64, tag = "7")]
        pub start_time_unix_nano: u64,
        #[prost(fixed64, tag = "8")]
        pub end_time_unix_nano: u64,
        #[prost(message, repeated, tag = "9")]
        pub attributes: Vec<KeyValue>,
        #[prost(message, repeated, tag = "11")]
        pub events: Vec<Event>,
        #[prost(message, optional, tag = "15")]
        pub status: Option<Status>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Event {
        #[prost(fixed64, tag = "1")]
        pub time_unix_nano: u64,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(message, repeated, tag = "3")]
        pub attributes: Vec<KeyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        #[prost(string, tag = "2")]
        pub message: String,
        #[prost(int32, tag = "3")]
        pub code: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
        pub value: Option<any_value::Value>,
    }

    pub mod any_value {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(string, tag = "1")]
            StringValue(String),
            #[prost(bool, tag = "2")]
            BoolValue(bool),
            #[prost(int64, tag = "3")]
            IntValue(i64),
            #[prost(double, tag = "4")]
            DoubleValue(f64),
            #[prost(message, tag = "5")]
            ArrayValue(super::ArrayValue),
            #[prost(message, tag = "6")]
            KvlistValue(super::KeyValueList),
            #[prost(bytes = "vec", tag = "7")]
            BytesValue(Vec<u8>),
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ArrayValue {
        #[prost(message, repeated, tag = "1")]
        pub values: Vec<AnyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValueList {
        #[prost(message, repeated, tag = "1")]
        pub values: Vec<KeyValue>,
    }
}

use proto::any_value::Value as AttributeValue;

/// How the request body is encoded (and so the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpEncoding {
    Protobuf,
    Json,
}

/// The encoding a `Content-Type` names, if OTLP/HTTP allows it.
pub fn encoding_of(content_type: Option<&str>) -> Option<OtlpEncoding> {
    let essence = content_type?
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(OtlpEncoding::Protobuf),
        "application/json" => Some(OtlpEncoding::Json),
        _ => None,
    }
}

/// Why a body could not be read as an OTLP request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtlpParseError {
    #[error("invalid OTLP protobuf: {0}")]
    Protobuf(String),
    #[error("invalid OTLP JSON: {0}")]
    Json(String),
}

/// Decodes an `ExportTraceServiceRequest`.
pub fn decode_request(
    encoding: OtlpEncoding,
    body: &[u8],
) -> Result<proto::ExportTraceServiceRequest, OtlpParseError> {
    match encoding {
        OtlpEncoding::Protobuf => proto::ExportTraceServiceRequest::decode(body)
            .map_err(|error| OtlpParseError::Protobuf(error.to_string())),
        OtlpEncoding::Json => {
            let value: Value = serde_json::from_slice(body)
                .map_err(|error| OtlpParseError::Json(error.to_string()))?;
            json::request(&value).map_err(OtlpParseError::Json)
        }
    }
}

/// OTLP JSON → the protobuf structs. Ids are hex (the OTLP JSON rule, not base64); a bad id
/// becomes an empty one, which the span check then refuses with a reason.
mod json {
    use super::proto;
    use serde_json::Value;

    fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
        object.get(name).filter(|value| !value.is_null())
    }

    fn list<'a>(object: &'a Value, name: &str) -> Result<&'a [Value], String> {
        match field(object, name) {
            None => Ok(&[]),
            Some(Value::Array(values)) => Ok(values),
            Some(_) => Err(format!("{name} must be a list")),
        }
    }

    fn text(object: &Value, name: &str) -> String {
        field(object, name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// A 64-bit integer sent as a JSON number or a decimal string.
    fn integer(value: Option<&Value>) -> Option<i128> {
        match value? {
            Value::Number(number) => number
                .as_i64()
                .map(i128::from)
                .or_else(|| number.as_u64().map(i128::from)),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    }

    fn hex_bytes(object: &Value, name: &str) -> Vec<u8> {
        let text = text(object, name);
        if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return b"?".to_vec(); // neither empty nor a valid id: refused with a reason
        }
        (0..text.len())
            .step_by(2)
            .filter_map(|index| u8::from_str_radix(&text[index..index + 2], 16).ok())
            .collect()
    }

    pub fn request(value: &Value) -> Result<proto::ExportTraceServiceRequest, String> {
        if !value.is_object() {
            return Err("the body must be a JSON object".to_owned());
        }
        let mut request = proto::ExportTraceServiceRequest::default();
        for resource_spans in list(value, "resourceSpans")? {
            let resource = field(resource_spans, "resource")
                .map(|resource| -> Result<proto::Resource, String> {
                    Ok(proto::Resource {
                        attributes: attributes(resource, "attributes")?,
                    })
                })
                .transpose()?;
            let mut scope_spans = Vec::new();
            for scope in list(resource_spans, "scopeSpans")? {
                let mut spans = Vec::new();
                for span in list(scope, "spans")? {
                    spans.push(self::span(span)?);
                }
                scope_spans.push(proto::ScopeSpans { spans });
            }
            request.resource_spans.push(proto::ResourceSpans {
                resource,
                scope_spans,
            });
        }
        Ok(request)
    }

    fn span(value: &Value) -> Result<proto::Span, String> {
        if !value.is_object() {
            return Err("a span must be an object".to_owned());
        }
        let mut events = Vec::new();
        for event in list(value, "events")? {
            events.push(proto::Event {
                time_unix_nano: unsigned(field(event, "timeUnixNano")),
                name: text(event, "name"),
                attributes: attributes(event, "attributes")?,
            });
        }
        let status = field(value, "status").map(|status| proto::Status {
            message: text(status, "message"),
            code: enum_value(
                field(status, "code"),
                &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"],
            ),
        });
        Ok(proto::Span {
            trace_id: hex_bytes(value, "traceId"),
            span_id: hex_bytes(value, "spanId"),
            parent_span_id: hex_bytes(value, "parentSpanId"),
            name: text(value, "name"),
            kind: enum_value(
                field(value, "kind"),
                &[
                    "SPAN_KIND_UNSPECIFIED",
                    "SPAN_KIND_INTERNAL",
                    "SPAN_KIND_SERVER",
                    "SPAN_KIND_CLIENT",
                    "SPAN_KIND_PRODUCER",
                    "SPAN_KIND_CONSUMER",
                ],
            ),
            start_time_unix_nano: unsigned(field(value, "startTimeUnixNano")),
            end_time_unix_nano: unsigned(field(value, "endTimeUnixNano")),
            attributes: attributes(value, "attributes")?,
            events,
            status,
        })
    }

    fn unsigned(value: Option<&Value>) -> u64 {
        integer(value)
            .and_then(|number| u64::try_from(number).ok())
            .unwrap_or(0)
    }

    /// An enum as its number or its name.
    fn enum_value(value: Option<&Value>, names: &[&str]) -> i32 {
        if let Some(Value::String(name)) = value {
            if let Some(index) = names.iter().position(|known| known == name) {
                return i32::try_from(index).unwrap_or(0);
            }
        }
        integer(value)
            .and_then(|number| i32::try_from(number).ok())
            .unwrap_or(0)
    }

    fn attributes(object: &Value, name: &str) -> Result<Vec<proto::KeyValue>, String> {
        list(object, name)?
            .iter()
            .map(|pair| {
                Ok(proto::KeyValue {
                    key: text(pair, "key"),
                    value: field(pair, "value").map(any_value),
                })
            })
            .collect()
    }

    fn any_value(value: &Value) -> proto::AnyValue {
        use proto::any_value::Value as V;
        let inner = if let Some(text) = field(value, "stringValue").and_then(Value::as_str) {
            Some(V::StringValue(text.to_owned()))
        } else if let Some(flag) = field(value, "boolValue").and_then(Value::as_bool) {
            Some(V::BoolValue(flag))
        } else if let Some(number) = integer(field(value, "intValue")) {
            Some(V::IntValue(i64::try_from(number).unwrap_or_default()))
        } else if let Some(number) = field(value, "doubleValue").and_then(Value::as_f64) {
            Some(V::DoubleValue(number))
        } else if let Some(array) = field(value, "arrayValue") {
            Some(V::ArrayValue(proto::ArrayValue {
                values: list(array, "values")
                    .unwrap_or_default()
                    .iter()
                    .map(any_value)
                    .collect(),
            }))
        } else if let Some(kvlist) = field(value, "kvlistValue") {
            Some(V::KvlistValue(proto::KeyValueList {
                values: attributes(kvlist, "values").unwrap_or_default(),
            }))
        } else {
            field(value, "bytesValue")
                .and_then(Value::as_str)
                .map(|text| V::BytesValue(text.as_bytes().to_vec()))
        };
        proto::AnyValue { value: inner }
    }
}

/// What one OTLP request yields.
#[derive(Debug, Default)]
pub struct OtlpIntake {
    pub spans: Vec<SpanRecord>,
    /// Error events from `exception` span events.
    pub errors: Vec<ErrorEvent>,
    pub rejected_spans: u64,
    /// Why spans were refused (the first few reasons).
    pub reasons: Vec<String>,
}

impl OtlpIntake {
    fn reject(&mut self, reason: String) {
        self.rejected_spans += 1;
        if self.reasons.len() < 5 && !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }
}

/// An attribute value as text (arrays and maps as JSON-ish text).
fn value_text(value: Option<&proto::AnyValue>) -> String {
    match value.and_then(|value| value.value.as_ref()) {
        None => String::new(),
        Some(AttributeValue::StringValue(text)) => text.clone(),
        Some(AttributeValue::BoolValue(flag)) => flag.to_string(),
        Some(AttributeValue::IntValue(number)) => number.to_string(),
        Some(AttributeValue::DoubleValue(number)) => number.to_string(),
        Some(AttributeValue::BytesValue(bytes)) => hex(bytes),
        Some(AttributeValue::ArrayValue(array)) => format!(
            "[{}]",
            array
                .values
                .iter()
                .map(|value| value_text(Some(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(AttributeValue::KvlistValue(list)) => format!(
            "{{{}}}",
            list.values
                .iter()
                .map(|pair| format!("{}: {}", pair.key, value_text(pair.value.as_ref())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn attribute<'a>(attributes: &'a [proto::KeyValue], keys: &[&str]) -> Option<&'a proto::KeyValue> {
    keys.iter()
        .find_map(|key| attributes.iter().find(|pair| pair.key == *key))
}

fn attribute_text(attributes: &[proto::KeyValue], keys: &[&str]) -> String {
    attribute(attributes, keys)
        .map(|pair| value_text(pair.value.as_ref()))
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((index, _)) => text[..index].to_owned(),
        None => text.to_owned(),
    }
}

/// Attributes shown in their own columns, not repeated in the key/value list.
const COLUMN_ATTRIBUTES: &[&str] = &[
    "http.request.method",
    "http.method",
    "http.route",
    "http.response.status_code",
    "http.status_code",
    "db.system",
    "db.system.name",
];

fn span_kind(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

/// Turns a decoded request into span rows and error events: the pure part of the door.
pub fn convert(
    project_id: u64,
    request: &proto::ExportTraceServiceRequest,
    received: DateTime<Utc>,
) -> OtlpIntake {
    let mut intake = OtlpIntake::default();
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map(|resource| resource.attributes.as_slice())
            .unwrap_or_default();
        let service = Some(attribute_text(resource, &["service.name"]))
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "unknown_service".to_owned());
        let resource_facts = ResourceFacts {
            service,
            platform: attribute_text(resource, &["telemetry.sdk.language"]),
            release: attribute_text(resource, &["service.version"]),
            environment: attribute_text(
                resource,
                &["deployment.environment.name", "deployment.environment"],
            ),
            host: attribute_text(resource, &["host.name", "service.instance.id"]),
        };
        for span in resource_spans
            .scope_spans
            .iter()
            .flat_map(|scope| &scope.spans)
        {
            match span_record(project_id, &resource_facts.service, span) {
                Ok(record) => {
                    for (index, event) in span.events.iter().enumerate() {
                        if event.name == "exception" {
                            intake.errors.push(exception_event(
                                &resource_facts,
                                &record,
                                span,
                                event,
                                index,
                                received,
                            ));
                        }
                    }
                    intake.spans.push(record);
                }
                Err(reason) => intake.reject(reason),
            }
        }
    }
    intake
}

struct ResourceFacts {
    service: String,
    platform: String,
    release: String,
    environment: String,
    host: String,
}

fn span_record(project_id: u64, service: &str, span: &proto::Span) -> Result<SpanRecord, String> {
    let all_zero = |bytes: &[u8]| bytes.iter().all(|byte| *byte == 0);
    if span.trace_id.len() != 16 || all_zero(&span.trace_id) {
        return Err(format!(
            "span {:?}: trace_id must be 16 bytes, not all zero",
            span.name
        ));
    }
    if span.span_id.len() != 8 || all_zero(&span.span_id) {
        return Err(format!(
            "span {:?}: span_id must be 8 bytes, not all zero",
            span.name
        ));
    }
    if !span.parent_span_id.is_empty() && span.parent_span_id.len() != 8 {
        return Err(format!(
            "span {:?}: parent_span_id must be 8 bytes or empty",
            span.name
        ));
    }
    let start_us = i64::try_from(span.start_time_unix_nano / 1000).unwrap_or(i64::MAX);
    let duration_us = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano)
        / 1000;
    let status = span.status.as_ref();
    let attributes = &span.attributes;
    let others: Vec<&proto::KeyValue> = attributes
        .iter()
        .filter(|pair| !COLUMN_ATTRIBUTES.contains(&pair.key.as_str()))
        .take(MAX_SPAN_ATTRIBUTES)
        .collect();
    Ok(SpanRecord {
        project_id,
        trace_id: hex(&span.trace_id),
        span_id: hex(&span.span_id),
        parent_span_id: if all_zero(&span.parent_span_id) {
            String::new()
        } else {
            hex(&span.parent_span_id)
        },
        service: service.to_owned(),
        name: cut(&span.name, MAX_ATTRIBUTE_CHARS),
        kind: span_kind(span.kind).to_owned(),
        start_us,
        duration_us,
        status: match status.map(|status| status.code) {
            Some(1) => "ok",
            Some(2) => "error",
            _ => "unset",
        }
        .to_owned(),
        status_message: cut(
            status.map(|status| status.message.as_str()).unwrap_or(""),
            MAX_ATTRIBUTE_CHARS,
        ),
        http_method: attribute_text(attributes, &["http.request.method", "http.method"]),
        http_route: attribute_text(attributes, &["http.route"]),
        http_status_code: attribute_text(
            attributes,
            &["http.response.status_code", "http.status_code"],
        )
        .parse()
        .unwrap_or(0),
        db_system: attribute_text(attributes, &["db.system.name", "db.system"]),
        attribute_keys: others.iter().map(|pair| pair.key.clone()).collect(),
        attribute_values: others
            .iter()
            .map(|pair| cut(&value_text(pair.value.as_ref()), MAX_ATTRIBUTE_CHARS))
            .collect(),
        source: "otlp".to_owned(),
    })
}

/// An `exception` span event as an error event of the span's trace and span. Its id is derived
/// from the span and the event's position, so an export retried by the SDK is the same event.
fn exception_event(
    resource: &ResourceFacts,
    record: &SpanRecord,
    span: &proto::Span,
    event: &proto::Event,
    index: usize,
    received: DateTime<Utc>,
) -> ErrorEvent {
    let id_source = format!(
        "{}:{}:{}:{}",
        record.trace_id, record.span_id, event.time_unix_nano, index
    );
    let high = twox_hash::XxHash64::oneshot(1, id_source.as_bytes());
    let low = twox_hash::XxHash64::oneshot(2, id_source.as_bytes());
    let event_id = uuid::Uuid::from_u64_pair(high, low);
    let timestamp = i64::try_from(event.time_unix_nano)
        .ok()
        .filter(|nanos| *nanos > 0)
        .map(DateTime::from_timestamp_nanos)
        .unwrap_or(received);
    let mut error = ErrorEvent::new(event_id, timestamp);
    error.platform = match resource.platform.as_str() {
        "" => "other".to_owned(),
        "nodejs" => "node".to_owned(),
        "dotnet" => "csharp".to_owned(),
        other => other.to_owned(),
    };
    error.level = Level::Error;
    let stack_text = attribute_text(&event.attributes, &["exception.stacktrace"]);
    let frames = parse_stacktrace(&stack_text);
    let message = attribute_text(&event.attributes, &["exception.message"]);
    let ty = Some(attribute_text(&event.attributes, &["exception.type"]))
        .filter(|ty| !ty.is_empty())
        .unwrap_or_else(|| "Error".to_owned());
    error.exceptions.push(Exception {
        ty,
        value: (!message.is_empty()).then_some(message),
        module: None,
        mechanism: None,
        stacktrace: (!frames.is_empty()).then_some(Stacktrace { frames }),
    });
    error.transaction = Some(span.name.clone());
    error.release = (!resource.release.is_empty()).then(|| resource.release.clone());
    error.environment = (!resource.environment.is_empty()).then(|| resource.environment.clone());
    error.server_name = (!resource.host.is_empty()).then(|| resource.host.clone());
    error.tags = vec![
        ("service".to_owned(), resource.service.clone()),
        ("otel.span_kind".to_owned(), record.kind.clone()),
    ];
    error.contexts.trace = Some(TraceContext {
        trace_id: record.trace_id.clone(),
        span_id: Some(record.span_id.clone()),
        parent_span_id: (!record.parent_span_id.is_empty()).then(|| record.parent_span_id.clone()),
        op: Some(span.name.clone()),
        status: Some(record.status.clone()),
    });
    if !stack_text.is_empty() {
        error.extra.insert(
            "exception.stacktrace".to_owned(),
            Value::String(cut(&stack_text, 16 * 1024)),
        );
    }
    error
}

/// Frames from an exception's text stack trace, oldest call first (Sentry order): Python
/// tracebacks (`File "x.py", line 3, in f`) and Java/JVM-style (`at pkg.Class.method(File.java:3)`)
/// lines; other formats yield no frames (grouping then uses type and message).
pub fn parse_stacktrace(text: &str) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut jvm_style = false;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("File \"") {
            let Some((path, rest)) = rest.split_once('"') else {
                continue;
            };
            let lineno = rest
                .split("line ")
                .nth(1)
                .and_then(|tail| tail.split(',').next())
                .and_then(|number| number.trim().parse().ok());
            let function = rest
                .split(", in ")
                .nth(1)
                .map(|name| name.trim().to_owned());
            let library = path.contains("site-packages")
                || path.contains("dist-packages")
                || path.contains("/lib/python");
            frames.push(Frame {
                filename: Some(path.to_owned()),
                abs_path: Some(path.to_owned()),
                function,
                lineno,
                in_app: Some(!library),
                ..Frame::default()
            });
        } else if let Some(rest) = line.strip_prefix("at ") {
            jvm_style = true;
            let (qualified, location) = rest.split_once('(').unwrap_or((rest, ""));
            let (module, function) = qualified.rsplit_once('.').unwrap_or(("", qualified));
            let mut location = location.trim_end_matches(')').split(':');
            let filename = location.next().filter(|name| !name.is_empty());
            let lineno = location.next().and_then(|number| number.parse().ok());
            frames.push(Frame {
                module: (!module.is_empty()).then(|| module.to_owned()),
                function: Some(function.to_owned()),
                filename: filename.map(str::to_owned),
                lineno,
                in_app: Some(!(module.starts_with("java.") || module.starts_with("jdk."))),
                ..Frame::default()
            });
        }
        if frames.len() >= 256 {
            break;
        }
    }
    // JVM stacks list the innermost call first; Sentry order is the opposite.
    if jvm_style {
        frames.reverse();
    }
    frames
}

/// The project key, from the headers OTel exporters can set or the query string.
pub fn otlp_key(raw_query: Option<&str>, headers: &HeaderMap) -> Option<String> {
    fn non_empty(text: &str) -> Option<&str> {
        Some(text.trim()).filter(|key| !key.is_empty())
    }
    let header = |name| headers.get(name).and_then(|value| value.to_str().ok());
    header(HeaderName::from_static("x-stackhouse-key"))
        .and_then(non_empty)
        .or_else(|| {
            non_empty(
                header(header::AUTHORIZATION)?
                    .trim()
                    .strip_prefix("Bearer ")?,
            )
        })
        .map(str::to_owned)
        .or_else(|| auth::request_key(raw_query, headers))
}

/// An OTLP answer in the request's encoding.
fn answer(
    encoding: OtlpEncoding,
    status: StatusCode,
    message: impl Message,
    json: Value,
) -> Response {
    let (content_type, body) = match encoding {
        OtlpEncoding::Protobuf => ("application/x-protobuf", message.encode_to_vec()),
        OtlpEncoding::Json => ("application/json", json.to_string().into_bytes()),
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A `google.rpc.Status` error answer (code 3 = INVALID_ARGUMENT).
fn bad_request(encoding: OtlpEncoding, message: String) -> Response {
    answer(
        encoding,
        StatusCode::BAD_REQUEST,
        proto::RpcStatus {
            code: 3,
            message: message.clone(),
        },
        serde_json::json!({ "code": 3, "message": message }),
    )
}

/// `POST /v1/traces`.
pub async fn ingest_traces(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let Some(encoding) = encoding_of(content_type) else {
        return Err(ApiError::UnsupportedMediaType(format!(
            "OTLP/HTTP takes application/x-protobuf or application/json, not {:?}",
            content_type.unwrap_or("")
        )));
    };
    let key = otlp_key(query.as_deref(), &headers);
    let project_id = state.projects.project_for_key(key.as_deref()).await?;
    let limit = state.config.ingest.max_envelope_bytes;
    let raw = body::read_limited(&headers, request_body, limit).await?;

    let worker_state = state.clone();
    let prepared = decode_and_run(headers, raw, limit, move |decoded| {
        let decoded = decoded?;
        let request = match decode_request(encoding, &decoded) {
            Ok(request) => request,
            Err(error) => return Ok(Err(error)),
        };
        let received = Utc::now();
        let mut intake = convert(project_id, &request, received);
        let batch = match admit_and_prepare(
            &worker_state,
            project_id,
            &mut intake.errors,
            None,
            received,
        ) {
            Ok(batch) => batch,
            Err(limited) => {
                // Spans are still stored; the exception events are refused and said so.
                intake.reasons.push(format!(
                    "{} exception events not stored: {limited}",
                    intake.errors.len()
                ));
                Default::default()
            }
        };
        Ok(Ok((intake, batch)))
    })
    .await?;
    let (intake, batch) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return Ok(bad_request(encoding, error.to_string())),
    };
    state
        .engine
        .write_spans(&intake.spans)
        .await
        .map_err(ApiError::from)?;
    state.pipeline.store(batch).await?;

    let partial = (intake.rejected_spans > 0 || !intake.reasons.is_empty()).then(|| {
        proto::ExportTracePartialSuccess {
            rejected_spans: i64::try_from(intake.rejected_spans).unwrap_or(i64::MAX),
            error_message: intake.reasons.join("; "),
        }
    });
    let json = match &partial {
        Some(partial) => serde_json::json!({
            "partialSuccess": {
                "rejectedSpans": partial.rejected_spans.to_string(),
                "errorMessage": partial.error_message,
            }
        }),
        None => serde_json::json!({}),
    };
    Ok(answer(
        encoding,
        StatusCode::OK,
        proto::ExportTraceServiceResponse {
            partial_success: partial,
        },
        json,
    ))
}

/// Re-exported for tests and the benchmark: encodes a request as an exporter would.
pub fn encode_request(request: &proto::ExportTraceServiceRequest) -> Bytes {
    Bytes::from(request.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_value(key: &str, value: AttributeValue) -> proto::KeyValue {
        proto::KeyValue {
            key: key.to_owned(),
            value: Some(proto::AnyValue { value: Some(value) }),
        }
    }

    fn text_value(key: &str, value: &str) -> proto::KeyValue {
        key_value(key, AttributeValue::StringValue(value.to_owned()))
    }

    fn request(spans: Vec<proto::Span>) -> proto::ExportTraceServiceRequest {
        proto::ExportTraceServiceRequest {
            resource_spans: vec![proto::ResourceSpans {
                resource: Some(proto::Resource {
                    attributes: vec![
                        text_value("service.name", "checkout"),
                        text_value("telemetry.sdk.language", "python"),
                    ],
                }),
                scope_spans: vec![proto::ScopeSpans { spans }],
            }],
        }
    }

    fn good_span() -> proto::Span {
        proto::Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            parent_span_id: vec![3; 8],
            name: "GET /cart".to_owned(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_250_000_000,
            attributes: vec![
                text_value("http.request.method", "GET"),
                key_value("http.response.status_code", AttributeValue::IntValue(500)),
                text_value("custom", "x"),
            ],
            events: vec![proto::Event {
                time_unix_nano: 1_700_000_000_100_000_000,
                name: "exception".to_owned(),
                attributes: vec![
                    text_value("exception.type", "ValueError"),
                    text_value("exception.message", "bad cart 42"),
                    text_value(
                        "exception.stacktrace",
                        "Traceback (most recent call last):\n  File \"/srv/app/cart.py\", line 12, in load\n    raise ValueError(x)\nValueError: bad cart 42",
                    ),
                ],
            }],
            status: Some(proto::Status {
                message: "boom".to_owned(),
                code: 2,
            }),
        }
    }

    #[test]
    fn protobuf_spans_and_exceptions_are_converted() {
        let body = encode_request(&request(vec![good_span()]));
        let decoded = decode_request(OtlpEncoding::Protobuf, &body).expect("decodes");
        let intake = convert(7, &decoded, Utc::now());
        assert_eq!(intake.rejected_spans, 0);
        let span = &intake.spans[0];
        assert_eq!(span.trace_id, "01".repeat(16));
        assert_eq!(span.parent_span_id, "03".repeat(8));
        assert_eq!(
            (span.service.as_str(), span.kind.as_str()),
            ("checkout", "server")
        );
        assert_eq!(span.duration_us, 250_000);
        assert_eq!(
            (span.status.as_str(), span.http_status_code),
            ("error", 500)
        );
        assert_eq!(span.attribute_keys, ["custom"]);
        let error = &intake.errors[0];
        assert_eq!(error.title(), "ValueError: bad cart 42");
        assert_eq!(error.platform, "python");
        let trace = error.contexts.trace.as_ref().expect("trace");
        assert_eq!(trace.span_id.as_deref(), Some(span.span_id.as_str()));
        let frames = &error.exceptions[0]
            .stacktrace
            .as_ref()
            .expect("frames")
            .frames;
        assert_eq!(frames[0].function.as_deref(), Some("load"));
        assert_eq!(frames[0].lineno, Some(12));
        // The same export twice yields the same event id.
        let again = convert(7, &decoded, Utc::now());
        assert_eq!(again.errors[0].event_id, error.event_id);
    }

    #[test]
    fn json_matches_protobuf() {
        let json = serde_json::json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
            "scopeSpans": [{"scope": {"name": "x"}, "spans": [{
                "traceId": "01010101010101010101010101010101",
                "spanId": "0202020202020202",
                "parentSpanId": "",
                "name": "GET /cart",
                "kind": 2,
                "startTimeUnixNano": "1700000000000000000",
                "endTimeUnixNano": 1_700_000_000_250_000_000u64,
                "attributes": [{"key": "http.response.status_code", "value": {"intValue": "404"}}],
                "status": {"code": "STATUS_CODE_OK"}
            }]}]
        }]});
        let decoded =
            decode_request(OtlpEncoding::Json, json.to_string().as_bytes()).expect("decodes");
        let intake = convert(7, &decoded, Utc::now());
        let span = &intake.spans[0];
        assert_eq!(span.parent_span_id, "");
        assert_eq!((span.status.as_str(), span.http_status_code), ("ok", 404));
        assert_eq!(span.duration_us, 250_000);
        assert_eq!(span.kind, "server");
    }

    #[test]
    fn spans_without_ids_are_rejected_with_reasons() {
        let mut no_trace = good_span();
        no_trace.trace_id.clear();
        let mut zero_span = good_span();
        zero_span.span_id = vec![0; 8];
        let mut bad_parent = good_span();
        bad_parent.parent_span_id = vec![1, 2];
        let intake = convert(
            1,
            &request(vec![no_trace, zero_span, bad_parent, good_span()]),
            Utc::now(),
        );
        assert_eq!(intake.rejected_spans, 3);
        assert_eq!(intake.spans.len(), 1);
        assert_eq!(intake.reasons.len(), 3);
        assert!(intake.reasons[0].contains("trace_id"));
    }

    #[test]
    fn malformed_bodies_and_content_types_are_refused() {
        assert!(decode_request(OtlpEncoding::Protobuf, b"\xff\xff\xff\xff").is_err());
        assert!(decode_request(OtlpEncoding::Json, b"{not json").is_err());
        assert!(decode_request(OtlpEncoding::Json, b"[]").is_err());
        assert!(decode_request(OtlpEncoding::Json, br#"{"resourceSpans": 3}"#).is_err());
        assert_eq!(
            encoding_of(Some("application/x-protobuf")),
            Some(OtlpEncoding::Protobuf)
        );
        assert_eq!(
            encoding_of(Some("application/json; charset=utf-8")),
            Some(OtlpEncoding::Json)
        );
        assert_eq!(encoding_of(Some("text/plain")), None);
        assert_eq!(encoding_of(None), None);
    }

    #[test]
    fn jvm_stacks_are_reversed_into_sentry_order() {
        let frames = parse_stacktrace(
            "java.lang.IllegalStateException: x\n\tat com.shop.Cart.load(Cart.java:10)\n\tat com.shop.Api.handle(Api.java:3)",
        );
        let functions: Vec<_> = frames.iter().map(|f| f.function.as_deref()).collect();
        assert_eq!(functions, [Some("handle"), Some("load")]);
        assert_eq!(frames[1].module.as_deref(), Some("com.shop.Cart"));
    }

    #[test]
    fn key_comes_from_otel_friendly_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer abc".parse().expect("header"));
        assert_eq!(otlp_key(None, &headers).as_deref(), Some("abc"));
        headers.insert("x-stackhouse-key", "def".parse().expect("header"));
        assert_eq!(otlp_key(None, &headers).as_deref(), Some("def"));
        assert_eq!(
            otlp_key(Some("sentry_key=q"), &HeaderMap::new()).as_deref(),
            Some("q")
        );
    }
}
