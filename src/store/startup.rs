//! Start-up: opening the store from whatever a crash or a person left on disk (a valid file, a
//! missing one, an unusable one with or without a usable backup, leftover temp files).
//!
//! Blocking IO only, before anything else runs. Every path ends with one snapshot and the
//! writer's view of the file; nothing here commits a transaction.

use std::fs;
use std::io;
use std::path::Path;

use super::file::{decode, encode};
use super::{ConfigStore, OpenError, Origin, Snapshot, StoreFiles, StoreHealth, WriterState};
use crate::config::{Config, validate};
/// Where the daemon starts from its backup: past every revision handed out before. The backup
/// is at most one revision behind (see `WriterState::link_backup`), so two more is enough.
pub(super) fn after_backup(backup_revision: Option<u64>) -> u64 {
    backup_revision.unwrap_or(0) + 2
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
    pub fn open(path: &Path, seed: Option<Config>) -> Result<ConfigStore, OpenError> {
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

        let problem = match fs::read(&files.target) {
            Ok(bytes) => match decode(&bytes) {
                Ok((config, file_revision)) => {
                    // The backup also records the highest revision given out (see
                    // `Inner::ingest_disk`), so revisions never repeat across restarts.
                    let high = backup.as_ref().and_then(|b| b.1).unwrap_or(0);
                    let revision = file_revision.unwrap_or(1).max(high);
                    // A copy, not a link: an editor writing the file in place would change both
                    // (a crash between a save's link and rename can leave them one inode).
                    let stale = backup != Some((config.clone(), Some(revision)))
                        || same_inode(&files.target, &files.backup);
                    if let Err(e) = stale
                        .then(|| files.write_durably(&files.backup, &encode(&config, revision)))
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
                    return Ok(Self::assemble(files, snapshot, state, health));
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
                    let bytes = encode(&config, 1);
                    files
                        .write_durably(&files.target, &bytes)
                        .map_err(open_error(path))?;
                    tracing::info!(path = %path.display(), "no config file yet: wrote a new one");
                    let state = WriterState {
                        seen: Some(bytes),
                        disk_is_good: true,
                        link_backup: true,
                    };
                    let snapshot = Snapshot::new(1, config, Origin::Created);
                    return Ok(Self::assemble(files, snapshot, state, health));
                };
                // Losing the alarms because the file vanished would be worse than surprising
                // someone who deleted it on purpose (`PUT {}` resets to the defaults).
                let revision = after_backup(revision);
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
                return Ok(Self::assemble(files, snapshot, state, health));
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
        let snapshot = Snapshot::new(after_backup(revision), config, Origin::Backup);
        let store = Self::assemble(files, snapshot, state, health);
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
