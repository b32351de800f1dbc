//! The first load in a real Chromium on loopback, as a phone makes it (390 × 844 at pixel
//! ratio 3, touch, a fresh profile so nothing is cached): requests and bytes on the wire from
//! Resource Timing (`transferSize`: headers and the compressed body), and the times to the
//! first paint, to the first contentful paint and to the home screen's words (the next alarm
//! and the alarm list, marked by an observer installed before the page's scripts). Then a
//! reload with the files cached (each revalidated: 304). The test holds the first load to
//! the 60 KB budget; `REVEILLE_PAGE_RUNS=N` and `--nocapture` print the medians of N loads
//! for `docs/benchmarks.md`. The daemon is the test build, so serving is a debug build's; the
//! files are gzipped at build time either way.

use serde::Deserialize;
use serde_json::json;

use crate::browser::{Browser, Preset};
use crate::page_load::FIRST_LOAD_BUDGET;

use super::site::{Site, TestResult, calls, record_calls};

/// Marks the moment the home screen first shows the next alarm and the alarm list.
const MARKS: &str = r#"(() => {
  const marks = {};
  Object.defineProperty(window, "__e2eMarks", { value: marks });
  new MutationObserver(() => {
    if (!marks.next && document.querySelector(".big-time")?.textContent) marks.next = performance.now();
    if (!marks.alarms && document.querySelector(".alarms li.alarm")) marks.alarms = performance.now();
  }).observe(document, { childList: true, subtree: true, characterData: true });
})();"#;

const MEASURE: &str = r#"
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const paint = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null;
  return {
    requests: 1 + resources.length,
    each: [`/ ${nav.transferSize}`].concat(resources.map((r) => `${new URL(r.name).pathname} ${r.transferSize}`)),
    bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
    body_bytes: nav.encodedBodySize + resources.reduce((sum, r) => sum + r.encodedBodySize, 0),
    revalidated: resources.filter((r) => r.transferSize > 0 && r.encodedBodySize > 0 && r.transferSize < r.encodedBodySize).length,
    dom_content_loaded_ms: nav.domContentLoadedEventEnd,
    load_ms: nav.loadEventEnd,
    first_paint_ms: paint("first-paint"),
    first_contentful_paint_ms: paint("first-contentful-paint"),
    next_alarm_ms: window.__e2eMarks.next ?? null,
    alarms_ms: window.__e2eMarks.alarms ?? null,
  };
"#;

#[derive(Debug, Deserialize)]
struct Load {
    requests: u32,
    /// "path bytes" of each request, the page first.
    each: Vec<String>,
    bytes: u64,
    body_bytes: u64,
    dom_content_loaded_ms: f64,
    load_ms: f64,
    first_paint_ms: Option<f64>,
    first_contentful_paint_ms: Option<f64>,
    next_alarm_ms: Option<f64>,
    alarms_ms: Option<f64>,
}

async fn measure(browser: &Browser) -> Result<Load, Box<dyn std::error::Error>> {
    browser.wait_for(".alarms li.alarm").await?;
    browser.wait_for(".readiness .state").await?;
    browser
        .wait_until(
            "the load event's end",
            "return performance.getEntriesByType('navigation')[0].loadEventEnd > 0",
        )
        .await?;
    Ok(serde_json::from_value(browser.eval(MEASURE).await?)?)
}

/// One cold load and one warm reload in a fresh browser.
async fn load_twice(site: &Site) -> Result<(Load, Load), Box<dyn std::error::Error>> {
    // The desktop preset made phone-sized by DevTools: the phone preset may reload a site's
    // first page (`Browser::goto`), which would turn the cold load into a warm one.
    let browser = Browser::open(Preset::Desktop).await?;
    let phone = json!({ "width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": true });
    browser
        .cdp("Emulation.setDeviceMetricsOverride", phone)
        .await?;
    browser
        .cdp(
            "Emulation.setTouchEmulationEnabled",
            json!({ "enabled": true, "maxTouchPoints": 5 }),
        )
        .await?;
    record_calls(&browser).await?;
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": MARKS }),
        )
        .await?;
    browser.goto(&site.url("/")).await?;
    let cold = measure(&browser).await?;
    let streams = calls(&browser).await?;
    assert_eq!(
        streams
            .iter()
            .filter(|c| c.starts_with("EVENTSOURCE "))
            .count(),
        1,
        "{streams:?}"
    );
    browser.client().refresh().await?;
    let warm = measure(&browser).await?;
    browser.expect_no_console_errors().await?;
    browser.quit().await?;
    Ok((cold, warm))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_load_in_a_browser_fits_the_budget_and_renders_the_home_screen() -> TestResult {
    let site = Site::start().await;
    let runs: usize = std::env::var("REVEILLE_PAGE_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let mut loads = Vec::new();
    for _ in 0..runs.max(1) {
        loads.push(load_twice(&site).await?);
    }
    for (cold, warm) in &loads {
        assert!(
            cold.bytes as usize <= FIRST_LOAD_BUDGET,
            "the first load took {} B on the wire, over the {FIRST_LOAD_BUDGET} B budget: {cold:?}",
            cold.bytes
        );
        assert!(
            cold.alarms_ms.is_some() && cold.next_alarm_ms.is_some(),
            "{cold:?}"
        );
        assert!(
            warm.bytes < cold.bytes,
            "a reload fetched it all again: {warm:?}"
        );
    }
    let (cold, warm) = &loads[0];
    let of = |pick: fn(&Load) -> Option<f64>| {
        median(loads.iter().filter_map(|(c, _)| pick(c)).collect())
    };
    let warm_of = |pick: fn(&Load) -> Option<f64>| {
        median(loads.iter().filter_map(|(_, w)| pick(w)).collect())
    };
    eprintln!("first load, each request: {}", cold.each.join(", "));
    eprintln!(
        "first load in Chromium, {runs} run(s), times are medians: cold {} requests (+ the event stream), \
         {} B on the wire ({} B bodies); DOMContentLoaded {:.0} ms, load {:.0} ms, first paint \
         {:.0} ms, first contentful paint {:.0} ms, next alarm shown {:.0} ms, alarms listed \
         {:.0} ms | warm reload: {} requests, {} B, first contentful paint {:.0} ms, alarms \
         listed {:.0} ms",
        cold.requests,
        cold.bytes,
        cold.body_bytes,
        of(|l| Some(l.dom_content_loaded_ms)),
        of(|l| Some(l.load_ms)),
        of(|l| l.first_paint_ms),
        of(|l| l.first_contentful_paint_ms),
        of(|l| l.next_alarm_ms),
        of(|l| l.alarms_ms),
        warm.requests,
        warm.bytes,
        warm_of(|l| l.first_contentful_paint_ms),
        warm_of(|l| l.alarms_ms),
    );
    Ok(())
}
