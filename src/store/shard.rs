//! Series shards (schema version 10): the low byte of a series id.
//!
//! A new series gets an id `seq << 8 | shard`, where `shard` is a hash of its name and its `host`
//! label. So one host's series of one name (`node_cpu_seconds_total{host="web-1"}`, 64 of them)
//! share a shard, and a query of them reads the head rows of that shard only. Series created
//! before version 10 keep their ids: their shard is whatever their low byte is, which is correct,
//! only without that locality.
//!
//! A flush cuts its head rows at shard boundaries into rows of about [`ROW_BYTES`]: a small
//! store still writes one row per flush (covering every shard), a hub with 150,000 series about
//! a hundred. Sealing a window goes by groups of shards of about [`SEAL_GROUP_BYTES`] of head
//! rows, each group in its own transaction: memory and the write lock stay bounded whatever the
//! number of series.

use crate::model::SeriesKey;

/// Shards: a series' shard is `id & (SHARDS - 1)`.
pub const SHARDS: i64 = 256;
/// The last shard.
pub const LAST: i64 = SHARDS - 1;
/// A flush closes a head row at the first shard boundary past this many bytes.
pub const ROW_BYTES: usize = 32 * 1024;
/// Sealing reads about this many bytes of head rows per transaction.
pub const SEAL_GROUP_BYTES: u64 = 16 << 20;

/// The shard of a stored series.
pub fn of_id(id: i64) -> i64 {
    id & LAST
}

/// The shard a new series gets: FNV-1a of its name and `host` label (stable across versions and
/// machines; it is written into ids).
pub fn of_key(key: &SeriesKey) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let host = key.label("host").unwrap_or("");
    for b in key.name().bytes().chain([0]).chain(host.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Fold the high bits in: FNV's low byte alone mixes poorly.
    ((h ^ (h >> 32) ^ (h >> 16) ^ (h >> 8)) as i64) & LAST
}

/// The id of the `seq`-th series (counting from the highest id in the store) in `shard`.
pub fn new_id(max_id: i64, seq: i64, shard: i64) -> i64 {
    (((max_id >> 8) + 1 + seq) << 8) | (shard & LAST)
}

/// Whether a row covering `lo..=hi` holds any shard of `wanted` (a sorted list).
pub fn overlaps(wanted: &[i64], lo: i64, hi: i64) -> bool {
    let i = wanted.partition_point(|&s| s < lo);
    wanted.get(i).is_some_and(|&s| s <= hi)
}

/// Groups of shards for sealing, `(lo, hi)` in ascending order covering `0..=LAST`, each with
/// about `budget` bytes of the head rows `(lo, hi, bytes)` (a row's bytes spread evenly over its
/// shards). A row covering many shards is read by every group it overlaps.
pub fn seal_groups(rows: &[(i64, i64, u64)], budget: u64) -> Vec<(i64, i64)> {
    let mut per_shard = vec![0f64; SHARDS as usize];
    for &(lo, hi, bytes) in rows {
        let (lo, hi) = (lo.clamp(0, LAST), hi.clamp(0, LAST));
        if hi < lo {
            continue;
        }
        let share = bytes as f64 / (hi - lo + 1) as f64;
        for s in lo..=hi {
            per_shard[s as usize] += share;
        }
    }
    let mut groups = Vec::new();
    let mut lo = 0;
    let mut acc = 0f64;
    for s in 0..SHARDS {
        acc += per_shard[s as usize];
        if acc >= budget as f64 && s < LAST {
            groups.push((lo, s));
            lo = s + 1;
            acc = 0.0;
        }
    }
    groups.push((lo, LAST));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, host: Option<&str>, extra: &str) -> SeriesKey {
        let mut labels = std::collections::BTreeMap::new();
        if let Some(h) = host {
            labels.insert("host".to_string(), h.to_string());
        }
        labels.insert("cpu".to_string(), extra.to_string());
        SeriesKey::from_map(name, &labels)
    }

    #[test]
    fn one_hosts_series_of_one_name_share_a_shard_and_hosts_spread() {
        let a = of_key(&key("node_cpu_seconds_total", Some("web-1"), "0"));
        let b = of_key(&key("node_cpu_seconds_total", Some("web-1"), "7"));
        assert_eq!(a, b);
        let shards: std::collections::BTreeSet<i64> = (0..100)
            .map(|i| {
                of_key(&key(
                    "node_cpu_seconds_total",
                    Some(&format!("host-{i:03}")),
                    "0",
                ))
            })
            .collect();
        // 100 hosts over 256 shards: a good hash leaves about 82 distinct ones.
        assert!(shards.len() > 70, "{}", shards.len());
        assert!(shards.iter().all(|&s| (0..SHARDS).contains(&s)));
    }

    #[test]
    fn new_ids_carry_their_shard_and_stay_above_every_old_id() {
        let id = new_id(1_000, 0, 37);
        assert_eq!(of_id(id), 37);
        assert!(id > 1_000);
        assert!(new_id(1_000, 1, 0) > id);
        assert_eq!(of_id(new_id(i64::MAX >> 10, 3, 255)), 255);
    }

    #[test]
    fn overlaps_checks_a_sorted_list_against_a_range() {
        assert!(overlaps(&[3, 10], 0, 3));
        assert!(overlaps(&[3, 10], 4, 10));
        assert!(!overlaps(&[3, 10], 4, 9));
        assert!(!overlaps(&[], 0, LAST));
    }

    #[test]
    fn seal_groups_cover_every_shard_once_within_the_budget() {
        // One wide row: one group.
        assert_eq!(
            seal_groups(&[(0, LAST, 1 << 30)], u64::MAX),
            vec![(0, LAST)]
        );
        assert_eq!(seal_groups(&[], 100), vec![(0, LAST)]);
        // 256 rows of 10 bytes, budget 100: groups of 10 shards.
        let rows: Vec<_> = (0..SHARDS).map(|s| (s, s, 10)).collect();
        let groups = seal_groups(&rows, 100);
        assert_eq!(groups[0], (0, 9));
        assert_eq!(groups.last().unwrap().1, LAST);
        for w in groups.windows(2) {
            assert_eq!(w[0].1 + 1, w[1].0);
        }
    }
}
