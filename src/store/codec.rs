//! Byte formats of the store's blobs: columns of numbers, compressed with `pco` for sealed
//! chunks and rollups, or written plainly (fast, bigger) for the short-lived head chunks that
//! each `flush()` appends.
//!
//! A blob is `[format: u8][n: varint]` followed by its columns:
//! - `FORMAT_PCO` (1): `[n_cols: u8]`, then per column `[kind: u8][len: varint][pco stream]`.
//!   Column kinds: `KIND_F64` (pco on f64), `KIND_F64_AS_I64` (f64 values that are all exact
//!   integers, stored as i64: lossless and delta-friendly for counters), `KIND_I64`.
//! - `FORMAT_PLAIN` (2): exactly two columns, timestamps as zigzag varint deltas, values as
//!   8-byte little-endian f64 bits.
//! - `FORMAT_BATCH` (3), a flush's head row: `[n_series: varint]`, then per series
//!   `[series id: zigzag varint][len: varint][a FORMAT_PLAIN blob]`; a reader skips the series
//!   it does not want.
//!
//! All formats round-trip every f64 bit pattern (NaN payloads, ±inf, -0.0).

use pco::ChunkConfig;
use pco::standalone::{simple_compress, simple_decompress};

const FORMAT_PCO: u8 = 1;
const FORMAT_PLAIN: u8 = 2;
const FORMAT_BATCH: u8 = 3;

const KIND_F64: u8 = 0;
const KIND_F64_AS_I64: u8 = 1;
const KIND_I64: u8 = 2;

/// Largest integer magnitude an f64 holds exactly; beyond it, integer-valued floats stay f64.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodecError {
    #[error("blob is truncated")]
    Truncated,
    #[error("unknown blob format {0}")]
    UnknownFormat(u8),
    #[error("unknown column kind {0}")]
    UnknownKind(u8),
    #[error("column {column} has {got} values, expected {expected}")]
    Length {
        column: usize,
        got: usize,
        expected: usize,
    },
    #[error("column {column} is {got}, expected {expected}")]
    Type {
        column: usize,
        got: &'static str,
        expected: &'static str,
    },
    #[error("pco: {0}")]
    Pco(String),
}

/// One column to encode.
#[derive(Debug, Clone, Copy)]
pub enum Col<'a> {
    I64(&'a [i64]),
    F64(&'a [f64]),
}

/// One decoded column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColData {
    I64(Vec<i64>),
    F64(Vec<f64>),
}

impl ColData {
    fn type_name(&self) -> &'static str {
        match self {
            ColData::I64(_) => "i64",
            ColData::F64(_) => "f64",
        }
    }

    pub fn into_i64(self, column: usize) -> Result<Vec<i64>, CodecError> {
        match self {
            ColData::I64(v) => Ok(v),
            other => Err(CodecError::Type {
                column,
                got: other.type_name(),
                expected: "i64",
            }),
        }
    }

    pub fn into_f64(self, column: usize) -> Result<Vec<f64>, CodecError> {
        match self {
            ColData::F64(v) => Ok(v),
            other => Err(CodecError::Type {
                column,
                got: other.type_name(),
                expected: "f64",
            }),
        }
    }
}

fn pco_config() -> ChunkConfig {
    ChunkConfig::default()
}

fn pco_err(e: pco::errors::PcoError) -> CodecError {
    CodecError::Pco(e.to_string())
}

/// True when every value is an integer that f64 represents exactly (and not -0.0, whose sign
/// an i64 would lose).
fn all_exact_integers(vals: &[f64]) -> bool {
    vals.iter().all(|&v| {
        v.is_finite()
            && v.fract() == 0.0
            && v.abs() <= EXACT_INT_LIMIT
            && !(v == 0.0 && v.is_sign_negative())
    })
}

/// Encodes equally long columns with pco.
pub fn encode_columns(cols: &[Col<'_>]) -> Result<Vec<u8>, CodecError> {
    let n = match cols.first() {
        Some(Col::I64(v)) => v.len(),
        Some(Col::F64(v)) => v.len(),
        None => 0,
    };
    let mut out = Vec::with_capacity(16 + n);
    out.push(FORMAT_PCO);
    put_varint(&mut out, n as u64);
    out.push(cols.len() as u8);
    for (i, col) in cols.iter().enumerate() {
        let (kind, bytes) = match *col {
            Col::I64(v) => {
                check_len(i, v.len(), n)?;
                (KIND_I64, compress(v)?)
            }
            Col::F64(v) => {
                check_len(i, v.len(), n)?;
                if all_exact_integers(v) {
                    let ints: Vec<i64> = v.iter().map(|&x| x as i64).collect();
                    (KIND_F64_AS_I64, compress(&ints)?)
                } else {
                    (KIND_F64, compress(v)?)
                }
            }
        };
        out.push(kind);
        put_varint(&mut out, bytes.len() as u64);
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

fn check_len(column: usize, got: usize, expected: usize) -> Result<(), CodecError> {
    if got == expected {
        Ok(())
    } else {
        Err(CodecError::Length {
            column,
            got,
            expected,
        })
    }
}

fn compress<T: pco::data_types::Number>(v: &[T]) -> Result<Vec<u8>, CodecError> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    simple_compress(v, &pco_config()).map_err(pco_err)
}

fn decompress<T: pco::data_types::Number>(b: &[u8], n: usize) -> Result<Vec<T>, CodecError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    simple_decompress(b).map_err(pco_err)
}

/// Decodes a blob written by [`encode_columns`] or [`encode_plain`].
pub fn decode_columns(blob: &[u8]) -> Result<Vec<ColData>, CodecError> {
    let mut r = Reader { b: blob, pos: 0 };
    match r.byte()? {
        FORMAT_PCO => {
            let n = r.varint()? as usize;
            let n_cols = r.byte()? as usize;
            let mut cols = Vec::with_capacity(n_cols);
            for i in 0..n_cols {
                let kind = r.byte()?;
                let len = r.varint()? as usize;
                let bytes = r.take(len)?;
                let col = match kind {
                    KIND_I64 => ColData::I64(decompress(bytes, n)?),
                    KIND_F64 => ColData::F64(decompress(bytes, n)?),
                    KIND_F64_AS_I64 => ColData::F64(
                        decompress::<i64>(bytes, n)?
                            .into_iter()
                            .map(|x| x as f64)
                            .collect(),
                    ),
                    k => return Err(CodecError::UnknownKind(k)),
                };
                let got = match &col {
                    ColData::I64(v) => v.len(),
                    ColData::F64(v) => v.len(),
                };
                check_len(i, got, n)?;
                cols.push(col);
            }
            Ok(cols)
        }
        FORMAT_PLAIN => {
            let n = r.varint()? as usize;
            let mut ts = Vec::with_capacity(n);
            let mut prev = 0i64;
            for _ in 0..n {
                prev = prev.wrapping_add(unzigzag(r.varint()?));
                ts.push(prev);
            }
            let raw = r.take(n.checked_mul(8).ok_or(CodecError::Truncated)?)?;
            let vals = raw
                .chunks_exact(8)
                .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8 bytes"))))
                .collect();
            Ok(vec![ColData::I64(ts), ColData::F64(vals)])
        }
        f => Err(CodecError::UnknownFormat(f)),
    }
}

/// A sealed raw chunk: timestamps (pco finds the constant delta) and values.
pub fn encode_raw(ts: &[i64], vals: &[f64]) -> Result<Vec<u8>, CodecError> {
    encode_columns(&[Col::I64(ts), Col::F64(vals)])
}

/// A head chunk: cheap to write (one per series per flush), decoded the same way.
pub fn encode_plain(ts: &[i64], vals: &[f64]) -> Vec<u8> {
    debug_assert_eq!(ts.len(), vals.len());
    let mut out = Vec::with_capacity(2 + ts.len() * 11);
    out.push(FORMAT_PLAIN);
    put_varint(&mut out, ts.len() as u64);
    let mut prev = 0i64;
    for &t in ts {
        put_varint(&mut out, zigzag(t.wrapping_sub(prev)));
        prev = t;
    }
    for &v in vals {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    out
}

/// Decodes a raw chunk of either format into (timestamps, values).
pub fn decode_raw(blob: &[u8]) -> Result<(Vec<i64>, Vec<f64>), CodecError> {
    let mut cols = decode_columns(blob)?.into_iter();
    let ts = cols.next().ok_or(CodecError::Truncated)?.into_i64(0)?;
    let vals = cols.next().ok_or(CodecError::Truncated)?.into_f64(1)?;
    Ok((ts, vals))
}

/// One series' samples in a head row: series id, timestamps, values.
pub type SeriesSamples = (i64, Vec<i64>, Vec<f64>);
/// The same, borrowed.
pub type SeriesSlices<'a> = (i64, &'a [i64], &'a [f64]);

/// A head row: the samples of several series.
pub fn encode_batch(parts: &[SeriesSlices<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + parts.iter().map(|p| 4 + p.1.len() * 10).sum::<usize>());
    out.push(FORMAT_BATCH);
    put_varint(&mut out, parts.len() as u64);
    for (id, ts, vals) in parts {
        let chunk = encode_plain(ts, vals);
        put_varint(&mut out, zigzag(*id));
        put_varint(&mut out, chunk.len() as u64);
        out.extend_from_slice(&chunk);
    }
    out
}

/// The series of a head row that `want` selects, in the row's order.
pub fn decode_batch(
    blob: &[u8],
    mut want: impl FnMut(i64) -> bool,
) -> Result<Vec<SeriesSamples>, CodecError> {
    let mut r = Reader { b: blob, pos: 0 };
    match r.byte()? {
        FORMAT_BATCH => {}
        f => return Err(CodecError::UnknownFormat(f)),
    }
    let n = r.varint()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let id = unzigzag(r.varint()?);
        let len = r.varint()? as usize;
        let chunk = r.take(len)?;
        if want(id) {
            let (ts, vals) = decode_raw(chunk)?;
            out.push((id, ts, vals));
        }
    }
    Ok(out)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.b.get(self.pos).ok_or(CodecError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Truncated)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(len).ok_or(CodecError::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(CodecError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn cases() -> Vec<(&'static str, Vec<i64>, Vec<f64>)> {
        let odd_nan = f64::from_bits(0x7ff8_0000_dead_beef);
        vec![
            ("empty", vec![], vec![]),
            ("single sample", vec![1_700_000_000_000], vec![42.5]),
            (
                "special floats",
                vec![0, 1000, 2000, 3000, 4000, 5000, 6000],
                vec![
                    f64::NAN,
                    odd_nan,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    -0.0,
                    0.0,
                    1e-310,
                ],
            ),
            (
                "negative zero among integers stays f64",
                vec![0, 1, 2],
                vec![1.0, -0.0, 3.0],
            ),
            (
                "big gaps and negative timestamps",
                vec![-5_000, 0, 1, 86_400_000 * 365, i64::MAX / 2],
                vec![1.0, 2.0, 3.0, 4.0, 5.0],
            ),
            (
                "integer counter",
                (0..3600).map(|i| 1_700_000_000_000 + i * 1000).collect(),
                (0..3600)
                    .map(|i| (1u64 << 40) as f64 + (i * i) as f64)
                    .collect(),
            ),
            (
                "integers beyond 2^53 stay f64",
                vec![0, 1],
                vec![2f64.powi(60), 2f64.powi(60) + 4096.0],
            ),
            (
                "ratios",
                (0..500).map(|i| i * 1000).collect(),
                (0..500).map(|i| (i % 200) as f64 / 199.0).collect(),
            ),
        ]
    }

    #[test]
    fn pco_round_trips_every_bit() {
        for (name, ts, vals) in cases() {
            let blob = encode_raw(&ts, &vals).unwrap();
            let (ts2, vals2) = decode_raw(&blob).unwrap();
            assert_eq!(ts2, ts, "{name}: timestamps");
            assert_eq!(bits(&vals2), bits(&vals), "{name}: values");
        }
    }

    #[test]
    fn plain_round_trips_every_bit() {
        for (name, ts, vals) in cases() {
            let blob = encode_plain(&ts, &vals);
            let (ts2, vals2) = decode_raw(&blob).unwrap();
            assert_eq!(ts2, ts, "{name}: timestamps");
            assert_eq!(bits(&vals2), bits(&vals), "{name}: values");
        }
    }

    #[test]
    fn batches_round_trip_and_skip_unwanted_series() {
        let all = cases();
        let parts: Vec<SeriesSlices<'_>> = all
            .iter()
            .enumerate()
            .map(|(i, (_, ts, vals))| (i as i64 * 1000 - 3, &ts[..], &vals[..]))
            .collect();
        let blob = encode_batch(&parts);
        let got = decode_batch(&blob, |_| true).unwrap();
        assert_eq!(got.len(), parts.len());
        for ((id, ts, vals), (want_id, want_ts, want_vals)) in got.iter().zip(&parts) {
            assert_eq!(id, want_id);
            assert_eq!(&ts[..], *want_ts);
            assert_eq!(bits(vals), bits(want_vals));
        }
        let some = decode_batch(&blob, |id| id == 997).unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].1, all[1].1);
        assert!(decode_batch(&blob[..blob.len() - 1], |_| true).is_err());
        assert!(decode_batch(&encode_plain(&[1], &[1.0]), |_| true).is_err());
    }

    #[test]
    fn extreme_timestamps_round_trip_in_plain_format() {
        let ts = vec![i64::MIN, i64::MAX, 0, i64::MIN];
        let vals = vec![1.0; 4];
        let (ts2, _) = decode_raw(&encode_plain(&ts, &vals)).unwrap();
        assert_eq!(ts2, ts);
    }

    #[test]
    fn mixed_columns_round_trip() {
        let ts = vec![0i64, 60_000, 120_000];
        let count = vec![60i64, 59, 60];
        let min = vec![0.5, f64::NAN, -1.0];
        let blob = encode_columns(&[Col::I64(&ts), Col::I64(&count), Col::F64(&min)]).unwrap();
        let cols = decode_columns(&blob).unwrap();
        assert_eq!(cols.len(), 3);
        assert_eq!(cols[1], ColData::I64(count));
        let min2 = cols[2].clone().into_f64(2).unwrap();
        assert_eq!(bits(&min2), bits(&min));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for blob in [
            &[][..],
            &[9u8][..],
            &[FORMAT_PCO, 3][..],
            &[FORMAT_PCO, 3, 1, KIND_F64, 50, 1, 2][..],
            &[FORMAT_PLAIN, 2, 0][..],
            &[FORMAT_PCO, 1, 1, 7, 0][..],
        ] {
            assert!(decode_columns(blob).is_err(), "{blob:?}");
        }
    }

    #[test]
    fn unequal_columns_are_rejected() {
        let err = encode_columns(&[Col::I64(&[1, 2]), Col::F64(&[1.0])]).unwrap_err();
        assert_eq!(
            err,
            CodecError::Length {
                column: 1,
                got: 1,
                expected: 2
            }
        );
    }

    #[test]
    fn constant_delta_timestamps_cost_almost_nothing() {
        let ts: Vec<i64> = (0..3600).map(|i| 1_700_000_000_000 + i * 1000).collect();
        let vals = vec![5.0; 3600];
        let blob = encode_raw(&ts, &vals).unwrap();
        assert!(blob.len() < 100, "{} bytes", blob.len());
    }
}
