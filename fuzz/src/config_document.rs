//! The config document: bytes → `parse_document` (JSON, strict serde, validation). A refusal
//! names a field the document has (or its parent, for a missing one); an accepted document
//! saves and loads back to itself, as the store writes and reads it; and its schedule, from a
//! few fixed instants in a few zones (or the document's own), keeps the rules of
//! `docs/scheduling.md`: every firing after now, in order, on the alarm's days, at the alarm's
//! local time (or just after a DST gap), none broken; and a scheduler that wakes when told
//! fires exactly the predicted firings, each once.

use chrono::{DateTime, Datelike, Duration, LocalResult, TimeZone, Utc};
use chrono_tz::Tz;
use reveille::config::{Config, DocumentError, parse_document};
use reveille::schedule::{
    self, Decision, Due, Occurrence, ScheduleState, broken, due, next_wakeup, reconcile, upcoming,
};
use serde_json::Value;

/// The codes a field error may carry (`config::FieldError`).
pub const FIELD_CODES: [&str; 4] = [
    "unknown_field",
    "invalid_type",
    "missing_field",
    "invalid_value",
];

/// Zones for documents that name none (the system's): DST both ways, a 30-minute DST step,
/// a 45-minute offset, and a zone that skipped a whole day.
const ZONES: [Tz; 6] = [
    Tz::UTC,
    Tz::Europe__Berlin,
    Tz::America__New_York,
    Tz::Australia__Lord_Howe,
    Tz::Asia__Kathmandu,
    Tz::Pacific__Apia,
];

/// Instants just before DST changes (Berlin spring and autumn 2026, New York's autumn, Lord
/// Howe's spring), before Apia skipped 2011-12-30, and at both ends of the years validation
/// allows dates in.
const NOWS: [&str; 7] = [
    "2026-03-28T23:30:00Z",
    "2026-10-24T22:30:00Z",
    "2026-10-31T12:00:00Z",
    "2026-10-03T13:00:00Z",
    "2011-12-28T12:00:00Z",
    "2000-01-01T00:00:00Z",
    "2199-12-24T18:00:00Z",
];

/// Firings predicted and walked per zone and instant.
const FIRINGS: usize = 24;

pub fn check(data: &[u8]) {
    let config = match parse_document(data) {
        Ok(config) => config,
        Err(DocumentError::Syntax { .. }) => {
            assert!(
                serde_json::from_slice::<Value>(data).is_err(),
                "JSON refused as not JSON"
            );
            return;
        }
        Err(DocumentError::Invalid(e)) => {
            let value: Value = serde_json::from_slice(data).expect("a field error is about JSON");
            assert!(FIELD_CODES.contains(&e.code), "{e:?}");
            assert!(
                names_what_it_has(&value, &e.field),
                "the error names a field the document does not have: {e:?}"
            );
            return;
        }
    };
    saves_and_loads_back(&config);
    let zones = match &config.time_zone {
        Some(zone) => vec![
            zone.parse::<Tz>()
                .expect("validation accepts only known zones"),
        ],
        None => ZONES.to_vec(),
    };
    for zone in zones {
        for now in NOWS {
            schedule_holds(&config, zone, now.parse().expect("a fixed instant"));
        }
    }
}

/// An error is about the whole document (no field) or names a field under one of the
/// document's own top-level names: a default the document left alone is never the culprit.
pub fn names_what_it_has(document: &Value, field: &str) -> bool {
    field.is_empty()
        || document.as_object().is_some_and(|names| {
            names.keys().any(|name| {
                field
                    .strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            })
        })
}

/// What the store does: the file it writes is read back as the same document.
pub fn saves_and_loads_back(config: &Config) {
    let saved = serde_json::to_vec_pretty(config).expect("a document serializes");
    let loaded = parse_document(&saved).unwrap_or_else(|e| {
        panic!(
            "a valid document does not load after a save: {e}\n{}",
            String::from_utf8_lossy(&saved)
        )
    });
    assert_eq!(&loaded, config, "a save and a load changed the document");
}

/// The schedule from `now` in `zone`, as the scheduler computes and walks it.
pub fn schedule_holds(config: &Config, zone: Tz, now: DateTime<Utc>) {
    let mut state = ScheduleState::default();
    reconcile(config, &mut state, now);
    assert!(
        broken(config, zone, &state, now).is_empty(),
        "a valid document has broken alarms at {now} in {zone}"
    );
    assert!(
        due(config, zone, &state, now).is_empty(),
        "something is due at the instant the alarms were armed"
    );

    let predicted = upcoming(config, zone, &state, now, FIRINGS);
    for pair in predicted.windows(2) {
        let key = |d: &Due| (d.occurrence.at, d.occurrence.alarm_id.clone());
        assert!(key(&pair[0]) < key(&pair[1]), "out of order: {pair:?}");
    }
    for alarm in &config.alarms {
        let mine: Vec<_> = predicted
            .iter()
            .filter(|d| d.occurrence.alarm_id == alarm.id)
            .collect();
        for pair in mine.windows(2) {
            assert!(
                pair[0].occurrence.date < pair[1].occurrence.date,
                "{pair:?}"
            );
        }
        if let Some(first) = mine.first() {
            assert_eq!(
                first.decision == Decision::SkipNext,
                alarm.skip_next,
                "{first:?}"
            );
        }
        if alarm.repeat.is_empty() {
            assert!(mine.len() <= 1, "a one-shot occurs twice: {mine:?}");
        }
    }
    for d in &predicted {
        assert!(d.occurrence.at > now, "{d:?} is not after {now}");
        occurs_by_the_rules(config, zone, &d.occurrence);
        let vacation = config
            .schedule
            .vacation
            .as_ref()
            .is_some_and(|v| v.contains(d.occurrence.date));
        match d.decision {
            Decision::Vacation => assert!(vacation, "{d:?}"),
            Decision::Ring => assert!(!vacation, "{d:?}"),
            Decision::SkipNext => {}
            Decision::Missed => panic!("a future firing is missed: {d:?}"),
        }
    }
    assert_eq!(
        next_wakeup(config, zone, &state, now),
        predicted.first().map(|d| d.occurrence.at),
        "the scheduler would wake at another time than the first firing"
    );
    assert_eq!(walk(config.clone(), zone, state, now), predicted);
}

/// A scheduler that sleeps until `next_wakeup`, takes what is `due`, marks it handled, and
/// then disables fired one-shots and clears a used skip-next, as `scheduler.rs` does.
fn walk(mut config: Config, zone: Tz, mut state: ScheduleState, now: DateTime<Utc>) -> Vec<Due> {
    let mut fired: Vec<Due> = Vec::new();
    let mut at = now;
    while fired.len() < FIRINGS {
        let Some(next) = next_wakeup(&config, zone, &state, at) else {
            break;
        };
        assert!(next > at, "woken for {next}, not after {at}");
        at = next;
        reconcile(&config, &mut state, at);
        let mut found = due(&config, zone, &state, at);
        assert!(!found.is_empty(), "woken at {at} for nothing");
        for d in &found {
            assert_eq!(d.occurrence.at, at, "{d:?} is not the wake-up's firing");
            assert_ne!(d.decision, Decision::Missed, "{d:?}");
            let id = &d.occurrence.alarm_id;
            state.alarms.get_mut(id).expect("armed").handled_until = at;
            let alarm = config
                .alarms
                .iter_mut()
                .find(|a| &a.id == id)
                .expect("its alarm");
            if alarm.repeat.is_empty() {
                alarm.enabled = false;
            }
            if d.decision == Decision::SkipNext {
                alarm.skip_next = false;
            }
        }
        found.sort_by(|a, b| a.occurrence.alarm_id.cmp(&b.occurrence.alarm_id));
        fired.extend(found);
    }
    fired.truncate(FIRINGS);
    fired
}

/// On one of its days (or its date), at its local time; in a DST gap at the gap's end; in an
/// overlap at the first of the two.
fn occurs_by_the_rules(config: &Config, zone: Tz, o: &Occurrence) {
    let alarm = config
        .alarms
        .iter()
        .find(|a| a.id == o.alarm_id)
        .expect("an occurrence of a known alarm");
    assert!(alarm.enabled, "a disabled alarm occurs: {o:?}");
    match alarm.date {
        Some(date) => assert_eq!(o.date, date, "{o:?}"),
        None => assert!(
            alarm.repeat.is_empty() || alarm.repeat.iter().any(|d| d.weekday() == o.date.weekday()),
            "{o:?} is not on one of its days {:?}",
            alarm.repeat
        ),
    }
    let local = o.date.and_time(alarm.time.time());
    let at_local = schedule::local_time(zone, o.at).expect("a firing has a local time");
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => assert_eq!(o.at, t.to_utc(), "{o:?}"),
        LocalResult::Ambiguous(a, b) => assert_eq!(o.at, a.min(b).to_utc(), "{o:?}"),
        LocalResult::None => {
            assert!(at_local > local, "{o:?}: in a gap, yet at {at_local}");
            assert!(at_local - local <= Duration::days(1), "{o:?}: {at_local}");
            let before = schedule::local_time(zone, o.at - Duration::seconds(1));
            assert!(before.is_some_and(|t| t < local), "{o:?}: {before:?}");
        }
    }
}
