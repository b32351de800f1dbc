//! The real binary started on a file that carries the issue's date (`+262142-12-31` in
//! America/New_York), which once aborted every start (exit 134): it is refused like any
//! invalid file, with the field named, from the last-good backup if there is one.

use serde_json::{Value, json};

use crate::daemon;
use daemon::Daemon;

fn issue_document() -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "version": 1,
        "time_zone": "America/New_York",
        "alarms": [{"id": "far", "time": "23:59", "date": "+262142-12-31"}],
    }))
    .unwrap()
}

#[test]
fn without_a_backup_the_start_is_refused_with_the_field_named_not_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, issue_document()).unwrap();
    let error = Daemon::start(&path)
        .err()
        .expect("the daemon started on the issue document");
    assert!(error.contains("exit status: 1"), "{error}");
    assert!(error.contains("alarms[0].date"), "{error}");
    assert!(error.contains("2000 to 2199"), "{error}");
}

#[tokio::test]
async fn with_a_backup_the_daemon_starts_from_it_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let daemon = Daemon::start(&path).unwrap();
    let response = reqwest::Client::new()
        .patch(daemon.url("/api/config"))
        .json(&json!({"web": {"title": "Last good"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(daemon);
    let backup: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json.last-good")).unwrap())
            .unwrap();

    std::fs::write(&path, issue_document()).unwrap();
    let mut daemon = Daemon::start(&path).unwrap_or_else(|log| panic!("no start:\n{log}"));
    let status: Value = reqwest::get(daemon.url("/api/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let why = status["config"]["started_from_backup"].as_str().unwrap();
    assert!(why.contains("alarms[0].date"), "{why}");
    assert!(
        status["scheduler"]["broken_alarms"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let log = daemon.log_so_far();
    assert!(log.contains("alarms[0].date"), "{log}");
    let config: Value = reqwest::get(daemon.url("/api/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The daemon runs on the backup (which lags the file by at most one save).
    assert_eq!(config["web"]["title"], backup["web"]["title"]);
}
