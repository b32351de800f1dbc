//! Accessibility at the phone preset, screen by screen (home light and dark, the alarm
//! editor, history, Spotify, settings): axe-core without serious or critical violations,
//! labels, 44 px touch targets (`a11y.rs`); the keyboard's way through the home screen (every
//! stop shown, top to bottom as read, the tab bar last); switches that stop moving under
//! `prefers-reduced-motion`. The login form, the wizard and the ringing screen are checked in
//! the tests that reach them.

use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use serde_json::json;

use crate::browser::{Browser, Preset};

use super::a11y::{self, focused};
use super::site::{Site, TestResult, click_text, finish, tap};

const TAB: char = '\u{e004}';

async fn press_tab(browser: &Browser) -> TestResult {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: TAB })
        .then(KeyAction::Up { value: TAB });
    browser.client().perform_actions(keys).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_passes_axe_labels_and_touch_targets_on_the_phone() -> TestResult {
    let site = Site::start().await;
    // Something for the history screen to tell.
    assert_eq!(
        site.post("/api/alarms/wake/ring-now", None).await.status(),
        202
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while site.get("/api/ring").await["state"] != "ringing" {
        assert!(std::time::Instant::now() < deadline, "it did not ring");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(site.post("/api/ring/stop", None).await.status(), 204);

    // An alarm switched off is drawn in other colours: they count for contrast too.
    let off = json!({"label": "Long run", "time": "07:30", "repeat": ["sun"], "enabled": false});
    assert_eq!(site.post("/api/alarms", Some(off)).await.status(), 201);

    let browser = site.open(Preset::Phone).await?;
    browser.wait_for(".readiness .state").await?;
    browser.wait_for("li.alarm.off").await?;
    a11y::phone_screen(&browser, "home").await?;
    browser.prefer_dark(true).await?;
    a11y::axe(&browser, "home, dark").await?;
    browser.prefer_dark(false).await?;

    // The keyboard: from the top, every Tab lands on something shown, in reading order,
    // the tab bar (fixed at the bottom, last in the document) at the end.
    browser
        .eval("document.activeElement.blur(); window.scrollTo(0, 0)")
        .await?;
    let mut stops: Vec<(String, f64, f64)> = Vec::new();
    for _ in 0..30 {
        press_tab(&browser).await?;
        let Some(stop) = focused(&browser).await? else {
            break;
        };
        if stops.first().is_some_and(|first| first.0 == stop.0) {
            break;
        }
        // Scrolled to by focus, a control stops above the fixed tab bar, not under it.
        let hidden = "const el = document.activeElement;
             return !el.closest('#tabs')
                 && el.getBoundingClientRect().bottom > document.getElementById('tabs').getBoundingClientRect().top";
        assert_eq!(
            browser.eval(hidden).await?,
            false,
            "{} is under the tab bar",
            stop.0
        );
        stops.push(stop);
    }
    let names: Vec<&str> = stops.iter().map(|(name, ..)| name.as_str()).collect();
    let expected_start = ["a Skip to the content", "a Reveille"];
    assert_eq!(names[..2], expected_start, "{names:?}");
    let position = |needle: &str| {
        names
            .iter()
            .position(|n| n.contains(needle))
            .unwrap_or_else(|| panic!("no stop at {needle:?} in {names:?}"))
    };
    let order = [
        position("Got it"),
        position("Check again"),
        position("every day"), // the alarm's row: time, label, days
        position("input Wake up at"),
        position("Skip next"),
        position("Add an alarm"),
        position("Sleep timer"),
        position("tabs a Alarms"),
        position("tabs a Settings"),
    ];
    assert!(order.is_sorted(), "focus order {names:?}");
    // Down the page as read: each stop below the one before, or beside it on its row.
    let page: Vec<&(String, f64, f64)> = stops
        .iter()
        .filter(|(name, ..)| !name.starts_with("tabs ") && !name.contains("Skip to the content"))
        .collect();
    assert!(
        page.windows(2)
            .all(|pair| pair[1].1 >= pair[0].1 - 1.0 || pair[1].1 < pair[0].2),
        "focus jumps up the page: {stops:?}"
    );

    // The switches slide, unless the phone asks for less motion.
    let slide =
        "return getComputedStyle(document.querySelector('.switch'), '::after').transitionDuration";
    assert_eq!(browser.eval(slide).await?, "0.15s");
    let reduce = json!({ "features": [{ "name": "prefers-reduced-motion", "value": "reduce" }] });
    browser.cdp("Emulation.setEmulatedMedia", reduce).await?;
    assert_eq!(browser.eval(slide).await?, "0s");
    browser
        .cdp("Emulation.setEmulatedMedia", json!({ "features": [] }))
        .await?;

    tap(&browser, "a.alarm-main[href='#/alarm/wake']").await?;
    browser.wait_for_text("main h1", "Edit alarm").await?;
    click_text(&browser, "summary", "Volume, fade and snooze").await?;
    a11y::phone_screen(&browser, "the alarm editor").await?;

    tap(&browser, "#tabs a[data-tab=history]").await?;
    browser
        .wait_for(".history li.good, .history li.degraded, .history li.bad")
        .await?;
    a11y::phone_screen(&browser, "history").await?;

    tap(&browser, "#tabs a[data-tab=spotify]").await?;
    click_text(&browser, "button", "Show speakers").await?;
    browser.wait_for_text("ul.devices", "Bedroom").await?;
    a11y::phone_screen(&browser, "Spotify").await?;

    tap(&browser, "#tabs a[data-tab=settings]").await?;
    browser.wait_for("ol.revisions li").await?;
    a11y::phone_screen(&browser, "settings").await?;

    finish(browser, &site.origin(), &[]).await
}
