//! Notices hand edits of the config file and hands them to the store.
//!
//! Watches the *directory* and filters on the file name: editors (and the store itself) replace
//! the file by renaming, which a watch on the file's inode would lose. Access events are ignored
//! (reading the file would otherwise trigger a reload forever), and the store ignores its own
//! writes by comparing bytes. Events are coalesced through a one-slot channel and a short
//! debounce, so an editor's truncate-write-rename sequence is read once, complete.

use std::time::Duration;

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ConfigStore;

/// Long enough for an editor's save to finish, short enough to feel immediate.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Keeps the watch alive; dropping it stops watching.
pub struct FileWatcher {
    _watcher: RecommendedWatcher,
    task: JoinHandle<()>,
}

impl Drop for FileWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching the store's file. Must be called inside a tokio runtime.
pub fn watch_file(store: &ConfigStore) -> notify::Result<FileWatcher> {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    // One look right away (debounced like any event) for an edit made between opening the
    // store and installing the watch.
    tx.try_send(()).expect("a new channel has room");
    let name = store.files().file_name().to_owned();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let relevant = match event {
            // An inotify queue overflow arrives as a rescan event without paths.
            Ok(event) if event.need_rescan() || event.paths.is_empty() => true,
            Ok(event) => {
                !matches!(event.kind, EventKind::Access(_))
                    && event
                        .paths
                        .iter()
                        .any(|p| p.file_name() == Some(name.as_os_str()))
            }
            // Events may have been lost (queue overflow): look at the file to be sure.
            Err(e) => {
                tracing::warn!("config file watcher: {e}");
                true
            }
        };
        if relevant {
            // Full means a check is already pending, which will see this change too.
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(store.files().dir(), RecursiveMode::NonRecursive)?;

    let store = store.clone();
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(DEBOUNCE).await;
            while rx.try_recv().is_ok() {}
            store.check_disk().await;
        }
    });
    Ok(FileWatcher {
        _watcher: watcher,
        task,
    })
}
