//! The revision history: the last committed versions of the document, kept in
//! `<file>.revisions/<revision>.<origin>.json` (same file format as the config, mode 0600) so a
//! person can go back after a bad change (`/api/config/revisions`).
//!
//! It is bounded by count and by bytes ([`HistoryLimits`]; oldest pruned first, the newest is
//! always kept) and it is best effort: a failure is logged and reported in `StoreHealth`, never
//! turned into a failed transaction. Cost matters because every transaction feeds it: the
//! revision a transaction replaces is kept by hard-linking its inode (no data written), before
//! the save's own fsyncs, so on a journalling file system the same commit makes it durable; the
//! directory is fsynced once more by a background thread, coalesced over a burst. Revisions not
//! committed by a transaction (start-up, hand edits) are written as copies, durably, when they
//! are accepted. An entry is never the live config inode, so an editor writing the config in
//! place cannot change history. Nothing here decides what to keep; the store calls it.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::Origin;
use super::file::StoreFiles;

/// How many revisions are kept by default (a few weeks of normal use).
pub const MAX_REVISIONS: usize = 50;
/// How many bytes of revisions are kept by default: 50 documents of 80 KiB, more than the
/// 64 KiB an HTTP body may carry.
pub const MAX_HISTORY_BYTES: u64 = 4 * 1024 * 1024;
/// A burst of saves shares one directory fsync; links are normally durable earlier, through the
/// save's own directory fsync on the same file system.
const SYNC_COALESCE: Duration = Duration::from_millis(200);

/// Bounds of the history; the defaults are [`MAX_REVISIONS`] and [`MAX_HISTORY_BYTES`].
#[derive(Clone, Copy, Debug)]
pub struct HistoryLimits {
    pub max_revisions: usize,
    pub max_bytes: u64,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            max_revisions: MAX_REVISIONS,
            max_bytes: MAX_HISTORY_BYTES,
        }
    }
}

/// One kept revision as the directory lists it.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub origin: Origin,
    pub size: u64,
}

pub(super) struct History {
    dir: PathBuf,
    /// Durable writes with their temp files inside `dir` (so the rename stays in one directory).
    writer: Option<StoreFiles>,
    limits: HistoryLimits,
    index: Mutex<BTreeMap<u64, Entry>>,
    error: Arc<Mutex<Option<String>>>,
    sync: Option<SyncSender<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic elsewhere cannot leave it half-updated.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn entry_name(revision: u64, origin: Origin) -> String {
    format!("{revision}.{}.json", origin.as_str())
}

fn parse_name(name: &str) -> Option<(u64, Origin)> {
    let mut parts = name.strip_suffix(".json")?.splitn(2, '.');
    let revision = parts.next()?.parse().ok()?;
    Some((revision, Origin::from_name(parts.next()?)?))
}

impl History {
    /// Reads what the directory holds; a missing directory is an empty history (created on the
    /// first keep), an unreadable one is reported and treated as empty.
    pub fn open(dir: &Path, limits: HistoryLimits) -> History {
        let error = Arc::new(Mutex::new(None));
        let history = History {
            dir: dir.to_path_buf(),
            writer: StoreFiles::new(&dir.join("revision")).ok(),
            limits,
            index: Mutex::new(BTreeMap::new()),
            sync: spawn_syncer(dir.to_path_buf(), error.clone()),
            error,
        };
        match fs::read_dir(dir) {
            Ok(entries) => {
                if let Some(writer) = &history.writer {
                    let _ = writer.remove_leftovers();
                }
                let mut index = lock(&history.index);
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    let Some((revision, origin)) = name.to_str().and_then(parse_name) else {
                        continue;
                    };
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    index.insert(revision, Entry { origin, size });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => history.fail("cannot read the revision history", &e),
        }
        history
    }

    pub fn error(&self) -> Option<String> {
        lock(&self.error).clone()
    }

    pub fn contains(&self, revision: u64) -> bool {
        lock(&self.index).contains_key(&revision)
    }

    pub fn newest(&self) -> Option<u64> {
        lock(&self.index).keys().next_back().copied()
    }

    /// Newest first.
    pub fn entries(&self) -> Vec<(u64, Entry)> {
        let index = lock(&self.index);
        index.iter().rev().map(|(r, e)| (*r, e.clone())).collect()
    }

    pub fn path(&self, revision: u64, origin: Origin) -> PathBuf {
        self.dir.join(entry_name(revision, origin))
    }

    /// Keeps `existing` (a file holding `revision`, about to be replaced) by a hard link.
    /// Returns whether a new entry was made, so a failed save can take it back.
    pub fn keep_link(&self, existing: &Path, revision: u64, origin: Origin) -> bool {
        if self.contains(revision) {
            return false;
        }
        let path = self.path(revision, origin);
        let linked = self
            .create_dir()
            .and_then(|()| fs::hard_link(existing, &path))
            .and_then(|()| fs::metadata(&path));
        match linked {
            Ok(meta) => {
                self.added(revision, origin, meta.len());
                if let Some(sync) = &self.sync {
                    // Full: a sync is already pending and will cover this link too.
                    let _ = sync.try_send(());
                }
                true
            }
            Err(e) => {
                self.fail(&format!("cannot keep revision {revision}"), &e);
                false
            }
        }
    }

    /// Keeps `bytes` (the encoded `revision`) as a durable copy, dated `committed_at`.
    pub fn keep_copy(&self, bytes: &[u8], revision: u64, origin: Origin, committed_at: SystemTime) {
        if self.contains(revision) {
            return;
        }
        let Some(writer) = &self.writer else {
            return;
        };
        let path = self.path(revision, origin);
        match self
            .create_dir()
            .and_then(|()| writer.write_durably_dated(&path, bytes, committed_at))
        {
            Ok(()) => self.added(revision, origin, bytes.len() as u64),
            Err(e) => self.fail(&format!("cannot keep revision {revision}"), &e),
        }
    }

    /// Takes back an entry made for a save that then failed: that revision is still the live
    /// file, and an entry must never share the live inode.
    pub fn forget(&self, revision: u64) {
        if let Some(entry) = lock(&self.index).remove(&revision) {
            let _ = fs::remove_file(self.path(revision, entry.origin));
        }
    }

    fn create_dir(&self) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        match fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    fn added(&self, revision: u64, origin: Origin, size: u64) {
        let mut index = lock(&self.index);
        index.insert(revision, Entry { origin, size });
        self.prune(&mut index);
        drop(index);
        *lock(&self.error) = None;
    }

    /// Removes the oldest entries beyond the bounds; the newest one always stays (it is also
    /// the highest revision on record, which start-up continues from).
    fn prune(&self, index: &mut BTreeMap<u64, Entry>) {
        let mut total: u64 = index.values().map(|e| e.size).sum();
        while index.len() > 1
            && (index.len() > self.limits.max_revisions || total > self.limits.max_bytes)
        {
            let Some((revision, entry)) = index.pop_first() else {
                break;
            };
            total -= entry.size;
            match fs::remove_file(self.path(revision, entry.origin)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    index.insert(revision, entry);
                    self.fail(&format!("cannot prune revision {revision}"), &e);
                    break;
                }
                _ => {}
            }
        }
    }

    fn fail(&self, what: &str, error: &io::Error) {
        record(&self.error, &self.dir, what, error);
    }
}

fn record(slot: &Mutex<Option<String>>, dir: &Path, what: &str, error: &io::Error) {
    tracing::error!(dir = %dir.display(), "{what}: {error}; the config itself is saved");
    *lock(slot) = Some(format!("{what} in {}: {error}", dir.display()));
}

/// The background fsync of the history directory. Ends when the history is dropped.
fn spawn_syncer(dir: PathBuf, error: Arc<Mutex<Option<String>>>) -> Option<SyncSender<()>> {
    let (sender, requests) = sync_channel::<()>(1);
    let spawned = std::thread::Builder::new()
        .name("history-sync".into())
        .spawn(move || {
            while requests.recv().is_ok() {
                std::thread::sleep(SYNC_COALESCE);
                while requests.try_recv().is_ok() {}
                if let Err(e) = File::open(&dir).and_then(|d| d.sync_all()) {
                    record(&error, &dir, "cannot sync the revision history", &e);
                }
            }
        });
    match spawned {
        Ok(_) => Some(sender),
        Err(e) => {
            tracing::warn!("no background sync for the revision history: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_files_are_ignored() {
        for origin in [Origin::Transaction, Origin::ExternalEdit, Origin::Loaded] {
            assert_eq!(
                parse_name(&entry_name(42, origin)),
                Some((42, origin)),
                "{origin:?}"
            );
        }
        for other in ["notes.txt", "x.transaction.json", "7.json", "7.bogus.json"] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }
}
