//! `ConfigStore`: the one source of truth for the config document.
//!
//! Readers take the current [`Snapshot`] lock-free (`arc-swap`). Writers go through
//! [`ConfigStore::transaction`], serialized by one async lock held across
//! validate → save → publish, so a change is on disk (fsynced, renamed, directory fsynced)
//! before anyone can see it, and a change that fails validation or saving changes nothing.
//! Subscribers learn about each committed revision through a `watch` channel.
//!
//! Hand edits of the file are ingested under the same lock (from the file watcher, and at the
//! start of every transaction so a racing edit is never overwritten unseen): a valid edit
//! becomes a new revision, an invalid one is refused, reported in [`StoreHealth`] and its text
//! kept in `<file>.rejected`. The store never rewrites the user's file except to commit a
//! transaction.
//!
//! Every committed revision is also kept, bounded, in `<file>.revisions/` (`history.rs`; read
//! through `revisions.rs`) so a bad change can be undone; keeping it never fails a transaction.

mod file;
mod history;
mod record;
mod revisions;
mod startup;
mod watcher;

pub use file::StoreFiles;
pub use history::{HistoryLimits, MAX_HISTORY_BYTES, MAX_REVISIONS};
pub use record::RecordFile;
pub use revisions::{HistoryReadError, RevisionInfo, RevisionSummary};
pub use watcher::{FileWatcher, watch_file};

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::config::{Config, DocumentError, FieldError, validate};
use file::{decode, encode};
use history::History;

/// One committed version of the document.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases by at least one with every committed change; the HTTP `ETag`.
    pub revision: u64,
    pub config: Config,
    pub committed_at: DateTime<Utc>,
    pub origin: Origin,
}

impl Snapshot {
    fn new(revision: u64, config: Config, origin: Origin) -> Snapshot {
        Snapshot {
            revision,
            config,
            committed_at: Utc::now(),
            origin,
        }
    }
}

/// Where a snapshot came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// No file existed; defaults (or the seed) were written.
    Created,
    /// Read from the file at start.
    Loaded,
    /// The file was unusable at start; the last-good backup was used.
    Backup,
    /// Committed by a transaction (the API).
    Transaction,
    /// A hand edit of the file.
    ExternalEdit,
}

impl Origin {
    /// The name used in the API and in the history's file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Created => "created",
            Origin::Loaded => "loaded",
            Origin::Backup => "backup",
            Origin::Transaction => "transaction",
            Origin::ExternalEdit => "external_edit",
        }
    }

    fn from_name(name: &str) -> Option<Origin> {
        [
            Origin::Created,
            Origin::Loaded,
            Origin::Backup,
            Origin::Transaction,
            Origin::ExternalEdit,
        ]
        .into_iter()
        .find(|o| o.as_str() == name)
    }
}

/// Problems the store is living with, for the status endpoint.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct StoreHealth {
    /// The file on disk differs from the served config because an edit was refused.
    pub external_edit_error: Option<RefusedEdit>,
    /// Why the daemon started from the last-good backup, if it did.
    pub started_from_backup: Option<String>,
    /// The backup could not be written (full or read-only disk); the daemon runs on.
    pub backup_error: Option<String>,
    /// The last attempt to keep or prune the revision history failed; saves still commit.
    pub history_error: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RefusedEdit {
    pub message: String,
    /// The offending field, when the file was JSON but not a valid document.
    pub field: Option<String>,
    pub detected_at: DateTime<Utc>,
    /// Where the refused text was kept.
    #[schema(value_type = Option<String>)]
    pub rejected_copy: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("revision {expected} is stale: the current revision is {current}")]
    Stale { expected: u64, current: u64 },
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("could not save {path}: {source}")]
    Save { path: PathBuf, source: io::Error },
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot use {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{path} is not a usable config ({problem}) and there is no usable backup at {backup}; \
         fix the file (`reveille check-config {path}` tells what is wrong) or move it away to start from defaults"
    )]
    Unusable {
        path: PathBuf,
        problem: String,
        backup: PathBuf,
    },
}

/// Reads and checks a config file without opening a store (for `check-config` and
/// `--init-from`). The error is one line naming the file.
pub fn read_config_file(path: &Path) -> Result<(Config, Option<u64>), String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// A clonable handle to the store.
#[derive(Clone)]
pub struct ConfigStore {
    inner: Arc<Inner>,
}

struct Inner {
    files: StoreFiles,
    current: ArcSwap<Snapshot>,
    writer: Arc<tokio::sync::Mutex<WriterState>>,
    revisions: watch::Sender<u64>,
    health: Mutex<StoreHealth>,
    history: History,
}

/// What the single writer knows about the file; only touched under the writer lock.
struct WriterState {
    /// The file's bytes when the store last looked (`None`: no file); a read that gives the
    /// same bytes is our own write or an edit already dealt with.
    seen: Option<Vec<u8>>,
    /// The file holds a valid committed or accepted document.
    disk_is_good: bool,
    /// The file is valid and carries the current revision, so a save may keep it as the backup
    /// by a hard link. Otherwise the backup already holds the current document (written when
    /// it was loaded or accepted) and is left alone; either way the backup's revision is at
    /// least the current one minus one, which is what start-up from the backup relies on.
    link_backup: bool,
}

impl ConfigStore {
    fn assemble(
        files: StoreFiles,
        snapshot: Snapshot,
        state: WriterState,
        health: StoreHealth,
        history: History,
    ) -> ConfigStore {
        let (revisions, _) = watch::channel(snapshot.revision);
        let inner = Inner {
            files,
            current: ArcSwap::from_pointee(snapshot),
            writer: Arc::new(tokio::sync::Mutex::new(state)),
            revisions,
            health: Mutex::new(health),
            history,
        };
        // Whatever the daemon starts from is a committed revision too: keep it (a copy, once).
        inner.keep_copy(&inner.current.load());
        ConfigStore {
            inner: Arc::new(inner),
        }
    }

    /// The current snapshot. Lock-free; safe to hold across `.await`.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.current.load_full()
    }

    /// A receiver that sees every committed revision number.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.revisions.subscribe()
    }

    pub fn health(&self) -> StoreHealth {
        let mut health = self.inner.health().clone();
        health.history_error = self.inner.history.error();
        health
    }

    pub fn files(&self) -> &StoreFiles {
        &self.inner.files
    }

    /// Applies `change` to a copy of the current document, validates it, saves it durably and
    /// only then publishes it. With `expected`, a snapshot other than that revision is refused
    /// (optimistic concurrency). A change that leaves the document as it was commits nothing
    /// and returns the current snapshot. On any error nothing changes, on disk or in memory.
    pub async fn transaction<F>(
        &self,
        expected: Option<u64>,
        change: F,
    ) -> Result<Arc<Snapshot>, TxError>
    where
        F: FnOnce(&mut Config) -> Result<(), FieldError> + Send + 'static,
    {
        let mut state = self.inner.writer.clone().lock_owned().await;
        let inner = self.inner.clone();
        // fsync blocks for milliseconds: keep it off the runtime's thread.
        tokio::task::spawn_blocking(move || inner.commit(&mut state, expected, change))
            .await
            .unwrap_or_else(|e| {
                Err(TxError::Save {
                    path: self.inner.files.target.clone(),
                    source: io::Error::other(format!("the transaction failed: {e}")),
                })
            })
    }

    /// Looks at the file and ingests a hand edit, if there is one. Called by the file watcher.
    pub async fn check_disk(&self) {
        let mut state = self.inner.writer.clone().lock_owned().await;
        let inner = self.inner.clone();
        let _ = tokio::task::spawn_blocking(move || inner.ingest_disk(&mut state)).await;
    }
}

impl Inner {
    fn health(&self) -> std::sync::MutexGuard<'_, StoreHealth> {
        // A panic while holding this lock cannot leave the plain data inconsistent.
        self.health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let snapshot = Arc::new(snapshot);
        self.current.store(snapshot.clone());
        self.revisions.send_replace(snapshot.revision);
        snapshot
    }

    fn commit<F>(
        &self,
        state: &mut WriterState,
        expected: Option<u64>,
        change: F,
    ) -> Result<Arc<Snapshot>, TxError>
    where
        F: FnOnce(&mut Config) -> Result<(), FieldError>,
    {
        self.ingest_disk(state);
        let current = self.current.load_full();
        if let Some(expected) = expected
            && expected != current.revision
        {
            return Err(TxError::Stale {
                expected,
                current: current.revision,
            });
        }
        let mut config = current.config.clone();
        change(&mut config)?;
        validate(&config)?;
        if config == current.config && state.disk_is_good {
            return Ok(current);
        }

        let revision = current.revision + 1;
        let bytes = encode(&config, revision);
        let files = &self.files;
        // Before the save: its directory fsync then usually makes the link durable too.
        let linked = self.keep_replaced(state, &current);
        let saved = if state.link_backup {
            files.replace_target_keeping_backup(&bytes)
        } else {
            files.write_durably(&files.target, &bytes)
        };
        saved.map_err(|source| {
            if linked {
                self.history.forget(current.revision);
            }
            TxError::Save {
                path: files.target.clone(),
                source,
            }
        })?;
        state.seen = Some(bytes);
        state.disk_is_good = true;
        state.link_backup = true;
        self.health().started_from_backup = None;
        if let Some(refused) = self.health().external_edit_error.take() {
            tracing::info!(
                kept = ?refused.rejected_copy,
                "the refused hand edit was replaced by a save; its text is kept"
            );
        }
        Ok(self.publish(Snapshot::new(revision, config, Origin::Transaction)))
    }

    /// Compares the file with what the store last saw and deals with any difference.
    fn ingest_disk(&self, state: &mut WriterState) {
        let path = &self.files.target;
        let read = match fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                state.disk_is_good = false;
                state.link_backup = false;
                self.refuse(format!("cannot read the file: {e}"), None, None);
                return;
            }
        };
        if read == state.seen {
            return;
        }
        state.seen = read.clone();
        let Some(bytes) = read else {
            state.disk_is_good = false;
            state.link_backup = false;
            self.refuse(
                "the file was removed; the daemon keeps the last config and the next save writes it again"
                    .into(),
                None,
                None,
            );
            return;
        };
        match decode(&bytes) {
            Ok((config, file_revision)) => {
                state.disk_is_good = true;
                let mut health = self.health();
                health.started_from_backup = None;
                if health.external_edit_error.take().is_some() {
                    tracing::info!(path = %path.display(), "the config file is valid again");
                }
                drop(health);
                let current = self.current.load_full();
                state.link_backup = file_revision == Some(current.revision);
                if config != current.config {
                    // The file no longer holds the current revision, so only memory does.
                    self.keep_copy(&current);
                    let revision = (current.revision + 1).max(file_revision.unwrap_or(0));
                    state.link_backup = file_revision == Some(revision);
                    tracing::info!(path = %path.display(), revision, "loaded a hand edit of the config file");
                    // The user's file keeps the revision it had; the backup records the new one
                    // (and is a good version), so a restart does not hand out this revision
                    // again for other content.
                    if let Err(e) = self
                        .files
                        .write_durably(&self.files.backup, &encode(&config, revision))
                    {
                        tracing::error!(path = %self.files.backup.display(), "cannot update the backup: {e}");
                        self.health().backup_error = Some(format!(
                            "cannot update {}: {e}",
                            self.files.backup.display()
                        ));
                    }
                    let snapshot =
                        self.publish(Snapshot::new(revision, config, Origin::ExternalEdit));
                    self.keep_copy(&snapshot);
                }
            }
            Err(error) => {
                state.disk_is_good = false;
                state.link_backup = false;
                let field = match &error {
                    DocumentError::Invalid(e) => Some(e.field.clone()),
                    DocumentError::Syntax { .. } => None,
                };
                let kept = match self.files.write_durably(&self.files.rejected, &bytes) {
                    Ok(()) => Some(self.files.rejected.clone()),
                    Err(e) => {
                        tracing::error!(path = %self.files.rejected.display(), "cannot keep a copy of the refused edit: {e}");
                        None
                    }
                };
                self.refuse(error.to_string(), field, kept);
            }
        }
    }

    /// Makes sure the revision a save is about to replace is in the history. Returns whether
    /// it was linked now (and must be taken back if the save fails).
    fn keep_replaced(&self, state: &WriterState, current: &Snapshot) -> bool {
        if self.history.contains(current.revision) {
            false
        } else if state.link_backup {
            // The file carries this revision: keep its inode, which the save is replacing.
            self.history
                .keep_link(&self.files.target, current.revision, current.origin)
        } else {
            // The file was edited, broken or removed: memory holds the only copy.
            self.keep_copy(current);
            false
        }
    }

    fn keep_copy(&self, snapshot: &Snapshot) {
        if !self.history.contains(snapshot.revision) {
            self.history.keep_copy(
                &encode(&snapshot.config, snapshot.revision),
                snapshot.revision,
                snapshot.origin,
                snapshot.committed_at.into(),
            );
        }
    }

    fn refuse(&self, message: String, field: Option<String>, rejected_copy: Option<PathBuf>) {
        tracing::warn!(
            path = %self.files.target.display(),
            revision = self.current.load().revision,
            "refused the config file as it is on disk, still running on the last good config: {message}"
        );
        self.health().external_edit_error = Some(RefusedEdit {
            message,
            field,
            detected_at: Utc::now(),
            rejected_copy,
        });
    }
}
