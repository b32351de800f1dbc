//! The `readiness` section: when the "will it ring?" check runs by itself, and what the owner
//! lets it do when the receiver is missing (run a repair command) or the answer is not
//! `ready` (post to a webhook). The command and the webhook are owner-only (`owner.rs`): one
//! runs a program, the other sends the result off the Pi. Pure: types and their rules.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::FieldError;

/// Bounds of `before_minutes`.
pub const BEFORE_MINUTES: std::ops::RangeInclusive<u32> = 1..=120;
/// Program plus arguments: a restart command needs a handful, not a script.
pub const MAX_REPAIR_WORDS: usize = 8;
const MAX_WORD_CHARS: usize = 256;
const MAX_URL_CHARS: usize = 2048;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReadinessSettings {
    /// The check runs this many minutes before each alarm (1 to 120).
    #[schema(minimum = 1, maximum = 120)]
    pub before_minutes: u32,
    /// Owner-only. Program and arguments (no shell) run once before an alarm when the
    /// receiver is missing, e.g. `["systemctl", "restart", "raspotify"]`; `null` for none.
    pub repair_command: Option<Vec<String>>,
    /// Owner-only. Where to post the pre-alarm check when it is not `ready`; `null` for none.
    pub webhook: Option<WebhookSettings>,
}

impl Default for ReadinessSettings {
    fn default() -> Self {
        ReadinessSettings {
            before_minutes: 10,
            repair_command: None,
            webhook: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// `http://` or `https://`, without user or password (e.g. `https://ntfy.sh/my-topic`).
    pub url: String,
    /// `text` (the default) or `json`.
    #[serde(default)]
    pub format: WebhookFormat,
}

/// `text`: plain sentences with a `Title` header (ntfy); `json`: the readiness answer as
/// `GET /api/readiness` gives it (Home Assistant).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    #[default]
    Text,
    Json,
}

pub(super) fn validate(settings: &ReadinessSettings) -> Result<(), FieldError> {
    if !BEFORE_MINUTES.contains(&settings.before_minutes) {
        return Err(FieldError::invalid(
            "readiness.before_minutes",
            format!(
                "{} is out of range ({} to {})",
                settings.before_minutes,
                BEFORE_MINUTES.start(),
                BEFORE_MINUTES.end()
            ),
        ));
    }
    if let Some(command) = &settings.repair_command {
        repair_command(command)?;
    }
    if let Some(webhook) = &settings.webhook {
        webhook_url(&webhook.url)?;
    }
    Ok(())
}

/// An argv run without a shell: the program absolute or a bare name found on `PATH` (a
/// relative path would depend on the daemon's working directory), a few words, no NUL.
fn repair_command(command: &[String]) -> Result<(), FieldError> {
    let field = "readiness.repair_command";
    let Some(program) = command.first() else {
        return Err(FieldError::invalid(
            field,
            "must name a program, e.g. [\"systemctl\", \"restart\", \"raspotify\"], or be null",
        ));
    };
    if command.len() > MAX_REPAIR_WORDS {
        return Err(FieldError::invalid(
            field,
            format!("at most {MAX_REPAIR_WORDS} words (the program and its arguments)"),
        ));
    }
    for (i, word) in command.iter().enumerate() {
        if word.contains('\0') || word.chars().count() > MAX_WORD_CHARS {
            return Err(FieldError::invalid(
                format!("{field}[{i}]"),
                format!("at most {MAX_WORD_CHARS} characters, without NUL"),
            ));
        }
    }
    let bare = !program.is_empty() && !program.contains('/') && program.trim() == program;
    let absolute = program.starts_with('/') && program.len() > 1;
    if !(bare || absolute) {
        return Err(FieldError::invalid(
            format!("{field}[0]"),
            "must be an absolute path (/usr/bin/systemctl) or a bare program name (systemctl)",
        ));
    }
    Ok(())
}

/// Plain `http://` is allowed anywhere (a Home Assistant on the LAN); user and password in
/// the URL are not (they would be logged by proxies and shown in the document).
fn webhook_url(text: &str) -> Result<(), FieldError> {
    let refuse = || {
        FieldError::invalid(
            "readiness.webhook.url",
            "must be an http:// or https:// URL with a host and without user or password",
        )
    };
    if text.chars().count() > MAX_URL_CHARS {
        return Err(refuse());
    }
    let url = url::Url::parse(text).map_err(|_| refuse())?;
    let scheme_ok = matches!(url.scheme(), "http" | "https");
    if !scheme_ok || url.host().is_none() || !url.username().is_empty() || url.password().is_some()
    {
        return Err(refuse());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(settings: &ReadinessSettings) -> String {
        validate(settings).unwrap_err().field
    }

    #[test]
    fn defaults_are_valid_and_check_ten_minutes_before() {
        let settings = ReadinessSettings::default();
        assert!(validate(&settings).is_ok());
        assert_eq!(settings.before_minutes, 10);
    }

    #[test]
    fn before_minutes_is_bounded() {
        for (minutes, ok) in [(0, false), (1, true), (120, true), (121, false)] {
            let settings = ReadinessSettings {
                before_minutes: minutes,
                ..ReadinessSettings::default()
            };
            assert_eq!(validate(&settings).is_ok(), ok, "{minutes}");
        }
    }

    #[test]
    fn repair_commands_are_an_absolute_or_bare_program_and_a_few_words() {
        let with = |words: &[&str]| ReadinessSettings {
            repair_command: Some(words.iter().map(|w| (*w).to_owned()).collect()),
            ..ReadinessSettings::default()
        };
        for accepted in [
            &["systemctl", "restart", "raspotify"][..],
            &["/usr/local/bin/fix-receiver"],
        ] {
            assert!(validate(&with(accepted)).is_ok(), "{accepted:?}");
        }
        let refused: [(&[&str], &str); 7] = [
            (&[], "readiness.repair_command"),
            (&["./fix"], "readiness.repair_command[0]"),
            (&["bin/fix"], "readiness.repair_command[0]"),
            (&[""], "readiness.repair_command[0]"),
            (&[" systemctl"], "readiness.repair_command[0]"),
            (&["systemctl", "re\0start"], "readiness.repair_command[1]"),
            (
                &["a", "b", "c", "d", "e", "f", "g", "h", "i"],
                "readiness.repair_command",
            ),
        ];
        for (words, field) in refused {
            assert_eq!(field_of(&with(words)), field, "{words:?}");
        }
    }

    #[test]
    fn webhooks_are_http_urls_without_credentials() {
        let with = |url: &str| ReadinessSettings {
            webhook: Some(WebhookSettings {
                url: url.to_owned(),
                format: WebhookFormat::Text,
            }),
            ..ReadinessSettings::default()
        };
        for accepted in [
            "https://ntfy.sh/my-topic",
            "http://192.168.1.5:8123/api/webhook/reveille",
            "https://ntfy.example/alarm?auth=abc",
        ] {
            assert!(validate(&with(accepted)).is_ok(), "{accepted}");
        }
        for refused in [
            "ftp://ntfy.sh/x",
            "https://user:pw@ntfy.sh/x",
            "https://user@ntfy.sh/x",
            "file:///etc/passwd",
            "not a url",
            "https://",
        ] {
            assert_eq!(
                field_of(&with(refused)),
                "readiness.webhook.url",
                "{refused}"
            );
        }
    }

    #[test]
    fn the_webhook_format_defaults_to_text() {
        let webhook: WebhookSettings =
            serde_json::from_str(r#"{"url": "https://ntfy.sh/t"}"#).unwrap();
        assert_eq!(webhook.format, WebhookFormat::Text);
        let webhook: WebhookSettings =
            serde_json::from_str(r#"{"url": "https://ntfy.sh/t", "format": "json"}"#).unwrap();
        assert_eq!(webhook.format, WebhookFormat::Json);
    }
}
