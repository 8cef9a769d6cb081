//! The `spans` table on the embedded engine: an append-only, checksummed log of span batches
//! (`spans/spans.log`, synced before a write returns) and an in-memory index by trace, rebuilt
//! from the log at start-up. A torn last frame (a crash mid-append) is cut off on open.
//!
//! Spans are kept apart from the event write-ahead log: they never join the event aggregates,
//! and the two logs need no common order. Analysts see them as the DataFusion table `spans`
//! (a live table over [`SpanStore::batch`]), built from memory at scan time. Everything is held in memory (about
//! 300 bytes per span): this engine is for one machine's traffic; large trace volumes belong on
//! ClickHouse.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder, UInt16Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parking_lot::{Mutex, RwLock};

use super::codec::{Decoder, Encoder};
use super::event_batch::timestamp_type;
use super::sql::{times, u64s};
use super::EmbeddedError;
use crate::engine::{SpanRange, SpanRecord};

/// Frame layout: `payload length (u32 LE) | crc32(payload) (u32 LE) | payload`.
const FRAME_HEADER: usize = 8;

#[derive(Debug, Default)]
struct SpanIndex {
    rows: Vec<SpanRecord>,
    by_trace: HashMap<(u64, String), Vec<usize>>,
}

impl SpanIndex {
    fn push(&mut self, span: SpanRecord) {
        self.by_trace
            .entry((span.project_id, span.trace_id.clone()))
            .or_default()
            .push(self.rows.len());
        self.rows.push(span);
    }
}

/// The spans of an embedded engine.
#[derive(Debug)]
pub struct SpanStore {
    file: Mutex<File>,
    index: RwLock<SpanIndex>,
}

fn encode_span(encoder: &mut Encoder, span: &SpanRecord) {
    encoder.u64(span.project_id);
    for text in [
        &span.trace_id,
        &span.span_id,
        &span.parent_span_id,
        &span.service,
        &span.name,
        &span.kind,
    ] {
        encoder.str(text);
    }
    encoder.i64(span.start_us);
    encoder.u64(span.duration_us);
    for text in [
        &span.status,
        &span.status_message,
        &span.http_method,
        &span.http_route,
    ] {
        encoder.str(text);
    }
    encoder.u64(u64::from(span.http_status_code));
    encoder.str(&span.db_system);
    encoder.len(span.attribute_keys.len());
    for (key, value) in span.attribute_keys.iter().zip(&span.attribute_values) {
        encoder.str(key);
        encoder.str(value);
    }
    encoder.str(&span.source);
}

fn decode_span(decoder: &mut Decoder<'_>) -> Result<SpanRecord, EmbeddedError> {
    let project_id = decoder.u64()?;
    let trace_id = decoder.string()?;
    let span_id = decoder.string()?;
    let parent_span_id = decoder.string()?;
    let service = decoder.string()?;
    let name = decoder.string()?;
    let kind = decoder.string()?;
    let start_us = decoder.i64()?;
    let duration_us = decoder.u64()?;
    let status = decoder.string()?;
    let status_message = decoder.string()?;
    let http_method = decoder.string()?;
    let http_route = decoder.string()?;
    let http_status_code = u16::try_from(decoder.u64()?).unwrap_or(0);
    let db_system = decoder.string()?;
    let attributes = decoder.len()?;
    let mut attribute_keys = Vec::with_capacity(attributes);
    let mut attribute_values = Vec::with_capacity(attributes);
    for _ in 0..attributes {
        attribute_keys.push(decoder.string()?);
        attribute_values.push(decoder.string()?);
    }
    let source = decoder.string()?;
    Ok(SpanRecord {
        project_id,
        trace_id,
        span_id,
        parent_span_id,
        service,
        name,
        kind,
        start_us,
        duration_us,
        status,
        status_message,
        http_method,
        http_route,
        http_status_code,
        db_system,
        attribute_keys,
        attribute_values,
        source,
    })
}

impl SpanStore {
    /// Opens `directory/spans/spans.log`, loading every complete frame.
    pub fn open(directory: &Path) -> Result<SpanStore, EmbeddedError> {
        let spans_directory = directory.join("spans");
        fs::create_dir_all(&spans_directory)?;
        let path = spans_directory.join("spans.log");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut content = Vec::new();
        file.read_to_end(&mut content)?;
        let mut index = SpanIndex::default();
        let mut offset = 0;
        while content.len() - offset >= FRAME_HEADER {
            let mut word = [0u8; 4];
            word.copy_from_slice(&content[offset..offset + 4]);
            let length = u32::from_le_bytes(word) as usize;
            word.copy_from_slice(&content[offset + 4..offset + 8]);
            let checksum = u32::from_le_bytes(word);
            let start = offset + FRAME_HEADER;
            let Some(payload) = content.get(start..start + length) else {
                break;
            };
            if crc32fast::hash(payload) != checksum {
                break;
            }
            let mut decoder = Decoder::new(payload, "span batch");
            let count = decoder.len()?;
            for _ in 0..count {
                index.push(decode_span(&mut decoder)?);
            }
            offset = start + length;
        }
        if offset < content.len() {
            tracing::warn!(
                path = %path.display(),
                kept_bytes = offset,
                dropped_bytes = content.len() - offset,
                "span log ends in a torn frame; cutting it off"
            );
            file.set_len(offset as u64)?;
            file.sync_all()?;
        }
        Ok(SpanStore {
            file: Mutex::new(file),
            index: RwLock::new(index),
        })
    }

    /// Appends spans durably, then makes them visible.
    pub fn append(&self, spans: &[SpanRecord]) -> Result<(), EmbeddedError> {
        if spans.is_empty() {
            return Ok(());
        }
        let mut encoder = Encoder::with_capacity(spans.len() * 256);
        encoder.len(spans.len());
        for span in spans {
            encode_span(&mut encoder, span);
        }
        let payload = encoder.finish();
        let length = u32::try_from(payload.len())
            .map_err(|_| EmbeddedError::TooLarge("span batch over 4 GiB".to_owned()))?;
        let mut frame = Vec::with_capacity(FRAME_HEADER + payload.len());
        frame.extend_from_slice(&length.to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        {
            let mut file = self.file.lock();
            file.write_all(&frame)?;
            file.sync_data()?;
        }
        let mut index = self.index.write();
        for span in spans {
            index.push(span.clone());
        }
        Ok(())
    }

    /// Every span of the given traces, in start order, at most `limit`.
    pub fn trace_spans(
        &self,
        project_id: u64,
        trace_ids: &[String],
        limit: usize,
    ) -> Vec<SpanRecord> {
        let index = self.index.read();
        let mut spans: Vec<SpanRecord> = trace_ids
            .iter()
            .filter_map(|trace_id| index.by_trace.get(&(project_id, trace_id.clone())))
            .flatten()
            .map(|row| index.rows[*row].clone())
            .collect();
        spans.sort_by(|a, b| (a.start_us, &a.span_id).cmp(&(b.start_us, &b.span_id)));
        spans.truncate(limit);
        spans
    }

    /// The spans of `range` (as `copy` makes them), newest first, at most `limit`.
    pub fn between(
        &self,
        range: &SpanRange,
        limit: usize,
        copy: impl Fn(&SpanRecord) -> SpanRecord,
    ) -> Vec<SpanRecord> {
        let index = self.index.read();
        let mut spans: Vec<SpanRecord> = index
            .rows
            .iter()
            .filter(|span| in_range(range, span))
            .map(copy)
            .collect();
        spans.sort_by_key(|span| std::cmp::Reverse(span.start_us));
        spans.truncate(limit);
        spans
    }

    /// How many spans `range` holds.
    pub fn count(&self, range: &SpanRange) -> u64 {
        let index = self.index.read();
        index
            .rows
            .iter()
            .filter(|span| in_range(range, span))
            .count() as u64
    }

    /// Every stored span as one batch with the columns of [`spans_schema`] (analyst SQL reads
    /// it per scan).
    pub fn batch(&self) -> Result<RecordBatch, EmbeddedError> {
        let index = self.index.read();
        let rows = &index.rows;
        let texts = |field: fn(&SpanRecord) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(field)))
        };
        let lists = |field: fn(&SpanRecord) -> &[String]| -> ArrayRef {
            let mut builder = ListBuilder::new(StringBuilder::new())
                .with_field(Arc::new(Field::new("item", DataType::Utf8, false)));
            for row in rows {
                for value in field(row) {
                    builder.values().append_value(value);
                }
                builder.append(true);
            }
            Arc::new(builder.finish())
        };
        let columns: Vec<ArrayRef> = vec![
            u64s(rows.iter().map(|s| s.project_id)),
            texts(|s| &s.trace_id),
            texts(|s| &s.span_id),
            texts(|s| &s.parent_span_id),
            texts(|s| &s.service),
            texts(|s| &s.name),
            texts(|s| &s.kind),
            times(rows.iter().map(|s| s.start_us.div_euclid(1_000_000))),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|s| s.start_us),
            )),
            u64s(rows.iter().map(|s| s.duration_us)),
            texts(|s| &s.status),
            texts(|s| &s.status_message),
            texts(|s| &s.http_method),
            texts(|s| &s.http_route),
            Arc::new(UInt16Array::from_iter_values(
                rows.iter().map(|s| s.http_status_code),
            )),
            texts(|s| &s.db_system),
            lists(|s| &s.attribute_keys),
            lists(|s| &s.attribute_values),
            texts(|s| &s.source),
        ];
        Ok(RecordBatch::try_new(spans_schema(), columns)?)
    }
}

/// The columns of `spans`, as `sql/0008_spans.sql`.
pub fn spans_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    let list = |name: &str| {
        Field::new(
            name,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))),
            false,
        )
    };
    Arc::new(Schema::new(vec![
        Field::new("project_id", DataType::UInt64, false),
        text("trace_id"),
        text("span_id"),
        text("parent_span_id"),
        text("service"),
        text("name"),
        text("kind"),
        Field::new("start_time", timestamp_type(), false),
        Field::new("start_us", DataType::Int64, false),
        Field::new("duration_us", DataType::UInt64, false),
        text("status"),
        text("status_message"),
        text("http_method"),
        text("http_route"),
        Field::new("http_status_code", DataType::UInt16, false),
        text("db_system"),
        list("attribute_keys"),
        list("attribute_values"),
        text("source"),
    ]))
}

/// Whether a span is in `range`: the same second granularity as ClickHouse's `start_time`
/// filter.
fn in_range(range: &SpanRange, span: &SpanRecord) -> bool {
    let second = span.start_us.div_euclid(1_000_000);
    span.project_id == range.project_id
        && second >= range.from.timestamp()
        && second < range.to.timestamp()
        && (!range.roots_only || span.parent_span_id.is_empty())
        && range.samples_trace(&span.trace_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str) -> SpanRecord {
        SpanRecord {
            project_id: 1,
            trace_id: "ab".repeat(16),
            span_id: id.to_owned(),
            service: "svc".to_owned(),
            start_us: 1_700_000_000_000_000,
            attribute_keys: vec!["k".to_owned()],
            attribute_values: vec!["v".to_owned()],
            ..SpanRecord::default()
        }
    }

    #[test]
    fn spans_survive_a_reopen_and_a_torn_tail() {
        let directory = tempfile::tempdir().expect("tempdir");
        {
            let store = SpanStore::open(directory.path()).expect("open");
            store.append(&[span("a"), span("b")]).expect("append");
            store.append(&[span("c")]).expect("append");
        }
        // A crash mid-append leaves half a frame.
        let path = directory.path().join("spans/spans.log");
        let mut file = OpenOptions::new().append(true).open(&path).expect("log");
        file.write_all(&[200, 0, 0, 0, 1, 2]).expect("torn");
        drop(file);
        let store = SpanStore::open(directory.path()).expect("reopen");
        let spans = store.trace_spans(1, &["ab".repeat(16)], 10);
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0].attribute_values, ["v"]);
        store.append(&[span("d")]).expect("append after cut");
        drop(store);
        let store = SpanStore::open(directory.path()).expect("reopen again");
        assert_eq!(store.trace_spans(1, &["ab".repeat(16)], 10).len(), 4);
        assert_eq!(store.batch().expect("batch").num_rows(), 4);
    }
}
