//! What the store says: gaps in the last hour of collected data, and the users of the
//! dashboard (the first admin password never changed).
//!
//! A gap is a stretch longer than 3 × the expected interval without a sample of the series
//! collected on every run (`uptime_seconds` of the system probe; `check_up` of the first check
//! when system collection is off). The expected interval is the configured one, or the usual
//! spacing of the samples when that is longer (cron mode collects once a minute whatever
//! `system.interval` says). The last hour counts while Lookout was supposed to run: from the
//! hour's start if there is older data, else from the first sample. The end of the hour
//! (now) allows for one unflushed batch more (`storage.flush_interval`, + 2 s).
//! `process_start_time_seconds` tells whether Lookout ran during a gap.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Finding, hints, plural};
use crate::base::units::format_duration;
use crate::clock::UnixMillis;
use crate::config::Config;
use crate::store::{Role, Store};

const HOUR_MS: i64 = 3_600_000;
/// Most points one raw query gives before the store picks a coarser tier.
const POINTS_PER_QUERY: i64 = 900;
/// Spacings needed before their median may stand for the expected interval.
const MIN_SPACINGS: usize = 10;

/// A stretch without samples: from the last sample before it to the first after it (`None`:
/// nothing since). `restarted`: whether Lookout's process changed across it, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub from_ms: UnixMillis,
    pub to_ms: Option<UnixMillis>,
    pub restarted: Option<bool>,
}

/// The gaps among the sample `times` (sorted) of the window `[now - 1h, now]`. `before`: the
/// last sample before the window, if any (data older than the window means Lookout was
/// supposed to run from the window's start). Returns the gaps and the expected interval.
pub fn find_gaps(
    times: &[UnixMillis],
    before: Option<UnixMillis>,
    now_ms: UnixMillis,
    interval_ms: i64,
    slack_ms: i64,
) -> (Vec<Gap>, i64) {
    let expected = interval_ms.max(median_spacing(times).unwrap_or(0));
    let limit = 3 * expected;
    let mut gaps = Vec::new();
    let mut previous = before;
    for &at in times {
        if let Some(last) = previous
            && at - last > limit
        {
            gaps.push(Gap {
                from_ms: last,
                to_ms: Some(at),
                restarted: None,
            });
        }
        previous = Some(at);
    }
    if let Some(last) = previous
        && now_ms - last > limit + slack_ms
    {
        gaps.push(Gap {
            from_ms: last,
            to_ms: None,
            restarted: None,
        });
    }
    (gaps, expected)
}

/// The usual spacing of `times`, once there are enough of them to tell (a few samples around
/// a gap would make the gap look usual).
fn median_spacing(times: &[UnixMillis]) -> Option<i64> {
    let mut spacing: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    if spacing.len() < MIN_SPACINGS {
        return None;
    }
    spacing.sort_unstable();
    Some(spacing[spacing.len() / 2])
}

/// The series every run writes: its name, label matchers, and how often it is written.
struct Watched {
    name: &'static str,
    matchers: Vec<(String, String)>,
    interval: Duration,
}

fn watched_series(config: &Config) -> Option<Watched> {
    if config.system.enabled {
        return Some(Watched {
            name: "uptime_seconds",
            matchers: Vec::new(),
            interval: config.system.interval,
        });
    }
    config
        .checks
        .iter()
        .find(|c| c.enabled)
        .map(|check| Watched {
            name: "check_up",
            matchers: vec![("check".to_string(), check.name.clone())],
            interval: check.interval,
        })
}

/// Sample times (and values) of the first series matching, over `[from, to]`, at full
/// resolution: in slices small enough for the store to answer from raw samples.
async fn samples(
    store: &Store,
    name: &str,
    matchers: &[(String, String)],
    from: UnixMillis,
    to: UnixMillis,
    interval_ms: i64,
) -> Result<BTreeMap<UnixMillis, f64>, crate::store::StoreError> {
    let slice = (POINTS_PER_QUERY * interval_ms.max(1)).max(60_000);
    let mut out = BTreeMap::new();
    let mut start = from;
    while start <= to {
        let end = (start + slice - 1).min(to);
        let result = store
            .query(name, matchers, start, end, POINTS_PER_QUERY as usize + 100)
            .await?;
        if let Some(series) = result.series.first() {
            for point in &series.points {
                out.insert(point.at_ms, point.last);
            }
        }
        start = end + 1;
    }
    Ok(out)
}

fn clock_time(ms: UnixMillis) -> String {
    // Clamped like `clock::format_rfc3339`: humantime cannot write years past 9999.
    let ms = ms.clamp(crate::clock::MIN_TIME_MS, crate::clock::MAX_TIME_MS);
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn span(ms: i64) -> String {
    format_duration(Duration::from_secs((ms.max(0) / 1000) as u64))
}

/// The finding for the last hour of data.
pub async fn data_gaps(config: &Config, store: &Store, now_ms: UnixMillis) -> Finding {
    let Some(Watched {
        name,
        matchers,
        interval,
    }) = watched_series(config)
    else {
        return Finding::ok(
            "data",
            "nothing is collected (system collection off, no enabled check): no gaps to look for",
        );
    };
    let interval_ms = interval.as_millis() as i64;
    let window_start = now_ms - HOUR_MS;
    let read = async {
        let recent = samples(
            store,
            name,
            &matchers,
            window_start - HOUR_MS,
            now_ms,
            interval_ms,
        )
        .await?;
        let starts = if name == "uptime_seconds" {
            samples(
                store,
                "process_start_time_seconds",
                &[],
                window_start - HOUR_MS,
                now_ms,
                interval_ms,
            )
            .await?
        } else {
            BTreeMap::new()
        };
        // Data older than the look-back: Lookout ran before, so the whole hour counts.
        let older = if recent.range(..window_start).next().is_none() {
            let old = store
                .query(
                    name,
                    &matchers,
                    now_ms - 7 * 24 * HOUR_MS,
                    window_start - HOUR_MS,
                    10,
                )
                .await?;
            old.series
                .first()
                .and_then(|s| s.points.last())
                .map(|p| p.at_ms)
        } else {
            None
        };
        Ok::<_, crate::store::StoreError>((recent, starts, older))
    };
    let (recent, starts, older) = match read.await {
        Ok(found) => found,
        Err(error) => {
            return Finding::fail(
                "data",
                format!("cannot read the store: {error}"),
                hints::MISSING_DATA,
            );
        }
    };
    let before = recent
        .range(..window_start)
        .next_back()
        .map(|(at, _)| *at)
        .or(older);
    let times: Vec<UnixMillis> = recent.range(window_start..).map(|(at, _)| *at).collect();
    if times.is_empty() && before.is_none() {
        return Finding::warn(
            "data",
            format!("no {name} samples in the store yet"),
            hints::MISSING_DATA,
        );
    }
    let slack = config.storage.flush_interval.as_millis() as i64 + 2_000;
    let (mut gaps, expected) = find_gaps(&times, before, now_ms, interval_ms, slack);
    for gap in &mut gaps {
        if let Some(to) = gap.to_ms
            && let (Some(a), Some(b)) = (starts.get(&gap.from_ms), starts.get(&to))
        {
            gap.restarted = Some(a != b);
        }
    }
    let every = format_duration(Duration::from_millis(expected as u64));
    if gaps.is_empty() {
        let since = match before {
            Some(_) => "in the last hour".to_string(),
            None => format!(
                "since collection started at {}",
                clock_time(times.first().copied().unwrap_or(now_ms))
            ),
        };
        return Finding::ok(
            "data",
            format!(
                "no gaps {since}: {} of {name}, one every {every}",
                plural(times.len(), "sample")
            ),
        );
    }
    let listed: Vec<String> = gaps
        .iter()
        .map(|gap| match gap.to_ms {
            Some(to) => {
                let why = match gap.restarted {
                    Some(true) => ", Lookout was not running",
                    Some(false) => ", Lookout ran but collected nothing",
                    None => "",
                };
                format!(
                    "{} to {} ({}{why})",
                    clock_time(gap.from_ms),
                    clock_time(to),
                    span(to - gap.from_ms)
                )
            }
            None => format!(
                "nothing since {} ({} ago)",
                clock_time(gap.from_ms),
                span(now_ms - gap.from_ms)
            ),
        })
        .collect();
    Finding::fail(
        "data",
        format!(
            "{} in the last hour (over 3 × {every} without a sample of {name}): {}",
            plural(gaps.len(), "gap"),
            listed.join("; ")
        ),
        hints::MISSING_DATA,
    )
}

/// The dashboard's users: there are some, and the admin created at first start has had its
/// password changed. (The store does not record who set a password: a user "admin" whose
/// password was never changed is taken to be the first start's, printed once to the terminal
/// or journal.)
pub async fn users(store: &Store) -> Finding {
    let item = "security: users";
    let users = match store.users().await {
        Ok(users) => users,
        Err(error) => {
            return Finding::fail(
                item,
                format!("cannot read the users: {error}"),
                hints::MISSING_DATA,
            );
        }
    };
    if users.is_empty() {
        return Finding::warn(
            item,
            "no users yet: the first `lookout serve` creates \"admin\" and prints its password once",
            "start Lookout once, or add one: lookout user add NAME --role admin",
        );
    }
    if let Some(first) = users
        .iter()
        .find(|u| u.name == "admin" && u.role == Role::Admin && u.updated_ms == u.created_ms)
    {
        return Finding::warn(
            item,
            format!(
                "user \"admin\" still has its first password, set {} (if Lookout generated it, it was printed on the terminal or left in the data dir's initial-admin-password)",
                clock_time(first.created_ms)
            ),
            "lookout user passwd admin",
        );
    }
    let admins = users.iter().filter(|u| u.role == Role::Admin).count();
    Finding::ok(
        item,
        format!(
            "{} ({admins} admin), passwords set with `lookout user` (at least {} characters)",
            plural(users.len(), "user"),
            crate::web::auth::secret::MIN_PASSWORD_CHARS
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, SharedClock};
    use crate::daemon::store_options;
    use crate::model::{Observation, Sample, SeriesKey};

    const S: i64 = 1000;

    #[test]
    fn gaps_are_longer_than_three_intervals() {
        let now = 10_000 * S;
        // Every 10 s from now-1h, with a 5 min hole in the middle.
        let times: Vec<i64> = (0..360)
            .map(|i| now - 3600 * S + i * 10 * S)
            .filter(|t| !(now - 2000 * S..now - 1700 * S).contains(t))
            .collect();
        let (gaps, expected) = find_gaps(&times, Some(now - 3610 * S), now, 10 * S, 3 * S);
        assert_eq!(expected, 10 * S);
        assert_eq!(
            gaps,
            [Gap {
                from_ms: now - 2010 * S,
                to_ms: Some(now - 1700 * S),
                restarted: None
            }]
        );
        // 30 s late is not a gap; 31 s is.
        let (gaps, _) = find_gaps(&[0, 30 * S], None, 30 * S, 10 * S, 0);
        assert!(gaps.is_empty());
        let (gaps, _) = find_gaps(&[0, 31 * S], None, 31 * S, 10 * S, 0);
        assert_eq!(gaps.len(), 1);
    }

    #[test]
    fn the_end_of_the_hour_and_its_start_count() {
        let now = 10_000 * S;
        // Every 10 s, then one late sample, then stopped 2 min ago.
        let mut times: Vec<i64> = (0..=20).map(|i| now - 400 * S + i * 10 * S).collect();
        times.push(now - 120 * S);
        let (gaps, _) = find_gaps(&times, None, now, 10 * S, 12 * S);
        assert_eq!(
            gaps,
            [
                Gap {
                    from_ms: now - 200 * S,
                    to_ms: Some(now - 120 * S),
                    restarted: None
                },
                Gap {
                    from_ms: now - 120 * S,
                    to_ms: None,
                    restarted: None
                }
            ]
        );
        // Data from before the hour and nothing in it: one gap since.
        let (gaps, _) = find_gaps(&[], Some(now - 4000 * S), now, 10 * S, 0);
        assert_eq!(
            gaps,
            [Gap {
                from_ms: now - 4000 * S,
                to_ms: None,
                restarted: None
            }]
        );
        // First start 5 min ago, running since: nothing missing.
        let times: Vec<i64> = (0..30).map(|i| now - 300 * S + i * 10 * S).collect();
        assert!(find_gaps(&times, None, now, 10 * S, 0).0.is_empty());
    }

    #[test]
    fn cron_mode_spacing_is_the_expected_interval() {
        let now = 10_000 * S;
        let times: Vec<i64> = (0..60).map(|i| now - 3600 * S + i * 60 * S).collect();
        let (gaps, expected) = find_gaps(&times, None, now, 10 * S, 0);
        assert_eq!(expected, 60 * S);
        assert!(gaps.is_empty(), "{gaps:?}");
    }

    async fn store_with(
        uptime_at: &[(i64, f64)],
        clock: SharedClock,
    ) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::embedded_default();
        let store = Store::open(dir.path(), store_options(&config), clock)
            .await
            .unwrap();
        for &(at, start) in uptime_at {
            store.ingest(&Observation {
                source: "system".into(),
                at_ms: at,
                samples: vec![
                    Sample {
                        series: std::sync::Arc::new(SeriesKey::new("uptime_seconds")),
                        value: (at / 1000) as f64,
                    },
                    Sample {
                        series: std::sync::Arc::new(SeriesKey::new("process_start_time_seconds")),
                        value: start,
                    },
                ],
                checks: Vec::new(),
            });
        }
        store.flush().await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_restart_in_the_last_hour_is_reported_with_its_times() {
        let now = 1_700_000_000_000;
        let mut samples: Vec<(i64, f64)> = (0..400)
            .map(|i| now - 3_990_000 + i * 10_000)
            .filter(|&t| t <= now)
            .map(|t| (t, 1.0))
            .collect();
        // Down from now-30m to now-20m, then a new process.
        samples.retain(|&(t, _)| !(now - 1_800_000..now - 1_200_000).contains(&t));
        for sample in samples.iter_mut().filter(|(t, _)| *t >= now - 1_200_000) {
            sample.1 = 2.0;
        }
        let (_dir, store) = store_with(&samples, ManualClock::new(now)).await;
        let config = crate::config::embedded_default();
        let finding = data_gaps(&config, &store, now).await;
        assert_eq!(finding.status, super::super::Level::Fail, "{finding:?}");
        let last_before = samples
            .iter()
            .map(|s| s.0)
            .filter(|&t| t < now - 1_800_000)
            .max()
            .unwrap();
        let first_after = samples
            .iter()
            .map(|s| s.0)
            .find(|&t| t >= now - 1_200_000)
            .unwrap();
        assert_eq!(
            finding.detail,
            format!(
                "1 gap in the last hour (over 3 × 10s without a sample of uptime_seconds): {} to {} ({}, Lookout was not running)",
                clock_time(last_before),
                clock_time(first_after),
                span(first_after - last_before)
            )
        );
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn an_hour_without_holes_passes() {
        let now = 1_700_000_000_000;
        let samples: Vec<(i64, f64)> = (0..=400)
            .map(|i| (now - 4_000_000 + i * 10_000, 1.0))
            .collect();
        let (_dir, store) = store_with(&samples, ManualClock::new(now)).await;
        let finding = data_gaps(&crate::config::embedded_default(), &store, now).await;
        assert_eq!(
            finding,
            Finding::ok(
                "data",
                "no gaps in the last hour: 361 samples of uptime_seconds, one every 10s"
            )
        );
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn without_system_collection_the_first_checks_up_series_is_watched() {
        let now = 1_700_000_000_000;
        let clock: SharedClock = ManualClock::new(now);
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::from_str(
            "[system]\nenabled = false\n[[check]]\nname = \"app\"\ntype = \"tcp\"\n\
             address = \"127.0.0.1:1\"\ninterval = \"30s\"\n",
            "t.toml",
            &|_| None,
        )
        .unwrap();
        let store = Store::open(dir.path(), store_options(&config), clock)
            .await
            .unwrap();
        // Every 30 s for the last 20 minutes, one missing 2 minutes ago: 60 s is no gap.
        for i in 0..40 {
            let at = now - 1_200_000 + i * 30_000;
            if at == now - 120_000 {
                continue;
            }
            store.ingest(&Observation {
                source: "check:app".into(),
                at_ms: at,
                samples: vec![Sample {
                    series: std::sync::Arc::new(SeriesKey::new("check_up").with("check", "app")),
                    value: 1.0,
                }],
                checks: Vec::new(),
            });
        }
        store.flush().await.unwrap();
        let finding = data_gaps(&config, &store, now).await;
        assert_eq!(
            finding,
            Finding::ok(
                "data",
                "no gaps since collection started at 2023-11-14T21:53:20Z: 39 samples of check_up, one every 30s"
            )
        );
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn the_first_admin_password_unchanged_is_flagged_until_changed() {
        let now = 1_700_000_000_000;
        let clock = ManualClock::new(now);
        let (_dir, store) = store_with(&[], clock.clone()).await;
        let none = users(&store).await;
        assert_eq!(none.status, super::super::Level::Warn);
        assert!(none.detail.starts_with("no users yet"), "{}", none.detail);
        store
            .add_user("admin", Role::Admin, "$argon2id$x")
            .await
            .unwrap();
        let first = users(&store).await;
        assert_eq!(first.status, super::super::Level::Warn);
        assert!(
            first.detail.starts_with(
                "user \"admin\" still has its first password, set 2023-11-14T22:13:20Z"
            ),
            "{}",
            first.detail
        );
        clock.advance(Duration::from_secs(60));
        store.set_password("admin", "$argon2id$y").await.unwrap();
        assert_eq!(
            users(&store).await,
            Finding::ok(
                "security: users",
                "1 user (1 admin), passwords set with `lookout user` (at least 12 characters)"
            )
        );
        store.close().await.unwrap();
    }
}
