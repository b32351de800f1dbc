//! Hand edits of the file while the daemon runs: valid ones are loaded, invalid ones refused
//! without harm, and nothing the user typed is lost.

use std::fs;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, revision_of, spawn_app};

/// The file as the daemon wrote it, with one change, as a person would type it.
fn edited(app: &TestApp, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(&fs::read(app.config_path()).unwrap()).unwrap();
    edit(&mut doc);
    serde_json::to_vec_pretty(&doc).unwrap()
}

async fn wait_for_revision(app: &TestApp, revision: u64) {
    let mut revisions = app.store.subscribe();
    tokio::time::timeout(
        Duration::from_secs(10),
        revisions.wait_for(|r| *r >= revision),
    )
    .await
    .expect("the hand edit was not picked up within 10 s")
    .unwrap();
}

#[tokio::test]
async fn a_valid_edit_written_in_place_becomes_a_new_revision() {
    let app = spawn_app().await;
    let text = edited(&app, |doc| doc["web"]["title"] = json!("Edited in nano"));
    fs::write(app.config_path(), &text).unwrap();
    wait_for_revision(&app, 2).await;

    let (doc, revision) = app.get_config().await;
    assert_eq!(
        (doc["web"]["title"].as_str(), revision),
        (Some("Edited in nano"), 2)
    );
    let status = app.status().await;
    assert_eq!(status["config"]["last_change_origin"], "external_edit");
    // The store does not rewrite the user's file.
    assert_eq!(fs::read(app.config_path()).unwrap(), text);
}

#[tokio::test]
async fn a_valid_edit_saved_by_rename_is_picked_up() {
    let app = spawn_app().await;
    let text = edited(&app, |doc| doc["volume"]["target_percent"] = json!(40));
    let temp = app.dir.path().join("config.json~");
    fs::write(&temp, text).unwrap();
    fs::rename(&temp, app.config_path()).unwrap();
    wait_for_revision(&app, 2).await;
    assert_eq!(app.get_config().await.0["volume"]["target_percent"], 40);
}

#[tokio::test]
async fn an_invalid_edit_is_refused_kept_and_reported_until_a_save_replaces_it() {
    let app = spawn_app().await;
    let (good, revision) = app.get_config().await;
    let broken = b"{\n  \"version\": 1,\n  \"web\": { \"title\": \"half typed\"\n".to_vec();
    fs::write(app.config_path(), &broken).unwrap();

    // `fs::write` truncates, then writes: the watcher may refuse the empty file first.
    let kept = app.dir.path().join("config.json.rejected");
    let status = app
        .wait_for_status("the refused edit", |s| {
            !s["config"]["external_edit_error"].is_null()
                && fs::read(&kept).is_ok_and(|copy| copy == broken)
        })
        .await;
    let error = &status["config"]["external_edit_error"];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{error}"
    );
    assert_eq!(error["rejected_copy"], kept.to_str().unwrap());
    assert_eq!(fs::read(&kept).unwrap(), broken, "the user's text is kept");
    assert_eq!(
        fs::read(app.config_path()).unwrap(),
        broken,
        "the broken file is not overwritten silently"
    );
    assert_eq!(
        app.get_config().await,
        (good, revision),
        "the daemon serves the last good config"
    );

    // A save from the page replaces the broken file; the rejected text stays beside it.
    let response = app
        .patch(
            &json!({"web": {"title": "Fixed from the phone"}}),
            Some(revision),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(revision_of(&response), revision + 1);
    let (on_disk, _) = reveille::store::read_config_file(&app.config_path()).unwrap();
    assert_eq!(on_disk.web.title, "Fixed from the phone");
    assert_eq!(fs::read(&kept).unwrap(), broken);
    assert!(app.status().await["config"]["external_edit_error"].is_null());
}

#[tokio::test]
async fn an_edit_with_a_bad_value_names_the_field() {
    let app = spawn_app().await;
    let text = edited(&app, |doc| {
        doc["hardware"]["buttons"] = json!([{"pin": 40}])
    });
    fs::write(app.config_path(), &text).unwrap();
    // The empty file between truncating and writing may be refused first.
    app.wait_for_status("the refused edit", |s| {
        s["config"]["external_edit_error"]["field"] == "hardware.buttons[0].pin"
    })
    .await;
    assert_eq!(app.get_config().await.1, 1);

    // Fixing the file by hand clears the error and loads the fix.
    let fixed = edited(&app, |doc| {
        doc["hardware"]["buttons"] = json!([{"pin": 21}])
    });
    fs::write(app.config_path(), fixed).unwrap();
    wait_for_revision(&app, 2).await;
    assert!(app.status().await["config"]["external_edit_error"].is_null());
    assert_eq!(
        app.get_config().await.0["hardware"]["buttons"][0]["pin"],
        21
    );
}

/// A hand edit that lands just before an API write is noticed by the write itself (before the
/// watcher gets to it): the writer's revision is stale and the edit is not overwritten.
#[tokio::test]
async fn an_api_write_racing_a_hand_edit_does_not_overwrite_it() {
    let app = spawn_app().await;
    let text = edited(&app, |doc| doc["web"]["title"] = json!("Typed by hand"));
    fs::write(app.config_path(), text).unwrap();
    let response = app
        .patch(&json!({"web": {"title": "From the phone"}}), Some(1))
        .await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.get_config().await.0["web"]["title"], "Typed by hand");
}

#[tokio::test]
async fn a_deleted_file_is_reported_and_written_again_by_the_next_save() {
    let app = spawn_app().await;
    fs::remove_file(app.config_path()).unwrap();
    let status = app
        .wait_for_status("the missing file", |s| {
            !s["config"]["external_edit_error"].is_null()
        })
        .await;
    assert!(
        status["config"]["external_edit_error"]["message"]
            .as_str()
            .unwrap()
            .contains("removed")
    );
    assert_eq!(app.get_config().await.1, 1, "the daemon keeps its config");
    let response = app.patch(&json!({"web": {"title": "Back"}}), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (on_disk, revision) = reveille::store::read_config_file(&app.config_path()).unwrap();
    assert_eq!((on_disk.web.title.as_str(), revision), ("Back", Some(2)));
}
