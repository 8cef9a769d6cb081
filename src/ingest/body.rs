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
        Encoding::Gzip => read_bounded(
            flate2::bufread::MultiGzDecoder::new(&body[..]),
            body.len(),
            limit,
            "gzip",
        ),
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
