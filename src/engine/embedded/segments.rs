//! Parquet segments: immutable files of events sorted by (project_id, fingerprint, timestamp)
//! with page statistics on those columns and a few short ones, so DataFusion prunes row groups
//! and pages by them; written from a frozen memtable at each checkpoint and merged by
//! size-tiered compaction.
//!
//! Compaction policy: a segment written by a checkpoint has level 0; merging `fan_in` segments
//! of one level gives one segment of the next level. Merging starts as soon as a level holds
//! `fan_in` segments, so at most `fan_in - 1` segments wait per level and the file count grows
//! with the logarithm of the data (about a dozen files for ten million events). With
//! `compaction_max_segment_events` set, a level whose merge would pass that bound is merged no
//! further: each event is rewritten a bounded number of times, and the file count grows by one
//! segment per bound's worth of events instead. A merge streams its inputs (a k-way merge of
//! sorted files, a few batches in memory at a time, smaller ones the more inputs it has).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::arrow::array::{RecordBatch, TimestampSecondArray, UInt64Array};
use datafusion::arrow::compute::interleave_record_batch;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::arrow::{ArrowWriter, ProjectionMask};
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::{KeyValue, ParquetMetaData, SortingColumn};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use super::codec::sync_parent_directory;
use super::event_batch::{events_schema, EventColumns};
use super::EmbeddedError;

/// Most rows per batch while merging, writing and reading ...
const BATCH_ROWS: usize = 8192;
/// ... and about the most bytes of decoded events per batch: events with long stacks take
/// 10+ KB each in memory, so 8,192 of them per batch, times the merge's inputs (each may hold
/// two batches while an output chunk is built), took most of a gigabyte.
const BATCH_BYTES: usize = 8 << 20;
/// Fewest rows per batch, however large the events.
const MIN_BATCH_ROWS: usize = 64;

/// What a merge's inputs hold between them, about: a batch each (two while an output chunk is
/// built), so a merge of more inputs reads smaller batches from each and takes no more memory.
const MERGE_INPUT_BYTES: usize = 4 * BATCH_BYTES;

/// Rows per batch of about `batch_bytes` for events of `row_bytes` bytes each (decoded).
fn batch_rows(row_bytes: usize, batch_bytes: usize) -> usize {
    (batch_bytes / row_bytes.max(1)).clamp(MIN_BATCH_ROWS, BATCH_ROWS)
}

/// One segment, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// File name inside `segments/`.
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    /// The write-ahead log records whose events it holds (for diagnostics; the manifest's
    /// checkpoint sequence number is what replay trusts).
    pub min_seq: u64,
    pub max_seq: u64,
    pub level: u32,
}

/// Column indexes of the sort key in the `events` schema.
const PROJECT_ID: usize = 0;
const TIMESTAMP: usize = 2;
const FINGERPRINT: usize = 4;

/// Columns with page statistics (min/max per page and row group, for pruning): the sort key,
/// the receive time, and the short values queries filter on. The other columns (ids, messages,
/// stacks, explanations, the details JSON) have none: their values are spread over every page
/// so min/max prunes nothing, and computing it was 4% of the server's CPU under load (long
/// strings sharing long prefixes, compared byte by byte at every checkpoint and merge).
const COLUMNS_WITH_STATISTICS: [&str; 15] = [
    "project_id",
    "timestamp",
    "received",
    "fingerprint",
    "grouping_version",
    "platform",
    "level",
    "logger",
    "environment",
    "release",
    "dist",
    "server_name",
    "request_method",
    "sdk_name",
    "sdk_version",
];

/// Columns with no dictionary: an id per event, so a dictionary only costs hashing every value
/// until it outgrows its page and the writer gives it up.
const COLUMNS_WITHOUT_DICTIONARY: [&str; 3] = ["event_id", "trace_id", "span_id"];

fn writer_properties(row_group_rows: usize, min_seq: u64, max_seq: u64) -> WriterProperties {
    let mut builder = WriterProperties::builder().set_statistics_enabled(EnabledStatistics::None);
    for column in COLUMNS_WITH_STATISTICS {
        builder = builder
            .set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::Page);
    }
    for column in COLUMNS_WITHOUT_DICTIONARY {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    builder
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(row_group_rows.max(1024)))
        .set_sorting_columns(Some(vec![
            SortingColumn {
                column_idx: PROJECT_ID as i32,
                descending: false,
                nulls_first: false,
            },
            SortingColumn {
                column_idx: FINGERPRINT as i32,
                descending: false,
                nulls_first: false,
            },
            SortingColumn {
                column_idx: TIMESTAMP as i32,
                descending: false,
                nulls_first: false,
            },
        ]))
        .set_key_value_metadata(Some(vec![
            KeyValue::new("stackhouse.min_seq".to_owned(), min_seq.to_string()),
            KeyValue::new("stackhouse.max_seq".to_owned(), max_seq.to_string()),
        ]))
        .build()
}

/// Sort key of one row.
type Key = (u64, u64, i64);

struct KeyColumns {
    project_ids: UInt64Array,
    fingerprints: UInt64Array,
    timestamps: TimestampSecondArray,
}

impl KeyColumns {
    fn of(batch: &RecordBatch) -> Result<KeyColumns, EmbeddedError> {
        let columns = EventColumns::new(batch);
        Ok(KeyColumns {
            project_ids: columns.u64("project_id")?.clone(),
            fingerprints: columns.u64("fingerprint")?.clone(),
            timestamps: columns.seconds("timestamp")?.clone(),
        })
    }

    fn key(&self, row: usize) -> Key {
        (
            self.project_ids.value(row),
            self.fingerprints.value(row),
            self.timestamps.value(row),
        )
    }
}

/// Writes a Parquet file through a temporary name, synced, so `path` is whole or absent.
struct SegmentWriter {
    writer: ArrowWriter<File>,
    temporary: PathBuf,
    path: PathBuf,
    rows: u64,
    /// Bytes of the Arrow batches written, recorded in the file as [`ROW_BYTES_KEY`].
    decoded_bytes: u64,
}

impl SegmentWriter {
    fn create(path: &Path, properties: WriterProperties) -> Result<SegmentWriter, EmbeddedError> {
        let temporary = path.with_extension("parquet.tmp");
        let file = File::create(&temporary)?;
        let writer = ArrowWriter::try_new(file, events_schema(), Some(properties))?;
        Ok(SegmentWriter {
            writer,
            temporary,
            path: path.to_owned(),
            rows: 0,
            decoded_bytes: 0,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), EmbeddedError> {
        self.rows += batch.num_rows() as u64;
        self.decoded_bytes += batch.get_array_memory_size() as u64;
        Ok(self.writer.write(batch)?)
    }

    /// Gives up: the temporary file is removed.
    fn abandon(self) {
        let temporary = self.temporary.clone();
        drop(self);
        let _ = fs::remove_file(temporary);
    }

    /// Returns (rows, bytes on disk).
    fn finish(mut self) -> Result<(u64, u64), EmbeddedError> {
        let row_bytes = self.decoded_bytes / self.rows.max(1);
        self.writer.append_key_value_metadata(KeyValue::new(
            ROW_BYTES_KEY.to_owned(),
            row_bytes.to_string(),
        ));
        self.writer.finish()?;
        self.writer.inner().sync_all()?;
        drop(self.writer);
        let bytes = fs::metadata(&self.temporary)?.len();
        fs::rename(&self.temporary, &self.path)?;
        sync_parent_directory(&self.path)?;
        Ok((self.rows, bytes))
    }
}

/// Writes `batches` (in any order) to a new segment at `path`, sorted by the segment key.
/// Returns (rows, bytes on disk).
pub fn write_sorted(
    path: &Path,
    batches: &[RecordBatch],
    row_group_rows: usize,
    seq_range: (u64, u64),
) -> Result<(u64, u64), EmbeddedError> {
    let mut order: Vec<(Key, usize, usize)> = Vec::new();
    for (batch_index, batch) in batches.iter().enumerate() {
        let keys = KeyColumns::of(batch)?;
        order.extend((0..batch.num_rows()).map(|row| (keys.key(row), batch_index, row)));
    }
    order.sort_unstable();
    let properties = writer_properties(row_group_rows, seq_range.0, seq_range.1);
    let mut writer = SegmentWriter::create(path, properties)?;
    let sources: Vec<&RecordBatch> = batches.iter().collect();
    let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
    let chunk_rows = batch_rows(bytes / order.len().max(1), BATCH_BYTES);
    let mut indices = Vec::with_capacity(chunk_rows);
    for chunk in order.chunks(chunk_rows) {
        indices.clear();
        indices.extend(chunk.iter().map(|&(_, batch, row)| (batch, row)));
        writer.write(&interleave_record_batch(&sources, &indices)?)?;
    }
    writer.finish()
}

/// Reads a segment in batches, optionally only some columns.
pub fn read(
    path: &Path,
    columns: Option<&[&str]>,
) -> Result<ParquetRecordBatchReader, EmbeddedError> {
    let Some(columns) = columns else {
        return Ok(read_rows(path, BATCH_BYTES)?.0);
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    Ok(builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()?)
}

/// Reads whole rows of a segment in batches of about `batch_bytes`; also returns the rows per
/// batch.
fn read_rows(
    path: &Path,
    batch_bytes: usize,
) -> Result<(ParquetRecordBatchReader, usize), EmbeddedError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    let row_bytes = match recorded_row_bytes(builder.metadata()) {
        Some(row_bytes) => row_bytes,
        None => sampled_row_bytes(path)?,
    };
    let rows = batch_rows(row_bytes, batch_bytes);
    Ok((builder.with_batch_size(rows).build()?, rows))
}

/// Key of the file metadata entry that holds the average bytes of a row once decoded into Arrow,
/// as measured when the segment was written.
const ROW_BYTES_KEY: &str = "stackhouse.row_bytes";

/// Decoded bytes per row as the writer recorded them ([`ROW_BYTES_KEY`]).
///
/// The row groups' own `total_byte_size` is no substitute: it counts encoded bytes, and a
/// dictionary-encoded column of long repeated strings (`grouping_explanation`) decodes to tens
/// of times that. Sized from it, merge batches took some 60 MB each instead of 8.
fn recorded_row_bytes(metadata: &ParquetMetaData) -> Option<usize> {
    metadata
        .file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|entry| entry.key == ROW_BYTES_KEY)?
        .value
        .as_deref()?
        .parse()
        .ok()
}

/// Decoded bytes per row of a segment written before [`ROW_BYTES_KEY`] existed, measured on
/// its first rows (which may be smaller or larger than its average; close enough for sizing).
fn sampled_row_bytes(path: &Path) -> Result<usize, EmbeddedError> {
    let mut sample = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?
        .with_batch_size(MIN_BATCH_ROWS)
        .with_limit(MIN_BATCH_ROWS)
        .build()?;
    Ok(match sample.next() {
        Some(batch) => {
            let batch = batch?;
            batch.get_array_memory_size() / batch.num_rows().max(1)
        }
        None => 0,
    })
}

/// One input of a merge: its reader and the batch it is in.
struct MergeInput {
    reader: ParquetRecordBatchReader,
    batch: Option<(RecordBatch, KeyColumns)>,
    row: usize,
    /// Index of the current batch among the sources of the output chunk being built.
    slot: Option<usize>,
}

impl MergeInput {
    /// Moves to the next row; false at the end of the input.
    fn advance(&mut self) -> Result<bool, EmbeddedError> {
        if let Some((batch, _)) = &self.batch {
            if self.row + 1 < batch.num_rows() {
                self.row += 1;
                return Ok(true);
            }
        }
        self.slot = None;
        self.row = 0;
        loop {
            match self.reader.next() {
                None => {
                    self.batch = None;
                    return Ok(false);
                }
                Some(batch) => {
                    let batch = batch?;
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    let keys = KeyColumns::of(&batch)?;
                    self.batch = Some((batch, keys));
                    return Ok(true);
                }
            }
        }
    }

    fn key(&self) -> Option<Key> {
        self.batch.as_ref().map(|(_, keys)| keys.key(self.row))
    }
}

/// Merges sorted segments into one sorted segment at `output`. Returns (rows, bytes on disk).
pub fn merge(
    inputs: &[PathBuf],
    output: &Path,
    row_group_rows: usize,
    seq_range: (u64, u64),
    cancel: &AtomicBool,
) -> Result<(u64, u64), EmbeddedError> {
    let mut sources = Vec::with_capacity(inputs.len());
    let mut chunk_rows = BATCH_ROWS;
    let input_bytes = (MERGE_INPUT_BYTES / inputs.len().max(1)).min(BATCH_BYTES);
    for path in inputs {
        let (reader, rows) = read_rows(path, input_bytes)?;
        chunk_rows = chunk_rows.min(rows);
        sources.push(MergeInput {
            reader,
            batch: None,
            row: 0,
            slot: None,
        });
    }
    let mut heap = BinaryHeap::new();
    for (index, source) in sources.iter_mut().enumerate() {
        if source.advance()? {
            if let Some(key) = source.key() {
                heap.push(Reverse((key, index)));
            }
        }
    }
    let properties = writer_properties(row_group_rows, seq_range.0, seq_range.1);
    let mut writer = SegmentWriter::create(output, properties)?;
    let mut chunk_sources: Vec<RecordBatch> = Vec::new();
    let mut indices: Vec<(usize, usize)> = Vec::with_capacity(chunk_rows);
    while let Some(Reverse((_, index))) = heap.pop() {
        let source = &mut sources[index];
        let Some((batch, _)) = &source.batch else {
            continue;
        };
        let slot = match source.slot {
            Some(slot) => slot,
            None => {
                chunk_sources.push(batch.clone());
                let slot = chunk_sources.len() - 1;
                source.slot = Some(slot);
                slot
            }
        };
        indices.push((slot, source.row));
        if source.advance()? {
            if let Some(key) = source.key() {
                heap.push(Reverse((key, index)));
            }
        }
        if indices.len() == chunk_rows {
            flush_chunk(&mut writer, &mut chunk_sources, &mut indices, &mut sources)?;
            if cancel.load(Ordering::Relaxed) {
                writer.abandon();
                return Err(EmbeddedError::ShuttingDown);
            }
        }
    }
    if !indices.is_empty() {
        flush_chunk(&mut writer, &mut chunk_sources, &mut indices, &mut sources)?;
    }
    writer.finish()
}

fn flush_chunk(
    writer: &mut SegmentWriter,
    chunk_sources: &mut Vec<RecordBatch>,
    indices: &mut Vec<(usize, usize)>,
    sources: &mut [MergeInput],
) -> Result<(), EmbeddedError> {
    let references: Vec<&RecordBatch> = chunk_sources.iter().collect();
    writer.write(&interleave_record_batch(&references, indices)?)?;
    indices.clear();
    chunk_sources.clear();
    for source in sources {
        source.slot = None;
    }
    Ok(())
}

/// The segments to merge next, if any: the `fan_in` oldest of the lowest level that has
/// `fan_in` of them, unless together they hold more than `max_rows` events (when not 0): a
/// level that has reached that size is not merged any further.
pub fn pick_compaction(
    segments: &[SegmentInfo],
    fan_in: usize,
    max_rows: u64,
) -> Option<Vec<SegmentInfo>> {
    let fan_in = fan_in.max(2);
    let mut levels: Vec<u32> = segments.iter().map(|s| s.level).collect();
    levels.sort_unstable();
    levels.dedup();
    for level in levels {
        let mut candidates: Vec<&SegmentInfo> =
            segments.iter().filter(|s| s.level == level).collect();
        if candidates.len() >= fan_in {
            candidates.sort_by_key(|s| s.min_seq);
            candidates.truncate(fan_in);
            let rows: u64 = candidates.iter().map(|s| s.rows).sum();
            if max_rows == 0 || rows <= max_rows {
                return Some(candidates.into_iter().cloned().collect());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::embedded::event_batch::{sample_record, to_record_batch, to_records};

    fn read_all(path: &Path) -> Vec<crate::engine::EventRecord> {
        let mut records = Vec::new();
        for batch in read(path, None).expect("read") {
            records.extend(to_records(&batch.expect("batch")).expect("records"));
        }
        records
    }

    fn sort_key(record: &crate::engine::EventRecord) -> (u64, u64, i64) {
        (
            record.project_id,
            record.fingerprint,
            record.timestamp.timestamp(),
        )
    }

    /// Events with 30-frame stacks and one long explanation they all share: about 7 KB each in
    /// Arrow, a few hundred bytes in Parquet, where the repeated strings are dictionary-encoded.
    fn records_that_shrink_when_encoded(first: u64, count: u64) -> Vec<crate::engine::EventRecord> {
        let explanation = format!("{{\"basis\":\"stack\",\"why\":\"{}\"}}", "x".repeat(1100));
        (first..first + count)
            .map(|i| {
                let mut record = sample_record(i);
                record.grouping_explanation = explanation.clone();
                record.details = format!("{{\"d\":\"{}\"}}", "y".repeat(2000 + (i % 7) as usize));
                record.frame_modules = (0..30).map(|f| format!("shop.module{f}")).collect();
                record.frame_functions = (0..30).map(|f| format!("handle_step_{f}")).collect();
                record.frame_filenames = (0..30).map(|f| format!("shop/module{f}.py")).collect();
                record.frame_linenos = (0..30).collect();
                record.frame_in_app = (0..30).map(|f| f % 2).collect();
                record
            })
            .collect()
    }

    /// The first batch `read_rows` gives for `path`, in decoded bytes.
    fn first_batch_bytes(path: &Path) -> usize {
        let (mut reader, rows) = read_rows(path, BATCH_BYTES).expect("read");
        assert!(rows >= MIN_BATCH_ROWS);
        let batch = reader.next().expect("a batch").expect("decoded");
        batch.get_array_memory_size()
    }

    #[test]
    fn read_batches_are_sized_by_decoded_bytes_not_by_the_encoded_size() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut paths = Vec::new();
        for segment in 0..2u64 {
            let batch = to_record_batch(&records_that_shrink_when_encoded(segment * 8000, 8000))
                .expect("batch");
            assert!(batch.get_array_memory_size() > 4 * BATCH_BYTES);
            let path = directory.path().join(format!("seg-{segment}.parquet"));
            write_sorted(&path, &[batch], 8192, (segment, segment)).expect("write");
            paths.push(path);
        }
        let merged = directory.path().join("merged.parquet");
        merge(&paths, &merged, 8192, (0, 1), &AtomicBool::new(false)).expect("merge");
        // A segment written before the decoded size was recorded: sized from a sample.
        let legacy = directory.path().join("legacy.parquet");
        let batch = to_record_batch(&records_that_shrink_when_encoded(0, 5000)).expect("batch");
        let mut writer = ArrowWriter::try_new(
            File::create(&legacy).expect("create"),
            events_schema(),
            Some(writer_properties(8192, 0, 0)),
        )
        .expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");

        for path in [&paths[0], &merged, &legacy] {
            let bytes = first_batch_bytes(path);
            assert!(
                bytes <= 2 * BATCH_BYTES,
                "{}: a batch of {bytes} bytes",
                path.display()
            );
        }
        let metadata = ParquetRecordBatchReaderBuilder::try_new(File::open(&merged).expect("open"))
            .expect("metadata");
        let recorded = recorded_row_bytes(metadata.metadata()).expect("recorded");
        assert!(
            (4_000..10_000).contains(&recorded),
            "{recorded} bytes per row"
        );
    }

    #[test]
    fn statistics_are_kept_for_the_columns_queries_prune_by_and_ids_have_no_dictionary() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("seg.parquet");
        let batch = to_record_batch(&records_that_shrink_when_encoded(0, 2000)).expect("batch");
        write_sorted(&path, &[batch], 8192, (0, 0)).expect("write");
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).expect("open"))
            .expect("metadata");
        let row_group = reader.metadata().row_group(0);
        let column = |name: &str| {
            row_group
                .columns()
                .iter()
                .find(|column| column.column_path().string() == name)
                .unwrap_or_else(|| panic!("no column {name}"))
        };
        for name in COLUMNS_WITH_STATISTICS {
            assert!(
                column(name).statistics().is_some(),
                "{name} has no statistics"
            );
        }
        for name in ["event_id", "grouping_explanation", "details", "message"] {
            assert!(column(name).statistics().is_none(), "{name} has statistics");
        }
        for name in COLUMNS_WITHOUT_DICTIONARY {
            assert!(
                column(name).dictionary_page_offset().is_none(),
                "{name} has a dictionary"
            );
        }
        // The long explanation all rows share is still stored once, in a dictionary.
        assert!(column("grouping_explanation")
            .dictionary_page_offset()
            .is_some());
    }

    #[test]
    fn segments_are_sorted_and_merges_keep_every_row_in_order() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut paths = Vec::new();
        let mut all = Vec::new();
        for segment in 0..3u64 {
            // Interleaved, unsorted input across several batches.
            let batches: Vec<RecordBatch> = (0..4u64)
                .map(|part| {
                    let records: Vec<_> = (0..3000u64)
                        .rev()
                        .map(|i| sample_record(segment * 100_000 + part * 10_000 + i * 7 % 3000))
                        .collect();
                    all.extend(records.clone());
                    to_record_batch(&records).expect("batch")
                })
                .collect();
            let path = directory.path().join(format!("seg-{segment}.parquet"));
            let (rows, bytes) =
                write_sorted(&path, &batches, 5000, (segment, segment)).expect("write");
            assert_eq!(rows, 12_000);
            assert!(bytes > 0);
            let records = read_all(&path);
            assert!(records
                .windows(2)
                .all(|w| sort_key(&w[0]) <= sort_key(&w[1])));
            paths.push(path);
        }
        let output = directory.path().join("merged.parquet");
        let (rows, _) =
            merge(&paths, &output, 5000, (0, 2), &AtomicBool::new(false)).expect("merge");
        assert_eq!(rows, 36_000);
        let merged = read_all(&output);
        assert!(merged
            .windows(2)
            .all(|w| sort_key(&w[0]) <= sort_key(&w[1])));
        let mut merged_ids: Vec<String> = merged.into_iter().map(|r| r.event_id).collect();
        let mut all_ids: Vec<String> = all.into_iter().map(|r| r.event_id).collect();
        merged_ids.sort();
        all_ids.sort();
        assert_eq!(merged_ids, all_ids);
        assert!(!directory.path().join("merged.parquet.tmp").exists());
    }

    /// A segment as the manifest lists it, for the compaction policy's tests.
    fn segment(file: &str, level: u32, rows: u64, min_seq: u64) -> SegmentInfo {
        SegmentInfo {
            file: file.into(),
            rows,
            bytes: 1,
            min_seq,
            max_seq: min_seq,
            level,
        }
    }

    #[test]
    fn compaction_merges_full_levels_oldest_first() {
        let mut segments = vec![
            segment("a", 1, 1, 1),
            segment("b", 0, 1, 5),
            segment("c", 0, 1, 3),
            segment("d", 0, 1, 4),
        ];
        assert_eq!(pick_compaction(&segments, 4, 0), None);
        segments.push(segment("e", 0, 1, 6));
        let picked: Vec<String> = pick_compaction(&segments, 4, 0)
            .expect("a full level")
            .into_iter()
            .map(|s| s.file)
            .collect();
        assert_eq!(picked, vec!["c", "d", "b", "e"]);
    }

    #[test]
    fn compaction_leaves_levels_whose_merge_would_pass_the_bound() {
        let files = |picked: Option<Vec<SegmentInfo>>| {
            picked.map(|picked| {
                let files: Vec<String> = picked.into_iter().map(|s| s.file).collect();
                files.join(" ")
            })
        };
        // A full level 1 of 4 x 100 events.
        let mut segments: Vec<SegmentInfo> = (0..4)
            .map(|index| segment(&format!("big{index}"), 1, 100, index))
            .collect();
        let level_one = Some("big0 big1 big2 big3".to_owned());
        // Unbounded, or bounded at exactly what the merge holds: it merges.
        assert_eq!(files(pick_compaction(&segments, 4, 0)), level_one);
        assert_eq!(files(pick_compaction(&segments, 4, 400)), level_one);
        // One event under that: level 1 stays as it is, however many segments it gathers.
        assert_eq!(files(pick_compaction(&segments, 4, 399)), None);
        segments.extend((4..8).map(|index| segment(&format!("big{index}"), 1, 100, index)));
        assert_eq!(files(pick_compaction(&segments, 4, 399)), None);
        // A level left alone does not stop the next one (checkpoints of varying size can put
        // small segments above large ones).
        segments.extend((0..4).map(|index| segment(&format!("small{index}"), 2, 90, 20 + index)));
        assert_eq!(
            files(pick_compaction(&segments, 4, 399)),
            Some("small0 small1 small2 small3".to_owned())
        );
    }
}
