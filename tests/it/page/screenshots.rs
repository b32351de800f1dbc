//! Screenshots of the main screens: the phone's home screen in light and dark, the alarm
//! editor, the ringing screen, and the desktop. Each run writes them to
//! `target/tmp/browser/screenshots/` and checks their size; `scripts/screenshots` (which sets
//! `REVEILLE_UPDATE_SCREENSHOTS`) writes them to `docs/screenshots/` for the README instead.
//! The phone is shot at pixel ratio 2 (not the preset's 3) to keep the committed files small.
//! The desktop home screen also gets its axe-core check here.

use std::path::PathBuf;

use serde_json::json;

use crate::browser::{Browser, Preset, artifact_path};

use super::a11y;
use super::site::{Site, TestResult, click_text, finish, tap};

pub const UPDATE_ENV: &str = "REVEILLE_UPDATE_SCREENSHOTS";
const PHONE_RATIO: f64 = 2.0;

fn target(name: &str) -> PathBuf {
    if std::env::var_os(UPDATE_ENV).is_some() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("docs/screenshots")
            .join(name)
    } else {
        artifact_path("screenshots").join(name)
    }
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(path: &PathBuf) -> (u32, u32) {
    let png = std::fs::read(path).unwrap();
    assert_eq!(
        &png[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is no PNG",
        path.display()
    );
    let number = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

async fn shoot(browser: &Browser, name: &str, size: (u32, u32)) -> TestResult {
    let path = target(name);
    // No caret blinking in a focused field, nothing half-way through a transition.
    browser
        .eval("document.activeElement?.blur(); return document.fonts.ready.then(() => true)")
        .await?;
    browser.screenshot(&path).await?;
    assert_eq!(png_size(&path), size, "{}", path.display());
    Ok(())
}

async fn the_alarms(site: &Site) {
    for alarm in [
        json!({"label": "Work", "time": "06:45", "repeat": ["mon", "tue", "wed", "thu", "fri"],
               "ring": {"source": "https://open.spotify.com/playlist/37i9dQZF1DX0UrRvztWcAU"}}),
        json!({"label": "Long run", "time": "07:30", "repeat": ["sun"], "enabled": false}),
    ] {
        let response = site.post("/api/alarms", Some(alarm)).await;
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_screens_phone_light_and_dark_ringing_and_desktop() -> TestResult {
    let site = Site::start().await;
    the_alarms(&site).await;
    let phone_size = ((390.0 * PHONE_RATIO) as u32, (844.0 * PHONE_RATIO) as u32);
    let (phone, desktop) = tokio::join!(site.open(Preset::Phone), site.open(Preset::Desktop));
    let (phone, desktop) = (phone?, desktop?);
    let metrics =
        json!({ "width": 390, "height": 844, "deviceScaleFactor": PHONE_RATIO, "mobile": true });
    phone
        .cdp("Emulation.setDeviceMetricsOverride", metrics)
        .await?;

    // The home screen once "will it ring?" has its answer, without the password hint.
    for browser in [&phone, &desktop] {
        click_text(browser, ".card.notice button", "Got it").await?;
        browser.wait_for(".readiness .state").await?;
        browser.wait_for_text(".alarms", "Long run").await?;
    }
    shoot(&phone, "phone-home-light.png", phone_size).await?;
    phone.prefer_dark(true).await?;
    shoot(&phone, "phone-home-dark.png", phone_size).await?;

    tap(&phone, "a.alarm-main[href='#/alarm/wake']").await?;
    phone.wait_for_text("main h1", "Edit alarm").await?;
    phone.eval("window.scrollTo(0, 0)").await?;
    shoot(&phone, "phone-editor-dark.png", phone_size).await?;
    phone.prefer_dark(false).await?;

    assert_eq!(
        site.post("/api/alarms/wake/ring-now", None).await.status(),
        202
    );
    phone
        .wait_for_text(".overlay-box.ringing .path", "Playing on Spotify")
        .await?;
    shoot(&phone, "phone-ringing.png", phone_size).await?;
    tap(&phone, ".huge.stop").await?;

    a11y::axe(&desktop, "home, desktop").await?;
    shoot(&desktop, "desktop-home.png", (1280, 800)).await?;

    finish(phone, &site.origin(), &[]).await?;
    finish(desktop, &site.origin(), &[]).await
}
