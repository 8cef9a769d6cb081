//! The write-ahead log: numbered, checksummed records appended and synced before a write is
//! acknowledged, replayed at start-up, and dropped file by file once a checkpoint covers them.
//!
//! Layout: `wal/{first sequence number, 20 digits}.wal`, each a run of frames
//! `len: u32 | crc32(seq ‖ payload): u32 | seq: u64 | payload: len bytes` (little-endian).
//! Sequence numbers grow by one per record across files. A checkpoint rotates to a new file
//! starting at its sequence number + 1, so every older file is wholly covered by it.
//!
//! A frame that is cut short or fails its checksum ends its file: that is what a crash in the
//! middle of an append leaves behind. It is logged and dropped (and the file truncated to its
//! last good frame), and start-up goes on; a record that was never fully synced was never
//! acknowledged either.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::codec::sync_directory;
use super::EmbeddedError;

const HEADER_BYTES: usize = 16;
/// No single record is this large; a larger length is corruption, not a record.
const MAX_RECORD_BYTES: u32 = 1 << 30;

/// The open log, appended to by one writer at a time.
pub struct Wal {
    directory: PathBuf,
    file: File,
    file_first_seq: u64,
    /// Bytes of whole frames in `file`: where a failed append is cut back to.
    file_len: u64,
    next_seq: u64,
    /// Set when an append failed and the file could not be cut back to its last good frame:
    /// appending after garbage would hide later records from replay, so every append fails
    /// until a restart (which drops the garbage).
    poisoned: Option<String>,
}

impl Wal {
    /// Starts a new log file whose first record will be `next_seq`.
    pub fn create(directory: &Path, next_seq: u64) -> Result<Wal, EmbeddedError> {
        let path = file_path(directory, next_seq);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let file_len = file.metadata()?.len();
        if file_len > 0 {
            // Only an empty file (a rotation that crashed before its first append) can have
            // this name: any record in it would have a sequence number >= next_seq.
            return Err(EmbeddedError::Corrupt(format!(
                "{} should be new but holds {file_len} bytes",
                path.display()
            )));
        }
        sync_directory(directory)?;
        Ok(Wal {
            directory: directory.to_owned(),
            file,
            file_first_seq: next_seq,
            file_len,
            next_seq,
            poisoned: None,
        })
    }

    /// The sequence number of the last appended record (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Appends one record and syncs it to disk; returns its sequence number.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, EmbeddedError> {
        if let Some(reason) = &self.poisoned {
            return Err(EmbeddedError::Io(io::Error::other(format!(
                "the write-ahead log is unusable until restart: {reason}"
            ))));
        }
        let length = u32::try_from(payload.len())
            .ok()
            .filter(|length| *length <= MAX_RECORD_BYTES)
            .ok_or_else(|| {
                EmbeddedError::TooLarge(format!(
                    "a write-ahead log record of {} bytes exceeds the {MAX_RECORD_BYTES} byte limit",
                    payload.len()
                ))
            })?;
        let seq = self.next_seq;
        let mut checksum = crc32fast::Hasher::new();
        checksum.update(&seq.to_le_bytes());
        checksum.update(payload);
        let mut header = [0u8; HEADER_BYTES];
        header[..4].copy_from_slice(&length.to_le_bytes());
        header[4..8].copy_from_slice(&checksum.finalize().to_le_bytes());
        header[8..].copy_from_slice(&seq.to_le_bytes());
        let written = self
            .file
            .write_all(&header)
            .and_then(|()| self.file.write_all(payload))
            .and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            // Cut the partial frame off so the next append does not follow garbage.
            let cut = self
                .file
                .set_len(self.file_len)
                .and_then(|()| self.file.sync_data());
            if let Err(cut_error) = cut {
                self.poisoned = Some(format!("{error}; then {cut_error}"));
            }
            return Err(error.into());
        }
        self.file_len += (HEADER_BYTES + payload.len()) as u64;
        self.next_seq += 1;
        Ok(seq)
    }

    /// Continues in a new file, so every record so far sits in files a checkpoint can delete
    /// whole. Returns the last sequence number of the old files.
    pub fn rotate(&mut self) -> Result<u64, EmbeddedError> {
        let last_seq = self.last_seq();
        if self.file_len == 0 && self.file_first_seq == self.next_seq {
            return Ok(last_seq);
        }
        let rotated = Wal::create(&self.directory, self.next_seq)?;
        *self = rotated;
        Ok(last_seq)
    }

    /// Deletes the files wholly covered by a checkpoint at `checkpoint_seq` (never the
    /// current file).
    pub fn remove_covered_files(&self, checkpoint_seq: u64) -> Result<usize, EmbeddedError> {
        let mut removed = 0;
        for (first_seq, path) in list_files(&self.directory)? {
            if first_seq < self.file_first_seq && first_seq <= checkpoint_seq {
                fs::remove_file(&path)?;
                removed += 1;
            }
        }
        if removed > 0 {
            sync_directory(&self.directory)?;
        }
        Ok(removed)
    }

    /// Deletes the files (never the current one) whose every record is at most `last_seq`:
    /// for a log consumed in order up to `last_seq` rather than checkpointed at a rotation
    /// (the ClickHouse engine's spool). A file ends where the next one starts.
    pub fn remove_files_through(&self, last_seq: u64) -> Result<usize, EmbeddedError> {
        let files = list_files(&self.directory)?;
        let mut removed = 0;
        for pair in files.windows(2) {
            let ((first_seq, path), (next_first_seq, _)) = (&pair[0], &pair[1]);
            if *first_seq < self.file_first_seq && *next_first_seq <= last_seq + 1 {
                fs::remove_file(path)?;
                removed += 1;
            }
        }
        if removed > 0 {
            sync_directory(&self.directory)?;
        }
        Ok(removed)
    }
}

fn file_path(directory: &Path, first_seq: u64) -> PathBuf {
    directory.join(format!("{first_seq:020}.wal"))
}

/// The log files in `directory`, oldest first.
fn list_files(directory: &Path) -> Result<Vec<(u64, PathBuf)>, EmbeddedError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(directory)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("wal") {
            continue;
        }
        let first_seq = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .and_then(|stem| stem.parse::<u64>().ok());
        if let Some(first_seq) = first_seq {
            files.push((first_seq, path));
        }
    }
    files.sort();
    Ok(files)
}

/// What replay found.
#[derive(Debug, Default)]
pub struct ReplayOutcome {
    /// The highest sequence number seen in any whole frame (0 if none).
    pub last_seq: u64,
    /// Records handed to the caller (those after the checkpoint).
    pub replayed: usize,
    /// Records skipped because the checkpoint already covers them.
    pub skipped: usize,
    /// One line per torn or corrupt file tail that was dropped.
    pub dropped_tails: Vec<String>,
}

/// Reads every log file in order and hands each record newer than `checkpoint_seq` to
/// `apply`. A torn or corrupt frame ends its file: the rest of that file is dropped (logged),
/// and the file is truncated to its last good frame so it is not reported again.
pub fn replay(
    directory: &Path,
    checkpoint_seq: u64,
    mut apply: impl FnMut(u64, &[u8]) -> Result<(), EmbeddedError>,
) -> Result<ReplayOutcome, EmbeddedError> {
    let mut outcome = ReplayOutcome {
        last_seq: checkpoint_seq,
        ..ReplayOutcome::default()
    };
    for (_, path) in list_files(directory)? {
        let file = File::open(&path)?;
        let file_len = file.metadata()?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut good_len = 0u64;
        let mut payload = Vec::new();
        let problem = loop {
            let mut header = [0u8; HEADER_BYTES];
            match read_full(&mut reader, &mut header)? {
                0 => break None,
                HEADER_BYTES => {}
                partial => break Some(format!("a frame header cut short after {partial} bytes")),
            }
            let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            let stored_checksum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            let mut seq_bytes = [0u8; 8];
            seq_bytes.copy_from_slice(&header[8..]);
            let seq = u64::from_le_bytes(seq_bytes);
            if length > MAX_RECORD_BYTES
                || good_len + (HEADER_BYTES as u64) + u64::from(length) > file_len
            {
                break Some(format!(
                    "record {seq} claims {length} bytes past the end of the file"
                ));
            }
            payload.resize(length as usize, 0);
            if read_full(&mut reader, &mut payload)? != payload.len() {
                break Some(format!("record {seq} cut short"));
            }
            let mut checksum = crc32fast::Hasher::new();
            checksum.update(&seq_bytes);
            checksum.update(&payload);
            if checksum.finalize() != stored_checksum {
                break Some(format!("record {seq} fails its checksum"));
            }
            if seq <= outcome.last_seq && seq > checkpoint_seq {
                break Some(format!(
                    "record {seq} is out of order (after {})",
                    outcome.last_seq
                ));
            }
            good_len += (HEADER_BYTES + payload.len()) as u64;
            if seq <= checkpoint_seq {
                outcome.skipped += 1;
                continue;
            }
            outcome.last_seq = seq;
            if let Err(error) = apply(seq, &payload) {
                tracing::error!(seq, %error, "write-ahead log record cannot be applied; skipped");
                continue;
            }
            outcome.replayed += 1;
        };
        if let Some(problem) = problem {
            let dropped = file_len - good_len;
            tracing::warn!(
                file = %path.display(),
                %problem,
                kept_bytes = good_len,
                dropped_bytes = dropped,
                "dropping the torn or corrupt tail of a write-ahead log file"
            );
            outcome.dropped_tails.push(format!(
                "{}: {problem}; dropped {dropped} bytes",
                path.display()
            ));
            let file = OpenOptions::new().write(true).open(&path)?;
            file.set_len(good_len)?;
            file.sync_all()?;
        }
    }
    Ok(outcome)
}

/// Reads until `buffer` is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay_all(directory: &Path, after: u64) -> (Vec<(u64, Vec<u8>)>, ReplayOutcome) {
        let mut records = Vec::new();
        let outcome = replay(directory, after, |seq, payload| {
            records.push((seq, payload.to_vec()));
            Ok(())
        })
        .expect("replay");
        (records, outcome)
    }

    #[test]
    fn records_replay_in_order_across_rotations_and_skip_the_checkpoint() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut wal = Wal::create(directory.path(), 1).expect("create");
        assert_eq!(wal.append(b"one").ok(), Some(1));
        assert_eq!(wal.append(b"two").ok(), Some(2));
        assert_eq!(wal.rotate().ok(), Some(2));
        assert_eq!(wal.append(b"three").ok(), Some(3));
        let (records, outcome) = replay_all(directory.path(), 0);
        assert_eq!(
            records,
            vec![
                (1, b"one".to_vec()),
                (2, b"two".to_vec()),
                (3, b"three".to_vec())
            ]
        );
        assert_eq!(outcome.last_seq, 3);
        let (records, outcome) = replay_all(directory.path(), 2);
        assert_eq!(records, vec![(3, b"three".to_vec())]);
        assert_eq!(outcome.skipped, 2);
        assert_eq!(wal.remove_covered_files(2).ok(), Some(1));
        let (records, _) = replay_all(directory.path(), 2);
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn files_are_removed_only_once_every_record_in_them_is_consumed() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut wal = Wal::create(directory.path(), 1).expect("create");
        wal.append(b"one").expect("append");
        wal.append(b"two").expect("append");
        wal.rotate().expect("rotate"); // file 1 holds 1-2
        wal.append(b"three").expect("append");
        wal.rotate().expect("rotate"); // file 3 holds 3; file 4 is current
        wal.append(b"four").expect("append");
        assert_eq!(
            wal.remove_files_through(1).ok(),
            Some(0),
            "record 2 is not consumed"
        );
        assert_eq!(wal.remove_files_through(2).ok(), Some(1));
        let (records, _) = replay_all(directory.path(), 0);
        assert_eq!(records.first().map(|r| r.0), Some(3));
        // The current file stays even when all of it is consumed.
        assert_eq!(wal.remove_files_through(4).ok(), Some(1));
        let (records, _) = replay_all(directory.path(), 0);
        assert_eq!(records, vec![(4, b"four".to_vec())]);
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_dropped_and_the_rest_survives() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut wal = Wal::create(directory.path(), 1).expect("create");
        wal.append(b"kept").expect("append");
        wal.append(b"torn record").expect("append");
        drop(wal);
        let path = file_path(directory.path(), 1);
        let full = fs::read(&path).expect("read");
        // Every cut inside the second frame keeps the first record only.
        let first_frame = HEADER_BYTES + 4;
        for cut in first_frame..full.len() {
            fs::write(&path, &full[..cut]).expect("write");
            let (records, outcome) = replay_all(directory.path(), 0);
            assert_eq!(records, vec![(1, b"kept".to_vec())], "cut at {cut}");
            assert_eq!(outcome.dropped_tails.len(), usize::from(cut > first_frame));
            assert_eq!(fs::metadata(&path).expect("stat").len(), first_frame as u64);
        }
        // A flipped bit in the payload fails the checksum.
        let mut flipped = full.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        fs::write(&path, &flipped).expect("write");
        let (records, outcome) = replay_all(directory.path(), 0);
        assert_eq!(records.len(), 1);
        assert!(outcome.dropped_tails[0].contains("checksum"));
        // Appending after recovery continues the sequence in a new file.
        let mut wal = Wal::create(directory.path(), outcome.last_seq + 1).expect("create");
        assert_eq!(wal.append(b"after").ok(), Some(2));
        let (records, _) = replay_all(directory.path(), 0);
        assert_eq!(records.len(), 2);
    }
}
