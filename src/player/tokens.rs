//! The Spotify tokens, owned by the daemon (not by rspotify's cache, which writes them
//! non-atomically and world-readable): `spotify-token.json` in the state directory, mode 0600,
//! replaced atomically. A rotated refresh token is saved before the new access token is used,
//! because PKCE refresh tokens are single-use. Tokens never appear in logs or API answers:
//! [`StoredToken`]'s `Debug` hides them.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::RecordFile;

pub const TOKEN_FILE: &str = "spotify-token.json";

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredToken {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token stops working.
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub scope: String,
}

impl fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredToken")
            .field("access_token", &"<hidden>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<hidden>"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl StoredToken {
    pub fn from_rspotify(token: rspotify::Token) -> StoredToken {
        let expires_at = token
            .expires_at
            .unwrap_or_else(|| Utc::now() + token.expires_in);
        let mut scopes: Vec<_> = token.scopes.into_iter().collect();
        scopes.sort();
        StoredToken {
            access_token: token.access_token,
            refresh_token: token.refresh_token,
            expires_at,
            scope: scopes.join(" "),
        }
    }

    pub fn to_rspotify(&self) -> rspotify::Token {
        rspotify::Token {
            access_token: self.access_token.clone(),
            expires_in: (self.expires_at - Utc::now()).max(chrono::Duration::zero()),
            expires_at: Some(self.expires_at),
            refresh_token: self.refresh_token.clone(),
            scopes: self.scope.split_whitespace().map(str::to_owned).collect(),
        }
    }
}

/// The token file beside the config.
#[derive(Clone, Debug)]
pub struct TokenFile {
    file: RecordFile,
}

impl TokenFile {
    pub fn new(state_dir: &Path) -> io::Result<TokenFile> {
        Ok(TokenFile {
            file: RecordFile::new(state_dir, TOKEN_FILE)?,
        })
    }

    pub fn path(&self) -> &PathBuf {
        self.file.path()
    }

    /// `Ok(None)` when no account is linked yet.
    pub fn load(&self) -> io::Result<Option<StoredToken>> {
        self.file.load()
    }

    /// Durable, atomic, mode 0600.
    pub async fn save(&self, token: &StoredToken) -> io::Result<()> {
        self.file.save(token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn tokens_are_saved_private_and_never_debug_printed() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::new(dir.path()).unwrap();
        assert_eq!(file.load().unwrap(), None);
        let token = StoredToken {
            access_token: "secret-access".into(),
            refresh_token: Some("secret-refresh".into()),
            expires_at: "2026-11-24T06:00:00Z".parse().unwrap(),
            scope: "user-modify-playback-state user-read-playback-state".into(),
        };
        file.save(&token).await.unwrap();
        assert_eq!(file.load().unwrap(), Some(token.clone()));
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let printed = format!("{token:?}");
        assert!(!printed.contains("secret"), "{printed}");
        // The round trip through rspotify's type keeps everything.
        assert_eq!(StoredToken::from_rspotify(token.to_rspotify()), token);
    }
}
