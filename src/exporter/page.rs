//! The /metrics page, rendered ahead of the scrapes that read it.
//!
//! Rendering 10,000 series takes milliseconds, most of them cache misses over a snapshot that
//! a long-running daemon has scattered across the heap. While Prometheus scrapes us, the
//! daemon re-renders the page every `server.metrics_refresh` off the request path, and a
//! scrape is answered with the latest page: its latency no longer grows with the number of
//! series, at the price of values up to one refresh old (checks themselves run every 10 s or
//! more). Nobody scraping: nothing is rendered.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;

use crate::clock::{SharedClock, UnixMillis};

use super::Snapshot;

/// A format is kept rendered while it was scraped this recently: longer than any sensible
/// scrape interval, short enough that a Prometheus that went away stops costing CPU soon.
const KEEP_WARM_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.
    OpenMetrics,
}

impl PageFormat {
    const ALL: [PageFormat; 2] = [PageFormat::Text, PageFormat::OpenMetrics];

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug)]
struct Rendered {
    body: Bytes,
    at_ms: UnixMillis,
}

#[derive(Debug)]
struct Slot {
    page: Mutex<Option<Rendered>>,
    /// `NEVER` until the first scrape in this format.
    last_scrape_ms: AtomicI64,
}

const NEVER: i64 = i64::MIN;

impl Default for Slot {
    fn default() -> Self {
        Slot {
            page: Mutex::new(None),
            last_scrape_ms: AtomicI64::new(NEVER),
        }
    }
}

#[derive(Debug)]
pub struct MetricsPage {
    snapshot: Arc<Snapshot>,
    version: String,
    started_at_ms: UnixMillis,
    clock: SharedClock,
    refresh_ms: i64,
    slots: [Slot; 2],
}

impl MetricsPage {
    /// `refresh` zero renders on every scrape (nothing is kept).
    pub fn new(
        snapshot: Arc<Snapshot>,
        version: &str,
        started_at_ms: UnixMillis,
        clock: SharedClock,
        refresh: Duration,
    ) -> Arc<MetricsPage> {
        Arc::new(MetricsPage {
            snapshot,
            version: version.to_string(),
            started_at_ms,
            clock,
            refresh_ms: i64::try_from(refresh.as_millis()).unwrap_or(i64::MAX),
            slots: Default::default(),
        })
    }

    /// How often `refresh` should be called; `None` when pages are rendered per scrape.
    pub fn refresh_interval(&self) -> Option<Duration> {
        (self.refresh_ms > 0).then(|| Duration::from_millis(self.refresh_ms as u64))
    }

    /// The page for a scrape: the kept one while it is younger than two refresh intervals
    /// (one, plus slack for a refresh delayed by a busy machine), else rendered now.
    pub fn serve(&self, format: PageFormat) -> Bytes {
        let now_ms = self.clock.now_ms();
        let slot = &self.slots[format.index()];
        slot.last_scrape_ms.store(now_ms, Ordering::Relaxed);
        if self.refresh_ms > 0 {
            let page = slot.page.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(page) = page.as_ref()
                && now_ms.saturating_sub(page.at_ms) < self.refresh_ms.saturating_mul(2)
            {
                return page.body.clone();
            }
        }
        self.render(format, now_ms)
    }

    /// Re-renders each format scraped in the last ten minutes (the snapshot once for both);
    /// returns how many it rendered. The daemon calls this every refresh interval, off the
    /// request path.
    pub fn refresh(&self) -> usize {
        if self.refresh_ms == 0 {
            return 0;
        }
        let now_ms = self.clock.now_ms();
        let warm = PageFormat::ALL.map(|format| {
            let last = self.slots[format.index()]
                .last_scrape_ms
                .load(Ordering::Relaxed);
            last != NEVER && now_ms.saturating_sub(last) <= KEEP_WARM_MS
        });
        for format in PageFormat::ALL {
            if !warm[format.index()] {
                // Free the memory of a page nobody reads any more.
                *self.slots[format.index()]
                    .page
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = None;
            }
        }
        if !warm.contains(&true) {
            return 0;
        }
        let text = self.render_text(now_ms);
        if warm[PageFormat::OpenMetrics.index()] {
            let open_metrics = super::prometheus_text::to_openmetrics(&text);
            self.keep(PageFormat::OpenMetrics, Bytes::from(open_metrics), now_ms);
        }
        if warm[PageFormat::Text.index()] {
            self.keep(PageFormat::Text, Bytes::from(text), now_ms);
        }
        warm.iter().filter(|w| **w).count()
    }

    /// The families computed at render time as samples, stamped now (remote write sends them).
    pub fn computed_samples(&self) -> (UnixMillis, Vec<super::ComputedSample>) {
        let now_ms = self.clock.now_ms();
        let samples = super::prometheus_text::computed_samples(
            &self.snapshot,
            &self.version,
            self.started_at_ms,
            now_ms,
        );
        (now_ms, samples)
    }

    fn render_text(&self, now_ms: UnixMillis) -> String {
        super::prometheus_text::render(&self.snapshot, &self.version, self.started_at_ms, now_ms)
    }

    fn render(&self, format: PageFormat, now_ms: UnixMillis) -> Bytes {
        let text = self.render_text(now_ms);
        let body = Bytes::from(match format {
            PageFormat::Text => text,
            PageFormat::OpenMetrics => super::prometheus_text::to_openmetrics(&text),
        });
        if self.refresh_ms > 0 {
            self.keep(format, body.clone(), now_ms);
        }
        body
    }

    fn keep(&self, format: PageFormat, body: Bytes, at_ms: UnixMillis) {
        let mut page = self.slots[format.index()]
            .page
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // A slower render that started earlier must not replace a newer page.
        if page.as_ref().is_none_or(|kept| kept.at_ms <= at_ms) {
            *page = Some(Rendered { body, at_ms });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::model::{Observation, Sample, SeriesKey};

    fn set_load(snapshot: &Snapshot, value: f64) {
        snapshot.apply(&Observation {
            source: "system".into(),
            at_ms: 0,
            samples: vec![Sample {
                series: Arc::new(SeriesKey::new("load1")),
                value,
            }],
            checks: vec![],
        });
    }

    fn load_line(page: &Bytes) -> String {
        std::str::from_utf8(page)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("lookout_load1 "))
            .unwrap()
            .to_string()
    }

    fn page(refresh: Duration) -> (Arc<Snapshot>, Arc<ManualClock>, Arc<MetricsPage>) {
        let snapshot = Snapshot::new();
        let clock = ManualClock::new(1_000_000);
        let page = MetricsPage::new(snapshot.clone(), "test", 0, clock.clone(), refresh);
        (snapshot, clock, page)
    }

    #[test]
    fn a_scrape_is_served_the_kept_page_until_it_is_two_refreshes_old() {
        let (snapshot, clock, page) = page(Duration::from_secs(1));
        set_load(&snapshot, 1.0);
        assert_eq!(load_line(&page.serve(PageFormat::Text)), "lookout_load1 1");
        set_load(&snapshot, 2.0);
        clock.advance(Duration::from_millis(1_999));
        assert_eq!(load_line(&page.serve(PageFormat::Text)), "lookout_load1 1");
        clock.advance(Duration::from_millis(1));
        assert_eq!(load_line(&page.serve(PageFormat::Text)), "lookout_load1 2");
    }

    #[test]
    fn a_refresh_brings_new_values_to_the_next_scrape_without_rendering_during_it() {
        let (snapshot, clock, page) = page(Duration::from_secs(1));
        set_load(&snapshot, 1.0);
        page.serve(PageFormat::Text);
        set_load(&snapshot, 2.0);
        clock.advance(Duration::from_millis(1_000));
        assert_eq!(page.refresh(), 1, "only the format that was scraped");
        set_load(&snapshot, 3.0);
        assert_eq!(
            load_line(&page.serve(PageFormat::Text)),
            "lookout_load1 2",
            "the page rendered at the refresh, not one rendered for this scrape"
        );
    }

    #[test]
    fn formats_nobody_scrapes_are_not_rendered() {
        let (snapshot, clock, page) = page(Duration::from_secs(1));
        set_load(&snapshot, 1.0);
        assert_eq!(page.refresh(), 0, "never scraped");
        let open_metrics = page.serve(PageFormat::OpenMetrics);
        assert!(
            std::str::from_utf8(&open_metrics)
                .unwrap()
                .ends_with("# EOF\n")
        );
        assert_eq!(page.refresh(), 1);
        clock.advance(Duration::from_millis(KEEP_WARM_MS as u64));
        assert_eq!(
            page.refresh(),
            1,
            "scraped ten minutes ago: still kept warm"
        );
        clock.advance(Duration::from_millis(1));
        assert_eq!(page.refresh(), 0, "the scraper went away");
        assert!(
            page.slots[PageFormat::OpenMetrics.index()]
                .page
                .lock()
                .unwrap()
                .is_none(),
            "and its page is dropped"
        );
    }

    #[test]
    fn the_formats_are_kept_apart() {
        let (snapshot, _clock, page) = page(Duration::from_secs(1));
        set_load(&snapshot, 1.0);
        let text = page.serve(PageFormat::Text);
        let open_metrics = page.serve(PageFormat::OpenMetrics);
        assert!(!std::str::from_utf8(&text).unwrap().contains("# EOF"));
        assert!(
            std::str::from_utf8(&open_metrics)
                .unwrap()
                .ends_with("# EOF\n")
        );
        set_load(&snapshot, 2.0);
        assert_eq!(page.refresh(), 2, "both were scraped");
        let text = page.serve(PageFormat::Text);
        let open_metrics = page.serve(PageFormat::OpenMetrics);
        assert_eq!(load_line(&text), "lookout_load1 2");
        assert_eq!(load_line(&open_metrics), "lookout_load1 2");
        assert!(
            std::str::from_utf8(&open_metrics)
                .unwrap()
                .ends_with("# EOF\n")
        );
    }

    #[test]
    fn zero_refresh_renders_every_scrape() {
        let (snapshot, _clock, page) = page(Duration::ZERO);
        assert_eq!(page.refresh_interval(), None);
        set_load(&snapshot, 1.0);
        assert_eq!(load_line(&page.serve(PageFormat::Text)), "lookout_load1 1");
        set_load(&snapshot, 2.0);
        assert_eq!(load_line(&page.serve(PageFormat::Text)), "lookout_load1 2");
        assert_eq!(page.refresh(), 0, "nothing is rendered ahead");
        assert!(page.slots[0].page.lock().unwrap().is_none());
    }
}
