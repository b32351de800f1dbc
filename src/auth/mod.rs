//! Who may use the API: the optional password, the sessions it opens, the login rate limit
//! and the local token that lets the command line on the Pi in without the password.
//!
//! This module owns the secrets and their files; it knows nothing about HTTP (`http/guard.rs`
//! and `http/session.rs` apply it to requests). The password is the owner's: it is set on the
//! Pi with `reveille password` and stored as an argon2id hash in `password.json` beside the
//! config (mode 0600), never over HTTP. Time is tokio's `Instant`, so tests can move it.

mod password;
mod sessions;

pub use password::{MIN_PASSWORD_CHARS, PasswordError, PasswordFile, hash_password};
pub use sessions::{LoginLimiter, SESSION_LIFETIME, Sessions};

use std::io;
use std::path::{Path, PathBuf};

/// 32 random bytes as 64 hex digits: session ids and the CLI token.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the kernel's random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The token the command line on the Pi sends instead of the password: written by the daemon
/// at start to `cli-token` beside the config, readable by the service user and its group only
/// (mode 0640), so root and members of the service's group can use the CLI; accepted only
/// from loopback connections.
pub struct CliToken;

impl CliToken {
    pub const FILE_NAME: &'static str = "cli-token";

    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(Self::FILE_NAME)
    }

    /// Writes a new token (replacing any older one) and returns it.
    pub fn create(state_dir: &Path) -> io::Result<String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let token = random_token();
        let path = Self::path(state_dir);
        let temp = state_dir.join(format!(".{}.tmp-{}", Self::FILE_NAME, std::process::id()));
        let _ = std::fs::remove_file(&temp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&temp)?;
        file.write_all(token.as_bytes())?;
        drop(file);
        std::fs::rename(&temp, &path)?;
        Ok(token)
    }

    /// The token of the daemon whose config lives in `state_dir`, if this user may read it.
    pub fn read(state_dir: &Path) -> Option<String> {
        let text = std::fs::read_to_string(Self::path(state_dir)).ok()?;
        let token = text.trim();
        (token.len() == 64).then(|| token.to_owned())
    }
}
