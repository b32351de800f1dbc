//! The daemon goes away under an open page: the page says so at once and retries by itself;
//! when the daemon is back on the same address the banner goes and the page is live again
//! (a change made through the API shows without a reload).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::browser::Preset;

use super::site::{LIVE, Site, TestResult, finish, gone, shown};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_says_when_the_daemon_is_gone_and_recovers_when_it_is_back() -> TestResult {
    let mut site = Site::start().await;
    let mut browser = site.open(Preset::Phone).await?;
    assert_eq!(browser.eval(&gone("#offline")).await?, true);

    site.stop_daemon();
    let stopped = Instant::now();
    browser.set_wait(LIVE);
    browser
        .wait_until("the offline banner", &shown("#offline"))
        .await?;
    let said = stopped.elapsed();
    browser
        .wait_for_text("#offline", "The alarm clock cannot be reached.")
        .await?;
    assert!(browser.text("#offline button").await?.contains("Retry now"));

    site.restart_daemon();
    let back = Instant::now();
    // The page retries after 1, 2, 5, then every 10 s; it was down for about a second.
    browser.set_wait(Duration::from_secs(12));
    browser
        .wait_until("the banner to go", &gone("#offline"))
        .await?;
    let recovered = back.elapsed();

    // Live again: a change made elsewhere shows on the open page.
    let response = site
        .client
        .patch(site.url("/api/alarms/wake"))
        .json(&json!({"label": "Back again"}))
        .send()
        .await?;
    assert!(response.status().is_success(), "{response:?}");
    browser.set_wait(LIVE);
    browser.wait_for_text(".alarms", "Back again").await?;
    eprintln!(
        "offline: banner {said:?} after the daemon stopped; gone {recovered:?} after it was back"
    );
    finish(browser, &site.origin(), &["ERR_CONNECTION_REFUSED"]).await
}
