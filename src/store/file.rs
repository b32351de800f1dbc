//! The config file on disk: its encoding and the durable, atomic way it is replaced.
//!
//! Blocking IO only; the store calls these from `spawn_blocking`. Nothing here decides *whether*
//! to write (that is the store's transaction); this module only guarantees that a write is
//! all-or-nothing and survives a power cut once it returns `Ok`.
//!
//! Files beside the config (for `config.json`):
//! - `.config.json.tmp-<pid>-<n>`: a write in progress; a leftover is a crash's, removed at start.
//! - `config.json.last-good`: the previous committed version, used when the file is unreadable.
//! - `config.json.rejected`: the text of the last hand edit the daemon refused.
//! - `config.json.revisions/`: the revision history (`store/history.rs`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::config::{Config, DocumentError, FieldError, parse_value, syntax_error};

/// The largest revision a file may carry (also the largest integer JSON tools keep exact).
pub const MAX_REVISION: u64 = 1 << 53;

/// Mode of every file the store creates: the document will hold Spotify settings.
const FILE_MODE: u32 = 0o600;

/// Where the config and its companions live.
#[derive(Clone, Debug)]
pub struct StoreFiles {
    pub target: PathBuf,
    pub backup: PathBuf,
    pub rejected: PathBuf,
    /// The directory of kept revisions.
    pub revisions: PathBuf,
    dir: PathBuf,
    temp_prefix: String,
}

impl StoreFiles {
    pub fn new(target: &Path) -> io::Result<Self> {
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| io::Error::other(format!("{} has no file name", target.display())))?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(StoreFiles {
            backup: dir.join(format!("{name}.last-good")),
            rejected: dir.join(format!("{name}.rejected")),
            revisions: dir.join(format!("{name}.revisions")),
            temp_prefix: format!(".{name}.tmp-"),
            target: target.to_path_buf(),
            dir,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file_name(&self) -> &std::ffi::OsStr {
        self.target.file_name().expect("checked in StoreFiles::new")
    }

    fn temp_path(&self) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(format!("{}{}-{n}", self.temp_prefix, std::process::id()))
    }

    /// Removes temp files a crash left behind; returns what was removed.
    pub fn remove_leftovers(&self) -> io::Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&self.temp_prefix))
            {
                fs::remove_file(entry.path())?;
                removed.push(entry.path());
            }
        }
        Ok(removed)
    }

    /// Atomically and durably replaces `path` with `bytes`: temp file, write, fsync, rename,
    /// fsync the directory. On error the old file is untouched and the temp file is removed.
    pub fn write_durably(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.replace(path, bytes, None, None)
    }

    /// [`write_durably`](Self::write_durably) with the file's modification time set to `at`
    /// (a kept revision is dated by when it was committed, not when it was copied).
    pub fn write_durably_dated(&self, path: &Path, bytes: &[u8], at: SystemTime) -> io::Result<()> {
        self.replace(path, bytes, None, Some(at))
    }

    /// Like [`write_durably`](Self::write_durably) for the target, and keeps the version being
    /// replaced as the last-good backup. The caller promises that the current file is valid.
    /// The backup is a hard link to the old inode, so it costs no extra data write or fsync:
    /// the one directory fsync makes both renames durable.
    pub fn replace_target_keeping_backup(&self, bytes: &[u8]) -> io::Result<()> {
        self.replace(&self.target, bytes, Some(&self.backup), None)
    }

    fn replace(
        &self,
        path: &Path,
        bytes: &[u8],
        backup: Option<&Path>,
        modified: Option<SystemTime>,
    ) -> io::Result<()> {
        let temp = self.temp_path();
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&temp)?;
            file.write_all(bytes)?;
            if let Some(at) = modified {
                file.set_modified(at)?;
            }
            file.sync_all()?;
            drop(file);
            if let Some(backup) = backup {
                self.link_as(path, backup)?;
            }
            fs::rename(&temp, path)?;
            File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Points `link` at the inode `existing` names now (replacing `link` atomically).
    fn link_as(&self, existing: &Path, link: &Path) -> io::Result<()> {
        let temp = self.temp_path();
        match fs::hard_link(existing, &temp) {
            Ok(()) => {}
            // Nothing to keep (first save after the file was removed by hand).
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        fs::rename(&temp, link).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
    }
}

/// The file format: the document with the daemon's `revision` after `version`, pretty-printed
/// so that hand edits are pleasant, and ending in a newline.
pub fn encode(config: &Config, revision: u64) -> Vec<u8> {
    let Value::Object(fields) = serde_json::to_value(config).expect("Config serializes to JSON")
    else {
        unreachable!("Config serializes to a JSON object");
    };
    let mut out = Map::with_capacity(fields.len() + 1);
    for (key, value) in fields {
        let is_version = key == "version";
        out.insert(key, value);
        if is_version {
            out.insert("revision".into(), revision.into());
        }
    }
    let mut bytes =
        serde_json::to_vec_pretty(&Value::Object(out)).expect("a JSON value serializes");
    bytes.push(b'\n');
    bytes
}

/// Parses the file format; the revision is absent from a file written by hand from scratch.
pub fn decode(bytes: &[u8]) -> Result<(Config, Option<u64>), DocumentError> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| syntax_error(&e))?;
    let revision = match value.as_object_mut().and_then(|o| o.remove("revision")) {
        None => None,
        // Bounded so that counting on from it can never overflow.
        Some(v) => Some(v.as_u64().filter(|r| *r <= MAX_REVISION).ok_or_else(|| {
            FieldError::invalid(
                "revision",
                "must be a whole number from 0 to 2^53 (set by the daemon; may be left out)",
            )
        })?),
    };
    Ok((parse_value(value)?, revision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_round_trips_with_revision_after_version() {
        let config = Config::default();
        let bytes = encode(&config, 42);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("{\n  \"version\": 1,\n  \"revision\": 42,\n"),
            "{text}"
        );
        assert!(text.ends_with("}\n"));
        assert_eq!(decode(&bytes).unwrap(), (config, Some(42)));
    }

    #[test]
    fn decode_accepts_a_file_without_revision_and_rejects_a_bad_one() {
        assert_eq!(decode(b"{}").unwrap().1, None);
        for bad in [
            r#"{"revision": "x"}"#,
            r#"{"revision": 18446744073709551615}"#,
        ] {
            let err = decode(bad.as_bytes()).unwrap_err();
            assert!(matches!(err, DocumentError::Invalid(ref e) if e.field == "revision"));
        }
    }

    #[test]
    fn replace_keeps_the_old_version_as_backup_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let files = StoreFiles::new(&dir.path().join("config.json")).unwrap();
        files.write_durably(&files.target, b"one").unwrap();
        files.replace_target_keeping_backup(b"two").unwrap();
        assert_eq!(fs::read(&files.target).unwrap(), b"two");
        assert_eq!(fs::read(&files.backup).unwrap(), b"one");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&files.target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn leftovers_are_removed_and_other_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        let files = StoreFiles::new(&dir.path().join("config.json")).unwrap();
        fs::write(dir.path().join(".config.json.tmp-999-3"), b"half").unwrap();
        fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let removed = files.remove_leftovers().unwrap();
        assert_eq!(removed.len(), 1);
        assert!(dir.path().join("notes.txt").exists());
    }
}
