//! The alarm editor's playlist picker in headless Chromium (the harness, `crate::browser`),
//! against the application linked to the Spotify mock (`playlists::setup`): the list is asked
//! for only when the button is tapped, filtered, one is chosen and saved as the alarm's
//! source; a development-mode refusal is shown in words, and so is "not linked", with the way
//! to the Spotify screen.

use std::error::Error;

use fantoccini::Locator;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::browser::{Browser, Preset, artifact_path};
use crate::helpers::TestApp;
use crate::playlists::setup;
use crate::spotify_mock::{Endpoint, SpotifyMock};

type TestResult = Result<(), Box<dyn Error>>;

const GENTLY: &str = "spotify:playlist:37i9dQZF1DX0UrRvztWcAU";

fn asked(mock: &SpotifyMock) -> usize {
    mock.requests_to(Endpoint::Playlists).len()
}

/// The options of the picker's <select>, as shown.
async fn options(browser: &Browser) -> Result<Value, Box<dyn Error>> {
    Ok(browser
        .eval("return [...document.querySelectorAll('#playlist-select option')].map((o) => o.textContent)")
        .await?)
}

/// Scrolls the element to the middle of the screen, then clicks it: WebDriver scrolls it only
/// to the bottom edge, where the page's fixed tab bar lies over it.
async fn tap(browser: &Browser, selector: &str) -> TestResult {
    browser.wait_for(selector).await?;
    browser
        .eval(&format!(
            "document.querySelector({selector:?}).scrollIntoView({{block: 'center'}})"
        ))
        .await?;
    browser.click(selector).await?;
    Ok(())
}

async fn alarms(app: &TestApp) -> Value {
    let response = app.request(Method::GET, "/api/alarms", None, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_playlist_picked_on_the_phone_is_saved_as_the_alarms_source() -> TestResult {
    let (app, mock) = setup().await;
    let browser = Browser::open(Preset::Phone).await?;
    browser.goto(&format!("{}/#/alarm/new", app.base)).await?;
    browser.wait_for(".pick-playlist").await?;
    assert_eq!(asked(&mock), 0, "opening the editor does not ask Spotify");

    tap(&browser, ".pick-playlist").await?;
    browser.wait_for("#playlist-select").await?;
    assert_eq!(asked(&mock), 1);
    assert_eq!(
        options(&browser).await?,
        serde_json::json!([
            "Choose one (2)",
            "Wake up gently · Mock Listener · 10 tracks",
            "Running · mock-user"
        ])
    );
    // No cover image from Spotify's CDN: the CSP would refuse it and the Pi may be offline.
    assert_eq!(
        browser
            .eval("return document.documentElement.outerHTML.includes('scdn.co')")
            .await?,
        false
    );
    // Touch targets of at least 44 CSS px.
    let heights = browser
        .eval("return ['.refresh-playlists', '#playlist-filter', '#playlist-select'].map((s) => document.querySelector(s).getBoundingClientRect().height)")
        .await?;
    for height in heights.as_array().unwrap() {
        assert!(height.as_f64().unwrap() >= 44.0, "{heights}");
    }

    browser.fill("#playlist-filter", "GENTLY").await?;
    assert_eq!(
        options(&browser).await?,
        serde_json::json!([
            "Choose one (1)",
            "Wake up gently · Mock Listener · 10 tracks"
        ])
    );
    browser
        .client()
        .find(Locator::Css("#playlist-select"))
        .await?
        .select_by_value(GENTLY)
        .await?;
    browser
        .wait_for_text(".playlist-chosen", "Plays the playlist “Wake up gently”.")
        .await?;
    assert_eq!(
        browser
            .eval("return document.querySelector('input[name=source]').value")
            .await?,
        GENTLY
    );

    // For a look at it when something seems off: target/tmp/browser/.
    browser
        .screenshot(&artifact_path("page-playlists-picked.png"))
        .await?;

    browser.click("button[type=submit]").await?;
    browser.wait_for_text("#toast", "Alarm set for").await?;
    let saved = alarms(&app).await;
    let sources: Vec<&Value> = saved
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["ring"]["source"])
        .collect();
    assert_eq!(sources, [GENTLY], "{saved}");
    assert_eq!(asked(&mock), 1, "the list was asked for once");

    browser.expect_no_console_errors().await?;
    mock.assert_all_valid();
    browser.quit().await?;
    Ok(())
}

#[tokio::test]
async fn a_development_mode_refusal_and_no_link_are_said_in_words() -> TestResult {
    let (app, mock) = setup().await;
    mock.refuse_playlists_in_development_mode();
    let browser = Browser::open(Preset::Phone).await?;
    browser.goto(&format!("{}/#/alarm/new", app.base)).await?;
    tap(&browser, ".pick-playlist").await?;
    browser
        .wait_for_text(".playlist-status", "development mode")
        .await?;
    browser
        .wait_for_text(".playlist-status", "paste a Spotify link")
        .await?;
    assert_eq!(
        browser
            .eval("return document.querySelector('.playlist-chooser').hidden")
            .await?,
        true,
        "no empty list to choose from"
    );
    browser.expect_no_console_errors().await?;

    // Unlinked meanwhile: "Ask Spotify again" says to link first, with the way there.
    std::fs::remove_file(app.dir.path().join("spotify-token.json"))?;
    tap(&browser, ".refresh-playlists").await?;
    browser
        .wait_for_text(".playlist-status", "Link Spotify first")
        .await?;
    assert_eq!(
        browser
            .eval("return document.querySelector('.playlist-status a').getAttribute('href')")
            .await?,
        "#/spotify"
    );
    browser.quit().await?;
    Ok(())
}
