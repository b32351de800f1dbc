//! Property test of the schedule against arbitrary documents and clocks: random alarms (times,
//! weekday sets, one-shot dates up to chrono's limits), random instants (its limits too) and
//! random IANA zones (odd offsets, DST, skipped days) go through parsing, validation and every
//! schedule function. Nothing may panic, valid documents under a sane clock have no broken
//! alarm, and every computed occurrence follows the DST rules of docs/scheduling.md.
//!
//! 256 cases by default (seconds in a debug build); `REVEILLE_PROPTEST_CASES=100000` for more.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError};
use reveille::config::{self, Config};
use reveille::schedule::{
    self, Due, Occurrence, ScheduleState, broken, due, next_wakeup, reconcile, upcoming,
};
use serde_json::{Value, json};

/// Zones whose rules are odd: 30- and 45-minute offsets and DST steps, a 30-minute DST step,
/// whole days skipped or repeated at the date line, and the DST classics.
const ODD_ZONES: &[&str] = &[
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Pacific/Apia",
    "Pacific/Kiritimati",
    "Pacific/Kwajalein",
    "Africa/Monrovia",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
];

/// Days with DST changes or skipped days in the zones above, to land alarms in gaps and
/// overlaps more often than chance would.
const TRANSITION_DAYS: &[&str] = &[
    "2026-03-29",
    "2026-10-25",
    "2026-03-08",
    "2026-11-01",
    "2026-04-05",
    "2026-10-04",
    "2026-09-27",
    "2011-12-29",
    "2011-12-30",
    "2011-12-31",
    "1994-12-30",
    "1994-12-31",
    "1993-08-20",
    "1972-01-07",
];

fn cases() -> u32 {
    std::env::var("REVEILLE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn zone() -> impl Strategy<Value = Tz> {
    prop_oneof![
        prop::sample::select(ODD_ZONES).prop_map(|z| z.parse::<Tz>().unwrap()),
        prop::sample::select(chrono_tz::TZ_VARIANTS.to_vec()),
    ]
}

fn transition_day() -> impl Strategy<Value = NaiveDate> {
    prop::sample::select(TRANSITION_DAYS).prop_map(|d| d.parse().unwrap())
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    let (min, max) = (
        NaiveDate::MIN.num_days_from_ce(),
        NaiveDate::MAX.num_days_from_ce(),
    );
    prop_oneof![
        Just(NaiveDate::MIN),
        Just(NaiveDate::MAX),
        Just(NaiveDate::from_ymd_opt(262142, 12, 31).unwrap()),
        Just(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()),
        Just(NaiveDate::from_ymd_opt(2199, 12, 31).unwrap()),
        Just(NaiveDate::from_ymd_opt(2200, 1, 1).unwrap()),
        transition_day(),
        (min..=max).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap()),
        (2000..2200i32, 1..=366u32)
            .prop_filter_map("no such day", |(y, d)| NaiveDate::from_yo_opt(y, d)),
    ]
}

fn time() -> impl Strategy<Value = String> {
    prop_oneof![
        Just((0, 0)),
        Just((23, 59)),
        (1..4u32, prop::sample::select(vec![0u32, 15, 30, 45, 59])),
        (0..24u32, 0..60u32),
    ]
    .prop_map(|(h, m)| format!("{h:02}:{m:02}"))
}

fn alarm(index: usize) -> impl Strategy<Value = Value> {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    (
        time(),
        0..128u8,
        prop::option::weighted(0.5, any_date()),
        any::<bool>(),
        prop::bool::weighted(0.9),
    )
        .prop_map(move |(time, mask, date, skip_next, enabled)| {
            // A date makes it a one-shot: repeating alarms with a date are invalid anyway,
            // and a one-shot without a date rings at the next occurrence of its time.
            let repeat: Vec<_> = match date {
                Some(_) => Vec::new(),
                None => (0..7)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| days[i])
                    .collect(),
            };
            json!({
                "id": format!("a{index}"),
                "time": time,
                "repeat": repeat,
                "date": date.map(|d| d.to_string()),
                "skip_next": skip_next,
                "enabled": enabled,
            })
        })
}

fn document() -> impl Strategy<Value = (Value, Tz)> {
    (
        zone(),
        (0..4usize).prop_flat_map(|n| (0..n).map(alarm).collect::<Vec<_>>()),
        prop::option::weighted(0.3, (any_date(), any_date())),
    )
        .prop_map(|(zone, alarms, vacation)| {
            let mut doc = json!({"time_zone": zone.name(), "alarms": alarms});
            if let Some((from, until)) = vacation {
                doc["schedule"] =
                    json!({"vacation": {"from": from.to_string(), "until": until.to_string()}});
            }
            (doc, zone)
        })
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let (min, max) = (
        DateTime::<Utc>::MIN_UTC.timestamp(),
        DateTime::<Utc>::MAX_UTC.timestamp(),
    );
    let sane = (
        DateTime::parse_from_rfc3339("1900-01-01T00:00:00Z")
            .unwrap()
            .timestamp(),
        DateTime::parse_from_rfc3339("2300-01-01T00:00:00Z")
            .unwrap()
            .timestamp(),
    );
    prop_oneof![
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        (0..3 * 86_400i64).prop_map(move |s| DateTime::from_timestamp(max - s, 0).unwrap()),
        (0..3 * 86_400i64).prop_map(move |s| DateTime::from_timestamp(min + s, 0).unwrap()),
        (min..=max).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        (sane.0..sane.1).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        // Shortly before a transition day, so repeating alarms land on it.
        (transition_day(), -3 * 86_400..86_400i64).prop_map(|(d, s)| {
            d.and_hms_opt(0, 0, 0).unwrap().and_utc() + Duration::seconds(s)
        }),
    ]
}

fn sane(now: DateTime<Utc>) -> bool {
    (1970..=2300).contains(&now.year())
}

/// The DST rules for one computed occurrence, checked against chrono-tz directly.
fn check_occurrence(config: &Config, zone: Tz, o: &Occurrence) -> Result<(), TestCaseError> {
    let alarm = config.alarms.iter().find(|a| a.id == o.alarm_id);
    let alarm = alarm.ok_or_else(|| TestCaseError::fail(format!("unknown alarm {o:?}")))?;
    prop_assert!(alarm.enabled, "a disabled alarm occurs: {o:?}");
    match alarm.date {
        Some(date) => prop_assert_eq!(o.date, date),
        None => prop_assert!(
            alarm.repeat.is_empty() || alarm.repeat.iter().any(|d| d.weekday() == o.date.weekday()),
            "{o:?} is not on one of its weekdays"
        ),
    }
    let local = o.date.and_time(alarm.time.time());
    let at_local = schedule::local_time(zone, o.at);
    if let LocalResult::None = zone.offset_from_local_datetime(&local) {
        // In a gap: the first instant after it, when the wall clock passes the alarm time.
        prop_assert!(at_local.is_some_and(|t| t > local), "{o:?}: {at_local:?}");
        let before =
            o.at.checked_sub_signed(Duration::seconds(1))
                .and_then(|t| schedule::local_time(zone, t));
        prop_assert!(
            before.is_none_or(|t| t < local),
            "{o:?}: a second before: {before:?}"
        );
    } else {
        // Otherwise its local time is the alarm time, at the first of two occurrences.
        prop_assert_eq!(at_local, Some(local), "{:?}", o);
        match zone.from_local_datetime(&local) {
            LocalResult::Single(t) => prop_assert_eq!(o.at, t.to_utc()),
            LocalResult::Ambiguous(a, b) => prop_assert_eq!(o.at, a.min(b).to_utc()),
            LocalResult::None => prop_assert!(false, "{o:?}: not representable, yet computed"),
        }
    }
    Ok(())
}

fn check(
    doc: Value,
    zone: Tz,
    armed: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), TestCaseError> {
    let valid = config::parse_value(doc.clone()).is_ok();
    // The schedule must be total even for documents validation refuses (defence in depth).
    let config: Config =
        serde_json::from_value(doc).map_err(|e| TestCaseError::fail(e.to_string()))?;

    let mut state = ScheduleState::default();
    reconcile(&config, &mut state, armed);
    reconcile(&config, &mut state, armed);
    let handled = |id: &str| state.alarms.get(id).map(|s| s.handled_until);

    let broken = broken(&config, zone, &state, now);
    if valid && sane(now) && sane(armed) {
        prop_assert!(
            broken.is_empty(),
            "a valid document has broken alarms: {broken:?}"
        );
    }

    let found = due(&config, zone, &state, now);
    for d in &found {
        check_occurrence(&config, zone, &d.occurrence)?;
        prop_assert!(d.occurrence.at <= now);
        prop_assert!(handled(&d.occurrence.alarm_id).is_some_and(|h| d.occurrence.at > h));
    }
    let mut ids: Vec<_> = found.iter().map(|d| &d.occurrence.alarm_id).collect();
    ids.dedup();
    prop_assert_eq!(
        ids.len(),
        found.len(),
        "one due occurrence per alarm at most"
    );

    let list: Vec<Due> = upcoming(&config, zone, &state, now, 16);
    prop_assert!(list.len() <= 16);
    prop_assert!(
        list.windows(2)
            .all(|w| w[0].occurrence.at <= w[1].occurrence.at)
    );
    for alarm in &config.alarms {
        let mine: Vec<_> = list
            .iter()
            .filter(|d| d.occurrence.alarm_id == alarm.id)
            .collect();
        // Each day rings once: strictly later instants and strictly later days.
        for w in mine.windows(2) {
            prop_assert!(w[0].occurrence.at < w[1].occurrence.at, "{:?}", w);
            prop_assert!(w[0].occurrence.date < w[1].occurrence.date, "{:?}", w);
        }
    }
    for d in &list {
        check_occurrence(&config, zone, &d.occurrence)?;
        let from = handled(&d.occurrence.alarm_id).map_or(now, |h| h.max(now));
        prop_assert!(d.occurrence.at > from, "{d:?} is not after {from}");
    }
    prop_assert_eq!(
        next_wakeup(&config, zone, &state, now),
        list.first().map(|d| d.occurrence.at)
    );
    Ok(())
}

proptest! {
    // Failures print their minimal input; worth keeping ones become plain tests below.
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_schedule_is_total_and_keeps_the_dst_rules(
        (doc, zone) in document(),
        now in instant(),
        armed_back in prop_oneof![Just(0i64), 0..10 * 86_400i64],
    ) {
        let armed = now.checked_sub_signed(Duration::seconds(armed_back)).unwrap_or(now);
        check(doc, zone, armed, now)?;
    }
}

/// The document from the issue: it passed validation, then resolving the alarm overflowed and
/// the release build aborted, at every start.
#[test]
fn the_issue_document_is_refused_and_never_panics_the_schedule() {
    let doc = json!({
        "time_zone": "America/New_York",
        "alarms": [{"id": "far", "time": "23:59", "date": "+262142-12-31"}],
    });
    let error = config::parse_value(doc.clone()).unwrap_err();
    assert_eq!(error.field, "alarms[0].date", "{error}");

    let config: Config = serde_json::from_value(doc).unwrap();
    let zone: Tz = "America/New_York".parse().unwrap();
    let now: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
    let mut state = ScheduleState::default();
    reconcile(&config, &mut state, now);
    assert!(due(&config, zone, &state, now).is_empty());
    assert!(upcoming(&config, zone, &state, now, 5).is_empty());
    assert_eq!(next_wakeup(&config, zone, &state, now), None);
    let broken = broken(&config, zone, &state, now);
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0].alarm_id, "far");
}
