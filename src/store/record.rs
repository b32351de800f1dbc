//! Small JSON files beside the config that are not the config: the ring journal and history,
//! the Spotify tokens, the pending logins. Written like the config (temp file, fsync, rename,
//! directory fsync, mode 0600), read whole; a missing file is `None`. The temp files a crash
//! left are removed when this process first opens the file, never later: a `RecordFile` is
//! opened again per request (the tokens), while another one may be writing.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::StoreFiles;

/// The record files whose leftovers this process has removed.
static CLEANED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// A small JSON file written durably.
#[derive(Clone, Debug)]
pub struct RecordFile {
    files: StoreFiles,
}

impl RecordFile {
    pub fn new(dir: &Path, name: &str) -> io::Result<RecordFile> {
        let files = StoreFiles::new(&dir.join(name))?;
        let mut cleaned = CLEANED.lock().unwrap_or_else(PoisonError::into_inner);
        if !cleaned.contains(&files.target) {
            files.remove_leftovers()?;
            cleaned.insert(files.target.clone());
        }
        Ok(RecordFile { files })
    }

    pub fn path(&self) -> &PathBuf {
        &self.files.target
    }

    pub fn load<T: for<'de> Deserialize<'de>>(&self) -> io::Result<Option<T>> {
        match std::fs::read(&self.files.target) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn save<T: Serialize>(&self, value: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(value).expect("records serialize");
        let files = self.files.clone();
        tokio::task::spawn_blocking(move || files.write_durably(&files.target, &bytes))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)))
    }

    pub async fn remove(&self) -> io::Result<()> {
        let path = self.files.target.clone();
        let dir = self.files.dir().to_owned();
        tokio::task::spawn_blocking(move || {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
            std::fs::File::open(dir)?.sync_all()
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tokens are opened per request: a second open used to remove the temp file of a save
    /// in progress (a refresh's rotated token), and that save then failed at its rename.
    #[tokio::test]
    async fn a_second_open_leaves_a_write_in_progress_alone() {
        let dir = tempfile::tempdir().unwrap();
        let leftover = dir.path().join(".record.json.tmp-1-0");
        std::fs::write(&leftover, b"{\"half").unwrap();
        let first = RecordFile::new(dir.path(), "record.json").unwrap();
        assert!(
            !leftover.exists(),
            "a crash's leftover is removed at the first open"
        );

        let in_progress = dir
            .path()
            .join(format!(".record.json.tmp-{}-7", std::process::id()));
        std::fs::write(&in_progress, b"{\"being written").unwrap();
        let again = RecordFile::new(dir.path(), "record.json").unwrap();
        assert!(
            in_progress.exists(),
            "a write in progress lost its temp file"
        );
        std::fs::remove_file(&in_progress).unwrap();

        again
            .save(&serde_json::json!({"saved": true}))
            .await
            .unwrap();
        let read: Option<serde_json::Value> = first.load().unwrap();
        assert_eq!(read, Some(serde_json::json!({"saved": true})));
    }
}
