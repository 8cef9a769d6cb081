//! A small binary encoding (little-endian integers, LEB128 varints, length-prefixed strings)
//! and checksummed,
//! atomically replaced files: what the write-ahead log and the checkpoint files are made of.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::EmbeddedError;

/// Appends values to a byte buffer.
#[derive(Default)]
pub struct Encoder {
    buffer: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder::default()
    }

    pub fn with_capacity(capacity: usize) -> Encoder {
        Encoder {
            buffer: Vec::with_capacity(capacity),
        }
    }

    pub fn u8(&mut self, value: u8) {
        self.buffer.push(value);
    }

    pub fn u64(&mut self, value: u64) {
        self.buffer.extend_from_slice(&value.to_le_bytes());
    }

    pub fn i64(&mut self, value: i64) {
        self.buffer.extend_from_slice(&value.to_le_bytes());
    }

    pub fn len(&mut self, value: usize) {
        self.u64(value as u64);
    }

    /// An unsigned integer in 1 to 10 bytes (LEB128): small values, small bytes.
    pub fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buffer.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buffer.push(value as u8);
    }

    pub fn bytes(&mut self, value: &[u8]) {
        self.len(value.len());
        self.buffer.extend_from_slice(value);
    }

    /// What [`Encoder::bytes`] writes, for bytes that `write` appends to the buffer itself: a
    /// large value is written once, in place, instead of into a buffer of its own and then
    /// copied (so make the encoder with room for it). When `write` fails, what the encoder
    /// holds is unusable.
    pub fn bytes_written_by<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let length_at = self.buffer.len();
        self.len(0);
        write(&mut self.buffer)?;
        let length = (self.buffer.len() - length_at - 8) as u64;
        self.buffer[length_at..length_at + 8].copy_from_slice(&length.to_le_bytes());
        Ok(())
    }

    pub fn str(&mut self, value: &str) {
        self.bytes(value.as_bytes());
    }

    pub fn time(&mut self, value: DateTime<Utc>) {
        self.i64(value.timestamp());
    }

    pub fn finish(self) -> Vec<u8> {
        self.buffer
    }

    /// Moves what is encoded so far to `file` once it is at least `at_least` bytes, leaving
    /// the buffer empty (and its memory for the next bytes).
    pub fn drain_to(
        &mut self,
        file: &mut CheckedFileWriter,
        at_least: usize,
    ) -> Result<(), EmbeddedError> {
        if !self.buffer.is_empty() && self.buffer.len() >= at_least {
            file.write(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }
}

/// Reads values back in the order they were encoded; every read is bounds-checked, so a
/// corrupt input is an error, never a panic.
pub struct Decoder<'a> {
    input: &'a [u8],
    what: &'static str,
}

impl<'a> Decoder<'a> {
    /// `what` names the input in error messages.
    pub fn new(input: &'a [u8], what: &'static str) -> Decoder<'a> {
        Decoder { input, what }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], EmbeddedError> {
        if self.input.len() < count {
            return Err(EmbeddedError::Corrupt(format!(
                "{}: truncated (wanted {count} more bytes, {} left)",
                self.what,
                self.input.len()
            )));
        }
        let (head, tail) = self.input.split_at(count);
        self.input = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EmbeddedError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    pub fn u8(&mut self) -> Result<u8, EmbeddedError> {
        Ok(self.take(1)?[0])
    }

    pub fn u64(&mut self) -> Result<u64, EmbeddedError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn i64(&mut self) -> Result<i64, EmbeddedError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// A count of items that follow; checked against the bytes left so a corrupt count cannot
    /// make the caller reserve absurd amounts of memory.
    pub fn len(&mut self) -> Result<usize, EmbeddedError> {
        let value = self.u64()?;
        match usize::try_from(value) {
            Ok(count) if count <= self.input.len() => Ok(count),
            _ => Err(EmbeddedError::Corrupt(format!(
                "{}: length {value} exceeds the {} bytes left",
                self.what,
                self.input.len()
            ))),
        }
    }

    pub fn varint(&mut self) -> Result<u64, EmbeddedError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(EmbeddedError::Corrupt(format!(
            "{}: a varint longer than 64 bits",
            self.what
        )))
    }

    /// A varint count of items that follow, each at least one byte: checked like [`Self::len`].
    pub fn varint_len(&mut self) -> Result<usize, EmbeddedError> {
        let value = self.varint()?;
        match usize::try_from(value) {
            Ok(count) if count <= self.input.len() => Ok(count),
            _ => Err(EmbeddedError::Corrupt(format!(
                "{}: length {value} exceeds the {} bytes left",
                self.what,
                self.input.len()
            ))),
        }
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], EmbeddedError> {
        let count = self.len()?;
        self.take(count)
    }

    pub fn string(&mut self) -> Result<String, EmbeddedError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| EmbeddedError::Corrupt(format!("{}: invalid UTF-8", self.what)))
    }

    pub fn time(&mut self) -> Result<DateTime<Utc>, EmbeddedError> {
        let seconds = self.i64()?;
        DateTime::from_timestamp(seconds, 0).ok_or_else(|| {
            EmbeddedError::Corrupt(format!("{}: timestamp {seconds} out of range", self.what))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }
}

/// File layout of a checkpoint file: `MAGIC (8 bytes) | payload | crc32(payload) (4 bytes)`.
const FILE_MAGIC: &[u8; 8] = b"STKHSE01";

/// Writes `payload` to `path` so that `path` holds either its old content or the whole new
/// one, whatever happens: write a temporary file, sync it, rename it over, sync the directory.
pub fn write_checked_file(path: &Path, payload: &[u8]) -> Result<(), EmbeddedError> {
    let mut file = CheckedFileWriter::create(path)?;
    file.write(payload)?;
    file.finish()
}

/// A file of [`write_checked_file`]'s layout written a piece at a time, so a large payload
/// (a base of every aggregate) goes to disk as it is encoded instead of being held whole in
/// memory. Nothing is at `path` until [`CheckedFileWriter::finish`]; dropped unfinished, the
/// temporary file is removed.
pub struct CheckedFileWriter {
    file: io::BufWriter<File>,
    checksum: crc32fast::Hasher,
    temporary: PathBuf,
    path: PathBuf,
    /// Put in place: the temporary file is gone, nothing is left to remove.
    finished: bool,
}

impl CheckedFileWriter {
    pub fn create(path: &Path) -> Result<CheckedFileWriter, EmbeddedError> {
        let temporary = path.with_extension("tmp");
        let mut file = io::BufWriter::with_capacity(1 << 20, File::create(&temporary)?);
        file.write_all(FILE_MAGIC)?;
        Ok(CheckedFileWriter {
            file,
            checksum: crc32fast::Hasher::new(),
            temporary,
            path: path.to_owned(),
            finished: false,
        })
    }

    /// Appends to the payload.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), EmbeddedError> {
        self.checksum.update(bytes);
        Ok(self.file.write_all(bytes)?)
    }

    /// Ends the payload with its checksum, syncs the file and puts it in place.
    pub fn finish(mut self) -> Result<(), EmbeddedError> {
        let checksum = self.checksum.clone().finalize();
        self.file.write_all(&checksum.to_le_bytes())?;
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        fs::rename(&self.temporary, &self.path)?;
        self.finished = true;
        sync_parent_directory(&self.path)?;
        Ok(())
    }
}

impl Drop for CheckedFileWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

/// Reads a file written by [`write_checked_file`] and verifies its checksum.
pub fn read_checked_file(path: &Path) -> Result<Vec<u8>, EmbeddedError> {
    let mut content = fs::read(path)?;
    let corrupt = |why: &str| EmbeddedError::Corrupt(format!("{}: {why}", path.display()));
    if content.len() < FILE_MAGIC.len() + 4 || &content[..FILE_MAGIC.len()] != FILE_MAGIC {
        return Err(corrupt("not a Stackhouse checkpoint file"));
    }
    let checksum_at = content.len() - 4;
    let mut stored = [0u8; 4];
    stored.copy_from_slice(&content[checksum_at..]);
    let payload = &content[FILE_MAGIC.len()..checksum_at];
    if crc32fast::hash(payload) != u32::from_le_bytes(stored) {
        return Err(corrupt("checksum mismatch"));
    }
    content.truncate(checksum_at);
    content.drain(..FILE_MAGIC.len());
    Ok(content)
}

/// Makes a rename or a file creation in `path`'s directory durable.
pub fn sync_parent_directory(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(directory) => sync_directory(directory),
        None => Ok(()),
    }
}

pub fn sync_directory(directory: &Path) -> io::Result<()> {
    OpenOptions::new().read(true).open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_written_in_place_read_back_as_bytes_and_a_failed_write_is_returned() {
        let mut encoder = Encoder::new();
        encoder.u8(1);
        encoder
            .bytes_written_by(|buffer| {
                buffer.extend_from_slice(b"in place");
                Ok::<(), ()>(())
            })
            .expect("written");
        encoder.bytes(b"copied");
        encoder
            .bytes_written_by(|_| Ok::<(), ()>(()))
            .expect("nothing written");
        let bytes = encoder.finish();
        let mut decoder = Decoder::new(&bytes, "test");
        assert_eq!(decoder.u8().ok(), Some(1));
        assert_eq!(decoder.bytes().ok(), Some(&b"in place"[..]));
        assert_eq!(decoder.bytes().ok(), Some(&b"copied"[..]));
        assert_eq!(decoder.bytes().ok(), Some(&b""[..]));
        assert!(decoder.is_empty());

        let mut failing = Encoder::new();
        assert_eq!(failing.bytes_written_by(|_| Err("full")), Err("full"));
    }

    #[test]
    fn values_round_trip_and_truncation_is_an_error() {
        let mut encoder = Encoder::new();
        encoder.u8(7);
        encoder.u64(u64::MAX);
        encoder.i64(-5);
        encoder.str("héllo");
        encoder.time(DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default());
        let bytes = encoder.finish();
        let mut decoder = Decoder::new(&bytes, "test");
        assert_eq!(decoder.u8().ok(), Some(7));
        assert_eq!(decoder.u64().ok(), Some(u64::MAX));
        assert_eq!(decoder.i64().ok(), Some(-5));
        assert_eq!(decoder.string().ok().as_deref(), Some("héllo"));
        assert_eq!(
            decoder.time().ok().map(|t| t.timestamp()),
            Some(1_700_000_000)
        );
        assert!(decoder.is_empty());

        let mut short = Decoder::new(&bytes[..12], "test");
        assert!(short.u8().is_ok() && short.u64().is_ok());
        assert!(short.i64().is_err());
        // A corrupt length never allocates past the input.
        let mut absurd = Decoder::new(&[0xff; 8], "test");
        assert!(absurd.len().is_err());
    }

    #[test]
    fn varints_round_trip_in_as_few_bytes_as_they_need() {
        let values = [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        let mut encoder = Encoder::new();
        for value in values {
            encoder.varint(value);
        }
        let bytes = encoder.finish();
        assert_eq!(bytes.len(), 1 + 1 + 1 + 2 + 2 + 2 + 3 + 5 + 10);
        let mut decoder = Decoder::new(&bytes, "test");
        for value in values {
            assert_eq!(decoder.varint().ok(), Some(value));
        }
        assert!(decoder.is_empty());
        // Truncated, too long, and a count past the input are errors.
        assert!(Decoder::new(&[0x80], "test").varint().is_err());
        assert!(Decoder::new(&[0xff; 11], "test").varint().is_err());
        assert!(Decoder::new(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            "test"
        )
        .varint()
        .is_err());
        assert!(Decoder::new(&[5, 1, 2], "test").varint_len().is_err());
        assert_eq!(Decoder::new(&[2, 1, 2], "test").varint_len().ok(), Some(2));
    }

    #[test]
    fn checked_files_detect_corruption() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("state.bin");
        write_checked_file(&path, b"payload").expect("write");
        assert_eq!(
            read_checked_file(&path).ok().as_deref(),
            Some(&b"payload"[..])
        );
        let mut bytes = fs::read(&path).expect("read");
        bytes[9] ^= 1;
        fs::write(&path, bytes).expect("write");
        assert!(read_checked_file(&path).is_err());
    }

    #[test]
    fn a_file_written_in_pieces_reads_back_whole_and_an_abandoned_one_leaves_nothing() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("agg.bin");
        let mut file = CheckedFileWriter::create(&path).expect("create");
        let (mut encoder, mut whole) = (Encoder::new(), Encoder::new());
        for piece in 0..1_000u64 {
            encoder.varint(piece * 1_000_003);
            whole.varint(piece * 1_000_003);
            encoder.drain_to(&mut file, 64).expect("drain");
        }
        encoder.drain_to(&mut file, 0).expect("drain");
        assert!(!path.exists(), "nothing is in place before finish");
        file.finish().expect("finish");
        assert_eq!(read_checked_file(&path).expect("read"), whole.finish());

        let abandoned = directory.path().join("abandoned.bin");
        let mut file = CheckedFileWriter::create(&abandoned).expect("create");
        file.write(b"half").expect("write");
        drop(file);
        assert_eq!(fs::read_dir(directory.path()).expect("list").count(), 1);
    }
}
