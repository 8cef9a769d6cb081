//! Reading request bodies within limits, and decompressing them without ever expanding a bomb:
//! gzip, deflate (zlib-wrapped or raw: SDKs differ), br and zstd.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body is larger than the {limit} byte limit")]
    TooLarge { limit: usize },
    #[error("request body expands past the {limit} byte limit when decompressed")]
    DecompressedTooLarge { limit: usize },
    #[error("unsupported Content-Encoding {0:?}: use gzip, deflate, br, zstd or none")]
    UnsupportedEncoding(String),
    #[error("request body is not valid {encoding}: {message}")]
    Corrupt {
        encoding: &'static str,
        message: String,
    },
    #[error("cannot read request body: {0}")]
    Read(String),
}

/// A body refused by its declared length is answered at once (a client may wait for the answer
/// before sending it), and when it is at most this large it is also read and dropped in the
/// background, for at most [`DRAIN_TIME`], so a client that sends all of it before reading the
/// answer gets the 413 rather than a broken pipe (closing with the body unread resets the
/// connection under it). A larger one's connection is closed.
const DRAIN_LIMIT: usize = 8 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the whole body, refusing more than `limit` bytes as sent.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if let Some(length) = declared.filter(|length| *length > limit) {
        if length <= DRAIN_LIMIT {
            tokio::spawn(tokio::time::timeout(DRAIN_TIME, drain(body)));
        }
        return Err(BodyError::TooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>())
            || error.to_string().contains("length limit");
        if too_large {
            BodyError::TooLarge { limit }
        } else {
            BodyError::Read(error.to_string())
        }
    })
}

/// Reads a body to its end (or first error), keeping nothing.
async fn drain(body: Body) {
    use futures::StreamExt;
    let mut chunks = body.into_data_stream();
    while let Some(Ok(_)) = chunks.next().await {}
}

/// The body's encoding from `Content-Encoding`, or sniffed from magic bytes when the header is
/// absent (some clients compress without saying so).
fn encoding_of(headers: &HeaderMap, body: &[u8]) -> Result<Encoding, BodyError> {
    let declared = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_ascii_lowercase());
    match declared.as_deref() {
        None | Some("") => Ok(match body {
            [0x1f, 0x8b, ..] => Encoding::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Encoding::Zstd,
            _ => Encoding::Identity,
        }),
        Some("identity") => Ok(Encoding::Identity),
        Some("gzip") | Some("x-gzip") => Ok(Encoding::Gzip),
        Some("deflate") => Ok(Encoding::Deflate),
        Some("br") => Ok(Encoding::Brotli),
        Some("zstd") => Ok(Encoding::Zstd),
        Some(other) => Err(BodyError::UnsupportedEncoding(other.to_owned())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

/// Decompresses `body` as its headers say, producing at most `limit` bytes.
///
/// The decoders read the body in place (`bufread`, `with_buffer`): the `read` kinds copy it
/// through a buffer of their own, 32 KiB allocated and zeroed for each request, several times
/// the size of an SDK's one-event envelope.
pub fn decode(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, BodyError> {
    let encoding = encoding_of(headers, &body)?;
    match encoding {
        Encoding::Identity => {
            if body.len() > limit {
                return Err(BodyError::DecompressedTooLarge { limit });
            }
            Ok(body)
        }
        Encoding::Gzip => match gunzip_one_member(&body, limit) {
            Some(result) => result,
            None => read_bounded(
                flate2::bufread::MultiGzDecoder::new(&body[..]),
                body.len(),
                limit,
                "gzip",
            ),
        },
        Encoding::Deflate => {
            // RFC 9110 says zlib-wrapped; some SDKs send raw deflate. A zlib stream starts with
            // a CMF byte whose low nibble is 8 and whose header is a multiple of 31.
            let zlib_wrapped = body.len() >= 2
                && body[0] & 0x0f == 8
                && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0;
            if zlib_wrapped {
                read_bounded(
                    flate2::bufread::ZlibDecoder::new(&body[..]),
                    body.len(),
                    limit,
                    "deflate",
                )
            } else {
                read_bounded(
                    flate2::bufread::DeflateDecoder::new(&body[..]),
                    body.len(),
                    limit,
                    "deflate",
                )
            }
        }
        Encoding::Brotli => read_bounded(
            brotli::Decompressor::new(&body[..], 64 * 1024),
            body.len(),
            limit,
            "br",
        ),
        Encoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(&body[..]).map_err(|error| {
                BodyError::Corrupt {
                    encoding: "zstd",
                    message: error.to_string(),
                }
            })?;
            read_bounded(decoder, body.len(), limit, "zstd")
        }
    }
}

/// A first guess of how large a compressed body of `sent` bytes inflates: JSON events shrink
/// 5-10 times under gzip. Growing from an empty vector instead took a dozen reallocations (each
/// a copy, and fresh pages to fault in) for a 1,000-event batch.
fn inflated_size_guess(sent: usize, limit: usize) -> usize {
    sent.saturating_mul(8)
        .saturating_add(4096)
        .min(limit.saturating_add(1))
}

/// Inflates a gzip body of one member with a plain header (what every Sentry SDK sends) using
/// this thread's inflate state, reset instead of made anew: a decoder set up and freed for each
/// request (its state and 32 KiB window, allocated and initialised) cost about 6% of the
/// server's CPU per event under load (`benches/load.rs`, envelopes, old and new binaries
/// alternated: 159.5 against 169.5 µs per event over four rounds). The trailer's CRC-32 and
/// length are checked, and the output is bounded as [`read_bounded`] bounds it. `None` for
/// anything else (optional header fields, several members, a header that is not gzip's): the
/// general decoder takes those, and gives its own error for a broken one.
fn gunzip_one_member(body: &[u8], limit: usize) -> Option<Result<Bytes, BodyError>> {
    use flate2::{Decompress, FlushDecompress, Status};
    use std::cell::RefCell;

    /// ID1 ID2, CM = 8 (deflate), FLG = 0 (no name, comment, extra field or header CRC).
    const PLAIN_HEADER: [u8; 4] = [0x1f, 0x8b, 8, 0];
    const HEADER_LEN: usize = 10;
    const TRAILER_LEN: usize = 8;
    thread_local! {
        static INFLATE: RefCell<Decompress> = RefCell::new(Decompress::new(false));
    }
    if body.len() < HEADER_LEN + TRAILER_LEN || body[..4] != PLAIN_HEADER {
        return None;
    }
    let corrupt = |message: String| BodyError::Corrupt {
        encoding: "gzip",
        message,
    };
    let deflated = &body[HEADER_LEN..];
    let run = |inflate: &mut Decompress| -> Option<Result<Bytes, BodyError>> {
        inflate.reset(false);
        let most = limit.saturating_add(1);
        let mut output = Vec::with_capacity(inflated_size_guess(body.len(), limit));
        loop {
            if output.len() == output.capacity() {
                if output.len() >= most {
                    return Some(Err(BodyError::DecompressedTooLarge { limit }));
                }
                output.reserve_exact(output.len().max(4096).min(most - output.len()));
            }
            let before = (inflate.total_in(), output.len());
            let input = usize::try_from(before.0)
                .ok()
                .and_then(|consumed| deflated.get(consumed..))
                .unwrap_or_default();
            match inflate.decompress_vec(input, &mut output, FlushDecompress::None) {
                Ok(Status::StreamEnd) => break,
                Ok(Status::Ok | Status::BufError) => {
                    // No progress with room to write: the input ended inside the stream.
                    let stuck = (inflate.total_in(), output.len()) == before;
                    if stuck && output.len() < output.capacity() {
                        return Some(Err(corrupt("unexpected end of file".to_owned())));
                    }
                }
                Err(error) => return Some(Err(corrupt(error.to_string()))),
            }
        }
        if output.len() > limit {
            return Some(Err(BodyError::DecompressedTooLarge { limit }));
        }
        let trailer = deflated.get(usize::try_from(inflate.total_in()).ok()?..)?;
        if trailer.len() != TRAILER_LEN {
            // Truncated, or another member follows: the general decoder decides.
            return None;
        }
        let word = |at: usize| {
            u32::from_le_bytes([
                trailer[at],
                trailer[at + 1],
                trailer[at + 2],
                trailer[at + 3],
            ])
        };
        if word(0) != crc32fast::hash(&output) {
            return Some(Err(corrupt(
                "CRC-32 of the data does not match the trailer".to_owned(),
            )));
        }
        // ISIZE is the length modulo 2^32: the truncation is the format's.
        if word(4) != output.len() as u32 {
            return Some(Err(corrupt(
                "length of the data does not match the trailer".to_owned(),
            )));
        }
        Some(Ok(Bytes::from(output)))
    };
    INFLATE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut state) => run(&mut state),
        Err(_) => run(&mut Decompress::new(false)),
    })
}

fn read_bounded(
    reader: impl Read,
    sent: usize,
    limit: usize,
    encoding: &'static str,
) -> Result<Bytes, BodyError> {
    let mut output = Vec::with_capacity(inflated_size_guess(sent, limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut output)
        .map_err(|error| BodyError::Corrupt {
            encoding,
            message: error.to_string(),
        })?;
    if output.len() > limit {
        return Err(BodyError::DecompressedTooLarge { limit });
    }
    Ok(Bytes::from(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn headers(encoding: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(encoding) = encoding {
            headers.insert(header::CONTENT_ENCODING, encoding.parse().expect("header"));
        }
        headers
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("write");
        encoder.finish().expect("finish")
    }

    #[test]
    fn every_encoding_round_trips() {
        let data = b"{\"message\": \"hello\"}".repeat(20);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(&data).expect("write");
        let zlib = zlib.finish().expect("finish");
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&data).expect("write");
        let raw = raw.finish().expect("finish");
        let mut br = Vec::new();
        {
            let mut writer = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            writer.write_all(&data).expect("write");
        }
        let zstd = zstd::encode_all(&data[..], 3).expect("zstd");
        for (encoding, body) in [
            (None, data.clone()),
            (Some("gzip"), gzip(&data)),
            (None, gzip(&data)),
            (Some("deflate"), zlib),
            (Some("deflate"), raw),
            (Some("br"), br),
            (Some("zstd"), zstd),
        ] {
            let decoded = decode(&headers(encoding), Bytes::from(body), 1 << 20).expect("decodes");
            assert_eq!(&decoded[..], &data[..], "{encoding:?}");
        }
    }

    #[test]
    fn bomb_is_refused_without_expanding_it() {
        let bomb = gzip(&vec![0u8; 50 << 20]);
        assert!(bomb.len() < 100_000);
        let error = decode(&headers(Some("gzip")), Bytes::from(bomb), 1 << 20).expect_err("bomb");
        assert_eq!(error, BodyError::DecompressedTooLarge { limit: 1 << 20 });
    }

    #[test]
    fn bodies_that_inflate_past_the_first_guess_and_up_to_the_limit_are_whole() {
        // 2 MiB of one byte gzips to a few KiB: far more than the first guess of its size.
        let data = vec![b'x'; 2 << 20];
        let body = gzip(&data);
        assert!(inflated_size_guess(body.len(), 2 << 20) < data.len());
        let decoded =
            decode(&headers(Some("gzip")), Bytes::from(body.clone()), 2 << 20).expect("decodes");
        assert_eq!(decoded.len(), data.len());
        // One byte over the limit is refused.
        let error = decode(&headers(Some("gzip")), Bytes::from(body), (2 << 20) - 1)
            .expect_err("over the limit");
        assert_eq!(
            error,
            BodyError::DecompressedTooLarge {
                limit: (2 << 20) - 1
            }
        );
    }

    #[test]
    fn sdk_gzip_takes_the_reused_decoder_and_other_gzip_the_general_one() {
        let data = b"{\"exception\": {\"values\": []}}".repeat(50);
        let plain = gzip(&data);
        assert_eq!(plain[..4], [0x1f, 0x8b, 8, 0]);
        // The thread's decoder is reset between bodies: the second decodes as the first did.
        for _ in 0..2 {
            let decoded = gunzip_one_member(&plain, 1 << 20).expect("fast path");
            assert_eq!(&decoded.expect("decodes")[..], &data[..]);
        }
        // Two members, and a header with a file name: the general decoder, which reads them.
        let mut two = plain.clone();
        two.extend_from_slice(&plain);
        assert!(gunzip_one_member(&two, 1 << 20).is_none());
        let decoded = decode(&headers(Some("gzip")), Bytes::from(two), 1 << 20).expect("decodes");
        assert_eq!(decoded.len(), 2 * data.len());
        let mut named = flate2::GzBuilder::new()
            .filename("event.json")
            .write(Vec::new(), flate2::Compression::default());
        named.write_all(&data).expect("write");
        let named = named.finish().expect("finish");
        assert!(gunzip_one_member(&named, 1 << 20).is_none());
        let decoded = decode(&headers(None), Bytes::from(named), 1 << 20).expect("decodes");
        assert_eq!(&decoded[..], &data[..]);
    }

    #[test]
    fn damaged_gzip_is_a_clear_error_and_the_decoder_recovers() {
        let data = b"{\"message\": \"hello\"}".repeat(40);
        let body = gzip(&data);
        let corrupt = |body: Vec<u8>| {
            let error = decode(&headers(Some("gzip")), Bytes::from(body), 1 << 20);
            match error {
                Err(BodyError::Corrupt { encoding, message }) => {
                    assert_eq!(encoding, "gzip");
                    message
                }
                other => panic!("not a corrupt-body error: {other:?}"),
            }
        };
        let mut wrong_crc = body.clone();
        let at = wrong_crc.len() - 8;
        wrong_crc[at] ^= 0xff;
        assert!(corrupt(wrong_crc).contains("CRC-32"), "names the checksum");
        let mut wrong_length = body.clone();
        let at = wrong_length.len() - 4;
        wrong_length[at] ^= 0x01;
        assert!(corrupt(wrong_length).contains("length"), "names the length");
        // Cut inside the compressed data, and cut inside the trailer.
        corrupt(body[..body.len() / 2].to_vec());
        corrupt(body[..body.len() - 3].to_vec());
        // Damaged compressed data.
        let mut damaged = body.clone();
        for byte in &mut damaged[12..20] {
            *byte = 0xff;
        }
        corrupt(damaged);
        // None of that left the thread's decoder unusable.
        let decoded = decode(&headers(Some("gzip")), Bytes::from(body), 1 << 20).expect("decodes");
        assert_eq!(&decoded[..], &data[..]);
    }

    proptest::proptest! {
        /// The reused decoder and flate2's general one agree on every body with a plain gzip
        /// header, whole or damaged: the same bytes out, or both refuse it (a bound included).
        #[test]
        fn the_reused_decoder_agrees_with_the_general_one(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
            repeat in 1usize..40,
            damage in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..3),
            cut in proptest::prelude::any::<usize>(),
            limit in 1usize..100_000,
        ) {
            let mut body = gzip(&data.repeat(repeat));
            for (at, byte) in damage {
                let at = at % body.len();
                body[at] = byte;
            }
            let cut = if cut % 4 == 0 { body.len() - cut % body.len().min(12) } else { body.len() };
            body.truncate(cut);
            let general = read_bounded(flate2::bufread::MultiGzDecoder::new(&body[..]), body.len(), limit, "gzip");
            if let Some(fast) = gunzip_one_member(&body, limit) {
                match (fast, general) {
                    (Ok(fast), Ok(general)) => proptest::prop_assert_eq!(fast, general),
                    (Err(BodyError::DecompressedTooLarge { .. }), general) => {
                        proptest::prop_assert!(general.is_err());
                    }
                    (Ok(_), Err(error)) => proptest::prop_assert!(false, "only the general decoder refused: {error}"),
                    (Err(error), Ok(_)) => proptest::prop_assert!(false, "only the reused decoder refused: {error}"),
                    (Err(_), Err(_)) => {}
                }
            }
        }
    }

    #[test]
    fn garbage_and_unknown_encodings_are_clear_errors() {
        let error = decode(&headers(Some("gzip")), Bytes::from_static(b"not gzip"), 100);
        assert!(matches!(
            error,
            Err(BodyError::Corrupt {
                encoding: "gzip",
                ..
            })
        ));
        let error = decode(&headers(Some("compress")), Bytes::from_static(b"x"), 100);
        assert!(matches!(error, Err(BodyError::UnsupportedEncoding(_))));
    }
}
