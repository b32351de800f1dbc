//! `ConfigStore` on real files in a temp dir: durability order, serialization, rollback and
//! start-up from every state a crash or a person can leave behind.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reveille::config::{Config, FieldError};
use reveille::store::{ConfigStore, OpenError, Origin, TxError, read_config_file};

/// The revision history and the start-up backup rule.
mod history;

fn set_title(title: String) -> impl FnOnce(&mut Config) -> Result<(), FieldError> + Send + 'static {
    move |config| {
        config.web.title = title;
        Ok(())
    }
}

fn file_revision(path: &Path) -> u64 {
    read_config_file(path).unwrap().1.unwrap()
}

fn open(dir: &Path) -> ConfigStore {
    ConfigStore::open(&dir.join("config.json"), None).unwrap()
}

/// Readers that look at the snapshot and then at the file must never find the file behind:
/// whatever a reader can see is already durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_revision_is_always_already_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let path = dir.path().join("config.json");
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let (store, path, done) = (store.clone(), path.clone(), done.clone());
        std::thread::spawn(move || {
            let mut checks = 0u32;
            while !done.load(Ordering::Relaxed) {
                let published = store.snapshot().revision;
                let on_disk = file_revision(&path);
                assert!(
                    on_disk >= published,
                    "revision {published} was visible before it was on disk ({on_disk})"
                );
                checks += 1;
            }
            checks
        })
    };
    let mut subscriber = store.subscribe();
    let watcher = {
        let path = path.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            while subscriber.changed().await.is_ok() {
                let notified = *subscriber.borrow_and_update();
                assert!(
                    file_revision(&path) >= notified,
                    "notified of {notified} before it was saved"
                );
                seen += 1;
            }
            seen
        })
    };
    for i in 0..200 {
        store
            .transaction(None, set_title(format!("t{i}")))
            .await
            .unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    drop(store);
    assert!(watcher.await.unwrap() > 0, "the subscriber saw no revision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn n_concurrent_transactions_end_at_revision_n_with_the_file_equal_to_the_snapshot() {
    const N: u64 = 64;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .transaction(None, set_title(format!("writer {i}")))
                    .await
                    .unwrap()
                    .revision
            })
        })
        .collect();
    let mut revisions = Vec::new();
    for task in tasks {
        revisions.push(task.await.unwrap());
    }
    revisions.sort();
    assert_eq!(
        revisions,
        (2..=N + 1).collect::<Vec<_>>(),
        "each commit got its own revision"
    );
    let snapshot = store.snapshot();
    assert_eq!(snapshot.revision, N + 1);
    let (on_disk, revision) = read_config_file(&dir.path().join("config.json")).unwrap();
    assert_eq!((on_disk, revision), (snapshot.config.clone(), Some(N + 1)));
}

#[tokio::test]
async fn a_stale_or_invalid_transaction_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .transaction(Some(1), set_title("two".into()))
        .await
        .unwrap();
    let file_before = fs::read(dir.path().join("config.json")).unwrap();

    let stale = store.transaction(Some(1), set_title("lost".into())).await;
    assert!(
        matches!(
            stale,
            Err(TxError::Stale {
                expected: 1,
                current: 2
            })
        ),
        "{stale:?}"
    );
    let invalid = store
        .transaction(None, |c| {
            c.volume.target_percent = 400;
            Ok(())
        })
        .await;
    assert!(
        matches!(&invalid, Err(TxError::Invalid(e)) if e.field == "volume.target_percent"),
        "{invalid:?}"
    );
    let refused = store
        .transaction(None, |_| Err(FieldError::invalid("web", "no")))
        .await;
    assert!(refused.is_err());

    assert_eq!(store.snapshot().revision, 2);
    assert_eq!(store.snapshot().config.web.title, "two");
    assert_eq!(
        fs::read(dir.path().join("config.json")).unwrap(),
        file_before
    );
}

/// The save fails at the rename (the target became a non-empty directory): nothing is
/// published, no temp file is left, and the store works again once the path is usable.
#[tokio::test]
async fn a_failed_save_publishes_nothing_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let path = dir.path().join("config.json");
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    fs::write(path.join("blocker"), b"x").unwrap();
    let revisions = store.subscribe();

    let failed = store.transaction(None, set_title("never".into())).await;
    assert!(matches!(failed, Err(TxError::Save { .. })), "{failed:?}");
    assert_eq!(store.snapshot().revision, 1);
    assert_eq!(store.snapshot().config.web.title, "Reveille");
    assert!(
        !revisions.has_changed().unwrap(),
        "no revision was announced"
    );
    let temps: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");

    fs::remove_dir_all(&path).unwrap();
    let snapshot = store
        .transaction(None, set_title("works".into()))
        .await
        .unwrap();
    assert_eq!(snapshot.revision, 2);
    assert_eq!(read_config_file(&path).unwrap().0.web.title, "works");
}

#[tokio::test]
async fn a_transaction_that_changes_nothing_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    use std::os::unix::fs::MetadataExt;
    let inode = fs::metadata(dir.path().join("config.json")).unwrap().ino();
    let bytes = fs::read(dir.path().join("config.json")).unwrap();
    let snapshot = store.transaction(None, |_| Ok(())).await.unwrap();
    assert_eq!(snapshot.revision, 1);
    // Every save renames a new inode into place.
    assert_eq!(
        fs::metadata(dir.path().join("config.json")).unwrap().ino(),
        inode
    );
    assert_eq!(fs::read(dir.path().join("config.json")).unwrap(), bytes);
}

#[test]
fn a_missing_file_is_created_with_the_defaults_and_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("state/reveille");
    let store = open(&nested);
    assert_eq!(store.snapshot().origin, Origin::Created);
    assert_eq!(store.snapshot().config, Config::default());
    let path = nested.join("config.json");
    assert_eq!(
        read_config_file(&path).unwrap(),
        (Config::default(), Some(1))
    );
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_seed_is_used_only_when_there_is_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let mut seed = Config::default();
    seed.web.title = "Seeded".into();
    let store = ConfigStore::open(&path, Some(seed.clone())).unwrap();
    assert_eq!(store.snapshot().config.web.title, "Seeded");
    drop(store);
    seed.web.title = "Ignored".into();
    let store = ConfigStore::open(&path, Some(seed)).unwrap();
    assert_eq!(store.snapshot().config.web.title, "Seeded");
}

#[tokio::test]
async fn revisions_continue_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..3 {
        store
            .transaction(None, set_title(format!("t{i}")))
            .await
            .unwrap();
    }
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        (store.snapshot().revision, store.snapshot().origin),
        (4, Origin::Loaded)
    );
    assert_eq!(store.snapshot().config.web.title, "t2");
}

#[test]
fn leftover_temp_files_from_a_crash_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let leftover = dir.path().join(".config.json.tmp-4242-0");
    fs::write(&leftover, b"{\"version\": 1, \"web\": {\"ti").unwrap();
    let store = open(dir.path());
    assert!(!leftover.exists());
    assert_eq!(store.snapshot().revision, 1);
}

#[tokio::test]
async fn an_unusable_file_at_start_falls_back_to_the_last_good_backup_and_keeps_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let store = open(dir.path());
    store
        .transaction(None, set_title("good".into()))
        .await
        .unwrap();
    store
        .transaction(None, set_title("better".into()))
        .await
        .unwrap();
    drop(store);
    let broken = b"{\"version\": 1, \"web\": {\"title\": ".to_vec();
    fs::write(&path, &broken).unwrap();

    let store = open(dir.path());
    let snapshot = store.snapshot();
    assert_eq!(snapshot.origin, Origin::Backup);
    assert_eq!(
        snapshot.config.web.title, "good",
        "the backup is the version before the last save"
    );
    let health = store.health();
    assert!(
        health
            .started_from_backup
            .as_deref()
            .unwrap()
            .contains("JSON")
    );
    assert!(health.external_edit_error.is_some());
    assert_eq!(
        fs::read(dir.path().join("config.json.rejected")).unwrap(),
        broken
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        broken,
        "the broken file is left for the user to see"
    );

    // A save replaces the broken file; the next start is a normal one.
    store
        .transaction(None, set_title("repaired".into()))
        .await
        .unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.snapshot().origin, Origin::Loaded);
    assert_eq!(store.snapshot().config.web.title, "repaired");
}

#[test]
fn an_unusable_file_without_a_backup_refuses_to_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    fs::write(&path, br#"{"volume": {"target_percent": 180}}"#).unwrap();
    let error = match ConfigStore::open(&path, None) {
        Err(e) => e,
        Ok(_) => panic!("started on an invalid file"),
    };
    assert!(matches!(error, OpenError::Unusable { .. }));
    let message = error.to_string();
    assert!(message.contains(path.to_str().unwrap()), "{message}");
    assert!(message.contains("volume.target_percent"), "{message}");
    assert_eq!(
        fs::read(&path).unwrap(),
        br#"{"volume": {"target_percent": 180}}"#,
        "left as it was"
    );
}

#[tokio::test]
async fn a_valid_file_the_daemon_runs_on_is_copied_to_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    fs::write(&path, br#"{"web": {"title": "Hand made"}}"#).unwrap();
    let store = ConfigStore::open(&path, None).unwrap();
    assert_eq!(
        (store.snapshot().revision, store.snapshot().origin),
        (1, Origin::Loaded)
    );
    store.confirm_running().await;
    let backup = read_config_file(&dir.path().join("config.json.last-good")).unwrap();
    assert_eq!(backup, (store.snapshot().config.clone(), Some(1)));
    // A copy, not a link: an editor writing in place must not change the backup too.
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (
        fs::metadata(&path).unwrap(),
        fs::metadata(dir.path().join("config.json.last-good")).unwrap(),
    );
    assert_ne!(a.ino(), b.ino());
}

/// A hand edit gets a new revision in memory while the file keeps the number it had; a
/// restart must not hand that revision out again for other content (a client still holding it
/// could otherwise overwrite the hand edit).
#[tokio::test]
async fn a_revision_given_to_a_hand_edit_is_not_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let store = open(dir.path());
    store
        .transaction(None, set_title("from the api".into()))
        .await
        .unwrap();
    for title in ["by hand", "by hand again"] {
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace(&store.snapshot().config.web.title, title);
        fs::write(&path, text).unwrap();
        store.check_disk().await;
    }
    assert_eq!(store.snapshot().revision, 4);
    assert_eq!(
        read_config_file(&path).unwrap().1,
        Some(2),
        "the user's file keeps its number"
    );
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.snapshot().config.web.title, "by hand again");
    assert_eq!(
        store.snapshot().revision,
        4,
        "revisions 2 and 3 belong to other content"
    );
    let stale = store
        .transaction(Some(2), set_title("lost update".into()))
        .await;
    assert!(matches!(stale, Err(TxError::Stale { .. })), "{stale:?}");
}

#[tokio::test]
async fn a_missing_file_with_a_backup_is_restored_from_it_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let store = open(dir.path());
    store
        .transaction(None, set_title("my alarms".into()))
        .await
        .unwrap();
    drop(store);
    // Each start the daemon confirms keeps a copy of the file it loaded (saves keep the
    // version before them).
    open(dir.path()).confirm_running().await;
    fs::remove_file(&path).unwrap();

    let store = open(dir.path());
    assert_eq!(store.snapshot().origin, Origin::Backup);
    assert_eq!(store.snapshot().config.web.title, "my alarms");
    assert_eq!(
        store.snapshot().revision,
        4,
        "past every revision handed out before"
    );
    assert!(store.health().started_from_backup.is_some());
    assert_eq!(read_config_file(&path).unwrap().0.web.title, "my alarms");
    store
        .transaction(None, set_title("saved".into()))
        .await
        .unwrap();
    assert!(
        store.health().started_from_backup.is_none(),
        "cleared once the file is good again"
    );
}

/// The backup lags the file by one save; a start from it must still not reuse the revision of
/// the lost file, or a phone holding that ETag could overwrite the restored config.
#[tokio::test]
async fn a_start_from_the_backup_never_reuses_a_revision() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let store = open(dir.path());
    store
        .transaction(None, set_title("good".into()))
        .await
        .unwrap();
    store
        .transaction(None, set_title("better".into()))
        .await
        .unwrap();
    let lost = store.snapshot().revision;
    drop(store);
    fs::write(&path, b"garbage").unwrap();

    let store = open(dir.path());
    assert_eq!(store.snapshot().config.web.title, "good");
    assert!(
        store.snapshot().revision > lost,
        "{} <= {lost}",
        store.snapshot().revision
    );
    let stale = store
        .transaction(Some(lost), set_title("overwrite".into()))
        .await;
    assert!(matches!(stale, Err(TxError::Stale { .. })), "{stale:?}");
}

/// After an accepted hand edit the file carries an old revision number; the next save must not
/// make that file the backup (it would carry a revision far behind).
#[tokio::test]
async fn a_hand_edited_file_is_not_linked_as_a_backup_with_its_stale_revision() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let store = open(dir.path());
    for i in 0..3 {
        store
            .transaction(None, set_title(format!("api {i}")))
            .await
            .unwrap();
    }
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("api 2", "by hand");
    fs::write(&path, text).unwrap();
    store.check_disk().await;
    store
        .transaction(None, set_title("after".into()))
        .await
        .unwrap();
    let revision = store.snapshot().revision;
    let (_, backup_revision) = read_config_file(&dir.path().join("config.json.last-good")).unwrap();
    assert!(
        backup_revision.unwrap() + 1 >= revision,
        "backup {backup_revision:?}, current {revision}"
    );
}

#[test]
fn a_backup_sharing_the_file_inode_is_replaced_by_a_copy_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    drop(open(dir.path()));
    let backup = dir.path().join("config.json.last-good");
    let _ = fs::remove_file(&backup);
    // What a crash between a save's link and rename leaves behind.
    fs::hard_link(&path, &backup).unwrap();
    drop(open(dir.path()));
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        fs::metadata(&path).unwrap().ino(),
        fs::metadata(&backup).unwrap().ino()
    );
}
