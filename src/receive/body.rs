//! Decompressing a request body without letting it cost more than the limit: snappy's block
//! format states the decompressed length in its first bytes, checked before anything is
//! allocated; gzip is read through a limit, one byte past it and it stops.

use std::io::Read;

use super::{Outcome, Refusal};

fn too_large(size: &str, limit: u64) -> Refusal {
    Refusal::new(
        413,
        Outcome::TooLarge,
        format!(
            "the body decompresses to {size}; receive.max_decompressed_bytes is {}",
            crate::base::units::format_size(limit)
        ),
    )
}

/// The snappy block-compressed `body`, decompressed, if it is at most `limit` bytes.
pub fn unsnappy(body: &[u8], limit: u64) -> Result<Vec<u8>, Refusal> {
    let len = snap::raw::decompress_len(body).map_err(|e| {
        Refusal::new(
            400,
            Outcome::Malformed,
            format!("the body is not snappy block-compressed: {e}"),
        )
    })?;
    if len as u64 > limit {
        return Err(too_large(&format!("{len} bytes"), limit));
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(|e| {
        Refusal::new(
            400,
            Outcome::Malformed,
            format!("the body is not snappy block-compressed: {e}"),
        )
    })
}

/// The gzip'd `body`, decompressed, if it is at most `limit` bytes (read with the limit: a
/// bomb stops one byte past it).
pub fn gunzip(body: &[u8], limit: u64) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| {
            Refusal::new(
                400,
                Outcome::Malformed,
                format!("the body is not valid gzip: {e}"),
            )
        })?;
    if out.len() as u64 > limit {
        return Err(too_large("more than that", limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_snappy_bomb_is_refused_from_its_header() {
        let huge = vec![0u8; 10 << 20];
        let body = snap::raw::Encoder::new().compress_vec(&huge).unwrap();
        assert!(body.len() < 600 << 10);
        let refused = unsnappy(&body, 1 << 20).unwrap_err();
        assert_eq!((refused.status, refused.outcome), (413, Outcome::TooLarge));
        assert!(
            refused.reason.contains("10485760 bytes"),
            "{}",
            refused.reason
        );
        assert_eq!(unsnappy(&body, 10 << 20).unwrap().len(), 10 << 20);
        // A header that lies is refused when the data ends early.
        let refused = unsnappy(&[0x80, 0x80, 0x04, 0x00], 1 << 20).unwrap_err();
        assert_eq!(refused.outcome, Outcome::Malformed);
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 50 << 20]).unwrap();
        let body = gz.finish().unwrap();
        assert!(body.len() < 100 << 10);
        let refused = gunzip(&body, 1 << 20).unwrap_err();
        assert_eq!((refused.status, refused.outcome), (413, Outcome::TooLarge));
        assert_eq!(gunzip(b"not gzip", 1 << 20).unwrap_err().status, 400);
    }
}
