//! The password file: an argon2id hash (PHC string) in `password.json` beside the config,
//! mode 0600, written atomically by `reveille password` on the Pi. The daemon re-reads it when
//! its identity (inode, size, mtime) changes, so a new password applies without a restart.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};

use crate::store::StoreFiles;

/// Shorter passwords are refused by `reveille password`.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longer ones too: hashing cost should not be the client's choice.
const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

#[derive(Serialize, Deserialize)]
struct Stored {
    /// The argon2id hash as a PHC string (algorithm, parameters, salt and hash).
    hash: String,
    set_at: chrono::DateTime<chrono::Utc>,
}

/// Hashes `password` with argon2id and the crate's default (OWASP) parameters.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_length(password)?;
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).expect("the kernel's random source is available");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password up to the length bound")
        .to_string())
}

fn check_length(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// The password file of one state directory, with the hash cached.
pub struct PasswordFile {
    path: PathBuf,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// (inode, size, mtime, ctime in ns) of the file the hash was read from; `None`: no file.
    /// The ctime changes with the owner too, so a file that became readable is read again.
    identity: Option<(u64, u64, i64, i64)>,
    hash: Option<Arc<str>>,
}

impl PasswordFile {
    pub const FILE_NAME: &'static str = "password.json";

    pub fn new(state_dir: &Path) -> PasswordFile {
        PasswordFile {
            path: state_dir.join(Self::FILE_NAME),
            cache: Mutex::new(Cache::default()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current hash, or `None` when no password is set. One `stat` when unchanged. A file
    /// that cannot be read or parsed counts as set with a hash nothing matches: a broken
    /// password file must lock the API, not open it.
    pub fn current(&self) -> Option<Arc<str>> {
        let identity = std::fs::metadata(&self.path).ok().map(|m| {
            let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
            (
                m.ino(),
                m.size(),
                ns(m.mtime(), m.mtime_nsec()),
                ns(m.ctime(), m.ctime_nsec()),
            )
        });
        let mut cache = self
            .cache
            .lock()
            .expect("the password cache lock is never poisoned");
        if identity != cache.identity {
            cache.identity = identity;
            cache.hash = identity.map(|_| {
                match std::fs::read(&self.path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Stored>(&b).ok())
                {
                    Some(stored) => Arc::from(stored.hash),
                    None => {
                        tracing::error!(path = %self.path.display(), "the password file is unreadable: every login fails until `reveille password` rewrites it");
                        Arc::from("")
                    }
                }
            });
        }
        cache.hash.clone()
    }

    /// Checks `password` against `hash` (blocking: argon2 takes tens of milliseconds and
    /// ~19 MiB by design; call it from `spawn_blocking`).
    pub fn verify(hash: &str, password: &str) -> bool {
        if check_length(password).is_err() {
            return false;
        }
        PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    }

    /// Sets the password (blocking; the CLI on the Pi). Durable and atomic; mode 0600. Run as
    /// root, the file is given to the owner of the state directory so the daemon can read it.
    pub fn set(&self, password: &str) -> Result<(), PasswordError> {
        let stored = Stored {
            hash: hash_password(password)?,
            set_at: chrono::Utc::now(),
        };
        let bytes = serde_json::to_vec_pretty(&stored).expect("the password record serializes");
        let io_error = |source| PasswordError::Io {
            path: self.path.clone(),
            source,
        };
        let files = StoreFiles::new(&self.path).map_err(io_error)?;
        files.write_durably(&self.path, &bytes).map_err(io_error)?;
        give_to_directory_owner(&self.path, files.dir()).map_err(io_error)
    }

    /// Removes the password: the API is open to the home network again.
    pub fn remove(&self) -> io::Result<bool> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn give_to_directory_owner(path: &Path, dir: &Path) -> io::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let owner = std::fs::metadata(dir)?;
    std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_password_verifies_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = PasswordFile::new(dir.path());
        assert_eq!(file.current(), None);
        file.set("correct horse").unwrap();
        let hash = file.current().unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(PasswordFile::verify(&hash, "correct horse"));
        assert!(!PasswordFile::verify(&hash, "correct horsf"));
        let mode = std::fs::metadata(file.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A new password replaces the cached hash.
        file.set("battery staple").unwrap();
        let new = file.current().unwrap();
        assert_ne!(new, hash);
        assert!(PasswordFile::verify(&new, "battery staple"));
        assert!(file.remove().unwrap());
        assert_eq!(file.current(), None);
    }

    #[test]
    fn short_long_and_broken_are_refused() {
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort)
        ));
        assert!(matches!(
            hash_password(&"x".repeat(2000)),
            Err(PasswordError::TooLong)
        ));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PasswordFile::FILE_NAME), b"garbage").unwrap();
        let file = PasswordFile::new(dir.path());
        let hash = file
            .current()
            .expect("a broken file still counts as a password");
        assert!(!PasswordFile::verify(&hash, "anything at all"));
        assert!(!PasswordFile::verify(&hash, ""));
    }
}
