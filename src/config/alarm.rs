//! Alarms in the config document: when they ring and how.
//!
//! Times are local wall-clock times in the document's time zone; turning them into instants
//! (with the DST rules) is `schedule`'s job. Pure types and parsing only.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// One alarm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "workdays", "label": "Work", "enabled": true, "time": "06:45",
    "repeat": ["mon", "tue", "wed", "thu", "fri"], "date": null, "skip_next": false,
    "ring": {"source": "spotify:playlist:37i9dQZF1DX0UrRvztWcAU", "target_percent": 50}}))]
pub struct Alarm {
    /// Stable identifier, assigned by the server on creation (any unique name when written by
    /// hand: lowercase letters, digits and `-`).
    #[schema(pattern = r"^[a-z0-9-]{1,32}$", example = "workdays")]
    pub id: String,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub label: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Local time of day, `HH:MM` (24 h).
    pub time: TimeOfDay,
    /// Weekdays it repeats on (`mon` … `sun`); empty for a one-shot alarm.
    #[serde(default)]
    #[schema(max_items = 7, example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    pub repeat: Vec<Day>,
    /// The day of a one-shot alarm (`YYYY-MM-DD`, in the years 2000 to 2199 as
    /// `validate::DATE_YEARS` says); must be `null` when `repeat` is set.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date, pattern = r"^2[01][0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub date: Option<NaiveDate>,
    /// Skip exactly the next occurrence; cleared by the daemon once that occurrence has passed.
    #[serde(default)]
    pub skip_next: bool,
    #[serde(default)]
    pub ring: RingSettings,
}

fn yes() -> bool {
    true
}

/// How an alarm rings. `null` volume and fade fields take the `volume` section's values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RingSettings {
    /// What plays: a `spotify:` URI or a pasted `open.spotify.com` link (stored as a URI);
    /// `null` resumes whatever the receiver played last.
    pub source: Option<SpotifySource>,
    /// Receiver to play on; `null` uses `spotify.device_id` / `spotify.device_name`.
    /// Not blank (the pattern: a character that is not white space).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub device_id: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub device_name: Option<String>,
    #[schema(minimum = 0, maximum = 100)]
    pub start_percent: Option<u32>,
    #[schema(minimum = 0, maximum = 100)]
    pub target_percent: Option<u32>,
    #[schema(minimum = 0, maximum = 3600)]
    pub fade_seconds: Option<u32>,
    pub shuffle: bool,
    /// Stops by itself after this long.
    #[schema(minimum = 1, maximum = 240)]
    pub max_ring_minutes: u32,
    #[schema(minimum = 1, maximum = 60)]
    pub snooze_minutes: u32,
    /// Snoozes allowed; after that, snooze stops the alarm.
    #[schema(minimum = 0, maximum = 20)]
    pub max_snoozes: u32,
}

impl Default for RingSettings {
    fn default() -> Self {
        RingSettings {
            source: None,
            device_id: None,
            device_name: None,
            start_percent: None,
            target_percent: None,
            fade_seconds: None,
            shuffle: false,
            max_ring_minutes: 30,
            snooze_minutes: 9,
            max_snoozes: 3,
        }
    }
}

/// Settings that apply to all alarms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSettings {
    /// No alarm rings on these days (inclusive); `null` for none.
    pub vacation: Option<Vacation>,
    /// An alarm missed by at most this much (daemon down, clock stepped forward) still rings,
    /// at once; older ones are reported as missed instead.
    #[schema(minimum = 0, maximum = 120)]
    pub catch_up_grace_minutes: u32,
    /// Trust the system clock without NTP synchronization (a Pi with a real-time clock).
    pub trust_clock: bool,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            vacation: None,
            catch_up_grace_minutes: 5,
            trust_clock: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Vacation {
    #[schema(value_type = String, format = Date, pattern = r"^2[01][0-9]{2}-[0-9]{2}-[0-9]{2}$", example = "2026-12-24")]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date, pattern = r"^2[01][0-9]{2}-[0-9]{2}-[0-9]{2}$", example = "2027-01-06")]
    pub until: NaiveDate,
}

impl Vacation {
    pub fn contains(&self, date: NaiveDate) -> bool {
        (self.from..=self.until).contains(&date)
    }
}

/// A time of day with minute precision, written `HH:MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(NaiveTime);

impl TimeOfDay {
    pub fn new(hour: u32, minute: u32) -> Option<TimeOfDay> {
        NaiveTime::from_hms_opt(hour, minute, 0).map(TimeOfDay)
    }

    pub fn time(self) -> NaiveTime {
        self.0
    }
}

impl FromStr for TimeOfDay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a time of day as HH:MM (00:00 to 23:59)");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        let digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(h) || !digits(m) {
            return Err(bad());
        }
        let (h, m) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        TimeOfDay::new(h, m).ok_or_else(bad)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

/// `HH:MM`, 00:00 to 23:59, exactly as [`TimeOfDay::from_str`] reads it.
const TIME_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

impl utoipa::PartialSchema for TimeOfDay {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            "A local time of day, `HH:MM` (24 h).",
            TIME_PATTERN,
            "06:45",
        )
    }
}

impl ToSchema for TimeOfDay {}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A weekday, written `mon` … `sun`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

/// What Spotify plays, as a canonical `spotify:<kind>:<id>` URI. Pasted `open.spotify.com`
/// links (with `intl-xx/` prefixes and `?si=` tracking) are accepted and normalized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpotifySource(String);

const KINDS: [&str; 6] = ["track", "album", "playlist", "artist", "show", "episode"];

impl SpotifySource {
    pub fn uri(&self) -> &str {
        &self.0
    }

    /// `track` and `episode` play as a list of items; the others as a context.
    pub fn is_context(&self) -> bool {
        !(self.0.starts_with("spotify:track:") || self.0.starts_with("spotify:episode:"))
    }
}

impl FromStr for SpotifySource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not a Spotify link or URI (e.g. https://open.spotify.com/playlist/… or spotify:playlist:…)"
            )
        };
        let s = s.trim();
        let (kind, id) = if let Some(rest) = s.strip_prefix("spotify:") {
            rest.split_once(':').ok_or_else(bad)?
        } else {
            let rest = s
                .strip_prefix("https://open.spotify.com/")
                .or_else(|| s.strip_prefix("http://open.spotify.com/"))
                .or_else(|| s.strip_prefix("open.spotify.com/"))
                .ok_or_else(bad)?;
            let rest = rest.split(['?', '#']).next().unwrap_or_default();
            let mut parts = rest.split('/').filter(|p| !p.is_empty());
            let mut kind = parts.next().ok_or_else(bad)?;
            if kind.starts_with("intl-") {
                kind = parts.next().ok_or_else(bad)?;
            }
            (kind, parts.next().ok_or_else(bad)?)
        };
        let id_ok = id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !KINDS.contains(&kind) || !id_ok {
            return Err(bad());
        }
        Ok(SpotifySource(format!("spotify:{kind}:{id}")))
    }
}

/// What [`SpotifySource::from_str`] accepts, for the OpenAPI description: a URI, or an
/// `open.spotify.com` link with an optional `intl-xx/` part, further path segments, a query
/// or a fragment; surrounding white space (Rust's `White_Space`, as `trim` removes it).
const SOURCE_PATTERN: &str = concat!(
    r"^[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*",
    r"(spotify:(track|album|playlist|artist|show|episode):[A-Za-z0-9]{22}",
    r"|(https?://)?open\.spotify\.com/+(intl-[^/?#]*/+)?(track|album|playlist|artist|show|episode)/+[A-Za-z0-9]{22}(/[^?#]*)?([?#][\s\S]*)?)",
    r"[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$",
);

impl utoipa::PartialSchema for SpotifySource {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            "What plays: a `spotify:` URI or a pasted `open.spotify.com` link (stored as a URI).",
            SOURCE_PATTERN,
            "spotify:playlist:37i9dQZF1DX0UrRvztWcAU",
        )
    }
}

impl ToSchema for SpotifySource {}

fn string_schema(
    description: &str,
    pattern: &str,
    example: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .examples([example])
        .into()
}

impl Serialize for SpotifySource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SpotifySource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_are_strict_hh_mm() {
        assert_eq!("06:05".parse::<TimeOfDay>().unwrap().to_string(), "06:05");
        assert_eq!(
            "23:59".parse::<TimeOfDay>().unwrap(),
            TimeOfDay::new(23, 59).unwrap()
        );
        for bad in [
            "24:00", "6:05", "06:5", "06:60", "0605", "", "ab:cd", "-1:00",
        ] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
        }
    }

    #[test]
    fn spotify_links_and_uris_are_normalized() {
        let id = "37i9dQZF1DX0UrRvztWcAU";
        for input in [
            format!("spotify:playlist:{id}"),
            format!("https://open.spotify.com/playlist/{id}"),
            format!("https://open.spotify.com/playlist/{id}?si=abc123&pt=x"),
            format!("https://open.spotify.com/intl-de/playlist/{id}"),
            format!("  open.spotify.com/playlist/{id}/  "),
        ] {
            let source: SpotifySource = input.parse().unwrap();
            assert_eq!(source.uri(), format!("spotify:playlist:{id}"), "{input}");
            assert!(source.is_context());
        }
        let track: SpotifySource = format!("spotify:track:{id}").parse().unwrap();
        assert!(!track.is_context());
        for bad in [
            "https://example.com/playlist/x".to_owned(),
            format!("spotify:user:{id}"),
            "spotify:playlist:short".to_owned(),
            format!("https://open.spotify.com/playlist/{id}x"),
            "https://open.spotify.com/".to_owned(),
        ] {
            assert!(bad.parse::<SpotifySource>().is_err(), "{bad}");
        }
    }
}
