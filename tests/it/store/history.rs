//! The revision history on real files: every committed revision kept, bounded by count and
//! bytes, surviving a restart, never failing a save; and the last-good backup following only
//! a document the daemon confirmed it runs on.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use reveille::store::{ConfigStore, HistoryLimits, MAX_REVISIONS, Origin, read_config_file};

use super::{open, set_title};

/// (revision, origin name, size) of every kept file, oldest first.
fn kept(dir: &Path) -> Vec<(u64, String, u64)> {
    let mut kept: Vec<_> = fs::read_dir(dir.join("config.json.revisions"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let mut parts = name.split('.');
            let revision = parts.next().unwrap().parse().unwrap();
            let origin = parts.next().unwrap().to_owned();
            (revision, origin, e.metadata().unwrap().len())
        })
        .collect();
    kept.sort();
    kept
}

async fn title_of(store: &ConfigStore, revision: u64) -> String {
    store
        .revision_document(revision)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("revision {revision} is not kept"))
        .web
        .title
}

#[tokio::test]
async fn every_revision_is_kept_up_to_the_count_bound_oldest_pruned_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..MAX_REVISIONS + 10 {
        store
            .transaction(None, set_title(format!("t{i}")))
            .await
            .unwrap();
    }
    let current = store.snapshot().revision;
    let kept = kept(dir.path());
    assert_eq!(kept.len(), MAX_REVISIONS, "{kept:?}");
    let revisions: Vec<u64> = kept.iter().map(|k| k.0).collect();
    let first = current - MAX_REVISIONS as u64;
    assert_eq!(revisions, (first..current).collect::<Vec<_>>());
    assert!(kept.iter().all(|k| k.1 == "transaction"));
    let mode = fs::metadata(
        dir.path()
            .join(format!("config.json.revisions/{first}.transaction.json")),
    )
    .unwrap()
    .permissions()
    .mode();
    assert_eq!(mode & 0o777, 0o600);

    let listed = store.revisions().await;
    assert_eq!(
        listed.len(),
        MAX_REVISIONS + 1,
        "the kept ones and the current one"
    );
    assert_eq!((listed[0].revision, listed[0].current), (current, true));
    assert!(
        listed.windows(2).all(|w| w[0].revision > w[1].revision),
        "newest first"
    );
    assert_eq!(
        title_of(&store, current - 1).await,
        format!("t{}", MAX_REVISIONS + 8)
    );
    assert!(
        store.revision_document(1).await.unwrap().is_none(),
        "pruned"
    );
}

#[tokio::test]
async fn the_history_is_bounded_by_bytes_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let limits = HistoryLimits {
        max_revisions: 1000,
        max_bytes: 4 * 1024,
    };
    let store = ConfigStore::open_with(&dir.path().join("config.json"), None, limits).unwrap();
    for i in 0..40 {
        // About 900 B a document: the byte bound, not the count, decides.
        store
            .transaction(None, set_title(format!("t{i}")))
            .await
            .unwrap();
    }
    let kept = kept(dir.path());
    let total: u64 = kept.iter().map(|k| k.2).sum();
    assert!(total <= limits.max_bytes, "{total} bytes kept");
    assert!(kept.len() >= 3, "{kept:?}");
    assert_eq!(kept.last().unwrap().0, store.snapshot().revision - 1);
}

#[tokio::test]
async fn the_history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for title in ["monday", "tuesday", "wednesday"] {
        store
            .transaction(None, set_title(title.into()))
            .await
            .unwrap();
    }
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.snapshot().revision, 4);
    assert_eq!(title_of(&store, 2).await, "monday");
    assert_eq!(title_of(&store, 3).await, "tuesday");
    let listed = store.revisions().await;
    let origins: Vec<_> = listed.iter().map(|r| (r.revision, r.origin)).collect();
    assert_eq!(
        origins,
        [
            (4, Origin::Loaded),
            (3, Origin::Transaction),
            (2, Origin::Transaction),
            (1, Origin::Created)
        ]
    );
    assert_eq!(listed[1].summary.as_ref().unwrap().title, "tuesday");
}

#[tokio::test]
async fn a_failing_history_does_not_fail_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the history directory should be: every keep fails, also for root.
    fs::write(dir.path().join("config.json.revisions"), b"in the way").unwrap();
    let store = open(dir.path());
    let saved = store
        .transaction(None, set_title("still saved".into()))
        .await
        .unwrap();
    assert_eq!(saved.revision, 2);
    let (on_disk, revision) = read_config_file(&dir.path().join("config.json")).unwrap();
    assert_eq!(
        (on_disk.web.title.as_str(), revision),
        ("still saved", Some(2))
    );
    let error = store.health().history_error.expect("reported");
    assert!(error.contains("config.json.revisions"), "{error}");
}

/// An editor writing the file in place must not change what history kept for the revision it
/// replaced, and the edit itself is kept.
#[tokio::test]
async fn a_hand_edit_in_place_keeps_the_revision_it_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let store = open(dir.path());
    store
        .transaction(None, set_title("from the api".into()))
        .await
        .unwrap();
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("from the api", "by hand");
    fs::write(&path, text).unwrap();
    store.check_disk().await;
    assert_eq!(store.snapshot().revision, 3);
    assert_eq!(title_of(&store, 2).await, "from the api");
    assert_eq!(title_of(&store, 3).await, "by hand");
    store
        .transaction(None, set_title("after".into()))
        .await
        .unwrap();
    let live = fs::metadata(&path).unwrap().ino();
    for entry in fs::read_dir(dir.path().join("config.json.revisions")).unwrap() {
        assert_ne!(
            entry.unwrap().metadata().unwrap().ino(),
            live,
            "history shares the live file"
        );
    }
}

/// A file changed while the daemon was stopped that still carries a number the history knows
/// with other content gets a new number, so an old ETag cannot match it.
#[tokio::test]
async fn a_file_edited_while_stopped_with_a_known_revision_gets_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let store = open(dir.path());
    store
        .transaction(None, set_title("before".into()))
        .await
        .unwrap();
    drop(store);
    drop(open(dir.path()));
    let text = fs::read_to_string(&path)
        .unwrap()
        // The quoted value only: `readiness.before_minutes` holds the word too.
        .replace("\"before\"", "\"edited\"");
    fs::write(&path, text).unwrap();
    let store = open(dir.path());
    assert_eq!(store.snapshot().config.web.title, "edited");
    assert_eq!(store.snapshot().revision, 3);
    assert_eq!(title_of(&store, 2).await, "before");
}

/// The backup follows a file only once the daemon confirmed it runs on it: a file that
/// crashes the daemon at start leaves the last good one in place, however often it restarts.
#[tokio::test]
async fn the_backup_is_not_replaced_at_start_by_a_file_the_daemon_never_ran_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let backup = dir.path().join("config.json.last-good");
    let store = open(dir.path());
    store
        .transaction(None, set_title("known good".into()))
        .await
        .unwrap();
    drop(store);
    open(dir.path()).confirm_running().await;
    assert_eq!(read_config_file(&backup).unwrap().0.web.title, "known good");

    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("known good", "crashes");
    fs::write(&path, text).unwrap();
    for _ in 0..3 {
        // Starts, then dies before confirming.
        let store = open(dir.path());
        assert_eq!(store.snapshot().config.web.title, "crashes");
        drop(store);
        assert_eq!(read_config_file(&backup).unwrap().0.web.title, "known good");
    }
    let store = open(dir.path());
    store.confirm_running().await;
    let (config, revision) = read_config_file(&backup).unwrap();
    assert_eq!(
        (config.web.title.as_str(), revision),
        ("crashes", Some(store.snapshot().revision))
    );
}
