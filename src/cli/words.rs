//! Times, durations and weekdays in words, for the plain output of the client commands
//! (`status`, `alarms`, `snooze`). Pure: "now" is always a parameter (the daemon's clock, from
//! its answer's `Date`), and times are shown in the daemon's time zone, the one alarms ring in.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// The zone the daemon reports (`scheduler.time_zone`); UTC when it names none this build
/// knows.
pub(super) fn zone(name: Option<&str>) -> Tz {
    name.and_then(|n| n.parse().ok()).unwrap_or(Tz::UTC)
}

/// An RFC 3339 instant from the daemon's JSON.
pub(super) fn instant(value: &Value) -> Option<DateTime<Utc>> {
    let text = value.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// "in 7 h 12 min", "in 3 d 11 h", "in 1 min", "now". Minutes round up (an alarm 30 s away
/// is "in 1 min"); days keep the hours and drop the minutes.
pub(super) fn in_words(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let seconds = (at - now).num_seconds();
    if seconds <= 0 {
        return "now".into();
    }
    let minutes = (seconds + 59) / 60;
    let (hours, minutes) = (minutes / 60, minutes % 60);
    let (days, hours) = (hours / 24, hours % 24);
    match (days, hours, minutes) {
        (0, 0, m) => format!("in {m} min"),
        (0, h, 0) => format!("in {h} h"),
        (0, h, m) => format!("in {h} h {m} min"),
        (d, 0, _) => format!("in {d} d"),
        (d, h, _) => format!("in {d} d {h} h"),
    }
}

/// "just now", "12 min ago", "3 h ago", "2 d ago".
pub(super) fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let minutes = (now - at).num_minutes();
    match minutes {
        ..1 => "just now".into(),
        1..60 => format!("{minutes} min ago"),
        60..1440 => format!("{} h ago", minutes / 60),
        _ => format!("{} d ago", minutes / 1440),
    }
}

/// "today 06:45", "tomorrow 06:45", "Sat 5 Dec 09:00" (with the year when it is not this
/// one's), in `zone` (the daemon's, or the offset of a time it sent).
pub(super) fn day_and_time<Z: TimeZone>(now: DateTime<Utc>, at: DateTime<Utc>, zone: &Z) -> String
where
    Z::Offset: fmt::Display,
{
    let (today, at) = (now.with_timezone(zone).date_naive(), at.with_timezone(zone));
    let time = at.format("%H:%M");
    match day_word(today, at.date_naive()) {
        Some(word) => format!("{word} {time}"),
        None if at.year() == today.year() => format!("{} {time}", at.format("%a %-d %b")),
        None => format!("{} {time}", at.format("%a %-d %b %Y")),
    }
}

/// "07:10" today, else as [`day_and_time`].
pub(super) fn clock_time(now: DateTime<Utc>, at: DateTime<Utc>, zone: Tz) -> String {
    let local = at.with_timezone(&zone);
    if local.date_naive() == now.with_timezone(&zone).date_naive() {
        local.format("%H:%M").to_string()
    } else {
        day_and_time(now, at, &zone)
    }
}

fn day_word(today: NaiveDate, day: NaiveDate) -> Option<&'static str> {
    match (day - today).num_days() {
        0 => Some("today"),
        1 => Some("tomorrow"),
        _ => None,
    }
}

const DAYS: [(&str, &str); 7] = [
    ("mon", "Mon"),
    ("tue", "Tue"),
    ("wed", "Wed"),
    ("thu", "Thu"),
    ("fri", "Fri"),
    ("sat", "Sat"),
    ("sun", "Sun"),
];

/// An alarm's `repeat` in words: "every day", "Mon-Fri", "Sat, Sun", "Mon, Wed, Fri"; runs of
/// three days or more become a range.
pub(super) fn days(repeat: &[&str]) -> String {
    let mut on = [false; 7];
    for day in repeat {
        if let Some(i) = DAYS.iter().position(|(key, _)| key == day) {
            on[i] = true;
        }
    }
    if on.iter().all(|&d| d) {
        return "every day".into();
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < 7 {
        if !on[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < 7 && on[i] {
            i += 1;
        }
        if i - start >= 3 {
            parts.push(format!("{}-{}", DAYS[start].1, DAYS[i - 1].1));
        } else {
            parts.extend((start..i).map(|d| DAYS[d].1.to_owned()));
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn durations_round_minutes_up_and_days_keep_hours() {
        let now = at("2026-11-30T23:48:00Z");
        let cases = [
            ("2026-12-01T07:00:00Z", "in 7 h 12 min"),
            ("2026-12-01T06:59:30Z", "in 7 h 12 min"),
            ("2026-12-01T06:48:00Z", "in 7 h"),
            ("2026-11-30T23:48:30Z", "in 1 min"),
            ("2026-11-30T23:59:00Z", "in 11 min"),
            ("2026-12-04T11:30:00Z", "in 3 d 11 h"),
            ("2026-12-02T23:48:00Z", "in 2 d"),
            ("2026-11-30T23:48:00Z", "now"),
            ("2026-11-30T20:00:00Z", "now"),
        ];
        for (then, words) in cases {
            assert_eq!(in_words(now, at(then)), words, "{then}");
        }
        assert_eq!(ago(now, at("2026-11-30T23:47:30Z")), "just now");
        assert_eq!(ago(now, at("2026-11-30T23:36:00Z")), "12 min ago");
        assert_eq!(ago(now, at("2026-11-30T20:00:00Z")), "3 h ago");
        assert_eq!(ago(now, at("2026-11-28T20:00:00Z")), "2 d ago");
        assert_eq!(ago(now, at("2026-12-01T00:00:00Z")), "just now");
    }

    #[test]
    fn days_and_times_read_as_a_person_says_them_in_the_daemons_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 23:48 UTC is 00:48 the next day in Berlin: "today" is Berlin's.
        let now = at("2026-11-30T23:48:00Z");
        assert_eq!(
            day_and_time(now, at("2026-12-01T05:45:00Z"), &berlin),
            "today 06:45"
        );
        assert_eq!(
            day_and_time(now, at("2026-12-02T05:45:00Z"), &berlin),
            "tomorrow 06:45"
        );
        assert_eq!(
            day_and_time(now, at("2026-12-05T08:00:00Z"), &berlin),
            "Sat 5 Dec 09:00"
        );
        assert_eq!(
            day_and_time(now, at("2027-01-04T05:45:00Z"), &berlin),
            "Mon 4 Jan 2027 06:45"
        );
        assert_eq!(clock_time(now, at("2026-12-01T00:10:00Z"), berlin), "01:10");
        assert_eq!(
            clock_time(now, at("2026-12-01T00:10:00Z"), Tz::UTC),
            "tomorrow 00:10"
        );
        assert_eq!(zone(Some("Europe/Berlin")), berlin);
        assert_eq!(zone(Some("Mars/Olympus")), Tz::UTC);
        assert_eq!(zone(None), Tz::UTC);
    }

    #[test]
    fn weekdays_become_ranges_from_three_days_on() {
        let all = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        assert_eq!(days(&all), "every day");
        assert_eq!(days(&all[..5]), "Mon-Fri");
        assert_eq!(days(&["sat", "sun"]), "Sat, Sun");
        assert_eq!(days(&["fri", "mon", "wed"]), "Mon, Wed, Fri");
        assert_eq!(
            days(&["mon", "tue", "wed", "sat", "sun"]),
            "Mon-Wed, Sat, Sun"
        );
        assert_eq!(days(&[]), "");
    }
}
