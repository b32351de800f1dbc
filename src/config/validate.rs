//! The rules a well-typed document must also follow: ranges, names, pin assignments.
//!
//! Each rule reports the first offending field with a message a person can act on. Pure: no IO.

use super::{Alarm, Config, FORMAT_VERSION, FieldError, HardwareSettings};

/// More alarms than anyone sets; bounds the document and the scheduler's work.
pub const MAX_ALARMS: usize = 64;

/// The years a one-shot date or a vacation day may lie in. Validation is pure (no clock), so
/// this is an absolute bound: far enough to never refuse a real alarm, near enough that every
/// schedule computation on such a date (any zone, DST, a day either side) stays in chrono's
/// range. The alarm endpoints also refuse one-shots more than ten years after today.
pub const DATE_YEARS: std::ops::RangeInclusive<i32> = 2000..=2199;

/// BCM GPIO numbers on the 40-pin header. 0 and 1 are the HAT ID EEPROM's I2C bus.
const HEADER_GPIOS: std::ops::RangeInclusive<u8> = 2..=27;
/// I2C bus 1 (the header's SDA/SCL), reserved when an I2C device is configured on it.
const I2C1_PINS: [u8; 2] = [2, 3];

pub fn validate(config: &Config) -> Result<(), FieldError> {
    if config.version != FORMAT_VERSION {
        return Err(FieldError::invalid(
            "version",
            format!(
                "format version {} is not supported by this build (expected {FORMAT_VERSION})",
                config.version
            ),
        ));
    }
    if let Some(zone) = &config.time_zone
        && zone.parse::<chrono_tz::Tz>().is_err()
    {
        return Err(FieldError::invalid(
            "time_zone",
            format!("`{zone}` is not an IANA time zone name (e.g. `Europe/Berlin`)"),
        ));
    }

    if config.alarms.len() > MAX_ALARMS {
        return Err(FieldError::invalid(
            "alarms",
            format!("at most {MAX_ALARMS} alarms"),
        ));
    }
    for (i, alarm) in config.alarms.iter().enumerate() {
        validate_alarm(&format!("alarms[{i}]"), alarm, config)?;
        if let Some(first) = config.alarms[..i].iter().position(|a| a.id == alarm.id) {
            return Err(FieldError::invalid(
                format!("alarms[{i}].id"),
                format!("`{}` is already the id of alarms[{first}]", alarm.id),
            ));
        }
    }
    let schedule = &config.schedule;
    range(
        "schedule.catch_up_grace_minutes",
        schedule.catch_up_grace_minutes,
        0,
        120,
    )?;
    if let Some(vacation) = &schedule.vacation {
        date_in_range("schedule.vacation.from", vacation.from)?;
        date_in_range("schedule.vacation.until", vacation.until)?;
    }
    if let Some(vacation) = &schedule.vacation
        && vacation.from > vacation.until
    {
        return Err(FieldError::invalid(
            "schedule.vacation.until",
            "must not be before schedule.vacation.from",
        ));
    }

    let spotify = &config.spotify;
    if let Some(id) = &spotify.client_id
        && (id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(FieldError::invalid(
            "spotify.client_id",
            "must be the 32 hexadecimal characters shown on Spotify's developer dashboard",
        ));
    }
    range("spotify.redirect_port", spotify.redirect_port, 1, 65535)?;
    text("spotify.device_id", spotify.device_id.as_deref(), 128)?;
    text("spotify.device_name", spotify.device_name.as_deref(), 128)?;
    range(
        "spotify.start_deadline_seconds",
        spotify.start_deadline_seconds,
        5,
        120,
    )?;
    base_url("spotify.api_base_url", spotify.api_base_url.as_deref())?;
    base_url(
        "spotify.accounts_base_url",
        spotify.accounts_base_url.as_deref(),
    )?;
    range(
        "spotify.playback_check_seconds",
        spotify.playback_check_seconds,
        1,
        300,
    )?;

    let fallback = &config.fallback;
    if fallback.command.first().is_none_or(|p| p.trim().is_empty()) {
        return Err(FieldError::invalid(
            "fallback.command",
            "must name a program, e.g. [\"aplay\", \"-q\"]",
        ));
    }
    text("fallback.sound_file", fallback.sound_file.as_deref(), 4096)?;

    let volume = &config.volume;
    range("volume.start_percent", volume.start_percent, 0, 100)?;
    range("volume.target_percent", volume.target_percent, 0, 100)?;
    range("volume.fade_seconds", volume.fade_seconds, 0, 3600)?;
    range("volume.ceiling_percent", volume.ceiling_percent, 1, 100)?;
    if let Some(night) = &volume.night {
        range(
            "volume.night.ceiling_percent",
            night.ceiling_percent,
            1,
            100,
        )?;
        if night.from == night.until {
            return Err(FieldError::invalid(
                "volume.night.until",
                "must differ from volume.night.from",
            ));
        }
    }
    if volume.start_percent > volume.target_percent {
        return Err(FieldError::invalid(
            "volume.start_percent",
            "must not be above volume.target_percent (the fade goes up)",
        ));
    }

    hardware(&config.hardware)?;

    let title = config.web.title.trim();
    if title.is_empty() || config.web.title.chars().count() > 64 {
        return Err(FieldError::invalid(
            "web.title",
            "must be 1 to 64 characters and not blank",
        ));
    }
    allowed_hosts(&config.web.allowed_hosts)?;
    super::readiness::validate(&config.readiness)?;
    Ok(())
}

fn validate_alarm(at: &str, alarm: &Alarm, config: &Config) -> Result<(), FieldError> {
    let id_ok = !alarm.id.is_empty()
        && alarm.id.len() <= 32
        && alarm
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err(FieldError::invalid(
            format!("{at}.id"),
            "must be 1 to 32 lowercase letters, digits or `-`",
        ));
    }
    if alarm.label.chars().count() > 64 {
        return Err(FieldError::invalid(
            format!("{at}.label"),
            "at most 64 characters",
        ));
    }
    for (i, day) in alarm.repeat.iter().enumerate() {
        if alarm.repeat[..i].contains(day) {
            return Err(FieldError::invalid(
                format!("{at}.repeat"),
                "names a weekday twice",
            ));
        }
    }
    if !alarm.repeat.is_empty() && alarm.date.is_some() {
        return Err(FieldError::invalid(
            format!("{at}.date"),
            "must be null for a repeating alarm (use either repeat or date)",
        ));
    }
    if let Some(date) = alarm.date {
        date_in_range(&format!("{at}.date"), date)?;
    }
    let ring = &alarm.ring;
    text(
        &format!("{at}.ring.device_id"),
        ring.device_id.as_deref(),
        128,
    )?;
    text(
        &format!("{at}.ring.device_name"),
        ring.device_name.as_deref(),
        128,
    )?;
    for (name, value) in [
        ("start_percent", ring.start_percent),
        ("target_percent", ring.target_percent),
    ] {
        if let Some(v) = value {
            range(&format!("{at}.ring.{name}"), v, 0, 100)?;
        }
    }
    if let Some(v) = ring.fade_seconds {
        range(&format!("{at}.ring.fade_seconds"), v, 0, 3600)?;
    }
    let start = ring.start_percent.unwrap_or(config.volume.start_percent);
    let target = ring.target_percent.unwrap_or(config.volume.target_percent);
    if start > target {
        return Err(FieldError::invalid(
            format!("{at}.ring.start_percent"),
            format!("the start volume ({start} %) must not be above the target ({target} %)"),
        ));
    }
    range(
        &format!("{at}.ring.max_ring_minutes"),
        ring.max_ring_minutes,
        1,
        240,
    )?;
    range(
        &format!("{at}.ring.snooze_minutes"),
        ring.snooze_minutes,
        1,
        60,
    )?;
    range(&format!("{at}.ring.max_snoozes"), ring.max_snoozes, 0, 20)?;
    Ok(())
}

fn hardware(hw: &HardwareSettings) -> Result<(), FieldError> {
    // Every pin in use, with the field that uses it, in document order.
    let mut pins: Vec<(u8, String)> = Vec::new();
    if let Some(amp) = &hw.amplifier {
        pins.push((amp.pin, "hardware.amplifier.pin".into()));
        range("hardware.amplifier.settle_ms", amp.settle_ms, 0, 5000)?;
        range(
            "hardware.amplifier.idle_off_seconds",
            amp.idle_off_seconds,
            0,
            3600,
        )?;
    }
    if let Some(enc) = &hw.encoder {
        pins.push((enc.pin_a, "hardware.encoder.pin_a".into()));
        pins.push((enc.pin_b, "hardware.encoder.pin_b".into()));
        if let Some(pin) = enc.pin_switch {
            pins.push((pin, "hardware.encoder.pin_switch".into()));
        }
        range("hardware.encoder.step_percent", enc.step_percent, 1, 25)?;
    }
    for (i, button) in hw.buttons.iter().enumerate() {
        pins.push((button.pin, format!("hardware.buttons[{i}].pin")));
        range(
            &format!("hardware.buttons[{i}].long_press_ms"),
            button.long_press_ms,
            200,
            10_000,
        )?;
    }
    if let Some(buzzer) = &hw.buzzer {
        pins.push((buzzer.pin, "hardware.buzzer.pin".into()));
        if let Some(hz) = buzzer.tone_hz {
            range("hardware.buzzer.tone_hz", hz, 100, 10_000)?;
        }
    }
    if let Some(i2c) = &hw.i2c_volume {
        if !(0x08..=0x77).contains(&i2c.address) {
            return Err(FieldError::invalid(
                "hardware.i2c_volume.address",
                format!(
                    "{:#04x} is not a usable 7-bit I2C address (0x08 to 0x77)",
                    i2c.address
                ),
            ));
        }
        if i2c.bus != 1 {
            return Err(FieldError::invalid(
                "hardware.i2c_volume.bus",
                "only I2C bus 1 (header pins 3 and 5, GPIO 2 and 3) is supported",
            ));
        }
    }

    for (i, (pin, field)) in pins.iter().enumerate() {
        if !HEADER_GPIOS.contains(pin) {
            let why = if *pin <= 1 {
                "is reserved for the HAT ID EEPROM"
            } else {
                "is not a GPIO on the 40-pin header"
            };
            return Err(FieldError::invalid(
                field.clone(),
                format!("GPIO {pin} {why} (use BCM numbers 2 to 27)"),
            ));
        }
        if hw.i2c_volume.is_some() && I2C1_PINS.contains(pin) {
            return Err(FieldError::invalid(
                field.clone(),
                format!("GPIO {pin} is an I2C pin, in use by hardware.i2c_volume"),
            ));
        }
        if let Some((_, first)) = pins[..i].iter().find(|(other, _)| other == pin) {
            return Err(FieldError::invalid(
                field.clone(),
                format!("GPIO {pin} is already used by {first}"),
            ));
        }
    }
    Ok(())
}

fn range(field: &str, value: u32, min: u32, max: u32) -> Result<(), FieldError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(FieldError::invalid(
            field,
            format!("{value} is out of range ({min} to {max})"),
        ))
    }
}

fn date_in_range(field: &str, date: chrono::NaiveDate) -> Result<(), FieldError> {
    if DATE_YEARS.contains(&chrono::Datelike::year(&date)) {
        Ok(())
    } else {
        Err(FieldError::invalid(
            field,
            format!(
                "{date} is out of range (years {} to {})",
                DATE_YEARS.start(),
                DATE_YEARS.end()
            ),
        ))
    }
}

fn text(field: &str, value: Option<&str>, max_chars: usize) -> Result<(), FieldError> {
    match value {
        Some(v) if v.trim().is_empty() || v.chars().count() > max_chars => {
            Err(FieldError::invalid(
                field,
                format!("must be 1 to {max_chars} characters, or null"),
            ))
        }
        _ => Ok(()),
    }
}

/// Spotify base URLs carry the access and refresh tokens: `https://` anywhere, plain `http://`
/// only to this machine (tests, a local proxy).
fn base_url(field: &str, value: Option<&str>) -> Result<(), FieldError> {
    let Some(text) = value else {
        return Ok(());
    };
    let refuse = || {
        FieldError::invalid(
            field,
            "must be an https:// URL (http:// only to 127.0.0.1, [::1] or localhost), or null",
        )
    };
    let url = url::Url::parse(text).map_err(|_| refuse())?;
    if !url.username().is_empty() || url.password().is_some() || url.host().is_none() {
        return Err(refuse());
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(refuse()),
    }
}

/// Host names as a browser sends them in `Host`: letters, digits, `-` and `.`.
fn allowed_hosts(hosts: &[String]) -> Result<(), FieldError> {
    for (i, host) in hosts.iter().enumerate() {
        let ok = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !ok {
            return Err(FieldError::invalid(
                format!("web.allowed_hosts[{i}]"),
                "must be a host name (letters, digits, '-' and '.'), without port or scheme",
            ));
        }
    }
    if hosts.len() > 16 {
        return Err(FieldError::invalid("web.allowed_hosts", "at most 16 names"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AmplifierPins, ButtonAction, ButtonPins, I2cVolume, Pull};

    fn field_of(config: &Config) -> String {
        validate(config).unwrap_err().field
    }

    fn button(pin: u8) -> ButtonPins {
        ButtonPins {
            pin,
            pull: Pull::Up,
            short_press: ButtonAction::Snooze,
            long_press: ButtonAction::Stop,
            long_press_ms: 1000,
        }
    }

    #[test]
    fn defaults_are_valid() {
        validate(&Config::default()).unwrap();
    }

    #[test]
    fn time_zone_must_be_iana() {
        let mut c = Config {
            time_zone: Some("Europe/Berlin".into()),
            ..Config::default()
        };
        validate(&c).unwrap();
        c.time_zone = Some("CEST+2".into());
        assert_eq!(field_of(&c), "time_zone");
    }

    #[test]
    fn version_must_be_known() {
        let c = Config {
            version: 2,
            ..Config::default()
        };
        assert_eq!(field_of(&c), "version");
    }

    #[test]
    fn volumes_are_percentages_and_fade_goes_up() {
        let mut c = Config::default();
        c.volume.ceiling_percent = 0;
        assert_eq!(field_of(&c), "volume.ceiling_percent");
        let mut c = Config::default();
        c.volume.start_percent = 70;
        assert_eq!(field_of(&c), "volume.start_percent");
    }

    #[test]
    fn client_id_and_urls_are_checked() {
        let mut c = Config::default();
        c.spotify.client_id = Some("not-an-id".into());
        assert_eq!(field_of(&c), "spotify.client_id");
        let mut c = Config::default();
        c.spotify.api_base_url = Some("ftp://x".into());
        assert_eq!(field_of(&c), "spotify.api_base_url");
        for refused in [
            "http://evil.example",
            "http://192.168.1.5:8080",
            "http://127.0.0.1.evil.example/",
            "https://user:pw@api.spotify.com",
            "https://",
            "not a url",
        ] {
            c.spotify.accounts_base_url = Some(refused.into());
            c.spotify.api_base_url = None;
            assert_eq!(field_of(&c), "spotify.accounts_base_url", "{refused}");
        }
        for accepted in [
            "https://api.spotify.com/v1",
            "http://127.0.0.1:4000",
            "http://[::1]:4000/v1",
            "http://localhost:9",
        ] {
            c.spotify.accounts_base_url = Some(accepted.into());
            assert!(validate(&c).is_ok(), "{accepted}");
        }
        let mut c = Config::default();
        c.web.allowed_hosts = vec!["alarm.home.arpa".into(), "http://x".into()];
        assert_eq!(field_of(&c), "web.allowed_hosts[1]");
        let mut c = Config::default();
        c.spotify.device_name = Some("  ".into());
        assert_eq!(field_of(&c), "spotify.device_name");
        c.spotify.device_name = None;
        for port in [0, 65536] {
            c.spotify.redirect_port = port;
            assert_eq!(field_of(&c), "spotify.redirect_port", "{port}");
        }
    }

    #[test]
    fn a_pin_used_twice_names_both_uses() {
        let mut c = Config::default();
        c.hardware.amplifier = Some(AmplifierPins {
            pin: 17,
            active_low: false,
            settle_ms: 300,
            idle_off_seconds: 10,
            off_during_snooze: true,
        });
        c.hardware.buttons = vec![button(5), button(17)];
        let e = validate(&c).unwrap_err();
        assert_eq!(e.field, "hardware.buttons[1].pin");
        assert!(
            e.message.contains("hardware.amplifier.pin"),
            "{}",
            e.message
        );
    }

    #[test]
    fn pins_must_be_header_gpios_and_not_i2c_when_i2c_is_used() {
        let mut c = Config::default();
        c.hardware.buttons = vec![button(28)];
        assert_eq!(field_of(&c), "hardware.buttons[0].pin");
        c.hardware.buttons = vec![button(1)];
        assert!(validate(&c).unwrap_err().message.contains("EEPROM"));
        c.hardware.buttons = vec![button(3)];
        validate(&c).unwrap();
        c.hardware.i2c_volume = Some(I2cVolume {
            bus: 1,
            address: 0x4B,
        });
        let e = validate(&c).unwrap_err();
        assert!(e.message.contains("I2C"), "{}", e.message);
        c.hardware.buttons = vec![button(4)];
        validate(&c).unwrap();
        c.hardware.i2c_volume = Some(I2cVolume {
            bus: 1,
            address: 0x80,
        });
        assert_eq!(field_of(&c), "hardware.i2c_volume.address");
    }

    #[test]
    fn title_must_not_be_blank() {
        let mut c = Config::default();
        c.web.title = " ".into();
        assert_eq!(field_of(&c), "web.title");
    }

    #[test]
    fn alarms_are_checked_field_by_field() {
        let parse = |alarms: &str| {
            crate::config::parse_document(format!(r#"{{"alarms": {alarms}}}"#).as_bytes())
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(
            parse(r#"[{"id": "work", "time": "06:45", "repeat": ["mon", "fri"]}]"#),
            None
        );
        let cases = [
            (r#"[{"id": "a", "time": "6:45"}]"#, "alarms[0].time"),
            (r#"[{"id": "a", "time": "24:00"}]"#, "alarms[0].time"),
            (r#"[{"id": "A b", "time": "06:45"}]"#, "alarms[0].id"),
            (
                r#"[{"id": "a", "time": "06:45"}, {"id": "a", "time": "07:00"}]"#,
                "alarms[1].id",
            ),
            (
                r#"[{"id": "a", "time": "06:45", "repeat": ["mon", "mon"]}]"#,
                "alarms[0].repeat",
            ),
            (
                r#"[{"id": "a", "time": "06:45", "repeat": ["monday"]}]"#,
                "alarms[0].repeat[0]",
            ),
            (
                r#"[{"id": "a", "time": "06:45", "repeat": ["mon"], "date": "2026-12-24"}]"#,
                "alarms[0].date",
            ),
            (
                r#"[{"id": "a", "time": "06:45", "date": "2026-02-30"}]"#,
                "alarms[0].date",
            ),
            (
                r#"[{"id": "a", "time": "06:45", "ring": {"target_percent": 101}}]"#,
                "alarms[0].ring.target_percent",
            ),
            (
                r#"[{"id": "a", "time": "06:45", "ring": {"start_percent": 90}}]"#,
                "alarms[0].ring.start_percent",
            ),
            (
                r#"[{"id": "a", "time": "06:45", "ring": {"snooze_minutes": 0}}]"#,
                "alarms[0].ring.snooze_minutes",
            ),
            (
                r#"[{"id": "a", "time": "06:45", "ring": {"source": "https://example.com/x"}}]"#,
                "alarms[0].ring.source",
            ),
            (r#"[{"time": "06:45"}]"#, "alarms[0].id"),
        ];
        for (alarms, field) in cases {
            let error = parse(alarms).unwrap_or_else(|| panic!("accepted {alarms}"));
            assert!(error.starts_with(&format!("{field}:")), "{alarms}: {error}");
        }
    }

    #[test]
    fn vacation_and_grace_are_checked() {
        let mut c = Config::default();
        c.schedule.catch_up_grace_minutes = 500;
        assert_eq!(field_of(&c), "schedule.catch_up_grace_minutes");
        let mut c = Config::default();
        c.schedule.vacation = Some(crate::config::Vacation {
            from: "2026-12-24".parse().unwrap(),
            until: "2026-12-01".parse().unwrap(),
        });
        assert_eq!(field_of(&c), "schedule.vacation.until");
    }

    #[test]
    fn dates_lie_within_the_supported_years() {
        let cases = [
            (
                r#"{"alarms": [{"id": "a", "time": "06:45", "date": "2199-12-31"}]}"#,
                None,
            ),
            (
                r#"{"alarms": [{"id": "a", "time": "06:45", "date": "2000-01-01"}]}"#,
                None,
            ),
            (
                r#"{"alarms": [{"id": "a", "time": "06:45", "date": "2200-01-01"}]}"#,
                Some("alarms[0].date"),
            ),
            (
                r#"{"alarms": [{"id": "a", "time": "06:45", "date": "1999-12-31"}]}"#,
                Some("alarms[0].date"),
            ),
            // The document from the issue that aborted the daemon.
            (
                r#"{"time_zone": "America/New_York",
                    "alarms": [{"id": "a", "time": "23:59", "date": "+262142-12-31"}]}"#,
                Some("alarms[0].date"),
            ),
            (
                r#"{"alarms": [{"id": "a", "time": "00:00", "date": "-262143-01-01"}]}"#,
                Some("alarms[0].date"),
            ),
            (
                r#"{"schedule": {"vacation": {"from": "2026-12-24", "until": "+262142-12-31"}}}"#,
                Some("schedule.vacation.until"),
            ),
            (
                r#"{"schedule": {"vacation": {"from": "1066-10-14", "until": "2026-12-31"}}}"#,
                Some("schedule.vacation.from"),
            ),
        ];
        for (document, field) in cases {
            let result = crate::config::parse_document(document.as_bytes());
            match field {
                None => assert!(result.is_ok(), "{document}: {result:?}"),
                Some(field) => {
                    let error = result.unwrap_err().to_string();
                    assert!(
                        error.starts_with(&format!("{field}:")),
                        "{document}: {error}"
                    );
                    assert!(error.contains("2000 to 2199"), "{error}");
                }
            }
        }
    }
}
