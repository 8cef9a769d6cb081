//! The `events` table as Arrow: its schema (column for column `sql/0001_events.sql`) and the
//! conversion of [`EventRecord`]s to a `RecordBatch` and back.
//!
//! Timestamps are whole seconds (ClickHouse `DateTime`), clamped the same way, so both engines
//! store and return the same values.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, AsArray, ListArray, ListBuilder, PrimitiveBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampSecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Schema, SchemaRef, TimeUnit, TimestampSecondType, UInt32Type, UInt64Type,
    UInt8Type,
};

use super::EmbeddedError;
use crate::engine::{EventRecord, StringList};

pub const TIMEZONE: &str = "UTC";

/// `Timestamp(Second, UTC)`: ClickHouse's `DateTime`.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Second, Some(TIMEZONE.into()))
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, false)))
}

const STRING_COLUMNS_BEFORE_ARRAYS: [&str; 13] = [
    "grouping_version",
    "grouping_explanation",
    "title",
    "culprit",
    "platform",
    "level",
    "logger",
    "environment",
    "release",
    "dist",
    "server_name",
    "transaction",
    "message",
];

const STRING_COLUMNS_AFTER_ARRAYS: [&str; 12] = [
    "user_key",
    "user_id",
    "user_email",
    "user_ip",
    "user_username",
    "request_method",
    "request_url",
    "trace_id",
    "span_id",
    "sdk_name",
    "sdk_version",
    "details",
];

static EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        Field::new("project_id", DataType::UInt64, false),
        Field::new("event_id", DataType::Utf8, false),
        Field::new("timestamp", timestamp_type(), false),
        Field::new("received", timestamp_type(), false),
        Field::new("fingerprint", DataType::UInt64, false),
    ];
    fields.extend(
        STRING_COLUMNS_BEFORE_ARRAYS
            .iter()
            .map(|name| Field::new(*name, DataType::Utf8, false)),
    );
    for name in [
        "exception_types",
        "exception_values",
        "frame_modules",
        "frame_functions",
        "frame_filenames",
    ] {
        fields.push(Field::new(name, list_of(DataType::Utf8), false));
    }
    fields.push(Field::new(
        "frame_linenos",
        list_of(DataType::UInt32),
        false,
    ));
    fields.push(Field::new("frame_in_app", list_of(DataType::UInt8), false));
    fields.push(Field::new("tag_keys", list_of(DataType::Utf8), false));
    fields.push(Field::new("tag_values", list_of(DataType::Utf8), false));
    fields.extend(
        STRING_COLUMNS_AFTER_ARRAYS
            .iter()
            .map(|name| Field::new(*name, DataType::Utf8, false)),
    );
    Arc::new(Schema::new(fields))
});

/// The schema of the `events` table.
pub fn events_schema() -> SchemaRef {
    EVENTS_SCHEMA.clone()
}

/// ClickHouse `DateTime` semantics: whole seconds since the epoch, clamped to `u32`.
pub fn epoch_seconds(time: DateTime<Utc>) -> i64 {
    time.timestamp().clamp(0, i64::from(u32::MAX))
}

pub fn from_epoch_seconds(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// A time as the engines store it (whole seconds, clamped).
pub fn stored_time(time: DateTime<Utc>) -> DateTime<Utc> {
    from_epoch_seconds(epoch_seconds(time))
}

// Every column is built at its exact size, counted before it is filled: a builder that grows by
// doubling leaves up to half of each buffer unused, and the memtable, which holds these batches
// until a checkpoint, counts (and the allocator keeps) the whole capacity.

fn strings<'a>(records: &'a [EventRecord], field: fn(&'a EventRecord) -> &'a str) -> ArrayRef {
    let bytes = records.iter().map(|record| field(record).len()).sum();
    let mut builder = StringBuilder::with_capacity(records.len(), bytes);
    for record in records {
        builder.append_value(field(record));
    }
    Arc::new(builder.finish())
}

fn string_lists<'a>(
    records: &'a [EventRecord],
    field: fn(&'a EventRecord) -> &'a StringList,
) -> ArrayRef {
    let (items, bytes) = records
        .iter()
        .map(field)
        .fold((0, 0), |(items, bytes), list| {
            (items + list.len(), bytes + list.text_len())
        });
    let values = StringBuilder::with_capacity(items, bytes);
    let mut builder = ListBuilder::with_capacity(values, records.len())
        .with_field(Arc::new(Field::new("item", DataType::Utf8, false)));
    for record in records {
        for value in field(record) {
            builder.values().append_value(value);
        }
        builder.append(true);
    }
    Arc::new(builder.finish())
}

fn primitive_lists<T, V>(records: &[EventRecord], field: fn(&EventRecord) -> &[V]) -> ArrayRef
where
    T: datafusion::arrow::datatypes::ArrowPrimitiveType<Native = V>,
    V: Copy,
{
    let items = records.iter().map(|record| field(record).len()).sum();
    let mut builder =
        ListBuilder::with_capacity(PrimitiveBuilder::<T>::with_capacity(items), records.len())
            .with_field(Arc::new(Field::new("item", T::DATA_TYPE, false)));
    for record in records {
        builder.values().append_slice(field(record));
        builder.append(true);
    }
    Arc::new(builder.finish())
}

fn timestamps(records: &[EventRecord], field: fn(&EventRecord) -> DateTime<Utc>) -> ArrayRef {
    Arc::new(
        TimestampSecondArray::from_iter_values(
            records.iter().map(|record| epoch_seconds(field(record))),
        )
        .with_timezone(TIMEZONE),
    )
}

/// The events as one batch of the `events` table.
pub fn to_record_batch(records: &[EventRecord]) -> Result<RecordBatch, EmbeddedError> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(
            records.iter().map(|r| r.project_id),
        )),
        strings(records, |r| &r.event_id),
        timestamps(records, |r| r.timestamp),
        timestamps(records, |r| r.received),
        Arc::new(UInt64Array::from_iter_values(
            records.iter().map(|r| r.fingerprint),
        )),
        strings(records, |r| &r.grouping_version),
        strings(records, |r| &r.grouping_explanation),
        strings(records, |r| &r.title),
        strings(records, |r| &r.culprit),
        strings(records, |r| &r.platform),
        strings(records, |r| &r.level),
        strings(records, |r| &r.logger),
        strings(records, |r| &r.environment),
        strings(records, |r| &r.release),
        strings(records, |r| &r.dist),
        strings(records, |r| &r.server_name),
        strings(records, |r| &r.transaction),
        strings(records, |r| &r.message),
        string_lists(records, |r| &r.exception_types),
        string_lists(records, |r| &r.exception_values),
        string_lists(records, |r| &r.frame_modules),
        string_lists(records, |r| &r.frame_functions),
        string_lists(records, |r| &r.frame_filenames),
        primitive_lists::<UInt32Type, u32>(records, |r| &r.frame_linenos),
        primitive_lists::<UInt8Type, u8>(records, |r| &r.frame_in_app),
        string_lists(records, |r| &r.tag_keys),
        string_lists(records, |r| &r.tag_values),
        strings(records, |r| &r.user_key),
        strings(records, |r| &r.user_id),
        strings(records, |r| &r.user_email),
        strings(records, |r| &r.user_ip),
        strings(records, |r| &r.user_username),
        strings(records, |r| &r.request_method),
        strings(records, |r| &r.request_url),
        strings(records, |r| &r.trace_id),
        strings(records, |r| &r.span_id),
        strings(records, |r| &r.sdk_name),
        strings(records, |r| &r.sdk_version),
        strings(records, |r| &r.details),
    ];
    Ok(RecordBatch::try_new(events_schema(), columns)?)
}

/// Typed access to the columns of an `events` batch (any projection that keeps the names).
pub struct EventColumns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> EventColumns<'a> {
    pub fn new(batch: &'a RecordBatch) -> EventColumns<'a> {
        EventColumns { batch }
    }

    fn column(&self, name: &str) -> Result<&'a ArrayRef, EmbeddedError> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| EmbeddedError::Corrupt(format!("events batch has no column {name}")))
    }

    pub fn u64(&self, name: &str) -> Result<&'a UInt64Array, EmbeddedError> {
        self.column(name)?
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| EmbeddedError::Corrupt(format!("column {name} is not UInt64")))
    }

    pub fn seconds(&self, name: &str) -> Result<&'a TimestampSecondArray, EmbeddedError> {
        self.column(name)?
            .as_primitive_opt::<TimestampSecondType>()
            .ok_or_else(|| EmbeddedError::Corrupt(format!("column {name} is not Timestamp(s)")))
    }

    pub fn string(&self, name: &str) -> Result<&'a StringArray, EmbeddedError> {
        self.column(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| EmbeddedError::Corrupt(format!("column {name} is not Utf8")))
    }

    pub fn list(&self, name: &str) -> Result<&'a ListArray, EmbeddedError> {
        self.column(name)?
            .as_list_opt::<i32>()
            .ok_or_else(|| EmbeddedError::Corrupt(format!("column {name} is not a List")))
    }
}

pub fn string_list_at(list: &ListArray, row: usize) -> Result<StringList, EmbeddedError> {
    let values = list.value(row);
    let values = values
        .as_string_opt::<i32>()
        .ok_or_else(|| EmbeddedError::Corrupt("list items are not Utf8".into()))?;
    Ok(values.iter().map(|v| v.unwrap_or("")).collect())
}

fn primitive_list_at<T>(list: &ListArray, row: usize) -> Result<Vec<T::Native>, EmbeddedError>
where
    T: datafusion::arrow::datatypes::ArrowPrimitiveType,
{
    let values = list.value(row);
    let values = values
        .as_primitive_opt::<T>()
        .ok_or_else(|| EmbeddedError::Corrupt("list items have the wrong type".into()))?;
    Ok(values.values().to_vec())
}

/// Rows of a full `events` batch back as records.
pub fn to_records(batch: &RecordBatch) -> Result<Vec<EventRecord>, EmbeddedError> {
    let columns = EventColumns::new(batch);
    let text = |name: &str| columns.string(name);
    let (project_id, fingerprint) = (columns.u64("project_id")?, columns.u64("fingerprint")?);
    let (timestamp, received) = (columns.seconds("timestamp")?, columns.seconds("received")?);
    let names_before: Vec<&StringArray> = STRING_COLUMNS_BEFORE_ARRAYS
        .iter()
        .map(|name| text(name))
        .collect::<Result<_, _>>()?;
    let names_after: Vec<&StringArray> = STRING_COLUMNS_AFTER_ARRAYS
        .iter()
        .map(|name| text(name))
        .collect::<Result<_, _>>()?;
    let event_id = text("event_id")?;
    let lists: Vec<&ListArray> = [
        "exception_types",
        "exception_values",
        "frame_modules",
        "frame_functions",
        "frame_filenames",
        "frame_linenos",
        "frame_in_app",
        "tag_keys",
        "tag_values",
    ]
    .iter()
    .map(|name| columns.list(name))
    .collect::<Result<_, _>>()?;
    let mut records = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let before = |index: usize| names_before[index].value(row).to_owned();
        let after = |index: usize| names_after[index].value(row).to_owned();
        records.push(EventRecord {
            project_id: project_id.value(row),
            event_id: event_id.value(row).to_owned(),
            timestamp: from_epoch_seconds(timestamp.value(row)),
            received: from_epoch_seconds(received.value(row)),
            fingerprint: fingerprint.value(row),
            grouping_version: before(0),
            grouping_explanation: before(1),
            title: before(2),
            culprit: before(3),
            platform: before(4),
            level: before(5),
            logger: before(6),
            environment: before(7),
            release: before(8),
            dist: before(9),
            server_name: before(10),
            transaction: before(11),
            message: before(12),
            exception_types: string_list_at(lists[0], row)?,
            exception_values: string_list_at(lists[1], row)?,
            frame_modules: string_list_at(lists[2], row)?,
            frame_functions: string_list_at(lists[3], row)?,
            frame_filenames: string_list_at(lists[4], row)?,
            frame_linenos: primitive_list_at::<UInt32Type>(lists[5], row)?,
            frame_in_app: primitive_list_at::<UInt8Type>(lists[6], row)?,
            tag_keys: string_list_at(lists[7], row)?,
            tag_values: string_list_at(lists[8], row)?,
            user_key: after(0),
            user_id: after(1),
            user_email: after(2),
            user_ip: after(3),
            user_username: after(4),
            request_method: after(5),
            request_url: after(6),
            trace_id: after(7),
            span_id: after(8),
            sdk_name: after(9),
            sdk_version: after(10),
            details: after(11),
        });
    }
    Ok(records)
}

/// Batches of at least this many bytes of Arrow data are LZ4-compressed in the log ([`to_ipc`]).
/// Below it, the memory saved is small and the fixed cost of an LZ4 frame for each of the
/// batch's hundred-odd buffers is not: for the group-committed batches of one-event envelopes
/// (about 30 events), compression was over half of the encoding and about 6% of the server's
/// CPU.
pub const COMPRESS_IPC_FROM_BYTES: usize = 1 << 20;

/// Encodes a batch as an Arrow IPC stream (the write-ahead log's event payload). Large batches'
/// buffers are LZ4-compressed: event text (stack frames, details, grouping explanations)
/// shrinks several times, and with it the bytes each write syncs and the memory the encoding
/// needs. Readers decompress whatever the stream says it holds, so compressed and uncompressed
/// records replay alike.
///
/// The stream is appended to `bytes`, so a log record's encoder takes it in place.
pub fn to_ipc(batch: &RecordBatch, bytes: &mut Vec<u8>) -> Result<(), EmbeddedError> {
    use datafusion::arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
    use datafusion::arrow::ipc::CompressionType;
    let compression = (batch.get_array_memory_size() >= COMPRESS_IPC_FROM_BYTES)
        .then_some(CompressionType::LZ4_FRAME);
    let options = IpcWriteOptions::default().try_with_compression(compression)?;
    let mut writer = StreamWriter::try_new_with_options(bytes, &batch.schema(), options)?;
    writer.write(batch)?;
    writer.finish()?;
    Ok(())
}

/// Room to make for what [`to_ipc`] writes for `batch`, so the buffer it writes into rarely
/// grows: uncompressed, the batch's buffers and a margin for the stream's schema and batch
/// messages; compressed (large batches), half the buffers, as event text shrinks several times
/// (an estimate: a buffer too small only grows).
pub fn ipc_bytes_hint(batch: &RecordBatch) -> usize {
    let data = batch.get_array_memory_size();
    if data >= COMPRESS_IPC_FROM_BYTES {
        data / 2
    } else {
        data + 8192
    }
}

/// Decodes what [`to_ipc`] wrote, checking it is an `events` batch.
pub fn from_ipc(bytes: &[u8]) -> Result<RecordBatch, EmbeddedError> {
    use datafusion::arrow::ipc::reader::StreamReader;
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch?);
    }
    let schema = events_schema();
    if batches
        .iter()
        .any(|b| b.schema().fields() != schema.fields())
    {
        return Err(EmbeddedError::Corrupt(
            "logged events do not have the events schema".into(),
        ));
    }
    Ok(datafusion::arrow::compute::concat_batches(
        &schema, &batches,
    )?)
}

/// A plausible record for unit tests.
#[cfg(test)]
pub fn sample_record(index: u64) -> EventRecord {
    EventRecord {
        project_id: 1 + index % 2,
        event_id: format!("{index:032x}"),
        timestamp: from_epoch_seconds(1_700_000_000 + index as i64),
        received: from_epoch_seconds(1_700_000_100),
        fingerprint: 42 + index % 3,
        grouping_version: "v2".into(),
        grouping_explanation: "{}".into(),
        title: format!("ValueError: {index}"),
        culprit: "app in run".into(),
        platform: "python".into(),
        level: "error".into(),
        logger: String::new(),
        environment: "prod".into(),
        release: "1.0".into(),
        dist: String::new(),
        server_name: "web-1".into(),
        transaction: "/x".into(),
        message: String::new(),
        exception_types: ["ValueError"].into(),
        exception_values: [index.to_string()].into(),
        frame_modules: ["app", "lib"].into(),
        frame_functions: ["run", "go"].into(),
        frame_filenames: ["app.py", "lib.py"].into(),
        frame_linenos: vec![3, 4],
        frame_in_app: vec![1, 0],
        tag_keys: ["region"].into(),
        tag_values: ["eu"].into(),
        user_key: format!("id:{}", index % 5),
        user_id: (index % 5).to_string(),
        user_email: String::new(),
        user_ip: String::new(),
        user_username: String::new(),
        request_method: "GET".into(),
        request_url: "https://x".into(),
        trace_id: String::new(),
        span_id: String::new(),
        sdk_name: "sentry.python".into(),
        sdk_version: "2".into(),
        details: "{}".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipc(batch: &RecordBatch) -> Vec<u8> {
        let mut bytes = Vec::new();
        to_ipc(batch, &mut bytes).expect("ipc");
        bytes
    }

    #[test]
    fn records_round_trip_through_arrow_and_ipc() {
        let records: Vec<EventRecord> = (0..10).map(sample_record).collect();
        let batch = to_record_batch(&records).expect("batch");
        assert_eq!(batch.schema(), events_schema());
        assert_eq!(to_records(&batch).expect("records"), records);
        let decoded = from_ipc(&ipc(&batch)).expect("decode");
        assert_eq!(to_records(&decoded).expect("records"), records);
        let empty = to_record_batch(&[]).expect("empty");
        assert_eq!(empty.num_rows(), 0);
    }

    #[test]
    fn columns_take_the_memory_their_values_need_and_no_spare_capacity() {
        let records: Vec<EventRecord> = (0..1000)
            .map(|index| {
                let mut record = sample_record(index);
                record.details = "d".repeat(2000 + (index as usize * 7) % 1000);
                record.frame_modules = (0..20).map(|frame| format!("app.module{frame}")).collect();
                record
            })
            .collect();
        let batch = to_record_batch(&records).expect("batch");
        let column_bytes = |name: &str| {
            batch
                .column_by_name(name)
                .expect("column")
                .get_array_memory_size()
        };
        // Values, then one 4-byte offset per row (and per list), then 64-byte buffer rounding.
        let details: usize = records.iter().map(|record| record.details.len()).sum();
        assert!(
            column_bytes("details") <= details + 4 * (records.len() + 1) + 256,
            "details: {} bytes for {details} bytes of values",
            column_bytes("details")
        );
        let modules: Vec<&str> = records.iter().flat_map(|r| &r.frame_modules).collect();
        let module_bytes: usize = modules.iter().map(|module| module.len()).sum();
        let needed = module_bytes + 4 * (modules.len() + 1) + 4 * (records.len() + 1);
        assert!(
            column_bytes("frame_modules") <= needed + 512,
            "frame_modules: {} bytes for {needed} needed",
            column_bytes("frame_modules")
        );
        assert_eq!(to_records(&batch).expect("records"), records);
    }

    #[test]
    fn large_batches_are_compressed_in_the_log_and_small_ones_are_not() {
        let mut records: Vec<EventRecord> = (0..4).map(sample_record).collect();
        // Small: 256 KiB of repetitive details in all (LZ4 would shrink them to almost nothing).
        for record in &mut records {
            record.details = "y".repeat(1 << 16);
        }
        let small = to_record_batch(&records).expect("batch");
        assert!(small.get_array_memory_size() < COMPRESS_IPC_FROM_BYTES);
        let small_ipc = ipc(&small);
        // Large: the same few records, each with 1 MiB of repetitive details.
        for record in &mut records {
            record.details = "{\"extra\":\"".to_owned() + &"x".repeat(1 << 20) + "\"}";
        }
        let large = to_record_batch(&records).expect("batch");
        assert!(large.get_array_memory_size() >= COMPRESS_IPC_FROM_BYTES);
        let large_ipc = ipc(&large);
        assert!(
            large_ipc.len() < (1 << 20),
            "4 MiB of details compress: {} bytes",
            large_ipc.len()
        );
        // The small batch's text is there as it is; the large one's is not.
        let contains = |haystack: &[u8], needle: &[u8]| {
            haystack
                .windows(needle.len())
                .any(|window| window == needle)
        };
        assert!(contains(&small_ipc, "y".repeat(64).as_bytes()));
        assert!(!contains(&large_ipc, "x".repeat(64).as_bytes()));
        for (ipc, batch) in [(small_ipc, small), (large_ipc, large)] {
            let decoded = from_ipc(&ipc).expect("decode");
            assert_eq!(
                to_records(&decoded).expect("records"),
                to_records(&batch).expect("records")
            );
        }
    }

    #[test]
    fn times_are_whole_clamped_seconds() {
        let before_epoch = DateTime::from_timestamp(-5, 0).unwrap_or_default();
        assert_eq!(epoch_seconds(before_epoch), 0);
        let fractional = DateTime::from_timestamp(10, 900_000_000).unwrap_or_default();
        assert_eq!(stored_time(fractional).timestamp(), 10);
    }
}
