//! `SeriesKey`: a series' identity, compact and hashed once.
//!
//! A hub holds one key per live series (150,000 at 100 hosts), and every sample is looked up
//! by its key in the store's buffer, the snapshot and the store's id cache. So a key is two
//! allocations (its text, and where each part of it ends) instead of a sorted map of strings
//! (≈ 150 bytes instead of ≈ 900 for a node_exporter series), and it carries its hash,
//! computed once when it is made, with a random seed of the process: hashing a key in a map
//! is hashing one `u64` (hashing keys over and over was a fifth of a hub's CPU).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A series identity: metric name plus labels sorted by name, e.g. `cpu_busy_ratio{mode="user"}`.
/// Names follow Prometheus conventions without the `lookout_` prefix (the exporter adds it).
/// Equality, order and (de)serialization are those of `(name, BTreeMap<label, value>)`.
#[derive(Clone)]
pub struct SeriesKey {
    /// The name, then each label's name and value (sorted by label name), back to back.
    text: Box<str>,
    /// Where the name ends in `text`.
    name_end: u32,
    /// Where each label's name and value end in `text`: two per label.
    ends: Box<[u32]>,
    /// The hash of the parts, with the process's seed (`seed()`).
    hash: u64,
}

/// The seed of every key's hash: random per process (as `std`'s maps are), so that keys from
/// senders cannot be chosen to collide.
fn seed() -> &'static foldhash::quality::RandomState {
    static SEED: OnceLock<foldhash::quality::RandomState> = OnceLock::new();
    SEED.get_or_init(foldhash::quality::RandomState::default)
}

/// A text offset. Every key's text is far below 4 GiB: a received body is at most
/// `receive.max_decompressed_bytes` (1 GiB at most, 32 MiB by default) and every other key
/// comes from the config or a probe.
fn offset(n: usize) -> u32 {
    u32::try_from(n).expect("a series key's text is below 4 GiB")
}

impl SeriesKey {
    /// A key without labels.
    pub fn new(name: impl AsRef<str>) -> SeriesKey {
        SeriesKey::build(name.as_ref(), std::iter::empty::<(&str, &str)>())
    }

    /// From a name and labels already sorted by name, each once.
    fn build<K, V>(name: &str, sorted: impl Iterator<Item = (K, V)> + Clone) -> SeriesKey
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let len = name.len()
            + sorted
                .clone()
                .map(|(k, v)| k.as_ref().len() + v.as_ref().len())
                .sum::<usize>();
        let mut text = String::with_capacity(len);
        text.push_str(name);
        let mut ends = Vec::new();
        let mut hasher = seed().build_hasher();
        name.hash(&mut hasher);
        for (k, v) in sorted {
            let (k, v) = (k.as_ref(), v.as_ref());
            text.push_str(k);
            ends.push(offset(text.len()));
            text.push_str(v);
            ends.push(offset(text.len()));
            k.hash(&mut hasher);
            v.hash(&mut hasher);
        }
        SeriesKey {
            name_end: offset(name.len()),
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
            hash: hasher.finish(),
        }
    }

    /// From a name and labels in any order; of a label given twice, the last value counts.
    pub fn from_labels<K, V>(
        name: impl AsRef<str>,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> SeriesKey
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut pairs: Vec<(K, V)> = labels.into_iter().collect();
        // Stable, so that of equal names the last given is last: kept by the dedup below.
        pairs.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let mut kept: Vec<(&str, &str)> = Vec::with_capacity(pairs.len());
        for (k, v) in &pairs {
            match kept.last_mut() {
                Some(last) if last.0 == k.as_ref() => last.1 = v.as_ref(),
                _ => kept.push((k.as_ref(), v.as_ref())),
            }
        }
        SeriesKey::build(name.as_ref(), kept.iter().copied())
    }

    /// From a name and a sorted map of labels.
    pub fn from_map(name: impl AsRef<str>, labels: &BTreeMap<String, String>) -> SeriesKey {
        SeriesKey::build(name.as_ref(), labels.iter())
    }

    /// The same key with `label` set to `value` (added, or replaced).
    pub fn with(self, label: impl AsRef<str>, value: impl AsRef<str>) -> SeriesKey {
        let (label, value) = (label.as_ref(), value.as_ref());
        let others = self.labels().filter(|(k, _)| *k != label);
        let at = self.labels().filter(|(k, _)| *k < label).count();
        let pairs = others
            .clone()
            .take(at)
            .chain(std::iter::once((label, value)))
            .chain(others.skip(at));
        SeriesKey::build(self.name(), pairs)
    }

    /// The same key without `label`.
    pub fn without(&self, label: &str) -> SeriesKey {
        SeriesKey::build(self.name(), self.labels().filter(|(k, _)| *k != label))
    }

    pub fn name(&self) -> &str {
        &self.text[..self.name_end as usize]
    }

    /// The labels, sorted by name.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            key: self,
            next: 0,
            end: self.ends.len() / 2,
        }
    }

    /// How many labels the key has.
    pub fn label_count(&self) -> usize {
        self.ends.len() / 2
    }

    /// The `i`th label (in name order).
    fn pair(&self, i: usize) -> (&str, &str) {
        let start = if i == 0 {
            self.name_end
        } else {
            self.ends[2 * i - 1]
        } as usize;
        let (k_end, v_end) = (self.ends[2 * i] as usize, self.ends[2 * i + 1] as usize);
        (&self.text[start..k_end], &self.text[k_end..v_end])
    }

    pub fn label(&self, label: &str) -> Option<&str> {
        self.labels().find(|(k, _)| *k == label).map(|(_, v)| v)
    }

    /// The labels, serialized as a map without copying them.
    pub fn label_map(&self) -> LabelMap<'_> {
        LabelMap(self)
    }

    /// The labels as a map (a copy: for code off the hot path that edits them).
    pub fn labels_map(&self) -> BTreeMap<String, String> {
        self.labels()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// True when every `(label, value)` in `matchers` is present with that value.
    pub fn matches(&self, name: &str, matchers: &[(String, String)]) -> bool {
        self.name() == name
            && matchers
                .iter()
                .all(|(k, v)| self.label(k).is_some_and(|have| have == v))
    }

    /// The labels as the JSON object a map of them serializes to (the store keeps this text).
    pub fn labels_json(&self) -> String {
        serde_json::to_string(&LabelMap(self)).unwrap_or_else(|_| "{}".into())
    }

    /// Whether this key is `name` with exactly `sorted` labels (sorted by name, each once):
    /// a receiver checks a known series without building its key.
    pub fn is<'a>(
        &self,
        name: &str,
        sorted: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    ) -> bool {
        self.name() == name
            && sorted.len() == self.label_count()
            && self.labels().zip(sorted).all(|(a, b)| a == b)
    }

    /// The hash a key of `name` and `sorted` labels would have (see `is`).
    pub fn hash_of<'a>(name: &str, sorted: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
        let mut hasher = seed().build_hasher();
        name.hash(&mut hasher);
        for (k, v) in sorted {
            k.hash(&mut hasher);
            v.hash(&mut hasher);
        }
        hasher.finish()
    }

    /// The key's hash (what `Hash` writes), computed when it was made.
    pub fn hash_value(&self) -> u64 {
        self.hash
    }

    /// The heap bytes this key holds (its text and offsets), for size estimates.
    pub fn heap_bytes(&self) -> usize {
        self.text.len() + 4 * self.ends.len()
    }
}

/// A key's labels in name order: `(name, value)`.
#[derive(Clone)]
pub struct Labels<'a> {
    key: &'a SeriesKey,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.key.pair(self.next - 1)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Labels<'_> {}

impl<'a> DoubleEndedIterator for Labels<'a> {
    fn next_back(&mut self) -> Option<(&'a str, &'a str)> {
        (self.next < self.end).then(|| {
            self.end -= 1;
            self.key.pair(self.end)
        })
    }
}

impl Hash for SeriesKey {
    /// The hash computed when the key was made: equal keys have equal parts, so equal hashes.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for SeriesKey {
    /// The same key object (a receiver's series share one) is equal without a comparison, and
    /// keys of different hashes differ without one.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
            || (self.hash == other.hash
                && self.name_end == other.name_end
                && self.ends == other.ends
                && self.text == other.text)
    }
}

impl Eq for SeriesKey {}

impl Ord for SeriesKey {
    /// By name, then the labels as `(name, value)` pairs in order: a `BTreeMap`'s order.
    fn cmp(&self, other: &Self) -> Ordering {
        if std::ptr::eq(self, other) {
            return Ordering::Equal;
        }
        self.name()
            .cmp(other.name())
            .then_with(|| self.labels().cmp(other.labels()))
    }
}

impl PartialOrd for SeriesKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesKey")
            .field("name", &self.name())
            .field("labels", &LabelMap(self))
            .finish()
    }
}

impl fmt::Display for SeriesKey {
    /// Prometheus selector syntax: `name{a="x",b="y"}`; stable, used as the store's series id text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if self.label_count() > 0 {
            f.write_str("{")?;
            for (i, (k, v)) in self.labels().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{k}=\"{}\"", super::escape_label_value(v))?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// A key's labels, serialized as a map.
#[derive(Clone, Copy)]
pub struct LabelMap<'a>(&'a SeriesKey);

impl PartialEq for LabelMap<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.label_count() == other.0.label_count()
            && self.0.labels().zip(other.0.labels()).all(|(a, b)| a == b)
    }
}

impl Serialize for LabelMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.labels())
    }
}

impl fmt::Debug for LabelMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.labels()).finish()
    }
}

impl Serialize for SeriesKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("SeriesKey", 2)?;
        s.serialize_field("name", self.name())?;
        s.serialize_field("labels", &LabelMap(self))?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for SeriesKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Parts {
            name: String,
            #[serde(default)]
            labels: BTreeMap<String, String>,
        }
        let parts = Parts::deserialize(deserializer)?;
        Ok(SeriesKey::from_map(parts.name, &parts.labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(name: &str, labels: &[(&str, &str)]) -> (String, BTreeMap<String, String>) {
        (
            name.to_string(),
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_key_reads_back_its_name_and_sorted_labels_however_it_was_built() {
        let a = SeriesKey::new("node_cpu")
            .with("mode", "user")
            .with("cpu", "1")
            .with("host", "web-1");
        let b = SeriesKey::from_labels(
            "node_cpu",
            [("host", "web-1"), ("mode", "user"), ("cpu", "1")],
        );
        let c = SeriesKey::from_labels(
            "node_cpu",
            [
                ("cpu", "0"),
                ("host", "web-1"),
                ("mode", "user"),
                ("cpu", "1"),
            ],
        );
        for key in [&a, &b, &c] {
            assert_eq!(key.name(), "node_cpu");
            assert_eq!(
                key.labels().collect::<Vec<_>>(),
                [("cpu", "1"), ("host", "web-1"), ("mode", "user")]
            );
            assert_eq!(key.label("host"), Some("web-1"));
            assert_eq!(key.label("hos"), None);
            assert_eq!(key.labels().next_back(), Some(("mode", "user")));
        }
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.hash_value(), c.hash_value());
        assert_eq!(
            a.clone().with("cpu", "1"),
            a,
            "replacing a label with its value"
        );
        assert_ne!(a.clone().with("cpu", "2"), a);
        assert_eq!(a.without("cpu").labels().count(), 2);
        assert!(a.is(
            "node_cpu",
            [("cpu", "1"), ("host", "web-1"), ("mode", "user")].into_iter()
        ));
        assert!(!a.is("node_cpu", [("cpu", "1"), ("host", "web-1")].into_iter()));
        assert_eq!(SeriesKey::hash_of("node_cpu", a.labels()), a.hash_value());
    }

    #[test]
    fn a_node_exporter_series_key_is_two_small_allocations() {
        // What a hub keeps 150,000 of: the key was a map of strings, ≈ 900 bytes.
        let key = SeriesKey::from_labels(
            "node_cpu_seconds_total",
            [
                ("cpu", "7"),
                ("host", "host-042"),
                ("instance", "host-042:9100"),
                ("job", "node"),
                ("mode", "softirq"),
            ],
        );
        assert_eq!(std::mem::size_of::<SeriesKey>(), 48);
        // Its text (the name, 22 bytes, and the labels, 55) and ten offsets.
        assert_eq!(key.heap_bytes(), 22 + 55 + 4 * 10);
    }

    #[test]
    fn parts_do_not_run_into_each_other() {
        // The same text cut differently is a different key.
        let a = SeriesKey::from_labels("ab", [("c", "d")]);
        let b = SeriesKey::from_labels("a", [("bc", "d")]);
        let c = SeriesKey::from_labels("ab", [("cd", "")]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
        assert_eq!(
            SeriesKey::new("x"),
            SeriesKey::from_labels("x", Vec::<(&str, &str)>::new())
        );
    }

    #[test]
    fn order_json_and_text_are_those_of_a_name_and_a_sorted_map() {
        let cases: Vec<(String, BTreeMap<String, String>)> = vec![
            old("a", &[]),
            old("a", &[("a", "")]),
            old("a", &[("a", "x")]),
            old("a", &[("a", "x"), ("b", "y")]),
            old("a", &[("a", "x\"\\\n\té"), ("z", "")]),
            old("a", &[("b", "a")]),
            old("ab", &[]),
            old("b", &[("a", "x")]),
        ];
        #[derive(Serialize)]
        struct Derived<'a> {
            name: &'a String,
            labels: &'a BTreeMap<String, String>,
        }
        for (n1, l1) in &cases {
            let k1 = SeriesKey::from_map(n1, l1);
            assert_eq!(
                serde_json::to_string(&k1).unwrap(),
                serde_json::to_string(&Derived {
                    name: n1,
                    labels: l1
                })
                .unwrap()
            );
            assert_eq!(k1.labels_json(), serde_json::to_string(l1).unwrap());
            let back: SeriesKey =
                serde_json::from_str(&serde_json::to_string(&k1).unwrap()).unwrap();
            assert_eq!(back, k1);
            assert_eq!(&k1.labels_map(), l1);
            for (n2, l2) in &cases {
                let k2 = SeriesKey::from_map(n2, l2);
                assert_eq!(k1.cmp(&k2), (n1, l1).cmp(&(n2, l2)), "{k1} vs {k2}");
                assert_eq!(k1 == k2, (n1, l1) == (n2, l2));
            }
        }
        let key = SeriesKey::from_map("up", &old("", &[("job", "a\"b"), ("i", "x\\y")]).1);
        assert_eq!(key.to_string(), r#"up{i="x\\y",job="a\"b"}"#);
    }
}
