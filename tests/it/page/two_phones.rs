//! Two pages at once, a phone and a desktop: an alarm saved on one shows on the other live;
//! a save based on an old revision (412) shows "Changed on another device" with the values
//! saved meanwhile beside the ones typed, keeps what was typed, and saves it on request.
//!
//! To get a real 412 the second page must not have heard of the first one's save when it
//! saves: DevTools holds its refetch of the config (`Fetch` interception), as a slow network
//! would; without that the live status brings the news first and the form shows the panel
//! before any save (`docs/page.md`, "Two phones").

use serde_json::json;

use crate::browser::{Browser, Preset};

use super::site::{LIVE, Site, TestResult, calls, click_text, finish, set_value, tap};

async fn edit_wake(browser: &Browser) -> TestResult {
    tap(browser, "a.alarm-main[href='#/alarm/wake']").await?;
    browser.wait_for_text("main h1", "Edit alarm").await?;
    browser.wait_for("input[name=label]").await?;
    Ok(())
}

async fn config_requests(browser: &Browser) -> Result<usize, Box<dyn std::error::Error>> {
    Ok(calls(browser)
        .await?
        .iter()
        .filter(|c| c.starts_with("GET ") && c.ends_with("/api/config"))
        .count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_shows_on_the_other_page_and_a_stale_save_shows_both_versions() -> TestResult {
    let site = Site::start().await;
    let (phone, desktop) = tokio::join!(site.open(Preset::Phone), site.open(Preset::Desktop));
    let (mut phone, mut desktop) = (phone?, desktop?);
    let before = site.alarm("wake").await;

    // Saved on the phone, shown on the desktop's list without a reload.
    edit_wake(&phone).await?;
    phone.fill("input[name=label]", "Early shift").await?;
    tap(&phone, "form.alarm-form button[type=submit]").await?;
    phone.wait_for_text("#toast", "Saved.").await?;
    desktop.set_wait(LIVE);
    desktop.wait_for_text(".alarms", "Early shift").await?;

    // Both edit the alarm. The desktop's refetch after the phone's save is held back.
    edit_wake(&desktop).await?;
    edit_wake(&phone).await?;
    let held = json!({ "patterns": [{ "urlPattern": "*/api/config", "requestStage": "Request" }] });
    desktop.cdp("Fetch.enable", held).await?;
    let fetched = config_requests(&desktop).await?;
    set_value(&phone, "input[name=time]", "05:45").await?;
    tap(&phone, "form.alarm-form button[type=submit]").await?;
    phone.wait_for_text("#toast", "Saved.").await?;
    // The live status reached the desktop: it asks for the new config, and waits.
    desktop
        .wait_until(
            "the desktop to ask for the changed config",
            &format!(
                "return (window.__e2eCalls || []).filter((c) => c.startsWith('GET ') && c.endsWith('/api/config')).length > {fetched}"
            ),
        )
        .await?;
    desktop.set_wait(crate::browser::WAIT);

    // The desktop saves what it typed on the revision it had: 412, and the panel.
    desktop.fill("input[name=label]", "Late shift").await?;
    tap(&desktop, "form.alarm-form button[type=submit]").await?;
    desktop
        .wait_for_text(".conflict h3", "Changed on another device")
        .await?;
    let rows = desktop
        .eval(
            "return [...document.querySelectorAll('.conflict tbody tr')]
                .map((tr) => [...tr.children].map((c) => c.textContent))",
        )
        .await?;
    let old_time = before["time"].as_str().unwrap();
    assert_eq!(
        rows,
        json!([
            ["Time", old_time, "05:45"],
            ["Label", "Late shift", "Early shift"]
        ]),
        "the panel shows what differs: typed, then saved now"
    );
    // Nothing typed is lost.
    let form = desktop
        .eval(
            "return [document.querySelector('input[name=label]').value,
                     document.querySelector('input[name=time]').value]",
        )
        .await?;
    assert_eq!(form, json!(["Late shift", old_time]));
    assert_eq!(site.alarm("wake").await["label"], "Early shift");

    let refused = desktop.console_errors().await?;
    assert!(
        refused.iter().any(|e| e.message.contains("status of 412")),
        "the save was not refused as stale: {refused:?}"
    );

    // "Save mine" saves the typed values over the others, on the current revision.
    click_text(&desktop, ".conflict button", "Save mine").await?;
    desktop.wait_for_text("#toast", "Saved.").await?;
    desktop.cdp("Fetch.disable", json!({})).await?;
    let wake = site.alarm("wake").await;
    assert_eq!(
        (&wake["label"], &wake["time"]),
        (&json!("Late shift"), &json!(old_time))
    );
    // And the phone, back home, shows the desktop's save.
    phone.set_wait(LIVE);
    phone.wait_for_text(".alarms", "Late shift").await?;

    finish(phone, &site.origin(), &[]).await?;
    finish(desktop, &site.origin(), &["status of 412"]).await
}
