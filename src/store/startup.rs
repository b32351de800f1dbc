//! Start-up: opening the store from whatever a crash or a person left on disk (a valid file, a
//! missing one, an unusable one with or without a usable backup, leftover temp files).
//!
//! Blocking IO only, before anything else runs. Every path ends with one snapshot and the
//! writer's view of the file; nothing here commits a transaction.

use std::fs;
use std::io;
use std::path::Path;

use super::file::{decode, encode};
use super::history::{History, HistoryLimits};
use super::{ConfigStore, OpenError, Origin, Snapshot, StoreFiles, StoreHealth, WriterState};
use crate::config::{Config, validate};
/// Where the daemon starts from its backup: past every revision handed out before. Once the
/// daemon has confirmed a start, the backup is at most one revision behind (see
/// `WriterState::link_backup`), so two more is enough; before that, or when the backup was not
/// written, the newest kept revision is the better record, so the larger of the two counts.
fn after_backup(backup_revision: Option<u64>, newest_kept: Option<u64>) -> u64 {
    backup_revision.max(newest_kept).unwrap_or(0) + 2
}

pub(super) fn same_inode(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

fn open_error(path: &Path) -> impl FnOnce(io::Error) -> OpenError {
    let path = path.to_path_buf();
    move |source| OpenError::Io { path, source }
}

impl ConfigStore {
    /// Opens the store at `path`. Blocking; call it at start-up.
    ///
    /// - A valid file is loaded; its revision continues from the highest one on record.
    /// - A missing file is restored from the last-good backup if there is one, else written
    ///   from `seed` (else the defaults).
    /// - An unreadable or invalid file is left as it is and refused like a hand edit; the store
    ///   runs on the backup, loudly. Without a usable backup, opening fails.
    ///
    /// The backup is not refreshed from a loaded file here: that waits for
    /// [`confirm_running`](ConfigStore::confirm_running), so a file that crashes the daemon never
    /// replaces the last good one. The document started from is kept in the revision history.
    pub fn open(path: &Path, seed: Option<Config>) -> Result<ConfigStore, OpenError> {
        Self::open_with(path, seed, HistoryLimits::default())
    }

    /// [`open`](Self::open) with other bounds for the revision history.
    pub fn open_with(
        path: &Path,
        seed: Option<Config>,
        limits: HistoryLimits,
    ) -> Result<ConfigStore, OpenError> {
        let files = StoreFiles::new(path).map_err(open_error(path))?;
        fs::create_dir_all(files.dir()).map_err(open_error(files.dir()))?;
        let mut health = StoreHealth::default();
        // Neither leftovers nor a stale backup may keep an alarm clock from starting (a full or
        // read-only SD card): say so and go on.
        match files.remove_leftovers() {
            Ok(removed) => {
                for leftover in removed {
                    tracing::warn!(path = %leftover.display(), "removed a temp file left by an interrupted save");
                }
            }
            Err(e) => {
                tracing::error!(dir = %files.dir().display(), "cannot remove temp files left by a crash: {e}")
            }
        }
        // An unusable backup is as good as none: it is rewritten below or by the next save.
        let backup = fs::read(&files.backup).ok().and_then(|b| decode(&b).ok());
        let history = History::open(&files.revisions, limits);
        let newest_kept = history.newest();

        let problem = match fs::read(&files.target) {
            Ok(bytes) => match decode(&bytes) {
                Ok((config, file_revision)) => {
                    // The backup also records the highest revision given out (see
                    // `Inner::ingest_disk`), so revisions never repeat across restarts.
                    // So does the history.
                    let high = backup.as_ref().and_then(|b| b.1).max(newest_kept);
                    let mut revision = file_revision.unwrap_or(1).max(high.unwrap_or(0));
                    // A file edited while the daemon was stopped may still carry a number the
                    // history knows with other content: a client holding it must not match.
                    if kept_differs(&history, revision, &config) {
                        revision = high.unwrap_or(0).max(revision) + 1;
                    }
                    // A crash between a save's link and rename can leave the backup and the
                    // file one inode (an editor writing in place would then change both): make
                    // the backup a copy. Same content, so this is not a refresh from an
                    // unconfirmed file.
                    let shared = same_inode(&files.target, &files.backup);
                    if let Err(e) = shared
                        // One inode: the file's bytes are the backup's.
                        .then(|| files.write_durably(&files.backup, &bytes))
                        .transpose()
                    {
                        tracing::error!(path = %files.backup.display(), "cannot refresh the backup: {e}");
                        health.backup_error =
                            Some(format!("cannot refresh {}: {e}", files.backup.display()));
                    }
                    let state = WriterState {
                        seen: Some(bytes),
                        disk_is_good: true,
                        link_backup: file_revision == Some(revision)
                            && !same_inode(&files.target, &files.backup),
                    };
                    let snapshot = Snapshot::new(revision, config, Origin::Loaded);
                    return Ok(Self::assemble(files, snapshot, state, health, history));
                }
                Err(e) => e.to_string(),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let Some((config, revision)) = backup else {
                    let config = seed.unwrap_or_default();
                    validate(&config).map_err(|e| OpenError::Unusable {
                        path: path.to_path_buf(),
                        problem: format!("the initial config is invalid: {e}"),
                        backup: files.backup.clone(),
                    })?;
                    // A history without config or backup still holds numbers handed out.
                    let revision = newest_kept.map_or(1, |n| n + 2);
                    let bytes = encode(&config, revision);
                    files
                        .write_durably(&files.target, &bytes)
                        .map_err(open_error(path))?;
                    tracing::info!(path = %path.display(), "no config file yet: wrote a new one");
                    let state = WriterState {
                        seen: Some(bytes),
                        disk_is_good: true,
                        link_backup: true,
                    };
                    let snapshot = Snapshot::new(revision, config, Origin::Created);
                    return Ok(Self::assemble(files, snapshot, state, health, history));
                };
                // Losing the alarms because the file vanished would be worse than surprising
                // someone who deleted it on purpose (`PUT {}` resets to the defaults).
                let revision = after_backup(revision, newest_kept);
                let bytes = encode(&config, revision);
                files
                    .write_durably(&files.target, &bytes)
                    .map_err(open_error(path))?;
                let problem = "the file was missing; it was restored from the last-good backup";
                tracing::error!(path = %path.display(), backup = %files.backup.display(), "CONFIG FILE MISSING: {problem}");
                health.started_from_backup = Some(problem.into());
                let state = WriterState {
                    seen: Some(bytes),
                    disk_is_good: true,
                    link_backup: true,
                };
                let snapshot = Snapshot::new(revision, config, Origin::Backup);
                return Ok(Self::assemble(files, snapshot, state, health, history));
            }
            Err(e) => format!("cannot read it: {e}"),
        };

        let Some((config, revision)) = backup else {
            return Err(OpenError::Unusable {
                path: path.to_path_buf(),
                problem,
                backup: files.backup.clone(),
            });
        };
        tracing::error!(
            path = %path.display(),
            backup = %files.backup.display(),
            %problem,
            "THE CONFIG FILE IS UNUSABLE: running on the last-good backup; fix the file \
             or save from the settings page"
        );
        health.started_from_backup = Some(problem);
        // `seen: None`: the first look at the disk refuses the broken file like a hand edit,
        // so its text is kept and the status says why.
        let state = WriterState {
            seen: None,
            disk_is_good: false,
            link_backup: false,
        };
        let snapshot = Snapshot::new(after_backup(revision, newest_kept), config, Origin::Backup);
        let store = Self::assemble(files, snapshot, state, health, history);
        {
            let mut state = store
                .inner
                .writer
                .try_lock()
                .expect("no one else has the store yet");
            store.inner.ingest_disk(&mut state);
        }
        Ok(store)
    }
}

/// Whether the history keeps `revision` with a document other than `config`.
fn kept_differs(history: &History, revision: u64, config: &Config) -> bool {
    history
        .entries()
        .into_iter()
        .find(|(r, _)| *r == revision)
        .and_then(|(r, entry)| fs::read(history.path(r, entry.origin)).ok())
        .and_then(|bytes| decode(&bytes).ok())
        .is_some_and(|(kept, _)| kept != *config)
}
