//! The ringing screen follows the daemon live: an alarm rung through the API appears on an
//! open page within `LIVE`, Stop on the page ends it, "Test it now" rings it from the editor
//! and a stop through the API takes the screen away again; all by the event stream, with no
//! polling request in between, even in a minute of the page's time (a recorder counts every
//! request the page's scripts start). Also the
//! ringing title's pulse, which stops under `prefers-reduced-motion`.

use std::time::Instant;

use serde_json::json;

use crate::browser::Preset;

use super::site::{LIVE, Site, TestResult, calls, click_text, finish, gone, shown, tap};

const OVERLAY: &str = "#overlay .overlay-box";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringing_shows_and_goes_live_and_the_page_polls_nothing() -> TestResult {
    let site = Site::start().await;
    let mut browser = site.open(Preset::Phone).await?;
    let loaded = calls(&browser).await?;
    assert_eq!(
        loaded
            .iter()
            .filter(|c| c.starts_with("EVENTSOURCE "))
            .count(),
        1,
        "{loaded:?}"
    );
    let window = Instant::now();

    // Rung from elsewhere (the API, as the scheduler or the CLI would): the page shows it.
    let response = site.post("/api/alarms/wake/ring-now", None).await;
    assert_eq!(response.status(), 202);
    let asked = Instant::now();
    browser.set_wait(LIVE);
    browser
        .wait_until("the ringing screen", &shown(OVERLAY))
        .await?;
    let appeared = asked.elapsed();
    browser.set_wait(crate::browser::WAIT);
    browser
        .wait_for_text(".overlay-box.ringing .path", "Playing on Spotify")
        .await?;
    assert_eq!(browser.text("#overlay-title").await?, "Wake up");
    assert_eq!(browser.text(".overlay .what").await?, "A Spotify playlist");
    assert_eq!(browser.text(".huge.snooze").await?, "Snooze 9 min");
    // The page beneath is out of reach while it rings, and the dialog has the focus.
    let modal = browser
        .eval(
            "return [document.getElementById('view').inert,
                     document.activeElement === document.querySelector('.huge.snooze')]",
        )
        .await?;
    assert_eq!(modal, json!([true, true]));
    super::a11y::phone_screen(&browser, "the ringing screen").await?;

    // The title pulses, unless the phone asks for less motion.
    let animation =
        "return getComputedStyle(document.getElementById('overlay-title')).animationName";
    assert_eq!(browser.eval(animation).await?, "pulse");
    let reduce = json!({ "features": [{ "name": "prefers-reduced-motion", "value": "reduce" }] });
    browser.cdp("Emulation.setEmulatedMedia", reduce).await?;
    assert_eq!(browser.eval(animation).await?, "none");

    // Stop on the page: the daemon stops and the screen goes.
    tap(&browser, ".huge.stop").await?;
    browser.set_wait(LIVE);
    browser
        .wait_until("the ringing screen to go", &gone(OVERLAY))
        .await?;
    browser.set_wait(crate::browser::WAIT);
    let status = site.get("/api/ring").await;
    assert_eq!(status["state"], "idle", "{status}");
    assert_eq!(site.get("/api/history").await[0]["ended_by"], "api");
    assert!(
        !site.mock.player().is_playing,
        "the stop did not pause Spotify"
    );

    // "Test it now" in the editor rings it; a stop from elsewhere takes the screen away.
    tap(&browser, "a.alarm-main[href='#/alarm/wake']").await?;
    click_text(&browser, "button", "Test it now").await?;
    browser
        .wait_for_text(".overlay-box.ringing .path", "Playing on Spotify")
        .await?;
    let response = site.post("/api/ring/stop", None).await;
    assert_eq!(response.status(), 204);
    let asked = Instant::now();
    browser.set_wait(LIVE);
    browser
        .wait_until("the ringing screen to go", &gone(OVERLAY))
        .await?;
    let went = asked.elapsed();
    browser.set_wait(crate::browser::WAIT);

    // Then a minute passes on the page's clock (DevTools' virtual time: timers run without
    // the wait), long enough for any poll of the peers' kind (every 4-6 s) to show.
    let minute = 60_000;
    let before = browser
        .eval("return Date.now()")
        .await?
        .as_f64()
        .unwrap_or_default();
    let budget = json!({ "policy": "advance", "budget": minute });
    browser
        .cdp("Emulation.setVirtualTimePolicy", budget)
        .await?;
    browser
        .wait_until(
            "a minute to pass on the page's clock",
            &format!("return Date.now() >= {before} + {minute}"),
        )
        .await?;

    // Everything the page asked for meanwhile was a person's doing: the stop, the test and
    // the editor's module. No status was fetched again, however long it rang.
    let asked_for: Vec<String> = calls(&browser).await?[loaded.len()..]
        .iter()
        .map(|call| call.replace(&site.origin(), ""))
        .collect();
    assert_eq!(
        asked_for,
        ["POST /api/ring/stop", "POST /api/alarms/wake/ring-now"],
        "requests while ringing and stopping and in a minute after"
    );
    eprintln!(
        "live: the ringing screen appeared {appeared:?} after ring-now and went {went:?} after \
         a stop, both through the API; no polling request in {:?} and a minute of the page's \
         time",
        window.elapsed()
    );
    finish(browser, &site.origin(), &[]).await
}
