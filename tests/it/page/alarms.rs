//! Alarms through the page at the phone viewport, checked in the API after each step: create
//! (time, the weekend preset, a label), edit (label, snooze minutes), a value the API refuses
//! shown at its field, skip-next, the on/off switch, delete with the second tap and undo.

use serde_json::{Value, json};

use crate::browser::Preset;

use super::site::{Site, TestResult, click_text, finish, set_value, shown, tap};

fn find<'a>(alarms: &'a [Value], label: &str) -> Option<&'a Value> {
    alarms.iter().find(|a| a["label"] == label)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_edit_skip_switch_off_and_delete_with_undo_on_the_phone() -> TestResult {
    let site = Site::start().await;
    let browser = site.open(Preset::Phone).await?;

    // Create: the big add button, a time, the weekend preset, a label.
    tap(&browser, "a.add").await?;
    browser.wait_for_text("main h1", "New alarm").await?;
    set_value(&browser, "input[name=time]", "06:30").await?;
    click_text(&browser, "button.chip", "Weekend").await?;
    browser.type_text("input[name=label]", "Gym").await?;
    tap(&browser, "form.alarm-form button[type=submit]").await?;
    browser
        .wait_for_text("#toast", "Alarm set for 06:30, weekends.")
        .await?;
    browser.wait_for_text(".alarms", "Gym").await?;
    let alarms = site.alarms().await;
    let gym = find(&alarms, "Gym").expect("the new alarm is in the config");
    assert_eq!(gym["time"], "06:30");
    assert_eq!(gym["repeat"], json!(["sat", "sun"]));
    assert_eq!(gym["enabled"], true);
    let id = gym["id"].as_str().unwrap().to_owned();

    // Edit: the row opens the form; a new label and, folded away, the snooze minutes.
    tap(&browser, &format!("a.alarm-main[href='#/alarm/{id}']")).await?;
    browser.wait_for_text("main h1", "Edit alarm").await?;
    browser.fill("input[name=label]", "Gym class").await?;
    click_text(&browser, "summary", "Volume, fade and snooze").await?;
    browser.fill("input[name=snooze_minutes]", "5").await?;
    // A value the API refuses: its message next to its field, the field marked and focused,
    // nothing saved.
    browser.fill("input[name=max_ring_minutes]", "999").await?;
    tap(&browser, "form.alarm-form button[type=submit]").await?;
    let error = "[data-field='ring.max_ring_minutes'] > .error";
    browser
        .wait_for_text(error, "999 is out of range (1 to 240)")
        .await?;
    let marked = browser
        .eval(
            "const input = document.querySelector('input[name=max_ring_minutes]');
             return [input.getAttribute('aria-invalid'), document.activeElement === input]",
        )
        .await?;
    assert_eq!(marked, json!(["true", true]));
    assert_eq!(site.alarm(&id).await["label"], "Gym");
    browser.fill("input[name=max_ring_minutes]", "20").await?;
    tap(&browser, "form.alarm-form button[type=submit]").await?;
    browser.wait_for_text("#toast", "Saved.").await?;
    browser.wait_for_text(".alarms", "Gym class").await?;
    let gym = site.alarm(&id).await;
    assert_eq!(gym["label"], "Gym class");
    assert_eq!(gym["ring"]["snooze_minutes"], 5);
    assert_eq!(gym["ring"]["max_ring_minutes"], 20);
    assert_eq!(
        gym["repeat"],
        json!(["sat", "sun"]),
        "an edit kept the days"
    );

    // Skip the next one: the button says so once the live status brings the change.
    let skip = format!("button[data-focus-key='skip-{id}']");
    tap(&browser, &skip).await?;
    browser.wait_for_text(&skip, "Skipping next").await?;
    assert_eq!(
        browser
            .eval(&format!(
                "return document.querySelector(\"{skip}\").getAttribute('aria-pressed')"
            ))
            .await?,
        "true"
    );
    assert_eq!(site.alarm(&id).await["skip_next"], true);

    // The switch turns it off.
    tap(&browser, &format!("input[data-focus-key='on-{id}']")).await?;
    browser
        .wait_until(
            "the alarm's row to show it off",
            &format!(
                "return !!document.querySelector(\"a[href='#/alarm/{id}']\")?.closest('li.alarm.off')"
            ),
        )
        .await?;
    assert_eq!(site.alarm(&id).await["enabled"], false);

    // Delete asks for a second tap, then offers to undo.
    tap(&browser, &format!("a.alarm-main[href='#/alarm/{id}']")).await?;
    browser.wait_for_text("main h1", "Edit alarm").await?;
    tap(&browser, "button.danger").await?;
    browser
        .wait_for_text("button.danger", "Tap again to delete")
        .await?;
    assert!(site.alarm_exists(&id).await, "one tap deleted the alarm");
    tap(&browser, "button.danger").await?;
    browser
        .wait_for_text("#toast", "Gym class deleted.")
        .await?;
    browser
        .wait_until(
            "the deleted alarm to leave the list",
            &format!("return !document.querySelector(\"a[href='#/alarm/{id}']\")"),
        )
        .await?;
    assert!(find(&site.alarms().await, "Gym class").is_none());
    tap(&browser, "#toast button").await?;
    browser
        .wait_for_text("#toast", "The alarm is back.")
        .await?;
    browser.wait_for_text(".alarms", "Gym class").await?;
    let alarms = site.alarms().await;
    let back = find(&alarms, "Gym class").expect("undo brought the alarm back");
    for key in ["time", "repeat", "enabled", "ring"] {
        assert_eq!(back[key], gym_after_switch(&gym)[key], "{key}");
    }
    assert!(browser.eval(&shown("#overlay")).await? == false);

    finish(browser, &site.origin(), &["status of 422"]).await
}

/// The alarm as it was saved before the switch turned it off.
fn gym_after_switch(gym: &Value) -> Value {
    let mut gym = gym.clone();
    gym["enabled"] = false.into();
    gym
}
