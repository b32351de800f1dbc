//! Owner-only settings: the parts of the document that belong to whoever owns the Pi, never to
//! an HTTP client.
//!
//! They decide which program the daemon runs (`fallback.command`), which file it plays
//! (`fallback.sound_file`), where the Spotify tokens are sent (`spotify.*_base_url`), which GPIO
//! lines it drives (`hardware`), which host names the API answers to (`web.allowed_hosts`),
//! which program runs before an alarm (`readiness.repair_command`) and where the check's
//! result is sent (`readiness.webhook`).
//! The owner sets them by editing the config file on the Pi (or through the environment, for
//! test-only overrides); the HTTP layer refuses any write that would change one
//! (`docs/decisions.md` says why they stay in the same file). Pure: no IO.

use serde_json::Value;

use super::Config;

/// Dotted paths of the owner-only settings; a path covers everything below it.
pub const OWNER_ONLY: &[&str] = &[
    "fallback",
    "spotify.api_base_url",
    "spotify.accounts_base_url",
    "hardware",
    "web.allowed_hosts",
    "readiness.repair_command",
    "readiness.webhook",
];

/// The first owner-only field that differs between `old` and `new`, as a dotted path down to
/// the leaf that changed (e.g. `hardware.buttons[0].pin`); `None` when they are all equal.
pub fn owner_only_change(old: &Config, new: &Config) -> Option<String> {
    let (old, new) = (as_value(old), as_value(new));
    OWNER_ONLY
        .iter()
        .find_map(|path| first_difference(path, lookup(&old, path), lookup(&new, path)))
}

/// Copies every owner-only setting of `from` into `into`: a document written over HTTP (a
/// restored revision, say) keeps the owner's current settings.
pub fn keep_owner_settings(from: &Config, into: &mut Config) {
    into.fallback = from.fallback.clone();
    into.spotify.api_base_url = from.spotify.api_base_url.clone();
    into.spotify.accounts_base_url = from.spotify.accounts_base_url.clone();
    into.hardware = from.hardware.clone();
    into.web.allowed_hosts = from.web.allowed_hosts.clone();
    into.readiness.repair_command = from.readiness.repair_command.clone();
    into.readiness.webhook = from.readiness.webhook.clone();
}

/// For a whole document sent over HTTP (`PUT`): every owner-only field the body leaves out
/// takes its current value instead of the default, so a client that does not know about them
/// (or a `{}`) does not touch them. A field the body does carry is compared afterwards by
/// [`owner_only_change`]. A body that is not an object is left for the parser to refuse.
pub fn fill_owner_settings(body: &mut Value, current: &Config) {
    let current = as_value(current);
    for path in OWNER_ONLY {
        let mut node = &mut *body;
        let mut keys = path.split('.').peekable();
        while let Some(key) = keys.next() {
            let Value::Object(map) = node else {
                break;
            };
            if keys.peek().is_none() {
                if !map.contains_key(key) {
                    map.insert(key.to_owned(), lookup(&current, path).clone());
                }
                break;
            }
            node = map
                .entry(key.to_owned())
                .or_insert_with(|| Value::Object(Default::default()));
        }
    }
}

fn as_value(config: &Config) -> Value {
    serde_json::to_value(config).expect("Config serializes to JSON")
}

fn lookup<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |node, key| &node[key])
}

fn first_difference(path: &str, old: &Value, new: &Value) -> Option<String> {
    if old == new {
        return None;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => a
            .keys()
            .chain(b.keys().filter(|k| !a.contains_key(*k)))
            .find_map(|key| {
                let (x, y) = (&a.get(key), &b.get(key));
                let (x, y) = (x.unwrap_or(&Value::Null), y.unwrap_or(&Value::Null));
                first_difference(&format!("{path}.{key}"), x, y)
            }),
        // Into lists of objects (buttons), not lists of words (a command line).
        (Value::Array(a), Value::Array(b))
            if a.len() == b.len() && a.iter().chain(b).all(Value::is_object) =>
        {
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| first_difference(&format!("{path}[{i}]"), x, y))
        }
        _ => Some(path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AmplifierPins, ButtonPins, parse_value};
    use serde_json::json;

    fn wired() -> Config {
        let mut config = Config::default();
        config.hardware.amplifier = Some(AmplifierPins {
            pin: 17,
            active_low: false,
            settle_ms: 300,
            idle_off_seconds: 10,
            off_during_snooze: true,
        });
        config.hardware.buttons = vec![
            parse_button(json!({"pin": 5})),
            parse_button(json!({"pin": 6})),
        ];
        config
    }

    fn parse_button(value: Value) -> ButtonPins {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn each_owner_only_field_is_named_down_to_the_leaf() {
        let mut old = wired();
        old.readiness.webhook = Some(crate::config::WebhookSettings {
            url: "https://ntfy.sh/topic".into(),
            format: crate::config::WebhookFormat::Json,
        });
        type Change = (fn(&mut Config), &'static str);
        let changes: [Change; 10] = [
            (
                |c| c.fallback.command = vec!["/bin/sh".into()],
                "fallback.command",
            ),
            (
                |c| c.fallback.sound_file = Some("/etc/shadow".into()),
                "fallback.sound_file",
            ),
            (
                |c| c.spotify.api_base_url = Some("https://x.example".into()),
                "spotify.api_base_url",
            ),
            (
                |c| c.spotify.accounts_base_url = Some("https://x.example".into()),
                "spotify.accounts_base_url",
            ),
            (|c| c.hardware.buttons[1].pin = 7, "hardware.buttons[1].pin"),
            (|c| c.hardware.amplifier = None, "hardware.amplifier"),
            (
                |c| c.web.allowed_hosts = vec!["x".into()],
                "web.allowed_hosts",
            ),
            (
                |c| c.readiness.repair_command = Some(vec!["/bin/sh".into()]),
                "readiness.repair_command",
            ),
            (|c| c.readiness.webhook = None, "readiness.webhook"),
            (
                |c| {
                    let hook = c.readiness.webhook.as_mut().unwrap();
                    hook.url = "https://evil.example".into();
                },
                "readiness.webhook.url",
            ),
        ];
        for (change, field) in changes {
            let mut new = old.clone();
            change(&mut new);
            assert_eq!(owner_only_change(&old, &new).as_deref(), Some(field));
        }
        let mut new = old.clone();
        new.hardware.buttons.pop();
        assert_eq!(
            owner_only_change(&old, &new).as_deref(),
            Some("hardware.buttons")
        );
    }

    #[test]
    fn user_settings_are_not_owner_only() {
        let old = wired();
        let mut new = old.clone();
        new.time_zone = Some("Europe/Berlin".into());
        new.volume.ceiling_percent = 40;
        new.spotify.device_name = Some("Kitchen".into());
        new.web.title = "Bedroom".into();
        new.readiness.before_minutes = 30;
        assert_eq!(owner_only_change(&old, &new), None);
    }

    #[test]
    fn a_whole_document_without_owner_fields_keeps_the_current_ones() {
        let current = wired();
        let mut body = json!({"spotify": {"device_name": "Kitchen"}});
        fill_owner_settings(&mut body, &current);
        let new = parse_value(body).unwrap();
        assert_eq!(owner_only_change(&current, &new), None);
        assert_eq!(new.spotify.device_name.as_deref(), Some("Kitchen"));

        let mut body = json!({});
        fill_owner_settings(&mut body, &current);
        assert_eq!(
            owner_only_change(&current, &parse_value(body).unwrap()),
            None
        );

        // A field the body carries is the client's and is compared, not replaced.
        let mut body = json!({"fallback": {"command": ["/bin/sh"]}});
        fill_owner_settings(&mut body, &current);
        let new = parse_value(body).unwrap();
        assert_eq!(
            owner_only_change(&current, &new).as_deref(),
            Some("fallback.command")
        );
    }

    #[test]
    fn keeping_owner_settings_makes_any_document_acceptable() {
        let current = wired();
        let mut restored = Config::default();
        restored.volume.ceiling_percent = 30;
        keep_owner_settings(&current, &mut restored);
        assert_eq!(owner_only_change(&current, &restored), None);
        assert_eq!(restored.volume.ceiling_percent, 30);
    }
}
