//! The manifest: the one file that says which checkpoint files are live. Replaced atomically
//! (temporary file, sync, rename, sync directory), so after a crash it names either the old
//! checkpoint or the new one, never a mix; any file it does not name is debris and removed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::codec::{read_checked_file, write_checked_file};
use super::segments::SegmentInfo;
use super::EmbeddedError;

pub const MANIFEST_FILE: &str = "MANIFEST";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// Every write-ahead log record up to this sequence number is in the files below (events
    /// in `segments`, aggregates in `aggregate_files`, side tables in `side_file`); replay
    /// starts after it, so a crash between writing a segment and deleting the log can never
    /// apply an event twice.
    pub checkpoint_seq: u64,
    /// Number for the next file a checkpoint or a compaction writes.
    pub next_file_id: u64,
    /// Parquet files in `segments/`.
    pub segments: Vec<SegmentInfo>,
    /// Aggregate files in `checkpoints/`, oldest first: a base, then deltas over it.
    pub aggregate_files: Vec<String>,
    /// Side tables file in `checkpoints/`.
    pub side_file: Option<String>,
}

impl Manifest {
    pub fn empty() -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            next_file_id: 1,
            ..Manifest::default()
        }
    }

    /// The manifest in `directory`, or an empty one for a new data directory.
    pub fn load(directory: &Path) -> Result<Manifest, EmbeddedError> {
        let path = directory.join(MANIFEST_FILE);
        if !path.exists() {
            return Ok(Manifest::empty());
        }
        let bytes = read_checked_file(&path)?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|error| EmbeddedError::Corrupt(format!("{}: {error}", path.display())))?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(EmbeddedError::Corrupt(format!(
                "{}: format version {} is not supported (this build reads {FORMAT_VERSION})",
                path.display(),
                manifest.format_version
            )));
        }
        Ok(manifest)
    }

    pub fn store(&self, directory: &Path) -> Result<(), EmbeddedError> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|error| EmbeddedError::Corrupt(error.to_string()))?;
        write_checked_file(&directory.join(MANIFEST_FILE), &bytes)
    }

    pub fn take_file_id(&mut self) -> u64 {
        let id = self.next_file_id;
        self.next_file_id += 1;
        id
    }
}
