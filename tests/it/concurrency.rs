//! Many phones editing at once: optimistic concurrency loses no update.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{revision_of, spawn_app};

const CLIENTS: u64 = 16;
const INCREMENTS: u64 = 25;

/// Each client reads the counter (kept in the title), adds one and writes it back with
/// If-Match, retrying on 412. Every increment must survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_modify_write_with_if_match_loses_no_update() {
    let app = std::sync::Arc::new(spawn_app().await);
    app.patch(&json!({"web": {"title": "count 0"}}), None).await;
    let start_revision = app.get_config().await.1;

    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut conflicts = 0u64;
                for _ in 0..INCREMENTS {
                    loop {
                        let (doc, revision) = app.get_config().await;
                        let title = doc["web"]["title"].as_str().unwrap();
                        let n: u64 = title.strip_prefix("count ").unwrap().parse().unwrap();
                        let response = app
                            .patch(
                                &json!({"web": {"title": format!("count {}", n + 1)}}),
                                Some(revision),
                            )
                            .await;
                        match response.status() {
                            StatusCode::OK => break,
                            StatusCode::PRECONDITION_FAILED => conflicts += 1,
                            other => {
                                panic!("unexpected {other}: {}", response.text().await.unwrap())
                            }
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    let mut conflicts = 0;
    for client in clients {
        conflicts += client.await.unwrap();
    }

    let (doc, revision) = app.get_config().await;
    assert_eq!(
        doc["web"]["title"],
        format!("count {}", CLIENTS * INCREMENTS)
    );
    assert_eq!(revision, start_revision + CLIENTS * INCREMENTS);
    // The race was real: some writers had to retry.
    assert!(
        conflicts > 0,
        "no client ever conflicted; the test did not test concurrency"
    );
    let (on_disk, file_revision) = reveille::store::read_config_file(&app.config_path()).unwrap();
    assert_eq!(serde_json::to_value(on_disk).unwrap(), doc);
    assert_eq!(file_revision, Some(revision));
    let response = app.patch(&json!({}), Some(revision)).await;
    assert_eq!(revision_of(&response), revision);
}
