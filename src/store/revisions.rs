//! Reading the revision history for people (`/api/config/revisions`), and the start-up
//! confirmation that lets the last-good backup follow a document the daemon has run on.
//!
//! Read-only except for [`ConfigStore::confirm_running`]; restoring a revision is an ordinary
//! transaction done by the caller, so it gets a new, higher revision like any other change.

use std::fs;
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::file::{decode, encode};
use super::startup::same_inode;
use super::{ConfigStore, Inner, Origin, WriterState};
use crate::config::{Config, DocumentError};

/// One revision as the list shows it, enough for a person to choose.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RevisionInfo {
    pub revision: u64,
    pub committed_at: DateTime<Utc>,
    pub origin: Origin,
    /// Size of the kept file.
    pub size_bytes: u64,
    /// The revision being served now (it is also the config file).
    pub current: bool,
    /// `None` when the kept file no longer reads as a valid document (see `problem`).
    pub summary: Option<RevisionSummary>,
    /// Why the kept file cannot be restored, e.g. a rule this version added.
    pub problem: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RevisionSummary {
    pub alarms: usize,
    pub enabled_alarms: usize,
    pub title: String,
}

impl RevisionSummary {
    fn of(config: &Config) -> Self {
        RevisionSummary {
            alarms: config.alarms.len(),
            enabled_alarms: config.alarms.iter().filter(|a| a.enabled).count(),
            title: config.web.title.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryReadError {
    /// The kept file is no longer a valid document (it names the field).
    #[error(transparent)]
    Invalid(#[from] DocumentError),
    #[error("cannot read the kept revision: {0}")]
    Io(#[from] io::Error),
}

impl ConfigStore {
    /// The kept revisions and the current one, newest first. Reads the files: blocking work
    /// runs off the runtime's thread.
    pub async fn revisions(&self) -> Vec<RevisionInfo> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.list_revisions())
            .await
            .unwrap_or_default()
    }

    /// The document of `revision`: `Ok(None)` when it is neither current nor kept.
    pub async fn revision_document(
        &self,
        revision: u64,
    ) -> Result<Option<Config>, HistoryReadError> {
        let current = self.snapshot();
        if current.revision == revision {
            return Ok(Some(current.config.clone()));
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.read_revision(revision))
            .await
            .map_err(|e| io::Error::other(e.to_string()))?
    }

    /// Tells the store the daemon runs on the document it started with (the scheduler has
    /// planned from it and the server is up), so that document may become the last-good
    /// backup. Until then the backup stays what it was: a file that crashes the daemon at
    /// start never replaces the last good one. Idempotent; does nothing once a change has been
    /// committed (saves keep the backup themselves).
    pub async fn confirm_running(&self) {
        let mut state = self.inner.writer.clone().lock_owned().await;
        let inner = self.inner.clone();
        let _ = tokio::task::spawn_blocking(move || inner.refresh_backup(&mut state)).await;
    }
}

impl Inner {
    fn list_revisions(&self) -> Vec<RevisionInfo> {
        let current = self.current.load_full();
        let mut list = Vec::new();
        if !self.history.contains(current.revision) {
            list.push(RevisionInfo {
                revision: current.revision,
                committed_at: current.committed_at,
                origin: current.origin,
                size_bytes: encode(&current.config, current.revision).len() as u64,
                current: true,
                summary: Some(RevisionSummary::of(&current.config)),
                problem: None,
            });
        }
        for (revision, entry) in self.history.entries() {
            let path = self.history.path(revision, entry.origin);
            let meta = fs::metadata(&path);
            let read = fs::read(&path)
                .map_err(HistoryReadError::from)
                .and_then(|bytes| Ok(decode(&bytes)?.0));
            let (summary, problem) = match read {
                Ok(config) => (Some(RevisionSummary::of(&config)), None),
                // Pruned since the index was read: nothing to show.
                Err(HistoryReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => (None, Some(e.to_string())),
            };
            let is_current = revision == current.revision;
            list.push(RevisionInfo {
                revision,
                committed_at: if is_current {
                    current.committed_at
                } else {
                    meta.as_ref()
                        .ok()
                        .and_then(|m| m.modified().ok())
                        .unwrap_or(SystemTime::UNIX_EPOCH)
                        .into()
                },
                origin: entry.origin,
                size_bytes: meta.map_or(entry.size, |m| m.len()),
                current: is_current,
                summary,
                problem,
            });
        }
        list.sort_by_key(|r| std::cmp::Reverse(r.revision));
        list
    }

    fn read_revision(&self, revision: u64) -> Result<Option<Config>, HistoryReadError> {
        let Some((_, entry)) = self
            .history
            .entries()
            .into_iter()
            .find(|(r, _)| *r == revision)
        else {
            return Ok(None);
        };
        match fs::read(self.history.path(revision, entry.origin)) {
            Ok(bytes) => Ok(Some(decode(&bytes)?.0)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn refresh_backup(&self, state: &mut WriterState) {
        let current: Arc<_> = self.current.load_full();
        // After any change the saves keep the backup; a start from the backup runs on it.
        if current.origin != Origin::Loaded || !state.disk_is_good {
            return;
        }
        let files = &self.files;
        let wanted = Some((current.config.clone(), Some(current.revision)));
        let backup = fs::read(&files.backup).ok().and_then(|b| decode(&b).ok());
        if backup == wanted && !same_inode(&files.target, &files.backup) {
            return;
        }
        // A copy, not a link: an editor writing the file in place would change both.
        match files.write_durably(&files.backup, &encode(&current.config, current.revision)) {
            Ok(()) => {
                tracing::info!(
                    revision = current.revision,
                    "the running config is now the last-good backup"
                );
                self.health().backup_error = None;
            }
            Err(e) => {
                tracing::error!(path = %files.backup.display(), "cannot refresh the backup: {e}");
                self.health().backup_error =
                    Some(format!("cannot refresh {}: {e}", files.backup.display()));
            }
        }
    }
}
