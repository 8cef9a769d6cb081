//! Recent events in memory as Arrow record batches, until a checkpoint writes them to a
//! Parquet segment. Many small writes are coalesced so a scan never walks thousands of tiny
//! batches.

use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;

use super::event_batch::events_schema;
use super::EmbeddedError;

/// Batches below this many rows are coalesced ...
const SMALL_BATCH_ROWS: usize = 4096;
/// ... once this many of them have gathered.
const MAX_SMALL_BATCHES: usize = 32;

#[derive(Debug, Default)]
pub struct MemTable {
    batches: Vec<RecordBatch>,
    small: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
    oldest: Option<Instant>,
}

impl MemTable {
    pub fn push(&mut self, batch: RecordBatch) -> Result<(), EmbeddedError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows();
        self.bytes += batch.get_array_memory_size();
        self.oldest.get_or_insert_with(Instant::now);
        if batch.num_rows() >= SMALL_BATCH_ROWS {
            self.batches.push(batch);
            return Ok(());
        }
        self.small.push(batch);
        if self.small.len() >= MAX_SMALL_BATCHES {
            let coalesced = concat_batches(&events_schema(), &self.small)?;
            self.bytes = self.bytes
                - self
                    .small
                    .iter()
                    .map(RecordBatch::get_array_memory_size)
                    .sum::<usize>()
                + coalesced.get_array_memory_size();
            self.small.clear();
            self.batches.push(coalesced);
        }
        Ok(())
    }

    /// Every batch (cheap: Arrow arrays are reference-counted).
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.batches.iter().chain(&self.small).cloned().collect()
    }

    /// Empties the table, returning its batches.
    pub fn take(&mut self) -> Vec<RecordBatch> {
        let mut batches = std::mem::take(&mut self.batches);
        batches.append(&mut self.small);
        *self = MemTable::default();
        batches
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// When the oldest event still here was written.
    pub fn oldest(&self) -> Option<Instant> {
        self.oldest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::embedded::event_batch::{sample_record, to_record_batch};

    #[test]
    fn small_batches_are_coalesced_and_nothing_is_lost() {
        let record = sample_record(1);
        let mut table = MemTable::default();
        for _ in 0..100 {
            table
                .push(to_record_batch(std::slice::from_ref(&record)).expect("batch"))
                .expect("push");
        }
        assert_eq!(table.rows(), 100);
        assert!(table.batches().len() < 10);
        assert_eq!(
            table
                .batches()
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>(),
            100
        );
        assert_eq!(table.take().len(), 7);
        assert_eq!(table.rows(), 0);
    }
}
