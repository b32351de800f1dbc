//! Small JSON files beside the config that are not the config: the scheduler state, the ring
//! journal and history, the Spotify tokens. Written like the config (temp file, fsync, rename,
//! directory fsync, mode 0600), read whole; a missing file is `None`.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StoreFiles;

/// A small JSON file written durably.
#[derive(Clone, Debug)]
pub struct RecordFile {
    files: StoreFiles,
}

impl RecordFile {
    pub fn new(dir: &Path, name: &str) -> io::Result<RecordFile> {
        let files = StoreFiles::new(&dir.join(name))?;
        files.remove_leftovers()?;
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
