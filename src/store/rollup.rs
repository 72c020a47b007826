//! Rollup math, pure: samples into buckets (count, min, max, sum, last), buckets merged into
//! wider buckets, buckets into query points.
//!
//! NaN samples are kept exactly in the raw tier but left out of every bucket: a NaN neither
//! counts nor moves min/max/sum/last, and a bucket of only NaNs does not exist. Infinities are
//! ordinary values (a bucket holding +inf and -inf has a NaN sum).

use super::Point;

/// Summary of the samples whose timestamps fall in `[at_ms, at_ms + step)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub at_ms: i64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub last: f64,
}

impl Bucket {
    pub fn of(at_ms: i64, v: f64) -> Bucket {
        Bucket {
            at_ms,
            count: 1,
            min: v,
            max: v,
            sum: v,
            last: v,
        }
    }

    /// Folds `later` (whose samples come after this bucket's) into this one.
    pub fn absorb(&mut self, later: &Bucket) {
        self.count += later.count;
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.sum += later.sum;
        self.last = later.last;
    }

    pub fn avg(&self) -> f64 {
        self.sum / self.count as f64
    }

    pub fn to_point(&self) -> Point {
        Point {
            at_ms: self.at_ms,
            avg: self.avg(),
            min: self.min,
            max: self.max,
            count: self.count,
            last: self.last,
        }
    }
}

/// Start of the bucket of width `step` (counted from `origin`) that holds `ts`.
pub fn bucket_start(ts: i64, origin: i64, step: i64) -> i64 {
    origin + (ts - origin).div_euclid(step) * step
}

/// Buckets samples sorted by time. Buckets without a (non-NaN) sample are absent.
pub fn bucketize(ts: &[i64], vals: &[f64], origin: i64, step: i64) -> Vec<Bucket> {
    debug_assert!(step > 0);
    let mut out: Vec<Bucket> = Vec::new();
    for (&t, &v) in ts.iter().zip(vals) {
        if v.is_nan() {
            continue;
        }
        let at = bucket_start(t, origin, step);
        match out.last_mut() {
            Some(b) if b.at_ms == at => b.absorb(&Bucket::of(at, v)),
            _ => out.push(Bucket::of(at, v)),
        }
    }
    out
}

/// Merges buckets sorted by time into wider buckets of `step` from `origin`.
pub fn downsample(buckets: &[Bucket], origin: i64, step: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for b in buckets {
        let at = bucket_start(b.at_ms, origin, step);
        match out.last_mut() {
            Some(o) if o.at_ms == at => o.absorb(b),
            _ => out.push(Bucket { at_ms: at, ..*b }),
        }
    }
    out
}

/// Union of two bucket lists sorted by time; buckets at the same start are merged, `newer`'s
/// `last` winning (it holds samples that arrived later).
pub fn merge(older: Vec<Bucket>, newer: Vec<Bucket>) -> Vec<Bucket> {
    if newer.is_empty() {
        return older;
    }
    if older.is_empty() {
        return newer;
    }
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let (mut a, mut b) = (older.into_iter().peekable(), newer.into_iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.at_ms < y.at_ms => out.push(a.next().expect("peeked")),
            (Some(x), Some(y)) if x.at_ms > y.at_ms => out.push(b.next().expect("peeked")),
            (Some(_), Some(_)) => {
                let mut x = a.next().expect("peeked");
                x.absorb(&b.next().expect("peeked"));
                out.push(x);
            }
            (Some(_), None) => out.push(a.next().expect("peeked")),
            (None, Some(_)) => out.push(b.next().expect("peeked")),
            (None, None) => return out,
        }
    }
}

/// Replaces the buckets of `[from, to)` in `row` (sorted) by `fresh` (sorted, inside that span).
pub fn splice(row: Vec<Bucket>, from: i64, to: i64, fresh: &[Bucket]) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = row
        .into_iter()
        .filter(|b| b.at_ms < from || b.at_ms >= to)
        .collect();
    let at = out.partition_point(|b| b.at_ms < from);
    out.splice(at..at, fresh.iter().copied());
    out
}

/// Sorts samples by time (stable) and keeps one sample per timestamp: the one given last.
pub fn sort_dedup(ts: &mut Vec<i64>, vals: &mut Vec<f64>) {
    let sorted = ts.windows(2).all(|w| w[0] < w[1]);
    if sorted {
        return;
    }
    let mut pairs: Vec<(i64, f64)> = ts.iter().copied().zip(vals.iter().copied()).collect();
    pairs.sort_by_key(|p| p.0);
    ts.clear();
    vals.clear();
    for (t, v) in pairs {
        if ts.last() == Some(&t) {
            *vals.last_mut().expect("same length") = v;
        } else {
            ts.push(t);
            vals.push(v);
        }
    }
}

/// A row of buckets as pco-compressed columns: start, count, min, max, sum, last.
pub fn encode_buckets(buckets: &[Bucket]) -> Result<Vec<u8>, super::codec::CodecError> {
    let at: Vec<i64> = buckets.iter().map(|b| b.at_ms).collect();
    let count: Vec<i64> = buckets.iter().map(|b| b.count as i64).collect();
    let min: Vec<f64> = buckets.iter().map(|b| b.min).collect();
    let max: Vec<f64> = buckets.iter().map(|b| b.max).collect();
    let sum: Vec<f64> = buckets.iter().map(|b| b.sum).collect();
    let last: Vec<f64> = buckets.iter().map(|b| b.last).collect();
    super::codec::encode_columns(&[
        super::codec::Col::I64(&at),
        super::codec::Col::I64(&count),
        super::codec::Col::F64(&min),
        super::codec::Col::F64(&max),
        super::codec::Col::F64(&sum),
        super::codec::Col::F64(&last),
    ])
}

pub fn decode_buckets(data: &[u8]) -> Result<Vec<Bucket>, super::codec::CodecError> {
    let mut cols = super::codec::decode_columns(data)?.into_iter();
    let mut next = |i| {
        cols.next()
            .ok_or(super::codec::CodecError::Truncated)
            .map(|c| (i, c))
    };
    let at = next(0).and_then(|(i, c)| c.into_i64(i))?;
    let count = next(1).and_then(|(i, c)| c.into_i64(i))?;
    let min = next(2).and_then(|(i, c)| c.into_f64(i))?;
    let max = next(3).and_then(|(i, c)| c.into_f64(i))?;
    let sum = next(4).and_then(|(i, c)| c.into_f64(i))?;
    let last = next(5).and_then(|(i, c)| c.into_f64(i))?;
    Ok((0..at.len())
        .map(|i| Bucket {
            at_ms: at[i],
            count: count[i] as u64,
            min: min[i],
            max: max[i],
            sum: sum[i],
            last: last[i],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(at_ms: i64, count: u64, min: f64, max: f64, sum: f64, last: f64) -> Bucket {
        Bucket {
            at_ms,
            count,
            min,
            max,
            sum,
            last,
        }
    }

    #[test]
    fn bucket_start_floors_including_negative_times() {
        for (ts, origin, step, want) in [
            (0, 0, 60, 0),
            (59, 0, 60, 0),
            (60, 0, 60, 60),
            (-1, 0, 60, -60),
            (-60, 0, 60, -60),
            (125, 5, 60, 125),
            (124, 5, 60, 65),
        ] {
            assert_eq!(bucket_start(ts, origin, step), want, "{ts} {origin} {step}");
        }
    }

    #[test]
    fn bucketize_summarises_each_minute() {
        let ts = [0, 10_000, 59_999, 60_000, 130_000, 179_000];
        let vals = [1.0, 5.0, 3.0, -2.0, 7.0, 8.0];
        let got = bucketize(&ts, &vals, 0, 60_000);
        assert_eq!(
            got,
            vec![
                b(0, 3, 1.0, 5.0, 9.0, 3.0),
                b(60_000, 1, -2.0, -2.0, -2.0, -2.0),
                b(120_000, 2, 7.0, 8.0, 15.0, 8.0),
            ]
        );
        assert_eq!(got[0].avg(), 3.0);
    }

    #[test]
    fn nan_samples_are_left_out_of_buckets() {
        let got = bucketize(
            &[0, 1, 2, 60_000],
            &[f64::NAN, 2.0, f64::NAN, f64::NAN],
            0,
            60_000,
        );
        assert_eq!(got, vec![b(0, 1, 2.0, 2.0, 2.0, 2.0)]);
    }

    #[test]
    fn infinities_are_values() {
        let got = bucketize(&[0, 1], &[f64::INFINITY, 1.0], 0, 60_000);
        assert_eq!(got[0].max, f64::INFINITY);
        assert_eq!(got[0].min, 1.0);
        assert_eq!(got[0].sum, f64::INFINITY);
    }

    #[test]
    fn downsampling_takes_min_of_mins_max_of_maxes_and_weighted_avg() {
        let minutes = vec![
            b(0, 60, 1.0, 10.0, 300.0, 4.0),    // avg 5
            b(60_000, 30, 0.5, 2.0, 30.0, 2.0), // avg 1
            b(180_000, 60, 3.0, 3.0, 180.0, 3.0),
        ];
        let got = downsample(&minutes, 0, 120_000);
        assert_eq!(
            got,
            vec![
                b(0, 90, 0.5, 10.0, 330.0, 2.0),
                b(120_000, 60, 3.0, 3.0, 180.0, 3.0)
            ]
        );
        // weighted, not the mean of the two averages (which would be 3)
        assert!((got[0].avg() - 330.0 / 90.0).abs() < 1e-12);
    }

    #[test]
    fn merge_unions_and_combines_equal_starts() {
        let older = vec![b(0, 1, 1.0, 1.0, 1.0, 1.0), b(60, 2, 2.0, 4.0, 6.0, 4.0)];
        let newer = vec![b(60, 1, 0.0, 0.0, 0.0, 0.0), b(120, 1, 9.0, 9.0, 9.0, 9.0)];
        assert_eq!(
            merge(older, newer),
            vec![
                b(0, 1, 1.0, 1.0, 1.0, 1.0),
                b(60, 3, 0.0, 4.0, 6.0, 0.0),
                b(120, 1, 9.0, 9.0, 9.0, 9.0)
            ]
        );
    }

    #[test]
    fn splice_replaces_one_span() {
        let row = vec![
            b(0, 1, 1.0, 1.0, 1.0, 1.0),
            b(60, 1, 2.0, 2.0, 2.0, 2.0),
            b(120, 1, 3.0, 3.0, 3.0, 3.0),
        ];
        let fresh = [b(60, 5, 0.0, 9.0, 20.0, 4.0), b(90, 1, 1.0, 1.0, 1.0, 1.0)];
        let got = splice(row, 60, 120, &fresh);
        let starts: Vec<i64> = got.iter().map(|b| b.at_ms).collect();
        assert_eq!(starts, vec![0, 60, 90, 120]);
        assert_eq!(got[1].count, 5);
        assert_eq!(splice(vec![], 0, 60, &fresh).len(), 2);
    }

    #[test]
    fn sort_dedup_keeps_the_last_given_value() {
        let mut ts = vec![3, 1, 2, 1];
        let mut vals = vec![30.0, 10.0, 20.0, 11.0];
        sort_dedup(&mut ts, &mut vals);
        assert_eq!(ts, vec![1, 2, 3]);
        assert_eq!(vals, vec![11.0, 20.0, 30.0]);
    }

    #[test]
    fn rollup_rows_round_trip() {
        let buckets = vec![
            Bucket {
                at_ms: 0,
                count: 60,
                min: 0.25,
                max: f64::INFINITY,
                sum: 123.5,
                last: 1.0,
            },
            Bucket {
                at_ms: 60_000,
                count: 1,
                min: -0.0,
                max: -0.0,
                sum: -0.0,
                last: -0.0,
            },
        ];
        let back = decode_buckets(&encode_buckets(&buckets).unwrap()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], buckets[0]);
        assert!(back[1].min.is_sign_negative() && back[1].min == 0.0);
    }
}
