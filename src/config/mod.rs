//! The config document: everything a user can change at run time, as one JSON document.
//!
//! This module owns the shape of the document (serde types), its defaults, and the rules that
//! make a document valid. It is pure: no IO, no clock reads. Reading and writing the file is
//! `store`'s job; `docs/configuration.md` is the user-facing description of every field and must
//! change together with the types here.
//!
//! Parsing is strict: unknown fields are rejected with their path (a typo in a hand-edited file
//! must not be silently ignored), missing fields take their defaults.

mod alarm;
mod document;
mod owner;
mod readiness;
mod validate;

pub use alarm::{Alarm, Day, RingSettings, ScheduleSettings, SpotifySource, TimeOfDay, Vacation};
pub(crate) use document::syntax_error;
pub use document::{DocumentError, FieldError, deserialize_strict, parse_document, parse_value};
pub use owner::{OWNER_ONLY, fill_owner_settings, keep_owner_settings, owner_only_change};
pub use readiness::{ReadinessSettings, WebhookFormat, WebhookSettings};
pub use validate::validate;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The port of the redirect URI unless `spotify.redirect_port` says otherwise.
pub const DEFAULT_REDIRECT_PORT: u32 = 8888;

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The whole run-time configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Format version of the document; this build understands only `1`.
    #[schema(minimum = 1, maximum = 1)]
    pub version: u32,
    /// IANA time zone name (e.g. `Europe/Berlin`) alarms are set in; `null` means the system's.
    pub time_zone: Option<String>,
    #[schema(max_items = 64)]
    pub alarms: Vec<Alarm>,
    pub schedule: ScheduleSettings,
    pub spotify: SpotifySettings,
    pub fallback: FallbackSettings,
    pub volume: VolumeSettings,
    pub hardware: HardwareSettings,
    pub web: WebSettings,
    /// The automatic "will it ring?" check.
    pub readiness: ReadinessSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: FORMAT_VERSION,
            time_zone: None,
            alarms: Vec::new(),
            schedule: ScheduleSettings::default(),
            spotify: SpotifySettings::default(),
            fallback: FallbackSettings::default(),
            volume: VolumeSettings::default(),
            hardware: HardwareSettings::default(),
            web: WebSettings::default(),
            readiness: ReadinessSettings::default(),
        }
    }
}

/// Which Spotify Connect receiver to play on, and how long to try before falling back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SpotifySettings {
    /// Client ID of the user's own Spotify app (32 hex characters); `null` until linked.
    #[schema(pattern = r"^[0-9A-Fa-f]{32}$")]
    pub client_id: Option<String>,
    /// Port of the loopback redirect URI `http://127.0.0.1:{port}/callback` that linking
    /// registers with Spotify and `reveille spotify login` listens on.
    #[schema(minimum = 1, maximum = 65535)]
    pub redirect_port: u32,
    /// Receiver device id as the Web API reports it; tried first.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub device_id: Option<String>,
    /// Receiver name; used to find the device again when its id is stale.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub device_name: Option<String>,
    /// Hard deadline for Spotify to confirm playback before the local fallback rings.
    #[schema(minimum = 5, maximum = 120)]
    pub start_deadline_seconds: u32,
    /// Web API base URL; `null` means Spotify's. For tests, demos and proxies.
    pub api_base_url: Option<String>,
    /// Accounts service base URL; `null` means Spotify's.
    pub accounts_base_url: Option<String>,
    /// While an alarm plays, how often the daemon checks that Spotify still plays.
    #[schema(minimum = 1, maximum = 300)]
    pub playback_check_seconds: u32,
}

impl Default for SpotifySettings {
    fn default() -> Self {
        SpotifySettings {
            client_id: None,
            redirect_port: DEFAULT_REDIRECT_PORT,
            device_id: None,
            device_name: None,
            start_deadline_seconds: 20,
            api_base_url: None,
            accounts_base_url: None,
            playback_check_seconds: 10,
        }
    }
}

/// The local sound that rings when Spotify cannot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FallbackSettings {
    /// Program and arguments that play a WAV file; the file is appended as the last argument.
    pub command: Vec<String>,
    /// A WAV file of your own; `null` uses the bundled beeps, fed to the player on stdin.
    pub sound_file: Option<String>,
}

impl Default for FallbackSettings {
    fn default() -> Self {
        FallbackSettings {
            command: vec!["aplay".to_owned(), "-q".to_owned()],
            sound_file: None,
        }
    }
}

/// Default ring volumes and the global ceiling. Percentages are 0..=100.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VolumeSettings {
    /// Volume an alarm starts at, before the fade.
    #[schema(minimum = 0, maximum = 100)]
    pub start_percent: u32,
    /// Volume the fade ends at.
    #[schema(minimum = 0, maximum = 100)]
    pub target_percent: u32,
    /// Length of the fade-in.
    #[schema(minimum = 0, maximum = 3600)]
    pub fade_seconds: u32,
    /// Hard ceiling applied to every path that sets volume (knob, API, fade).
    #[schema(minimum = 1, maximum = 100)]
    pub ceiling_percent: u32,
    /// A lower ceiling for part of the day (e.g. the night); `null` for none.
    pub night: Option<NightCeiling>,
}

/// A lower volume ceiling between two local times (`from` may be after `until`: across
/// midnight).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NightCeiling {
    pub from: TimeOfDay,
    pub until: TimeOfDay,
    #[schema(minimum = 1, maximum = 100)]
    pub ceiling_percent: u32,
}

impl VolumeSettings {
    /// The ceiling in force at local time `now`.
    pub fn ceiling_at(&self, now: chrono::NaiveTime) -> u32 {
        match &self.night {
            Some(night) => {
                let (from, until) = (night.from.time(), night.until.time());
                let inside = if from <= until {
                    (from..until).contains(&now)
                } else {
                    now >= from || now < until
                };
                if inside {
                    night.ceiling_percent.min(self.ceiling_percent)
                } else {
                    self.ceiling_percent
                }
            }
            None => self.ceiling_percent,
        }
    }
}

impl Default for VolumeSettings {
    fn default() -> Self {
        VolumeSettings {
            start_percent: 10,
            target_percent: 60,
            fade_seconds: 120,
            ceiling_percent: 100,
            night: None,
        }
    }
}

/// GPIO backend and pin assignments (BCM numbering). Every device is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HardwareSettings {
    pub backend: HardwareBackend,
    pub amplifier: Option<AmplifierPins>,
    pub encoder: Option<EncoderPins>,
    pub buttons: Vec<ButtonPins>,
    pub buzzer: Option<BuzzerPins>,
    pub i2c_volume: Option<I2cVolume>,
}

/// `auto` uses the GPIO on a Raspberry Pi and the simulator elsewhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HardwareBackend {
    #[default]
    Auto,
    Rpi,
    Sim,
}

/// Amplifier enable / shutdown / mute line (or a relay).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmplifierPins {
    #[schema(minimum = 2, maximum = 27)]
    pub pin: u8,
    /// The line is "on" when low (e.g. a mute input).
    #[serde(default)]
    pub active_low: bool,
    /// Wait after switching on before audio starts.
    #[serde(default = "default_settle_ms")]
    #[schema(minimum = 0, maximum = 5000)]
    pub settle_ms: u32,
    /// Keep the amplifier on this long after playback stops.
    #[serde(default = "default_idle_off_seconds")]
    #[schema(minimum = 0, maximum = 3600)]
    pub idle_off_seconds: u32,
    /// Switch the amplifier off while an alarm is snoozed (else it stays on until the stop).
    #[serde(default = "yes")]
    pub off_during_snooze: bool,
}

fn yes() -> bool {
    true
}

/// Rotary encoder (quadrature A/B, optional push switch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncoderPins {
    #[schema(minimum = 2, maximum = 27)]
    pub pin_a: u8,
    #[schema(minimum = 2, maximum = 27)]
    pub pin_b: u8,
    #[serde(default)]
    #[schema(minimum = 2, maximum = 27)]
    pub pin_switch: Option<u8>,
    /// Volume change per detent, in percent.
    #[serde(default = "default_step_percent")]
    #[schema(minimum = 1, maximum = 25)]
    pub step_percent: u32,
    /// Fast turns move in larger steps.
    #[serde(default)]
    pub acceleration: bool,
}

/// A push button and what its presses do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ButtonPins {
    #[schema(minimum = 2, maximum = 27)]
    pub pin: u8,
    /// Internal pull resistor; with `up` the button connects the pin to ground.
    #[serde(default)]
    pub pull: Pull,
    #[serde(default = "default_short_press")]
    pub short_press: ButtonAction,
    #[serde(default = "default_long_press")]
    pub long_press: ButtonAction,
    /// A press held at least this long is a long press.
    #[serde(default = "default_long_press_ms")]
    #[schema(minimum = 200, maximum = 10_000)]
    pub long_press_ms: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pull {
    #[default]
    Up,
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ButtonAction {
    Snooze,
    Stop,
    SleepTimer,
    Nothing,
}

/// Piezo buzzer: the last-resort alarm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuzzerPins {
    #[schema(minimum = 2, maximum = 27)]
    pub pin: u8,
    #[serde(default)]
    pub active_low: bool,
    /// Drive a tone with PWM at this frequency; `null` for an active buzzer (plain on/off).
    #[serde(default)]
    #[schema(minimum = 100, maximum = 10_000)]
    pub tone_hz: Option<u32>,
}

/// I2C amplifier with digital volume (MAX9744).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct I2cVolume {
    /// Only bus 1 (header pins 3 and 5).
    #[serde(default = "default_i2c_bus")]
    #[schema(minimum = 1, maximum = 1)]
    pub bus: u8,
    #[serde(default = "default_i2c_address")]
    #[schema(minimum = 0x08, maximum = 0x77)]
    pub address: u8,
}

/// Options of the settings page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// Shown as the page title: 1 to 64 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub title: String,
    pub time_format: TimeFormat,
    pub theme: Theme,
    /// Extra host names the API answers to (e.g. a DNS name of the Pi), besides IP addresses,
    /// `localhost`, the machine's host name and `<host name>.local`. Owner-only.
    pub allowed_hosts: Vec<String>,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            title: "Reveille".to_owned(),
            time_format: TimeFormat::H24,
            theme: Theme::Auto,
            allowed_hosts: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum TimeFormat {
    #[serde(rename = "24h")]
    H24,
    #[serde(rename = "12h")]
    H12,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    Auto,
    Light,
    Dark,
}

fn default_settle_ms() -> u32 {
    300
}
fn default_idle_off_seconds() -> u32 {
    10
}
fn default_step_percent() -> u32 {
    2
}
fn default_short_press() -> ButtonAction {
    ButtonAction::Snooze
}
fn default_long_press() -> ButtonAction {
    ButtonAction::Stop
}
fn default_long_press_ms() -> u32 {
    1000
}
fn default_i2c_bus() -> u8 {
    1
}
fn default_i2c_address() -> u8 {
    0x4B
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_night_ceiling_applies_inside_its_hours_also_across_midnight() {
        let mut volume = VolumeSettings {
            ceiling_percent: 80,
            ..VolumeSettings::default()
        };
        let t = |s: &str| chrono::NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        assert_eq!(volume.ceiling_at(t("23:00")), 80);
        volume.night = Some(NightCeiling {
            from: "22:00".parse().unwrap(),
            until: "07:00".parse().unwrap(),
            ceiling_percent: 30,
        });
        let cases = [
            ("21:59", 80),
            ("22:00", 30),
            ("03:00", 30),
            ("06:59", 30),
            ("07:00", 80),
        ];
        for (time, ceiling) in cases {
            assert_eq!(volume.ceiling_at(t(time)), ceiling, "{time}");
        }
        volume.night = Some(NightCeiling {
            from: "13:00".parse().unwrap(),
            until: "15:00".parse().unwrap(),
            ceiling_percent: 95,
        });
        // Never above the global ceiling.
        assert_eq!(volume.ceiling_at(t("14:00")), 80);
        assert_eq!(volume.ceiling_at(t("15:00")), 80);
    }

    #[test]
    fn the_shipped_example_is_valid_and_sets_every_section() {
        let example = include_str!("../../config/reveille.example.json");
        let config = parse_document(example.as_bytes()).unwrap();
        assert_ne!(config, Config::default());
        let hw = &config.hardware;
        assert!(hw.amplifier.is_some() && hw.encoder.is_some() && hw.buzzer.is_some());
        assert!(!hw.buttons.is_empty());
        assert!(config.readiness.repair_command.is_some());
        assert_eq!(config.alarms.len(), 2);
        assert!(config.schedule.vacation.is_some());
        // The pasted link was normalized to a URI.
        let source = config.alarms[1].ring.source.as_ref().unwrap();
        assert_eq!(source.uri(), "spotify:album:4aawyAB9vmqN3uQ7FjRGTy");
    }
}
