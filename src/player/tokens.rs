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
    /// When the user linked the account (the login, not the last refresh): the refresh token
    /// expires six months later whatever the refreshes do. `None` for a file written by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorised_at: Option<DateTime<Utc>>,
    /// The account as `GET /me` described it at linking time, for the settings page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `premium`, `free`, ... (Spotify's `product`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
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
            .field("authorised_at", &self.authorised_at)
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
            authorised_at: None,
            display_name: None,
            product: None,
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

    /// Saves refreshed tokens, keeping what the file says about the login itself (when it
    /// was authorised, the account): a refresh does not move the six-month expiry.
    pub async fn save_refreshed(&self, token: &mut StoredToken) -> io::Result<()> {
        if let Ok(Some(previous)) = self.load() {
            token.authorised_at = token.authorised_at.or(previous.authorised_at);
            token.display_name = token.display_name.take().or(previous.display_name);
            token.product = token.product.take().or(previous.product);
        }
        self.save(token).await
    }

    /// Unlinks the account. `Ok(false)` when none was linked.
    pub async fn remove(&self) -> io::Result<bool> {
        let existed = self.file.path().exists();
        self.file.remove().await?;
        Ok(existed)
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
            authorised_at: None,
            display_name: None,
            product: None,
        };
        file.save(&token).await.unwrap();
        assert_eq!(file.load().unwrap(), Some(token.clone()));
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let printed = format!("{token:?}");
        assert!(!printed.contains("secret"), "{printed}");
        // The round trip through rspotify's type keeps everything.
        assert_eq!(StoredToken::from_rspotify(token.to_rspotify()), token);

        // A refresh keeps the date of the login and the account.
        let linked = StoredToken {
            authorised_at: Some("2026-11-01T08:00:00Z".parse().unwrap()),
            display_name: Some("Ada".into()),
            ..token.clone()
        };
        file.save(&linked).await.unwrap();
        let mut refreshed = StoredToken::from_rspotify(token.to_rspotify());
        file.save_refreshed(&mut refreshed).await.unwrap();
        assert_eq!(file.load().unwrap(), Some(linked));
        assert!(file.remove().await.unwrap());
        assert!(!file.remove().await.unwrap());
    }
}
