//! The trust boundary as the page shows it. With a password set: the login form first, a
//! wrong password said at the field, the home screen after the right one, and logging out in
//! the settings brings the form back (the old session no longer opens the API). Without one:
//! the home screen suggests setting it, once, until dismissed.

use serde_json::json;

use crate::browser::{Browser, Preset};

use super::site::{Setup, Site, TestResult, finish, gone, record_calls, shown, tap};

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_password_the_page_asks_for_it_and_logs_in_and_out() -> TestResult {
    let site = Site::start_with(Setup {
        password: Some(PASSWORD),
        ..Setup::default()
    })
    .await;
    let browser = Browser::open(Preset::Phone).await?;
    record_calls(&browser).await?;
    browser.goto(&site.url("/")).await?;
    browser.wait_for_text("main h1", "Log in").await?;
    assert_eq!(
        browser.eval(&shown("#tabs")).await?,
        false,
        "tabs before login"
    );
    let focused = browser
        .eval("return document.activeElement.getAttribute('name')")
        .await?;
    assert_eq!(focused, "password", "the form takes the focus");
    super::a11y::phone_screen(&browser, "the login form").await?;

    // A wrong password: said at the field, which is marked; still the form.
    browser.type_text("input[name=password]", "wrong").await?;
    tap(&browser, "form.login button[type=submit]").await?;
    browser
        .wait_for_text(
            "[data-field=password] > .error",
            "That is not the password.",
        )
        .await?;
    let invalid = browser
        .eval("return document.querySelector('input[name=password]').getAttribute('aria-invalid')")
        .await?;
    assert_eq!(invalid, "true");

    // The right one: the alarms, and no suggestion to set a password.
    browser.fill("input[name=password]", PASSWORD).await?;
    tap(&browser, "form.login button[type=submit]").await?;
    browser.wait_for(".alarms li.alarm").await?;
    browser.wait_for_text(".alarms", "Wake up").await?;
    assert_eq!(browser.eval(&shown("#tabs")).await?, true);
    assert_eq!(browser.eval(&gone(".card.notice")).await?, true);

    // Log out in the settings: the form again, and the old session opens nothing.
    tap(&browser, "#tabs a[data-tab=settings]").await?;
    super::site::click_text(&browser, "button", "Log out").await?;
    browser.wait_for_text("main h1", "Log in").await?;
    let status = browser
        .eval("return fetch('/api/alarms', {credentials: 'same-origin'}).then((r) => r.status)")
        .await?;
    assert_eq!(status, json!(401));

    finish(browser, &site.origin(), &["status of 401"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_password_the_home_screen_suggests_one_until_dismissed() -> TestResult {
    let site = Site::start().await;
    let browser = site.open(Preset::Desktop).await?;
    browser
        .wait_for_text(
            ".card.notice",
            "Anyone on your network can change these alarms.",
        )
        .await?;
    assert!(
        browser
            .text(".card.notice pre")
            .await?
            .contains("reveille password")
    );
    super::site::click_text(&browser, ".card.notice button", "Got it").await?;
    browser
        .wait_until("the hint to go", &gone(".card.notice"))
        .await?;
    browser.client().refresh().await?;
    browser.wait_for(".alarms li.alarm").await?;
    assert_eq!(
        browser.eval(&gone(".card.notice")).await?,
        true,
        "dismissed stays dismissed"
    );
    finish(browser, &site.origin(), &[]).await
}
